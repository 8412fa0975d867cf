"""Saved cases with corrections: round trip, files, measurements, de-identification, audit, refusals."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from core import store
from core.store.cases import cases_root, get_case
from core.store.errors import StoreError


def _case_images(n=1, size=64):
    out = []
    for k in range(n):
        image = np.full((size, size, 3), 40 + k, np.uint8)
        ai = np.zeros((size, size), bool)
        ai[20:40, 20:40] = True
        corrected = np.zeros((size, size), bool)
        corrected[18:44, 16:42] = True
        out.append({"image": image, "mask": corrected, "ai_mask": ai, "name": f"/srv/data/img{k}.png", "frame": k,
                    "corrected": True, "pixel_spacing_mm": 0.5, "vertices": [[16, 18], [41, 18], [41, 43]]})
    return out


def test_round_trip_keeps_decision_corrections_and_files():
    images = _case_images(2)
    cid = store.save_case(study="miscarriage", probability=0.7, decision="miscarriage", clinician_decision="live_birth",
                          case_key="STUDY-001", actor="dr_a", note="sac irregular", ai_output={"predicted_class":
                                                                                              "miscarriage"},
                          images=images, calipers=[{"kind": "distance", "x0": 0, "y0": 0, "x1": 30, "y1": 40},
                                                   {"kind": "ellipse", "cx": 32, "cy": 32, "a": 10, "b": 10,
                                                    "angle_deg": 0, "image": 1}])
    case = get_case(cid)
    assert (case["case_key"], case["actor"], case["clinician_decision"], case["decision"]) == \
        ("STUDY-001", "dr_a", "live_birth", "miscarriage")
    assert case["override"] == "live_birth"                     # derived: the clinician differs from the AI
    assert [c["image"] for c in case["calipers"]] == [0, 1]
    assert case["calipers"][0]["length_mm"] == pytest.approx(25.0)          # 3-4-5 triangle, 0.5 mm/px
    assert case["calipers"][1]["circumference_mm"] == pytest.approx(2 * np.pi * 5.0, rel=1e-9)
    assert [r["name"] for r in case["images"]] == ["img0.png", "img1.png"]  # file names, never server paths
    for rec, item in zip(case["images"], images):
        saved = cv2.imread(rec["image_file"], cv2.IMREAD_COLOR)[..., ::-1]
        assert np.array_equal(saved, item["image"])
        assert np.array_equal(cv2.imread(rec["mask_file"], cv2.IMREAD_GRAYSCALE) > 0, item["mask"])
        assert np.array_equal(cv2.imread(rec["ai_mask_file"], cv2.IMREAD_GRAYSCALE) > 0, item["ai_mask"])
        assert rec["corrected"] is True and rec["vertices"] == item["vertices"]
    listed = store.list_cases()
    assert listed["id"].tolist() == [cid] and listed.loc[0, "clinician_decision"] == "live_birth"


def test_a_confirmed_decision_is_no_override_and_a_withheld_one_stays_none():
    a = store.save_case(study="cns", decision="normal", clinician_decision="normal")
    b = store.save_case(study="cns", decision=None, clinician_decision="anencephaly",
                        ai_output={"decision_withheld": True})
    assert get_case(a)["override"] is None
    case = get_case(b)
    assert case["decision"] is None and case["override"] == "anencephaly" and case["images"] is None


def test_saved_dicom_frame_is_the_deidentified_pixels(tmp_path):
    """The image kept with a case is the gate's output: the burned-in banner of a DICOM is blanked."""
    from core.data.synthetic.dicom import sac_cine_frames, write_us_cine_dicom
    from core.frames import load_frames

    path = write_us_cine_dicom(tmp_path / "c.dcm", sac_cine_frames(4, seed=2), pixel_spacing_mm=0.3,
                               frame_time_ms=40, seed=2, patient_number=9)
    import pydicom

    raw = pydicom.dcmread(path).pixel_array[2]
    assert raw[:10].max() > 0                                # the fake identity is burned into the top rows
    loaded = load_frames(str(path), [2])
    cid = store.save_case(study="miscarriage", clinician_decision="live_birth",
                          images=[{"image": loaded.frames[0], "name": loaded.name, "frame": 2}])
    rec = get_case(cid)["images"][0]
    saved = cv2.imread(rec["image_file"], cv2.IMREAD_COLOR)
    assert saved[:10].max() == 0 and rec["frame"] == 2 and "mask_path" not in rec
    blob = b"".join(p.read_bytes() for p in (cases_root() / str(cid)).iterdir())
    assert b"DOE" not in blob and b"FAKE-" not in blob


@pytest.mark.parametrize("change, message", [
    ({"images": [{"image": np.zeros((8, 8), np.uint8)}]}, "expected an RGB uint8 image"),
    ({"images": [{"image": np.zeros((8, 8, 3), np.uint8), "mask": np.zeros((4, 4), bool)}]}, "does not match"),
    ({"calipers": [{"kind": "ruler"}]}, "kind 'ruler' is not one of"),
    ({"calipers": [{"kind": "distance", "x0": 1, "y0": 1, "x1": 1, "y1": 1}]}, "same point"),
    ({"calipers": [{"kind": "distance", "x0": 0, "y0": 0, "x1": 2, "y1": 2, "image": 3}]}, "caliper on image 4"),
    ({"case_key": "line\nbreak"}, "one line"),
    ({"probability": float("nan")}, "not in"),
])
def test_bad_cases_are_refused_with_a_message(change, message):
    with pytest.raises(StoreError, match=message):
        store.save_case(study="miscarriage", **change)
    assert store.list_cases().empty


def test_a_failed_file_write_leaves_neither_row_nor_files(monkeypatch):
    from core.store import cases as cases_mod

    calls = []

    def failing(path, array):
        calls.append(path.name)
        if len(calls) == 2:
            raise StoreError("saved case: cannot write (disk full)")
        cv2.imwrite(str(path), np.asarray(array, np.uint8))

    monkeypatch.setattr(cases_mod, "_write_png", failing)
    with pytest.raises(StoreError, match="disk full"):
        store.save_case(study="miscarriage", images=_case_images(1))
    assert store.list_cases().empty
    assert not any(cases_root().iterdir())


def test_save_and_override_are_audited():
    audit = pytest.importorskip("core.audit")
    cid = store.save_case(study="miscarriage", decision="miscarriage", clinician_decision="live_birth", actor="dr_b",
                          images=_case_images(1))
    entries = audit.query(actor="dr_b")
    actions = sorted(getattr(e, "action", None) or e["action"] for e in entries)
    assert actions == ["case.override", "case.save"]
    targets = {getattr(e, "target", None) or e["target"] for e in entries}
    assert targets == {f"case:{cid}"}
