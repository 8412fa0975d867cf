"""Frames of multi-frame DICOM and cine clips: what the viewer shows and which frames an analysis reads.

Why a module of its own: the input gate (``core.io.load_image``) keeps one frame every ``frame_step`` and hands
out display-ready uint8 RGB, which is what models need. A viewer needs more: every frame (up to a bound) for
a slider and playback at the acquisition's own rate (DICOM FrameTime / CineRate / RecommendedDisplayFrameRate,
the container's rate for a video), and the *original* sample values after the modality LUT, so that
window/level acts on what the scanner stored and the object's VOI LUT or window (pydicom's ``apply_voi_lut``)
is the starting view. An analysis of "the frame on screen" needs exactly that frame, decoded and
de-identified like any other input, with its source index kept so the result says which frame it is.

Every DICOM read here goes through the gate's own pieces (header checks against :class:`GateLimits`, Annex E
header de-identification, banner rectangles blanked in every frame, display values and raw values alike),
so nothing in this module can show what the gate would have hidden. No function here imports Streamlit.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field, replace

import cv2
import numpy as np
from PIL import Image
from pydicom.pixels import apply_modality_lut, apply_voi_lut, iter_pixels

from core.errors import InputError
from core.io import LoadedImage, dicom as _dicom, load_image
from core.io.banner import pixel_box, rects_for
from core.io.convert import to_rgb, window_to_uint8
from core.io.deid import DeidConfig, deidentify_dataset
from core.io.errors import CorruptFileError
from core.io.gate import detect_kind, read_source
from core.io.limits import DEFAULT_LIMITS
from core.io.video import decode_video, probe_video

MAX_VIEW_FRAMES = 240            # frames a viewer holds in memory (a longer clip is subsampled evenly)
FRAME_RATE_ATTRIBUTES = ("FrameTime", "CineRate", "RecommendedDisplayFrameRate")


@dataclass
class Cine:
    """The frames a viewer shows. ``indices[k]`` is the source frame number of ``display[k]``.

    ``values`` holds the original sample values (float32, after the modality LUT; (N, H, W) for grey,
    (N, H, W, 3) for colour) where the source has them; ``voi`` is the object's own presentation
    (``display`` of a grey DICOM already went through it). ``fps`` is the acquisition rate of the source.
    """

    name: str
    kind: str
    display: np.ndarray
    indices: list
    n_source_frames: int
    values: np.ndarray | None = None
    fps: float | None = None
    fps_source: str | None = None
    pixel_spacing_mm: float | None = None
    voi: dict | None = None
    metadata: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.display.shape[0])

    @property
    def step(self) -> int:
        return int(self.indices[1] - self.indices[0]) if len(self.indices) > 1 else 1

    @property
    def value_range(self) -> tuple[float, float]:
        data = self.values if self.values is not None else self.display
        return float(np.min(data)), float(np.max(data))

    def playback_ms(self) -> float | None:
        """Milliseconds between two *kept* frames when played at the acquisition rate."""
        return None if not self.fps else 1000.0 * self.step / self.fps


# ----------------------------------------------------------------------------------------- frame timing
def _positive(value) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) and v > 0 else None


def dicom_frame_rate(ds) -> tuple[float | None, str | None]:
    """Frames per second of a multi-frame DICOM and the attribute it came from.

    FrameTime (ms per frame) first, then CineRate and RecommendedDisplayFrameRate (frames per second), the
    order in which the Cine module defines them. A missing or nonsensical value gives ``(None, None)``.
    """
    frame_time = _positive(ds.get("FrameTime"))
    if frame_time:
        return 1000.0 / frame_time, "FrameTime"
    for keyword in ("CineRate", "RecommendedDisplayFrameRate"):
        rate = _positive(ds.get(keyword))
        if rate:
            return rate, keyword
    return None, None


# ------------------------------------------------------------------------------------------ DICOM reads
def _dicom_frames(data: bytes, name: str, limits, indices: list[int] | None, max_frames: int | None):
    """Decode chosen frames of a DICOM through the gate's pieces. Returns (rgb uint8, values or None, n_frames,
    kept indices, dataset (de-identified), metadata)."""
    with _dicom.quiet():
        ds = _dicom.read_dataset(data, name)
        width, height, n_frames = _dicom.geometry(ds, name, limits)
        if indices is None:
            step = max(1, math.ceil(n_frames / max_frames)) if max_frames else 1
            indices = list(range(0, n_frames, step))
        bad = [i for i in indices if not 0 <= i < n_frames]
        if bad:
            raise InputError(f"{name}: frame {bad[0]} does not exist (the file has frames 0..{n_frames - 1})")
        limits.check_total(name, len(indices), width, height)
        try:
            raw = [np.array(f, copy=True) for f in iter_pixels(ds, indices=indices)]
        except Exception as err:  # noqa: BLE001 - truncated data, missing codec: one line, no values quoted
            raise CorruptFileError(name, f"DICOM pixel data cannot be decoded ({type(err).__name__})") from None
        try:
            rgb = _dicom.to_uint8_rgb(ds, raw)
        except Exception as err:  # noqa: BLE001
            raise CorruptFileError(name, f"DICOM pixels cannot be converted to RGB ({type(err).__name__})") from None
        values = _original_values(ds, raw, apply_modality_lut)
        rects = rects_for(str(ds.get("Manufacturer", "")), str(ds.get("ManufacturerModelName", "")), None)
        config = DeidConfig()
        deidentify_dataset(ds, config=replace(config, clean_pixels=False), name=name)
        for rect in rects:                       # the banner goes in the display AND in the raw values
            r0, c0, r1, c1 = pixel_box(rect, height, width)
            rgb[:, r0:r1, c0:c1, ...] = 0
            if values is not None:
                values[:, r0:r1, c0:c1, ...] = values.min()
        spacing, source = _dicom.pixel_spacing_mm(ds)
        meta = {"pixel_spacing_source": source, "deidentified": True, "banner_rects": [list(r) for r in rects],
                "frame_indices": list(indices)}
        meta.update(_dicom.safe_metadata(ds))
    return rgb, values, n_frames, list(indices), ds, spacing, meta


def _original_values(ds, raw: list[np.ndarray], apply_modality_lut) -> np.ndarray | None:
    """Stored values after the modality LUT (float32); None for palette colour and 1-bit data."""
    photometric = str(ds.PhotometricInterpretation).upper()
    if photometric == "PALETTE COLOR" or int(ds.BitsAllocated) == 1:
        return None
    if int(ds.get("SamplesPerPixel", 1) or 1) == 3:
        return np.stack(raw).astype(np.float32)
    return np.stack([np.asarray(apply_modality_lut(f, ds), dtype=np.float32) for f in raw])


def _voi(ds, values: np.ndarray | None) -> dict | None:
    """The object's own presentation: its VOI LUT sequence, or its first window, or None."""
    if values is None or values.ndim != 3:
        return None
    if "VOILUTSequence" in ds and len(ds.VOILUTSequence):
        return {"kind": "VOI LUT sequence"}

    def first(value):
        try:
            return value[0] if hasattr(value, "__len__") and not isinstance(value, (str, bytes)) else value
        except (TypeError, IndexError, KeyError):
            return None

    try:
        center = float(first(ds.get("WindowCenter")))
    except (TypeError, ValueError):
        return None
    width = _positive(first(ds.get("WindowWidth")))
    if width is None or not math.isfinite(center):
        return None
    return {"kind": "window", "center": center, "width": width}


def _voi_display(ds, values: np.ndarray, monochrome1: bool) -> np.ndarray:
    """Grey values through ``apply_voi_lut`` (VOI LUT sequence or window), scaled to uint8 RGB."""
    if np.array_equal(values, np.round(values)):      # a VOI LUT indexes stored integers
        values = values.astype(np.int64)
    out = np.stack([np.asarray(apply_voi_lut(v, ds), dtype=np.float64) for v in values])
    grey = window_to_uint8(out)
    return to_rgb(255 - grey if monochrome1 else grey)


# ----------------------------------------------------------------------------------------- public reads
def open_cine(source, *, name: str | None = None, limits=None, max_frames: int = MAX_VIEW_FRAMES) -> Cine:
    """Everything a viewer needs of one input; stills come back as a one-frame :class:`Cine`."""
    limits = limits or DEFAULT_LIMITS
    if isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 1:
        raise InputError(f"max_frames must be a whole number >= 1, got {max_frames!r}")
    data, label = read_source(source, name=name, limits=limits)
    kind = detect_kind(data, label)
    if kind == "dicom":
        rgb, values, n, indices, ds, spacing, meta = _dicom_frames(data, label, limits, None, max_frames)
        fps, fps_source = dicom_frame_rate(ds)
        voi = _voi(ds, values)
        if voi is not None:
            rgb = _voi_display(ds, values, str(ds.PhotometricInterpretation).upper() == "MONOCHROME1")
            _blank(rgb, meta["banner_rects"])
        return Cine(name=label, kind=kind, display=rgb, indices=indices, n_source_frames=n, values=values,
                    fps=fps, fps_source=fps_source, pixel_spacing_mm=spacing, voi=voi, metadata=meta)
    if kind == "video":
        declared = probe_video(data, label, limits)["frames"]
        step = max(1, math.ceil(declared / max_frames)) if declared else 1
        loaded = load_image(data, name=label, limits=limits, frame_step=step)
        frames = loaded.frames[:max_frames]
        fps = loaded.metadata.get("fps")
        return Cine(name=label, kind=kind, display=frames, indices=[k * step for k in range(len(frames))],
                    n_source_frames=loaded.n_source_frames, values=frames.astype(np.float32),
                    fps=fps, fps_source="video" if fps else None, metadata=dict(loaded.metadata))
    loaded = load_image(data, name=label, limits=limits)
    return Cine(name=label, kind=kind, display=loaded.frames, indices=[0], n_source_frames=1,
                values=loaded.frames.astype(np.float32), pixel_spacing_mm=loaded.pixel_spacing_mm,
                metadata=dict(loaded.metadata))


def _blank(rgb: np.ndarray, rects) -> None:
    for rect in rects or ():
        r0, c0, r1, c1 = pixel_box(tuple(rect), rgb.shape[1], rgb.shape[2])
        rgb[:, r0:r1, c0:c1, ...] = 0


def load_frames(source, indices, *, name: str | None = None, limits=None):
    """The chosen source frames of a DICOM or cine clip as a :class:`core.io.LoadedImage` for ``analyze()``.

    ``metadata["frame_indices"]`` lists the source frame number of each returned frame, so a result names the
    frame that was analysed. A still image ignores ``indices`` (it has one frame). Frames are decoded and
    de-identified exactly as the gate does it.
    """
    limits = limits or DEFAULT_LIMITS
    wanted = sorted({_index(i) for i in indices})
    if not wanted:
        raise InputError("no frame chosen")
    data, label = read_source(source, name=name, limits=limits)
    kind = detect_kind(data, label)
    if kind == "dicom":
        rgb, _, n, kept, _, spacing, meta = _dicom_frames(data, label, limits, wanted, None)
        return LoadedImage(frames=rgb, kind="dicom", name=label, pixel_spacing_mm=spacing, n_source_frames=n,
                           metadata=meta)
    if kind == "video":
        frames, count, meta = decode_video(data, label, limits, 1, indices=wanted)
        if len(frames) != len(wanted):
            raise InputError(f"{label}: frame {wanted[len(frames)]} does not exist "
                             f"(the clip has frames 0..{count - 1})")
        meta["frame_indices"] = wanted
        return LoadedImage(frames=frames, kind="video", name=label, n_source_frames=count, metadata=meta)
    return load_image(data, name=label, limits=limits)


def _index(value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise InputError(f"a frame index must be a whole number >= 0, got {value!r}")
    return int(value)


# ------------------------------------------------------------------------------------- display helpers
def window_level(values: np.ndarray, *, center: float, width: float) -> np.ndarray:
    """Original values -> uint8 RGB through a linear window (DICOM C.11.2.1.2 without the 0.5 offsets).

    ``values`` (H, W) or (H, W, 3); below ``center - width/2`` is black, above ``center + width/2`` white.
    """
    width = float(width)
    if not math.isfinite(width) or width <= 0:
        raise InputError(f"window width must be a positive number, got {width!r}")
    low, high = float(center) - width / 2.0, float(center) + width / 2.0
    out = window_to_uint8(np.asarray(values), low=low, high=high)
    return to_rgb(out[None])[0]


def zoom(rgb: np.ndarray, factor: float, *, cx: float = 0.5, cy: float = 0.5) -> tuple[np.ndarray, tuple]:
    """A ``factor``-times magnified view centred on (cx, cy) (fractions of width and height).

    Returns the crop resized back to the image size and its box (row0, col0, row1, col1) in image pixels, so
    a caller can map a point on the zoomed view back to the image.
    """
    factor = float(factor)
    if not math.isfinite(factor) or factor < 1:
        raise InputError(f"zoom must be >= 1, got {factor!r}")
    h, w = rgb.shape[:2]
    ch, cw = max(1, round(h / factor)), max(1, round(w / factor))
    r0 = int(min(max(0, round(cy * h - ch / 2)), h - ch))
    c0 = int(min(max(0, round(cx * w - cw / 2)), w - cw))
    crop = rgb[r0:r0 + ch, c0:c0 + cw]
    out = cv2.resize(np.ascontiguousarray(crop), (w, h), interpolation=cv2.INTER_NEAREST if factor >= 4
                     else cv2.INTER_LINEAR)
    return out, (r0, c0, r0 + ch, c0 + cw)


def animation(frames: np.ndarray, *, frame_ms: float | None, max_side: int = 480) -> bytes:
    """An animated GIF of ``frames`` (uint8 (N, H, W, 3)) playing at ``frame_ms`` per frame (default 40 ms).

    Why GIF: the browser plays it at the stated rate without a server round trip per frame; grey ultrasound
    fits its 256-level palette. GIF delays are whole centiseconds, so the rate is rounded to 10 ms.
    """
    if frames.ndim != 4 or frames.shape[0] < 1:
        raise InputError("animation needs at least one frame")
    delay = int(round((frame_ms or 40.0) / 10.0) * 10) or 10
    h, w = frames.shape[1:3]
    scale = min(1.0, max_side / max(h, w))
    images = [Image.fromarray(f) for f in frames]
    if scale < 1.0:
        size = (max(1, int(w * scale)), max(1, int(h * scale)))
        images = [im.resize(size, Image.BILINEAR) for im in images]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=delay, loop=0)
    return buf.getvalue()
