"""SR round trip against a real local Orthanc: retrieve the showcase study, analyze, send the TID 1500 report,
find it by QIDO, parse it back with highdicom and compare with the analysis. Skipped without Orthanc."""

from __future__ import annotations

import pytest

from core.paths import SAMPLE_DATA
from core.pacs.orthanc import LocalOrthanc, orthanc_available

pytestmark = pytest.mark.skipif(not orthanc_available(),
                                reason="Orthanc not installed (apt-get install -y orthanc orthanc-dicomweb)")
DICOM = sorted((SAMPLE_DATA / "miscarriage" / "dicom").glob("*.dcm"))


@pytest.fixture(scope="module")
def orthanc():
    with LocalOrthanc(users={"sono": "dash"}) as server:
        server.upload(DICOM)
        yield server


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("SONODASH_HOME", str(tmp_path))
    return tmp_path


def _analysis(retrieved):
    from core.pipeline import analyze

    return analyze(retrieved.inputs(), {"ga_weeks": 8.46, "crl_mm": 13.8, "fhr_bpm": 160},
                   model=SAMPLE_DATA / "models" / "miscarriage" / "bundle", segmenter="levelset", cam=None,
                   task="miscarriage")


@pytest.mark.parametrize("target", ["deidentified", "original"])
def test_sr_round_trip(orthanc, home, target):
    from core.pacs import PacsConfig, retrieve_study, search_studies
    from core.pacs.sr import read_report, send_results
    from core.pacs.transport import connect
    from core.tasks import get_task

    config = PacsConfig(url=orthanc.url, username="sono", password="dash", sr_target=target)
    studies, _ = search_studies(config, patient_id="FAKE-0001")
    assert [s.n_instances for s in studies] == [2]
    retrieved = retrieve_study(studies[0].study_uid, config)
    analysis = _analysis(retrieved)
    other = next(c for c in analysis.class_names if c != analysis.predicted_class)
    sent = send_results(analysis, retrieved, config, task=get_task("miscarriage"), clinician_decision=other,
                        observer="dr_reader")

    client = connect(config)
    found = client.search_for_instances(study_instance_uid=sent["study_uid"], search_filters={"Modality": "SR"})
    assert sent["sop_uid"] in [f["00080018"]["Value"][0] for f in found]           # QIDO finds it
    ds = client.retrieve_instance(sent["study_uid"], sent["series_uid"], sent["sop_uid"])
    report = read_report(ds)
    assert report["patient"]["probability"] == pytest.approx(analysis.probability, abs=1e-6)
    assert report["patient"]["probability_sd"] == pytest.approx(analysis.uncertainty["sd"], abs=1e-6)
    assert report["patient"]["model_decision"] == analysis.predicted_class
    assert report["patient"]["clinician_decision"] == other and report["patient"]["override"] is True
    assert len(report["images"]) == len(analysis.images)
    for result, group in zip(analysis.images, report["images"]):
        for key in ("area_mm2", "circumference_mm", "mean_diameter_mm"):
            assert group["measurements"][key] == pytest.approx(result.biometry[key], rel=1e-6)
        assert group["measurements"]["probability"] == pytest.approx(result.probability, abs=1e-6)
        assert "bpd_mm" not in group["measurements"]          # no head biometry for a gestational sac
    sources = [g["sop_uid"] for g in report["images"]]
    if target == "deidentified":
        assert sent["study_uid"] == retrieved.study_uid != studies[0].study_uid
        assert ds.PatientID != "FAKE-0001" and "DOE" not in str(ds.get("PatientName", ""))
        assert sources == [ref.sop_uid for ref in retrieved.instances]
        assert sent["n_objects"] == 3                         # the de-identified images travel with the SR
        assert b"dr_reader" not in ds.to_json().encode()      # no staff name in the de-identified copy
    else:
        assert sent["study_uid"] == studies[0].study_uid and ds.PatientID == "FAKE-0001"
        assert sources == [retrieved.original[ref.sop_uid][2] for ref in retrieved.instances]
        assert sent["n_objects"] == 1
        assert "dr_reader" in ds.to_json()


def test_sr_refuses_images_not_from_the_study(orthanc, home):
    from core.errors import InputError
    from core.pacs import PacsConfig, retrieve_study, search_studies
    from core.pacs.sr import send_results
    from core.pipeline import analyze

    config = PacsConfig(url=orthanc.url, username="sono", password="dash")
    studies, _ = search_studies(config, accession="ACC000002")
    retrieved = retrieve_study(studies[0].study_uid, config)
    upload = analyze([SAMPLE_DATA / "miscarriage" / "images" / "MC0002_sagittal.png"], None, segmenter="levelset",
                     cam=None)
    with pytest.raises(InputError, match="did not come from the retrieved PACS study"):
        send_results(upload, retrieved, config)


def test_reader_study_cases_from_a_pacs_query(orthanc, home):
    from core.errors import InputError
    from core.pacs import PacsConfig
    from core.pacs.reader import cases_from_pacs

    config = PacsConfig(url=orthanc.url, username="sono", password="dash")
    cases = cases_from_pacs(config, study_date="20240102", truth={"ACC000001": "miscarriage",
                                                                   "ACC000002": "live_birth"})
    assert sorted(c.truth for c in cases) == ["live_birth", "miscarriage"]
    for case in cases:
        assert case.case_key.startswith("pacs-") and "FAKE" not in case.case_key and "ACC" not in case.case_key
        assert len(case.images) == 2
        for path in case.images:
            data = open(path, "rb").read()
            assert b"FAKE-000" not in data and b"DOE^JANE" not in data
    with pytest.raises(InputError, match="has a label"):
        cases_from_pacs(config, patient_id="FAKE-0001", truth={"ACC999": "x"})


@pytest.mark.parametrize("target", ["deidentified", "original"])
def test_segmentation_as_dicom_seg(orthanc, home, target):
    import numpy as np

    from core.pacs import PacsConfig, retrieve_study, search_studies
    from core.pacs.sr import send_results
    from core.pacs.transport import connect
    from core.tasks import get_task

    config = PacsConfig(url=orthanc.url, username="sono", password="dash", sr_target=target)
    studies, _ = search_studies(config, patient_id="FAKE-0002")
    retrieved = retrieve_study(studies[0].study_uid, config)
    analysis = _analysis(retrieved)
    sent = send_results(analysis, retrieved, config, task=get_task("miscarriage"), include_segmentation=True)
    assert len(sent["seg_sop_uids"]) == 2
    client = connect(config)
    found = client.search_for_instances(study_instance_uid=sent["study_uid"], search_filters={"Modality": "SEG"})
    by_uid = {f["00080018"]["Value"][0]: f["0020000E"]["Value"][0] for f in found}
    for result, uid in zip(analysis.images, sent["seg_sop_uids"]):
        ds = client.retrieve_instance(sent["study_uid"], by_uid[uid], uid)
        assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4" and ds.SegmentationType == "BINARY"
        mask = ds.pixel_array.reshape(result.mask.shape).astype(bool)
        assert np.array_equal(mask, result.mask)
        source = ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0].ReferencedSOPInstanceUID
        ref = retrieved.ref_for(result.name)
        assert source == (ref.sop_uid if target == "deidentified" else retrieved.original[ref.sop_uid][2])
