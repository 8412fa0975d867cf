"""DICOM de-identification: PS3.15 Annex E Basic Application Level Confidentiality Profile with the Clean Pixel
Data and Clean Descriptors options, and (on request) Retain Longitudinal Temporal Information, Modified Dates.

Why here, in the gate: identifiers must never get past ingest. :func:`load_image` runs the header actions on
every DICOM it reads (and blanks the returned frames), and ``python -m core deidentify`` writes cleaned files.
What is done, in order:

1. Pixels (:mod:`core.io.deid_pixels`): decoded, the device's banner rectangles and everything outside the
   ultrasound regions zeroed in every frame, then every frame searched for text-like marks. BurnedInAnnotation
   becomes NO only when all frames were searched and nothing was found; otherwise it is YES and the counts
   carry a warning. Pixels are written back uncompressed (Explicit VR Little Endian).
2. Header: the actions of the complete Table E.1-1 (:mod:`core.io.annex_e`, edition recorded there) on the
   data set and every nested sequence; all private tags removed; curve (50xx) and overlay (60xx) groups
   removed. Conservative extensions: any UID outside the DICOM root 1.2.840.10008 is mapped, any person name
   not covered by the table is emptied, and (Clean Descriptors) free-text attributes the table does not list
   (LT/ST/UT, and LO/SH/UC descriptions, comments, labels, reasons) are emptied rather than trusted.
3. Dates: removed or dummied per the table (default), or, with ``DeidConfig(dates="shift")``, every date the
   table would remove is moved back by a per-patient offset (1..3650 days from HMAC(salt, patient)), so
   intervals survive (Retain Longitudinal Temporal Information, Modified Dates); times are kept then.
4. UIDs: ``2.25.<int>`` from HMAC-SHA256(salt, old UID), so the same input UID always maps to the same new
   UID (study/series links survive) while the mapping cannot be reversed without the salt. The salt comes
   from ``SONODASH_DEID_SALT`` or a random secret kept in ``$SONODASH_HOME/secrets/deid_salt``.
5. Markers: PatientIdentityRemoved = YES, DeidentificationMethod (naming the table edition) and its code
   sequence (DCM 113100 Basic, 113105 Clean Descriptors, 113101 Clean Pixel Data only when the whole image
   was checked clean, 113107 Modified Dates when shifted), LongitudinalTemporalInformationModified
   (REMOVED / MODIFIED), a zeroed preamble and a minimal file meta header.

Nothing here logs or returns attribute values: reports hold counts and warnings only.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass

from core.errors import InputError
from core.io.annex_e import EDITION, SOURCE, action_for
from core.io.banner import BannerRule
from core.io.deid_pixels import clean_pixels
from core.io.errors import DeidentificationError, GateError
from core.paths import sonodash_home

_DUMMY = {"DA": "19000101", "TM": "000000", "DT": "19000101000000", "PN": "ANONYMOUS", "AS": "000Y",
          "DS": "0", "IS": "0", "UR": "", "UN": b""}
_NUMERIC = {"US", "SS", "UL", "SL", "FL", "FD", "UV", "SV", "AT"}
_RESOLVE = {"X/Z": "Z", "X/D": "D", "X/Z/D": "Z", "Z/D": "Z", "X/Z/U*": "K"}
DICOM_ROOT = "1.2.840.10008"
DATE_MODES = ("remove", "shift")
_PATIENT_BIRTH_DATE = 0x00100030
_DESCRIPTOR_VRS = {"LT", "ST", "UT"}
_DESCRIPTOR_WORDS = re.compile(r"(Description|Comments?|Label|Reason|Remarks?|Notes?|Text|Explanation|Purpose|"
                               r"Annotation|Message)$")


@dataclass(frozen=True)
class DeidConfig:
    """Options of de-identification. ``salt`` None: the installation's secret salt.
    ``banner_rules`` None: the default top banner only. ``clean_pixels`` False: header only.
    ``dates``: "remove" (Basic Profile) or "shift" (Retain Longitudinal Temporal Information, Modified Dates).
    ``clean_descriptors``: empty free text the table does not list. ``max_check_frames``: frames searched for
    burned-in text (more frames than that keep BurnedInAnnotation YES)."""

    salt: bytes | None = None
    banner_rules: tuple[BannerRule, ...] | None = None
    clean_pixels: bool = True
    dates: str = "remove"
    clean_descriptors: bool = True
    max_check_frames: int = 256

    def __post_init__(self):
        if self.dates not in DATE_MODES:
            raise InputError(f"de-identification: dates must be one of {DATE_MODES}, got {self.dates!r}")


def default_salt() -> bytes:
    """The installation's UID salt: ``SONODASH_DEID_SALT`` or a random secret created once (mode 0600)."""
    env = os.environ.get("SONODASH_DEID_SALT")
    if env:
        return env.encode("utf-8")

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


class _Context:
    """What one run needs while walking the data set: the UID map, the date offset, the options, counts."""

    def __init__(self, mapper: UidMapper, config: DeidConfig, shift_days: int, counts: dict):
        self.mapper, self.config, self.shift_days, self.counts = mapper, config, shift_days, counts


def _is_descriptor(elem) -> bool:
    if elem.VR in _DESCRIPTOR_VRS:
        return True
    return elem.VR in ("LO", "SH", "UC") and bool(_DESCRIPTOR_WORDS.search(elem.keyword or ""))


def _clean_header(ds, ctx: _Context) -> None:
    """Annex E actions on ``ds`` and, recursively, on every item of every kept sequence."""
    counts = ctx.counts
    for elem in list(ds):
        tag = int(elem.tag)
        if elem.tag.is_private or _is_removed_group(tag) or tag >> 16 == 0:  # group 0: command set, not storable
            del ds[elem.tag]
            counts["removed"] += 1
            continue
        rule = action_for(tag)
        action = _RESOLVE.get(rule, rule) if rule else "K"
        if (ctx.shift_days and rule and elem.VR in ("DA", "DT") and tag != _PATIENT_BIRTH_DATE
                and elem.value not in (None, "")):
            _shift(elem, ctx.shift_days)
            counts["dates_shifted"] += 1
            continue
        if ctx.shift_days and rule and elem.VR == "TM":
            continue  # Modified Dates option: times of day are part of the kept temporal information
        if action == "X":
            del ds[elem.tag]
            counts["removed"] += 1
            continue
        if action == "Z":
            _empty(elem)
            counts["emptied"] += 1
        elif action == "D":
            _dummy(elem, ctx.mapper)
            counts["replaced"] += 1
        elif action == "U" or (elem.VR == "UI" and elem.value and not _standard_uid(elem.value)):
            elem.value = _map_value(elem.value, ctx.mapper)
            counts["uids"] += 1
        elif elem.VR == "PN" and elem.value:
            _empty(elem)
            counts["emptied"] += 1
        elif rule is None and ctx.config.clean_descriptors and elem.value and _is_descriptor(elem):
            _empty(elem)
            counts["descriptors"] += 1
        if elem.VR == "SQ" and elem.value:
            for item in elem.value:
                _clean_header(item, ctx)


def _shift_date(text: str, days: int) -> str | None:
    if len(text) < 8 or not text[:8].isdigit():
        return None
    try:
        day = _dt.date(int(text[:4]), int(text[4:6]), int(text[6:8])) - _dt.timedelta(days=days)
    except ValueError:
        return None
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


def _shift(elem, days: int) -> None:
    """Move a DA/DT value back by ``days``; a DT keeps its time of day but loses its UTC offset; an
    unparsable value is emptied (never kept)."""
    from pydicom.multival import MultiValue

    values = list(elem.value) if isinstance(elem.value, (list, MultiValue)) else [elem.value]
    out = []
    for v in values:
        text = str(v).strip()
        new = _shift_date(text, days)
        if new is None:
            elem.value = None
            return
        if elem.VR == "DT":
            rest = re.split(r"[+-]", text[8:], maxsplit=1)[0]
            new += rest
        out.append(new)
    elem.value = out if len(out) > 1 else out[0]


def _shift_days(ds, salt: bytes) -> int:
    """Per-patient date offset, 1..3650 days: the same patient (ID, else study) always moves by the same."""
    key = str(ds.get("PatientID") or ds.get("StudyInstanceUID") or "").strip()
    digest = hmac.new(salt, b"date-shift:" + key.encode("utf-8", "replace"), hashlib.sha256).digest()
    return 1 + int.from_bytes(digest[:4], "big") % 3650


def _standard_uid(value) -> bool:
    from pydicom.multival import MultiValue

    values = value if isinstance(value, (list, MultiValue)) else [value]
    return all(str(v).startswith(DICOM_ROOT) for v in values)


def _code_item(value: str, meaning: str):
    from pydicom.dataset import Dataset

    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
    return item


def deidentify_dataset(ds, *, config: DeidConfig | None = None, name: str = "DICOM") -> dict:
    """De-identify ``ds`` in place. Returns counts and warnings (never values): "pixels_cleaned",
    "burned_in_clean" (whole image checked, nothing text-like found), "warnings" (lines for the page).
    Raises DeidentificationError (or CorruptFileError for undecodable pixels) when a step fails, in which case
    ``ds`` must be discarded."""
    config = config or DeidConfig()
    salt = config.salt if config.salt is not None else default_salt()
    mapper = UidMapper(salt)
    counts = {"removed": 0, "emptied": 0, "replaced": 0, "uids": 0, "descriptors": 0, "dates_shifted": 0,
              "pixels_cleaned": False, "burned_in_clean": False, "warnings": [], "edition": EDITION}
    try:
        if config.clean_pixels:
            report = clean_pixels(ds, config.banner_rules, name=name, max_check_frames=config.max_check_frames)
            counts["pixels_cleaned"] = report.cleaned
            counts["burned_in_clean"] = report.whole_image_clean
            counts["warnings"] += report.warnings
        shift = _shift_days(ds, salt) if config.dates == "shift" else 0
        _clean_header(ds, _Context(mapper, config, shift, counts))
        _mark(ds, counts, config)
        _clean_file_meta(ds, mapper)
    except GateError:
        raise
    except Exception as err:  # noqa: BLE001 - any failure means the object is not known to be clean
        raise DeidentificationError(name, f"de-identification stopped at an attribute it cannot rewrite "
                                          f"({type(err).__name__}); the object was not used") from None
    return counts


def _mark(ds, counts: dict, config: DeidConfig) -> None:
    """The attributes that tell a receiver what was done (PS3.15 E.1.1 and PS3.3 C.12.1)."""
    if counts["burned_in_clean"]:
        ds.BurnedInAnnotation = "NO"
    elif counts["pixels_cleaned"] or str(ds.get("BurnedInAnnotation") or "").upper() != "NO":
        ds.BurnedInAnnotation = "YES"
    ds.PatientIdentityRemoved = "YES"
    shifted = config.dates == "shift"
    ds.LongitudinalTemporalInformationModified = "MODIFIED" if shifted else "REMOVED"
    method = [SOURCE, "Basic Profile; private tags removed; UIDs remapped"]
    codes = [_code_item("113100", "Basic Application Confidentiality Profile")]
    if counts["burned_in_clean"]:
        method.append("Clean Pixel Data: whole image checked, no text left")
        codes.append(_code_item("113101", "Clean Pixel Data Option"))
    elif counts["pixels_cleaned"]:
        method.append("pixels blanked, text may remain (BurnedInAnnotation YES)")
    if config.clean_descriptors:
        method.append("Clean Descriptors")
        codes.append(_code_item("113105", "Clean Descriptors Option"))
    if shifted:
        method.append("dates shifted per patient (Modified Dates)")
        codes.append(_code_item("113107", "Retain Longitudinal Temporal Information Modified Dates Option"))
    else:
        method.append("dates and times removed")
    ds.DeidentificationMethod = [m[:64] for m in method]
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
