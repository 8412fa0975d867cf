"""QIDO-RS: find studies by patient ID, study date or accession number.

Why a criterion is required: an empty query would list the whole PACS. Results are capped
(``max_query_results``); ``truncated`` says when the PACS had more. What comes back is kept in memory for the
page that asked (the clinician typed the patient ID): it is never logged or written to the store.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass

from core.pacs.config import PacsConfig, PacsError, require_config
from core.pacs.transport import connect, pacs_errors

STUDY_FIELDS = ["StudyInstanceUID", "StudyDate", "StudyTime", "AccessionNumber", "PatientID", "StudyDescription",
                "ModalitiesInStudy", "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances"]
_DATE = re.compile(r"^\d{8}(-\d{8})?$|^-\d{8}$|^\d{8}-$")
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


@dataclass(frozen=True)
class StudyInfo:
    """One study as QIDO-RS describes it (n_instances None when the PACS does not say)."""

    study_uid: str
    patient_id: str
    study_date: str
    accession: str
    description: str
    modalities: tuple
    n_series: int | None
    n_instances: int | None

    @property
    def label(self) -> str:
        """What a selection list shows."""
        date = self.study_date
        shown = f"{date[:4]}-{date[4:6]}-{date[6:]}" if len(date) == 8 else (date or "no date")
        count = f"{self.n_instances} image(s)" if self.n_instances is not None else "? images"
        bits = [shown, self.patient_id or "no ID", self.accession and f"acc. {self.accession}",
                "/".join(self.modalities), self.description, count]
        return " · ".join(b for b in bits if b)


def _value(item: dict, tag: str, default=""):
    values = (item.get(tag) or {}).get("Value") or []
    if not values:
        return default
    value = values[0]
    if isinstance(value, dict):  # person name
        return value.get("Alphabetic", default)
    return value


def _int_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def parse_study(item: dict) -> StudyInfo:
    """One QIDO-RS study (DICOM JSON) -> StudyInfo; refuses an answer without a valid StudyInstanceUID."""
    if not isinstance(item, dict):
        raise PacsError("the PACS answered a study that is not a DICOM JSON object")
    uid = str(_value(item, "0020000D"))
    if not _UID.match(uid) or len(uid) > 64:
        raise PacsError("the PACS answered a study without a valid StudyInstanceUID")
    modalities = tuple(str(m) for m in ((item.get("00080061") or {}).get("Value") or []))
    return StudyInfo(study_uid=uid, patient_id=str(_value(item, "00100020"))[:64],
                     study_date=str(_value(item, "00080020"))[:17], accession=str(_value(item, "00080050"))[:16],
                     description=str(_value(item, "00081030"))[:64], modalities=modalities,
                     n_series=_int_or_none(_value(item, "00201206", None)),
                     n_instances=_int_or_none(_value(item, "00201208", None)))


def _date_filter(study_date) -> str | None:
    """A date, a (start, end) pair or a DICOM date/range string -> the QIDO StudyDate value."""
    if study_date in (None, "", ()):
        return None
    if isinstance(study_date, (tuple, list)):
        if len(study_date) == 1:
            study_date = study_date[0]
        else:
            lo, hi = study_date[0], study_date[-1]
            return f"{_date_filter(lo) or ''}-{_date_filter(hi) or ''}"
    if isinstance(study_date, (_dt.date, _dt.datetime)):
        return study_date.strftime("%Y%m%d")
    text = str(study_date).strip().replace("-", "") if re.match(r"^\d{4}-\d{2}-\d{2}$", str(study_date).strip()) \
        else str(study_date).strip()
    if not _DATE.match(text):
        raise PacsError(f"study date {text!r}: use YYYYMMDD, YYYY-MM-DD or a range YYYYMMDD-YYYYMMDD")
    return text


def _clean_text(value, what: str) -> str | None:
    text = (value or "").strip()
    if not text:
        return None
    if len(text) > 64 or any(ord(ch) < 32 for ch in text) or "\\" in text:
        raise PacsError(f"{what}: at most 64 printable characters, no backslash")
    return text


def search_studies(config: PacsConfig | None = None, *, patient_id: str | None = None, study_date=None,
                   accession: str | None = None, study_uid: str | None = None, client=None) -> tuple[list, bool]:
    """Studies matching every given criterion; returns ``(studies, truncated)``, newest first.

    ``study_date``: a date, ``(start, end)`` or ``"YYYYMMDD[-YYYYMMDD]"``. Wildcards (``*``, ``?``) in the
    patient ID or accession are passed on, as QIDO-RS allows.
    """
    config = require_config(config)
    filters = {}
    if (pid := _clean_text(patient_id, "patient ID")) is not None:
        filters["PatientID"] = pid
    if (acc := _clean_text(accession, "accession number")) is not None:
        filters["AccessionNumber"] = acc
    if (date := _date_filter(study_date)) is not None:
        filters["StudyDate"] = date
    if study_uid:
        if not _UID.match(study_uid):
            raise PacsError("StudyInstanceUID must be digits and dots")
        filters["StudyInstanceUID"] = study_uid
    if not filters:
        raise PacsError("give a patient ID, a study date or an accession number to search the PACS")
    client = client or connect(config)
    with pacs_errors(config, "study search", client):
        found = client.search_for_studies(search_filters=filters, fields=STUDY_FIELDS,
                                          limit=config.max_query_results + 1)
        if not isinstance(found, list):
            raise PacsError("the PACS answered something other than a list of studies")
        studies = [parse_study(item) for item in found]
    truncated = len(studies) > config.max_query_results
    studies = sorted(studies[: config.max_query_results], key=lambda s: s.study_date, reverse=True)
    return studies, truncated
