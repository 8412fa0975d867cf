"""DICOM through pydicom: single- and multi-frame, compressed syntaxes pydicom's handlers decode.

Why the checks come first: Rows x Columns and NumberOfFrames are read from the header and compared with the
limits before any pixel is decoded, so a small compressed file cannot expand into gigabytes. Pixels are then
turned into uint8 RGB for display and models: modality LUT (rescale), the object's window (or min-max over
the kept frames when it has none), MONOCHROME1 inverted, YBR converted by pydicom, PALETTE COLOR through its
LUT, NaN/inf in float pixel data mapped to the low end. Calibration (mm per pixel, per ultrasound region,
x and y separately) is :mod:`core.io.calibration`; :func:`pixel_spacing_mm` gives one number only when one
square-pixel scale holds everywhere.
"""

from __future__ import annotations

import io
import math
import warnings
from contextlib import contextmanager

import numpy as np

from core.io.calibration import isotropic_spacing, regions_of
from core.io.convert import scale_bits_to_uint8, to_rgb, window_to_uint8
from core.io.deid_pixels import decode_problem, is_compressed
from core.io.errors import CorruptFileError, NoPixelDataError
from core.io.limits import GateLimits

PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
_REQUIRED = ("Rows", "Columns", "BitsAllocated", "PhotometricInterpretation")


@contextmanager
def quiet():
    """Keep pydicom from printing or logging attribute values (its validation messages quote them, and a
    value may be a patient's name): value validation off and warnings recorded, for the enclosed block."""
    from pydicom import config

    with warnings.catch_warnings(record=True), config.disable_value_validation():
        warnings.simplefilter("always")
        yield


def _describe(err: BaseException) -> str:
    return type(err).__name__  # pydicom messages may quote element values, i.e. identifiers: never show them


def read_dataset(data: bytes, name: str):
    """Parse the data set (pixels stay encoded). Files without the 128-byte preamble are read with force."""
    import pydicom

    has_preamble = len(data) >= 132 and data[128:132] == b"DICM"
    try:
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            ds = pydicom.dcmread(io.BytesIO(data), force=not has_preamble)
            for _ in ds.file_meta if hasattr(ds, "file_meta") else ():
                pass  # pydicom converts elements lazily: force every one now, inside this try
            ds.remove_private_tags()
            for _ in ds.iterall():
                pass
    except Exception as err:  # noqa: BLE001 - hostile headers fail in many ways inside pydicom
        raise CorruptFileError(name, f"DICOM header cannot be parsed ({_describe(err)})") from None
    return ds


def _int(ds, keyword: str, name: str, default=None) -> int:
    value = ds.get(keyword, default)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise CorruptFileError(name, f"DICOM attribute {keyword} is missing or not a number") from None


def geometry(ds, name: str, limits: GateLimits) -> tuple[int, int, int]:
    """(width, height, n_frames) from the header, checked against the limits. Raises when no image."""
    if not any(k in ds for k in PIXEL_KEYWORDS):
        raise NoPixelDataError(name, "DICOM object has no pixel data (not an image)")
    for keyword in _REQUIRED:
        if keyword not in ds or ds[keyword].value in (None, ""):
            raise CorruptFileError(name, f"DICOM image lacks the required attribute {keyword}")
    width, height = _int(ds, "Columns", name), _int(ds, "Rows", name)
    limits.check_frame_size(name, width, height)
    n_frames = _int(ds, "NumberOfFrames", name, default=1) if ds.get("NumberOfFrames") not in (None, "") else 1
    if n_frames < 1:
        raise CorruptFileError(name, f"DICOM NumberOfFrames is {n_frames}")
    limits.check_frame_count(name, n_frames)
    if _int(ds, "BitsAllocated", name) not in (1, 8, 16, 32, 64):
        raise CorruptFileError(name, f"DICOM BitsAllocated {ds.BitsAllocated} is not supported")
    if _int(ds, "SamplesPerPixel", name, default=1) not in (1, 3):
        raise CorruptFileError(name, f"DICOM SamplesPerPixel {ds.SamplesPerPixel} is not supported")
    return width, height, n_frames


def _positive(value) -> float | None:
    try:
        v = abs(float(value))
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) and v > 0 else None


def pixel_spacing_mm(ds) -> tuple[float | None, str | None]:
    """(mm per pixel, source attribute) when one square-pixel scale holds for the whole image; otherwise
    (None, source): anisotropic pixels or regions with different scales are never averaged, callers take the
    region containing the measurement from :func:`core.io.calibration.spacing_at`."""
    regions = regions_of(ds)
    if not regions:
        return None, None
    source = "SequenceOfUltrasoundRegions" if ds.get("SequenceOfUltrasoundRegions") else "PixelSpacing"
    return isotropic_spacing(regions), source


def _first(value):
    """First value of a possibly multi-valued attribute (WindowCenter may hold several windows)."""
    if value is None or isinstance(value, (str, bytes, int, float)):
        return value
    try:
        return value[0]
    except (TypeError, IndexError, KeyError):
        return None


def _window(ds) -> tuple[float, float] | None:
    try:
        center, width = float(_first(ds.get("WindowCenter"))), float(_first(ds.get("WindowWidth")))
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(center) and math.isfinite(width) and width > 0):
        return None
    return center - width / 2.0, center + width / 2.0


def _decode_frames(ds, indices: list[int], name: str, shrink=None) -> list[np.ndarray]:
    """The chosen frames, native values; ``shrink`` (frame -> frame) is applied as each one is decoded, so a
    long multi-frame object never holds more than one full-size frame at a time."""
    from pydicom.pixels import iter_pixels

    ts = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if is_compressed(ts):
        problem = decode_problem(ts)
        if problem:
            raise CorruptFileError(name, problem)
    try:
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            frames = []
            for f in iter_pixels(ds, indices=indices):
                frame = np.array(f, copy=True)
                frames.append(shrink(frame) if shrink is not None else frame)
            return frames
    except CorruptFileError:
        raise
    except MemoryError:
        raise CorruptFileError(name, "not enough memory to decode the DICOM pixel data") from None
    except Exception:  # noqa: BLE001 - truncated data, inconsistent header
        raise CorruptFileError(name, "DICOM pixel data cannot be decoded: damaged, truncated or inconsistent "
                                     "with the header") from None


def to_uint8_rgb(ds, frames: list[np.ndarray]) -> np.ndarray:
    """Decoded DICOM frames -> uint8 (N, H, W, 3) for display and models."""
    from pydicom.pixels import apply_color_lut, apply_modality_lut

    photometric = str(ds.PhotometricInterpretation).upper()
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if photometric == "PALETTE COLOR":
        rgb = [apply_color_lut(f, ds) for f in frames]
        return to_rgb(np.stack([scale_bits_to_uint8(f, 16 if f.dtype.itemsize > 1 else 8) for f in rgb]))
    if samples == 3:
        bits = int(ds.get("BitsStored") or ds.BitsAllocated)
        return to_rgb(np.stack([scale_bits_to_uint8(np.nan_to_num(f), bits) for f in frames]))
    bits_allocated = int(ds.BitsAllocated)
    if bits_allocated == 1:
        grey = np.stack([(f > 0).astype(np.uint8) * 255 for f in frames])
    else:
        values = np.stack([np.asarray(apply_modality_lut(f, ds), dtype=np.float32) for f in frames])
        window = _window(ds)
        grey = window_to_uint8(values, low=window[0], high=window[1]) if window else window_to_uint8(values)
    if photometric == "MONOCHROME1":
        grey = 255 - grey
    return to_rgb(grey)


def _shrink_raw(ds, frames: list[np.ndarray], max_pixels: int) -> tuple[list[np.ndarray], tuple[float, float]]:
    """Native-valued frames downscaled before the float conversions, which are what cost time and memory on a
    large image (a 40-megapixel frame becomes 320 MB per float64 copy). Palette indices and 1-bit planes are
    resampled by nearest neighbour (averaging indices would invent colours); other values by area."""
    import cv2

    h, w = frames[0].shape[:2]
    if h * w <= max_pixels:
        return frames, (1.0, 1.0)
    f = math.sqrt(max_pixels / float(h * w))
    size = (max(1, int(w * f)), max(1, int(h * f)))
    nearest = str(ds.PhotometricInterpretation).upper() == "PALETTE COLOR" or int(ds.BitsAllocated) == 1
    out = []
    for frame in frames:
        src = frame if frame.dtype in (np.uint8, np.uint16, np.int16, np.float32, np.float64) \
            else frame.astype(np.float32)
        small = cv2.resize(np.ascontiguousarray(src), size,
                           interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_AREA)
        out.append(small.reshape((size[1], size[0]) + frame.shape[2:]).astype(frame.dtype, copy=False))
    return out, (size[1] / h, size[0] / w)


def decode_dicom(data: bytes, name: str, limits: GateLimits, frame_step: int, *, ds=None):
    """Returns (frames uint8 (N, H, W, 3), n_source_frames, dataset, (row, column) scale). Frames: 0, step,
    2*step, ...; larger than ``limits.max_working_pixels`` they are downscaled (scale < 1)."""
    ds = read_dataset(data, name) if ds is None else ds
    width, height, n_frames = geometry(ds, name, limits)
    indices = list(range(0, n_frames, max(1, frame_step)))
    limits.check_total(name, len(indices), width, height)
    scale = [(1.0, 1.0)]

    def shrink(frame: np.ndarray) -> np.ndarray:
        if frame.shape[:2] != (height, width):
            raise CorruptFileError(name, f"decoded size {frame.shape[1]}x{frame.shape[0]} differs from the header")
        (small,), scale[0] = _shrink_raw(ds, [frame], limits.max_working_pixels)
        return small

    frames = _decode_frames(ds, indices, name, shrink)
    if not frames:
        raise CorruptFileError(name, "DICOM pixel data holds no frame")
    scale = scale[0]
    try:
        rgb = to_uint8_rgb(ds, frames)
    except Exception as err:  # noqa: BLE001 - e.g. a palette LUT that does not fit the data
        raise CorruptFileError(name, f"DICOM pixels cannot be converted to RGB ({_describe(err)})") from None
    return rgb, n_frames, ds, scale


def safe_metadata(ds) -> dict:
    """Technical attributes only (whitelist): nothing that identifies a patient, operator or site."""
    try:
        return _safe_metadata(ds)
    except Exception:  # noqa: BLE001 - metadata is informative only; a damaged attribute drops it
        return {}


def _safe_metadata(ds) -> dict:
    from pydicom.uid import UID

    meta = {}
    for key, keyword in (("modality", "Modality"), ("manufacturer", "Manufacturer"),
                         ("model", "ManufacturerModelName"), ("photometric_interpretation",
                                                             "PhotometricInterpretation")):
        value = ds.get(keyword)
        if value not in (None, ""):
            meta[key] = str(value)[:64]
    for key, keyword in (("bits_stored", "BitsStored"), ("rows", "Rows"), ("columns", "Columns")):
        value = ds.get(keyword)
        if isinstance(value, int):
            meta[key] = value
    frame_time = _positive(ds.get("FrameTime"))
    if frame_time:
        meta["frame_time_ms"] = frame_time
    ts = getattr(ds, "file_meta", {}).get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if ts:
        meta["transfer_syntax"] = UID(str(ts)).name
    return meta
