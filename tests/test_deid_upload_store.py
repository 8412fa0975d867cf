"""A showcase DICOM with fake identifiers, uploaded and analysed and saved as a case: no identifier reaches
the analysis JSON, the store's database file or the logs."""

import json
import logging
from pathlib import Path

import pydicom

from core import store
from core.paths import SAMPLE_DATA, sonodash_home
from core.pipeline import analyze

IDENTIFYING = ("PatientName", "PatientID", "PatientBirthDate", "InstitutionName", "ReferringPhysicianName",
               "AccessionNumber", "OperatorsName", "StudyID")


def _identifiers(path: Path) -> list[str]:
    ds = pydicom.dcmread(path)
    values = [str(ds.get(k, "")).strip() for k in IDENTIFYING]
    return [v for v in values if len(v) >= 4]


def test_uploaded_dicom_leaves_no_identifier_in_result_store_or_logs(caplog):
    dicom = sorted((SAMPLE_DATA / "miscarriage" / "dicom").glob("*.dcm"))[0]
    secrets = _identifiers(dicom)
    assert secrets, "the showcase DICOM must carry fake identifiers"
    caplog.set_level(logging.DEBUG)
    result = analyze([(dicom.name, dicom.read_bytes())], {"ga_weeks": 6.5, "crl_mm": 5.0, "fhr_bpm": 118.0},
                     segmenter="levelset", cam=None)
    store.save_case(study="miscarriage", probability=None, decision="live_birth", note="reviewed",
                    rules=result.rules)
    store.dispose_engines()
    stored = b"".join(p.read_bytes() for p in sonodash_home().glob("*.db*"))
    text = json.dumps(result.to_dict(), default=str) + caplog.text
    for value in secrets:
        assert value not in text
        assert value.encode() not in stored
    assert stored, "the store's database file was written"
