"""Cine clips (MP4, MOV, AVI) through PyAV: one frame kept every ``frame_step`` frames.

Why every Nth frame: the CNS study keeps one frame in 80 from each clip; neighbouring frames are nearly
identical, so keeping all of them only multiplies memory and compute. The first frame is always kept. The
frame size the container declares is checked before decoding, the size of every decoded frame is checked
again (streams may change resolution), and decoding stops at ``max_source_frames``. The decode work (frames x
width x height, kept or not) is bounded too, by the declared count before decoding starts and by the count
so far while decoding: a tiny file of 99,000 4K frames is refused at once instead of decoded for a minute. A container with no
decodable video frame is an error. The container is opened from memory, never from a URL or path string,
so FFmpeg's protocol handlers are never reached.
"""

from __future__ import annotations

import io

import numpy as np

from core.io.errors import CorruptFileError, NoFramesError, TooManyPixelsError
from core.io.limits import GateLimits


def _describe(err: BaseException) -> str:
    return type(err).__name__


def _open(data: bytes, name: str):
    import av

    try:
        container = av.open(io.BytesIO(data), mode="r")
    except Exception as err:  # noqa: BLE001 - FFmpeg rejects damaged containers with many error types
        raise CorruptFileError(name, f"video container cannot be opened ({_describe(err)})") from None
    if not container.streams.video:
        container.close()
        raise NoFramesError(name, "video container has no video stream")
    return container


def _declared(stream) -> tuple[int, int, int]:
    """(width, height, frames) as the container declares them; 0 where unknown or unreadable."""
    ctx = getattr(stream, "codec_context", None)
    try:
        width, height = (int(ctx.width or 0), int(ctx.height or 0)) if ctx is not None else (0, 0)
        return width, height, max(0, int(stream.frames or 0))
    except Exception:  # noqa: BLE001 - damaged stream headers: fall back to what decoding finds
        return 0, 0, 0


def probe_video(data: bytes, name: str, limits: GateLimits) -> dict:
    """Header only: declared size and frame count (0 frames when the container does not say)."""
    container = _open(data, name)
    try:
        width, height, n_frames = _declared(container.streams.video[0])
    finally:
        container.close()
    if width or height:
        limits.check_frame_size(name, width, height)
    limits.check_frame_count(name, n_frames)
    limits.check_decode_work(name, n_frames, width, height)
    return {"kind": "video", "width": width, "height": height, "frames": n_frames, "pixel_spacing_mm": None}


def decode_video(data: bytes, name: str, limits: GateLimits, frame_step: int, *,
                 indices=None) -> tuple[np.ndarray, int, dict]:
    """Returns (uint8 (N, H, W, 3) of frames 0, step, 2*step, ..., number of frames decoded, metadata).

    ``indices`` (frame selection, e.g. the frame a viewer shows): keep exactly these source frames instead of
    one every ``frame_step``; decoding stops after the last one.
    """
    step = max(1, int(frame_step))
    wanted = None if indices is None else set(int(i) for i in indices)
    last = None if not wanted else max(wanted)
    container = _open(data, name)
    kept: list[np.ndarray] = []
    count = 0
    try:
        stream = container.streams.video[0]
        width, height, declared = _declared(stream)
        if width or height:
            limits.check_frame_size(name, width, height)
        limits.check_frame_count(name, declared)
        limits.check_decode_work(name, declared, width, height)  # before the first frame is decoded
        rate = float(stream.average_rate) if stream.average_rate else None
        decoded_pixels = 0
        for frame in container.decode(stream):
            limits.check_frame_size(name, frame.width, frame.height)
            decoded_pixels += frame.width * frame.height
            if decoded_pixels > limits.max_decoded_pixels:  # a container that under-declares its frames
                raise TooManyPixelsError(name, f"decoding passed {limits.max_decoded_pixels / 1e9:.1f} gigapixels "
                                               f"after {count + 1} frames (the limit); shorten the clip")
            if (count % step == 0) if wanted is None else (count in wanted):
                limits.check_total(name, len(kept) + 1, frame.width, frame.height)
                kept.append(frame.to_ndarray(format="rgb24"))
            count += 1
            if last is not None and count > last:
                break
            if count > limits.max_source_frames:
                limits.check_frame_count(name, count)
    except TooManyPixelsError:
        raise
    except MemoryError:
        raise TooManyPixelsError(name, "not enough memory to decode the video") from None
    except Exception as err:  # noqa: BLE001 - damaged packets surface as FFmpeg errors of many types
        raise CorruptFileError(name, f"video data cannot be decoded ({_describe(err)})") from None
    finally:
        container.close()
    if not kept:
        raise NoFramesError(name, "video holds no decodable frame")
    if len({f.shape for f in kept}) > 1:
        raise CorruptFileError(name, "video frames change size within the clip")
    meta = {"fps": rate, "frame_step": step}
    return np.ascontiguousarray(np.stack(kept), dtype=np.uint8), count, meta
