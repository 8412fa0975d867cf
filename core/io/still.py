"""Still images (PNG, JPEG, BMP, TIFF) through Pillow, with the size checked before decoding.

Why the order matters: ``Image.open`` only parses the header, so the declared size is known and compared
with :class:`GateLimits` before ``load()`` allocates anything (decompression-bomb defence that does not depend
on Pillow's global ``MAX_IMAGE_PIXELS``). Truncated data is an error, never silently padded.
"""

from __future__ import annotations

import io
import warnings

import numpy as np

from core.io.convert import to_rgb, window_to_uint8
from core.io.errors import CorruptFileError, TooManyPixelsError
from core.io.limits import GateLimits

_PIL_FORMATS = {"png": ["PNG"], "jpeg": ["JPEG"], "bmp": ["BMP", "DIB"], "tiff": ["TIFF"]}


def _describe(err: BaseException) -> str:
    text = str(err).splitlines()[0] if str(err) else ""
    return f"{type(err).__name__}: {text}"[:200] if text else type(err).__name__


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from the first SOFn marker segment, walking the marker chain."""
    pos = 2
    while pos + 9 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
            pos += 1 if marker == 0xFF else 2
            continue
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            height = int.from_bytes(data[pos + 5:pos + 7], "big")
            width = int.from_bytes(data[pos + 7:pos + 9], "big")
            return width, height
        if length < 2:
            return None
        pos += 2 + length
    return None


def declared_size(data: bytes, kind: str) -> tuple[int, int] | None:
    """The size the header claims, read without Pillow (PNG IHDR, BMP info header, JPEG SOF), so that even a
    header too short for Pillow to open is measured against the limits. None: leave it to Pillow."""
    if kind == "png" and len(data) >= 24 and data[12:16] == b"IHDR":
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if kind == "bmp" and len(data) >= 26 and int.from_bytes(data[14:18], "little") >= 40:
        width = int.from_bytes(data[18:22], "little", signed=True)
        height = int.from_bytes(data[22:26], "little", signed=True)
        return abs(width), abs(height)
    if kind == "jpeg":
        return _jpeg_size(data)
    return None


def _open(data: bytes, kind: str, name: str, limits: GateLimits):
    size = declared_size(data, kind)
    if size is not None:
        limits.check_frame_size(name, *size)
    from PIL import Image

    try:
        with warnings.catch_warnings(record=True):  # e.g. "Corrupt EXIF data": never printed, size checked next
            warnings.simplefilter("always")
            im = Image.open(io.BytesIO(data), formats=_PIL_FORMATS[kind])
    except Image.DecompressionBombError as err:
        raise TooManyPixelsError(name, f"Pillow refused the declared size ({_describe(err)})") from None
    except Image.UnidentifiedImageError:
        raise CorruptFileError(name, f"{kind.upper()} header is damaged or incomplete") from None
    except Exception as err:  # noqa: BLE001 - any parser failure on a hostile header is a corrupt file
        raise CorruptFileError(name, f"not a readable {kind.upper()} header ({_describe(err)})") from None
    return im


def tiff_pages(data: bytes, limit: int) -> int:
    """Number of IFDs (pages) of a TIFF, walking the chain itself and stopping after ``limit + 1``.

    Why not Pillow's ``n_frames``: it seeks through every page (a 45 MB file with 400k pages took minutes),
    and an IFD chain may loop. Here each IFD costs a few bytes of reading; a loop or an offset outside the
    file ends the walk."""
    if len(data) < 8:
        return 1
    order = "<" if data[:2] == b"II" else ">"
    big = data[2:4] in (b"+\x00", b"\x00+")
    import struct

    pages = 0
    try:
        if big:
            offset = struct.unpack_from(order + "Q", data, 8)[0]
            count_fmt, count_size, entry_size, next_fmt, next_size = "Q", 8, 20, "Q", 8
        else:
            offset = struct.unpack_from(order + "I", data, 4)[0]
            count_fmt, count_size, entry_size, next_fmt, next_size = "H", 2, 12, "I", 4
        seen = set()
        while offset and offset not in seen and offset + count_size <= len(data) and pages <= limit:
            seen.add(offset)
            n = struct.unpack_from(order + count_fmt, data, offset)[0]
            pages += 1
            end = offset + count_size + n * entry_size
            if end + next_size > len(data):
                break
            offset = struct.unpack_from(order + next_fmt, data, end)[0]
    except struct.error:
        pass  # a truncated IFD ends the chain
    return max(1, pages)


def _pages(im) -> int:
    """Page count without letting a damaged IFD chain escape (Pillow walks it lazily)."""
    try:
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            return max(1, int(getattr(im, "n_frames", 1) or 1))
    except Exception:  # noqa: BLE001 - the first page decoded; later pages are not used
        return 1


def probe_still(data: bytes, kind: str, name: str, limits: GateLimits) -> dict:
    """Header only: size and page count."""
    pages = _count_pages(data, kind, name, limits)
    im = _open(data, kind, name, limits)
    width, height = im.size
    limits.check_frame_size(name, width, height)
    return {"kind": kind, "width": width, "height": height, "frames": pages if kind == "tiff" else _pages(im),
            "pixel_spacing_mm": None}


def _count_pages(data: bytes, kind: str, name: str, limits: GateLimits) -> int:
    """TIFF pages, counted and checked against the limit before Pillow sees the file (1 for other kinds)."""
    if kind != "tiff":
        return 1
    pages = tiff_pages(data, limits.max_pages)
    limits.check_pages(name, pages)
    return pages


def _working(im, max_pixels: int):
    """The decoded image, box-downscaled to at most ``max_pixels`` in its own mode (before any RGB or float
    copy of the full size is made); returns it and the (row, column) scale."""
    from PIL import Image

    w, h = im.size
    if w * h <= max_pixels:
        return im, (1.0, 1.0)
    f = (max_pixels / float(w * h)) ** 0.5
    size = (max(1, int(w * f)), max(1, int(h * f)))
    if im.mode not in ("1", "L", "LA", "RGB", "RGBA", "I", "F", "P", "I;16") and not im.mode.startswith("I;"):
        im = im.convert("RGB")
    if im.mode == "P":
        im = im.convert("RGB")
    small = im.resize(size, Image.Resampling.BOX) if not im.mode.startswith("I;") else \
        im.convert("I").resize(size, Image.Resampling.BOX)
    return small, (size[1] / h, size[0] / w)


def _to_array(im) -> np.ndarray:
    """Any Pillow mode -> uint8 HxWx3. High bit depth and float modes are min-max windowed (NaN -> 0)."""
    if im.mode in ("I", "F") or im.mode.startswith("I;"):
        return to_rgb(window_to_uint8(np.asarray(im))[None])[0]
    if im.mode != "RGB":
        im = im.convert("RGB")
    return np.asarray(im, dtype=np.uint8)


def decode_still(data: bytes, kind: str, name: str, limits: GateLimits) -> tuple[np.ndarray, dict]:
    """Decode the first page/frame; returns (uint8 (1, H, W, 3), metadata)."""
    from PIL import Image

    pages = _count_pages(data, kind, name, limits)
    im = _open(data, kind, name, limits)
    width, height = im.size
    limits.check_frame_size(name, width, height)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if kind == "png":  # chunk CRCs and IEND: a PNG cut after its image data is still truncated
                im.verify()
                im = _open(data, kind, name, limits)
            im.load()
            im, scale = _working(im, limits.max_working_pixels)
            rgb = _to_array(im)
    except Image.DecompressionBombError as err:
        raise TooManyPixelsError(name, f"Pillow refused the size ({_describe(err)})") from None
    except MemoryError:
        raise TooManyPixelsError(name, "not enough memory to decode the image") from None
    except Exception as err:  # noqa: BLE001 - truncated or damaged data in any of Pillow's decoders
        raise CorruptFileError(name, f"{kind.upper()} data cannot be decoded ({_describe(err)})") from None
    if rgb.shape[:2] != im.size[::-1]:
        raise CorruptFileError(name, f"decoded size {rgb.shape[1]}x{rgb.shape[0]} differs from the header")
    meta = {"mode": im.mode, "pages": pages if kind == "tiff" else _pages(im)}
    if scale != (1.0, 1.0):
        meta["source_size"], meta["working_scale"] = [width, height], list(scale)
    if caught:
        meta["warnings"] = [str(w.message).splitlines()[0][:200] for w in caught]
    return rgb[None], meta
