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


def _open(data: bytes, kind: str, name: str):
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data), formats=_PIL_FORMATS[kind])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise TooManyPixelsError(name, f"Pillow refused the declared size ({_describe(err)})") from None
    except Exception as err:  # noqa: BLE001 - any parser failure on a hostile header is a corrupt file
        raise CorruptFileError(name, f"not a readable {kind.upper()} header ({_describe(err)})") from None


def probe_still(data: bytes, kind: str, name: str, limits: GateLimits) -> dict:
    """Header only: size and page count."""
    im = _open(data, kind, name)
    width, height = im.size
    limits.check_frame_size(name, width, height)
    return {"kind": kind, "width": width, "height": height, "frames": int(getattr(im, "n_frames", 1) or 1),
            "pixel_spacing_mm": None}


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

    im = _open(data, kind, name)
    width, height = im.size
    limits.check_frame_size(name, width, height)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            im.load()
            rgb = _to_array(im)
    except Image.DecompressionBombError as err:
        raise TooManyPixelsError(name, f"Pillow refused the size ({_describe(err)})") from None
    except MemoryError:
        raise TooManyPixelsError(name, "not enough memory to decode the image") from None
    except Exception as err:  # noqa: BLE001 - truncated or damaged data in any of Pillow's decoders
        raise CorruptFileError(name, f"{kind.upper()} data cannot be decoded ({_describe(err)})") from None
    if rgb.shape[:2] != (height, width):
        raise CorruptFileError(name, f"decoded size {rgb.shape[1]}x{rgb.shape[0]} differs from the header")
    meta = {"mode": im.mode, "pages": int(getattr(im, "n_frames", 1) or 1)}
    if caught:
        meta["warnings"] = [str(w.message).splitlines()[0][:200] for w in caught]
    return rgb[None], meta
