"""DICOM de-identification: PS3.15 Annex E Basic Application Level Confidentiality Profile + Clean Pixel Data.

Why here, in the gate: identifiers must never get past ingest. :func:`load_image` runs the header actions on
every DICOM it reads (and blanks the banner rectangles in the returned frames), and ``python -m core
deidentify`` writes cleaned files. What is done, in order:

1. Burned-in text: the pixel data is decoded (compressed syntaxes through pydicom's handlers), the banner
   rectangles for the device (:mod:`core.io.banner`) are zeroed in every frame, and only then is
   BurnedInAnnotation set to "NO". The pixels are written back uncompressed (Explicit VR Little Endian).
2. Header: the actions of :data:`core.io.annex_e.BASIC_PROFILE` on the data set and every nested sequence;
   all private tags removed; curve (50xx) and overlay (60xx) groups removed. Two conservative extensions: any
   UID outside the DICOM root 1.2.840.10008 is mapped, and any person name not covered by the table is emptied.
3. UIDs: ``2.25.<int>`` from HMAC-SHA256(salt, old UID), so the same input UID always maps to the same new
   UID (study/series links survive) while the mapping cannot be reversed without the salt. The salt comes
   from ``SONODASH_DEID_SALT`` or a random secret kept in ``$SONODASH_HOME/secrets/deid_salt``.
4. PatientIdentityRemoved = YES, DeidentificationMethod and its code sequence (DCM 113100 / 113101),
   LongitudinalTemporalInformationModified = REMOVED, a zeroed preamble and a minimal file meta header.

Nothing here logs or returns attribute values: reports hold counts only.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.io.annex_e import BASIC_PROFILE
from core.io.banner import BannerRule, apply_banner, rects_for
from core.io.errors import DeidentificationError

_DUMMY = {"DA": "19000101", "TM": "000000", "DT": "19000101000000", "PN": "ANONYMOUS", "AS": "000Y",
          "DS": "0", "IS": "0", "UR": "", "UN": b""}
_NUMERIC = {"US", "SS", "UL", "SL", "FL", "FD", "UV", "SV", "AT"}
_RESOLVE = {"X/Z": "Z", "X/D": "D", "X/Z/D": "Z", "Z/D": "Z", "X/Z/U*": "K"}
DICOM_ROOT = "1.2.840.10008"
METHOD = ["SonoDash: PS3.15 Annex E Basic Profile", "private tags removed, UIDs remapped"]


@dataclass(frozen=True)
class DeidConfig:
    """Options of de-identification. ``salt`` None: the installation's secret salt.
    ``banner_rules`` None: the default top banner only. ``clean_pixels`` False: header only."""

    salt: bytes | None = None
    banner_rules: tuple[BannerRule, ...] | None = None
    clean_pixels: bool = True


def default_salt() -> bytes:
    """The installation's UID salt: ``SONODASH_DEID_SALT`` or a random secret created once (mode 0600)."""
    env = os.environ.get("SONODASH_DEID_SALT")
    if env:
        return env.encode("utf-8")
    from core.paths import sonodash_home

    path = sonodash_home() / "secrets" / "deid_salt"
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
        return path.read_text().strip().encode("utf-8")
    except FileExistsError:
        return path.read_text().strip().encode("utf-8")
    except OSError:
        return _PROCESS_SALT


_PROCESS_SALT = secrets.token_bytes(32)


class UidMapper:
    """Consistent, salted, one-way UID replacement: same salt + same UID -> same new UID."""

    def __init__(self, salt: bytes):
        self._salt = salt

    def __call__(self, uid: str) -> str:
        uid = str(uid).strip().rstrip("\x00")
        if not uid:
            return uid
        digest = hmac.new(self._salt, uid.encode("ascii", "replace"), hashlib.sha256).digest()
        return "2.25." + str(int.from_bytes(digest[:16], "big"))


def _map_value(value, mapper: UidMapper):
    from pydicom.multival import MultiValue

    if isinstance(value, (list, MultiValue)):
        return [mapper(v) for v in value]
    return mapper(value) if value else value


def _empty(elem) -> None:
    from pydicom.sequence import Sequence

    elem.value = Sequence([]) if elem.VR == "SQ" else None


def _dummy(elem, mapper: UidMapper) -> None:
    vr = elem.VR
    if vr == "SQ":
        _empty(elem)
    elif vr == "UI":
        elem.value = _map_value(elem.value, mapper)
    elif vr in _NUMERIC:
        elem.value = 0
    elif vr in ("OB", "OW", "OF", "OD", "OL", "OV"):
        elem.value = b""
    else:
        elem.value = _DUMMY.get(vr, "ANONYMIZED")


def _is_removed_group(tag: int) -> bool:
    group = tag >> 16
    return group % 2 == 0 and (0x5000 <= group <= 0x50FF or 0x6000 <= group <= 0x60FF)


def _clean_header(ds, mapper: UidMapper, counts: dict) -> None:
    """Annex E actions on ``ds`` and, recursively, on every item of every kept sequence."""
    for elem in list(ds):
        tag = int(elem.tag)
        if elem.tag.is_private or _is_removed_group(tag):
            del ds[elem.tag]
            counts["removed"] += 1
            continue
        rule = BASIC_PROFILE.get(tag)
        action = _RESOLVE.get(rule[0], rule[0]) if rule else "K"
        if action == "X":
            del ds[elem.tag]
            counts["removed"] += 1
            continue
        if action == "Z":
            _empty(elem)
            counts["emptied"] += 1
        elif action == "D":
            _dummy(elem, mapper)
            counts["replaced"] += 1
        elif action == "U" or (elem.VR == "UI" and elem.value and not _standard_uid(elem.value)):
            elem.value = _map_value(elem.value, mapper)
            counts["uids"] += 1
        elif elem.VR == "PN" and elem.value:
            _empty(elem)
            counts["emptied"] += 1
        if elem.VR == "SQ" and elem.value:
            for item in elem.value:
                _clean_header(item, mapper, counts)


def _standard_uid(value) -> bool:
    from pydicom.multival import MultiValue

    values = value if isinstance(value, (list, MultiValue)) else [value]
    return all(str(v).startswith(DICOM_ROOT) for v in values)


def _write_pixels(ds, arr: np.ndarray) -> None:
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
    keyword = next(k for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData") if k in ds)
    ds[keyword].value = raw


def clean_pixels(ds, rules: tuple[BannerRule, ...] | None) -> bool:
    """Zero the banner rectangles in every frame of ``ds``'s pixel data. False when there is no pixel data."""
    from pydicom.uid import ExplicitVRLittleEndian

    if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        return False
    ts = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if ts is not None and ts.is_compressed:
        ds.decompress(generate_instance_uid=False)
    arr = np.array(ds.pixel_array, copy=True)
    frames = int(ds.get("NumberOfFrames") or 1)
    stack = arr if frames > 1 else arr[None]
    apply_banner(stack, rects_for(str(ds.get("Manufacturer", "")), str(ds.get("ManufacturerModelName", "")),
                                  rules))
    _write_pixels(ds, stack if frames > 1 else stack[0])
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return True


def _code_item(value: str, meaning: str):
    from pydicom.dataset import Dataset

    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
    return item


def deidentify_dataset(ds, *, config: DeidConfig | None = None, name: str = "DICOM") -> dict:
    """De-identify ``ds`` in place. Returns counts (never values). Raises DeidentificationError when a step
    fails, in which case ``ds`` must be discarded."""
    config = config or DeidConfig()
    mapper = UidMapper(config.salt if config.salt is not None else default_salt())
    counts = {"removed": 0, "emptied": 0, "replaced": 0, "uids": 0, "pixels_cleaned": False}
    try:
        if config.clean_pixels:
            counts["pixels_cleaned"] = clean_pixels(ds, config.banner_rules)
        _clean_header(ds, mapper, counts)
        _mark(ds, counts)
        _clean_file_meta(ds, mapper)
    except Exception as err:  # noqa: BLE001 - any failure means the object is not known to be clean
        raise DeidentificationError(name, f"de-identification failed ({type(err).__name__})") from None
    return counts


def _mark(ds, counts: dict) -> None:
    """The attributes that tell a receiver what was done (PS3.15 E.1.1 and PS3.3 C.12.1)."""
    if counts["pixels_cleaned"]:
        ds.BurnedInAnnotation = "NO"
    ds.PatientIdentityRemoved = "YES"
    ds.LongitudinalTemporalInformationModified = "REMOVED"
    ds.DeidentificationMethod = METHOD + (["burned-in banner rectangles zeroed"] if counts["pixels_cleaned"] else [])
    codes = [_code_item("113100", "Basic Application Confidentiality Profile")]
    if counts["pixels_cleaned"]:
        codes.append(_code_item("113101", "Clean Pixel Data Option"))
    ds.DeidentificationMethodCodeSequence = codes


def _clean_file_meta(ds, mapper: UidMapper) -> None:
    """Minimal file meta header (no AE titles or addresses) whose instance UID matches the data set."""
    from pydicom.dataset import FileMetaDataset

    old = getattr(ds, "file_meta", None)
    meta = FileMetaDataset()
    if old is not None and "TransferSyntaxUID" in old:
        meta.TransferSyntaxUID = old.TransferSyntaxUID
    sop_class = ds.get("SOPClassUID") or (old.get("MediaStorageSOPClassUID") if old is not None else None)
    if sop_class:
        meta.MediaStorageSOPClassUID = sop_class
    if "SOPInstanceUID" in ds:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    elif old is not None and old.get("MediaStorageSOPInstanceUID"):
        meta.MediaStorageSOPInstanceUID = mapper(old.MediaStorageSOPInstanceUID)
    ds.file_meta = meta
    ds.preamble = b"\x00" * 128
