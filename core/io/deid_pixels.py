"""Clean Pixel Data for de-identification: decode, blank, check the whole image, say honestly what is left.

Why a check after the blanking: BurnedInAnnotation = NO promises that no identifying text is left in the
pixels. So, for every frame: the device's banner rectangles are zeroed (:mod:`core.io.banner`); when the
object has a SequenceOfUltrasoundRegions, everything outside its regions (the screen around the image, where
scanners print names, dates and IDs) is zeroed; then the *whole* frame is searched for text-like marks
(:mod:`core.io.burned_text`). Only when every frame was searched and nothing was found is the image reported
clean; otherwise BurnedInAnnotation stays YES and a warning says why, for the page to show.

Decoding refusals name what is missing ("JPEG 2000 pixel data needs pylibjpeg-openjpeg"), never an exception
name, because the person reading them has to act on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.io.banner import BannerRule, apply_banner, rects_for
from core.io.burned_text import find_text
from core.io.calibration import _int
from core.io.errors import CorruptFileError, DeidentificationError

PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")

# transfer syntax UID prefix -> (what it is, the packages that decode it)
_CODECS = (
    ("1.2.840.10008.1.2.4.5", "JPEG", "pylibjpeg-libjpeg"),
    ("1.2.840.10008.1.2.4.57", "JPEG lossless", "pylibjpeg-libjpeg"),
    ("1.2.840.10008.1.2.4.70", "JPEG lossless", "pylibjpeg-libjpeg"),
    ("1.2.840.10008.1.2.4.8", "JPEG-LS", "pylibjpeg-libjpeg or pyjpegls"),
    ("1.2.840.10008.1.2.4.9", "JPEG 2000", "pylibjpeg-openjpeg"),
    ("1.2.840.10008.1.2.4.20", "HTJ2K", "pylibjpeg-openjpeg"),
    ("1.2.840.10008.1.2.5", "RLE", "pylibjpeg-rle"),
    ("1.2.840.10008.1.2.4.10", "MPEG/H.264/HEVC video", None),
    ("1.2.840.10008.1.2.4.11", "JPEG XL", None),
)


@dataclass
class PixelReport:
    """What the pixel step did: blanked areas, whether every frame was searched, what was found."""

    cleaned: bool = False
    frames_checked: int = 0
    frames_total: int = 0
    text_frames: int = 0
    text_boxes: list = field(default_factory=list)
    regions_blanked: bool = False
    warnings: list = field(default_factory=list)

    @property
    def whole_image_clean(self) -> bool:
        return self.cleaned and self.frames_checked == self.frames_total and self.text_frames == 0


def codec_name(ts) -> tuple[str, str | None]:
    """(human name, packages needed) of a compressed transfer syntax."""
    uid = str(ts)
    hits = [(len(prefix), name, pkg) for prefix, name, pkg in _CODECS if uid.startswith(prefix)]
    return max(hits)[1:] if hits else ("compressed", None)


def is_compressed(ts) -> bool:
    """True for a compressed transfer syntax; False for a native one, none, or a UID that is no transfer
    syntax at all (pydicom then reports the data as undecodable)."""
    try:
        return ts is not None and bool(ts.is_compressed)
    except (ValueError, AttributeError):
        return False


def decode_problem(ts) -> str | None:
    """Why pixel data in ``ts`` cannot be decoded here (a missing decoder named), or None when it can."""
    from pydicom.pixels import get_decoder

    name, pkg = codec_name(ts)
    try:
        decoder = get_decoder(ts)
    except Exception:  # noqa: BLE001 - pydicom has no decoder for this syntax at all
        return f"{name} pixel data ({ts.name if hasattr(ts, 'name') else ts}) has no decoder in pydicom"
    if not decoder.is_available:
        return f"{name} pixel data needs {pkg or 'a decoder plugin'} (pip install -r requirements.txt)"
    return None


def decode_all(ds, name: str) -> np.ndarray:
    """All frames, native values (pydicom's pixel_array), decompressing compressed syntaxes first."""
    ts = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if is_compressed(ts):
        problem = decode_problem(ts)
        if problem:
            raise DeidentificationError(name, problem)
        try:
            ds.decompress(generate_instance_uid=False)
        except MemoryError:
            raise CorruptFileError(name, "not enough memory to decode the pixel data") from None
        except Exception:  # noqa: BLE001 - truncated fragments, wrong lengths: the decoder gives up
            raise CorruptFileError(name, f"{codec_name(ts)[0]} pixel data cannot be decoded: damaged, truncated "
                                         f"or inconsistent with the header") from None
    try:
        return np.array(ds.pixel_array, copy=True)
    except MemoryError:
        raise CorruptFileError(name, "not enough memory to decode the pixel data") from None
    except Exception:  # noqa: BLE001
        raise CorruptFileError(name, "pixel data does not match Rows x Columns x frames x bits in the header "
                                     "(truncated or inconsistent)") from None


def region_mask(regions: list[dict], height: int, width: int) -> np.ndarray | None:
    """True inside any ultrasound region (any data type), None when the object declares none."""
    if not regions:
        return None
    mask = np.zeros((height, width), dtype=bool)
    for r in regions:
        mask[max(0, r["y0"]):min(height, r["y1"] + 1), max(0, r["x0"]):min(width, r["x1"] + 1)] = True
    return mask


def _all_regions(ds) -> list[dict]:
    """Bounds of every region, calibrated or not (a Doppler strip is image too)."""
    out = []
    for item in ds.get("SequenceOfUltrasoundRegions") or []:
        b = [_int(item.get(k)) for k in ("RegionLocationMinX0", "RegionLocationMinY0", "RegionLocationMaxX1",
                                          "RegionLocationMaxY1")]
        if None not in b and b[2] >= b[0] and b[3] >= b[1]:
            out.append({"x0": b[0], "y0": b[1], "x1": b[2], "y1": b[3]})
    return out


def clean_frames(stack: np.ndarray, rects, regions: list[dict], *, max_check_frames: int,
                 report: PixelReport) -> np.ndarray:
    """Blank banner rectangles and non-region areas of ``stack`` (N, H, W[, C]) in place, then search every
    frame (up to ``max_check_frames``) for text-like marks; fills ``report``."""
    apply_banner(stack, rects)
    height, width = stack.shape[1], stack.shape[2]
    inside = region_mask(regions, height, width)
    if inside is not None and not inside.all():
        stack[:, ~inside, ...] = 0
        report.regions_blanked = True
    report.frames_total = int(stack.shape[0])
    for i in range(min(stack.shape[0], max(0, int(max_check_frames)))):
        boxes = find_text(stack[i])
        report.frames_checked += 1
        if boxes:
            report.text_frames += 1
            if len(report.text_boxes) < 10:
                report.text_boxes += [list(map(int, b)) for b in boxes[:10 - len(report.text_boxes)]]
    report.cleaned = True
    if report.frames_checked < report.frames_total:
        report.warnings.append(f"burned-in text was searched in {report.frames_checked} of {report.frames_total} "
                               f"frames only; BurnedInAnnotation stays YES")
    if report.text_frames:
        where = ", ".join(f"x {b[0]}-{b[2]} y {b[1]}-{b[3]}" for b in report.text_boxes[:3])
        report.warnings.append(f"text-like marks remain in {report.text_frames} frame(s) ({where}) after blanking; "
                               f"BurnedInAnnotation stays YES - check the image before sharing it")
    return stack


def clean_pixels(ds, rules: tuple[BannerRule, ...] | None, *, name: str, max_check_frames: int = 256
                 ) -> PixelReport:
    """Clean Pixel Data on a pydicom data set, in place; the pixels are written back uncompressed."""
    from pydicom.uid import ExplicitVRLittleEndian

    report = PixelReport()
    if not any(k in ds for k in PIXEL_KEYWORDS):
        return report
    arr = decode_all(ds, name)
    frames = int(ds.get("NumberOfFrames") or 1)
    stack = arr if frames > 1 else arr[None]
    rects = rects_for(str(ds.get("Manufacturer", "")), str(ds.get("ManufacturerModelName", "")), rules)
    clean_frames(stack, rects, _all_regions(ds), max_check_frames=max_check_frames, report=report)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian  # first: set_pixel_data refuses big endian
    write_pixels(ds, stack if frames > 1 else stack[0])
    return report


def write_pixels(ds, arr: np.ndarray) -> None:
    """Put cleaned native pixels back; 8/16-bit through pydicom's set_pixel_data, the rest as raw bytes."""
    bits = int(ds.BitsAllocated)
    photometric = str(ds.PhotometricInterpretation)
    if photometric.startswith("YBR") and arr.ndim >= 3 and arr.shape[-1] == 3:
        photometric = "RGB"  # pydicom's pixel_array already converted YBR to RGB
    if "PixelData" in ds and bits in (8, 16) and arr.dtype.kind in "ui":
        ds.set_pixel_data(arr, photometric, int(ds.BitsStored), generate_instance_uid=False)
        return
    from pydicom.pixels import pack_bits

    raw = pack_bits(arr) if bits == 1 else arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
    raw += b"\x00" * (len(raw) % 2)
    keyword = next(k for k in PIXEL_KEYWORDS if k in ds)
    ds[keyword].value = raw
    if photometric != str(ds.PhotometricInterpretation):
        ds.PhotometricInterpretation = photometric
