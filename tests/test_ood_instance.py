"""Out-of-distribution check of instance (Mask R-CNN) bundles: backbone-feature calibration stored in the
bundle's model.json; showcase images pass, a photo-like random texture is flagged."""

import hashlib
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from core.io import load_image
from core.models import load_predictor
from core.ood import calibrate_bundle, check_image

ROOT = Path(__file__).resolve().parent.parent
BUNDLE = ROOT / "sample_data" / "models" / "first_trimester" / "bundle"
SHOWCASE = ROOT / "sample_data" / "first_trimester"
pytestmark = pytest.mark.skipif(not (BUNDLE / "model.safetensors").exists(), reason="demo instance bundle absent")


def _showcase(n: int) -> list:
    df = pd.read_csv(SHOWCASE / "manifest.csv")
    return [load_image(SHOWCASE / p).image for p in df["image_path"].head(n)]


def _photo_like(shape, seed: int = 0) -> np.ndarray:
    """A colourful smooth random texture (what a holiday photo looks like to these statistics)."""
    h, w = shape[:2]
    coarse = (np.random.default_rng(seed).random((max(h // 8, 2), max(w // 8, 2), 3)) * 255).astype(np.uint8)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)


def test_shipped_instance_bundle_flags_a_photo_and_passes_its_showcase():
    predictor = load_predictor(BUNDLE)
    assert predictor.meta.ood["n_train"] >= 5
    images = _showcase(4)
    for im in images:
        scores = check_image(predictor, im)
        assert scores["out_of_distribution"] is False and scores["score"] < 1.0
    unlike = check_image(predictor, _photo_like(images[0].shape))
    assert unlike["out_of_distribution"] is True and unlike["score"] > 1.0


def test_calibrate_bundle_writes_only_the_json(tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(BUNDLE, bundle)
    meta = json.loads((bundle / "model.json").read_text())
    meta.pop("ood", None)
    (bundle / "model.json").write_text(json.dumps(meta, indent=2, sort_keys=True))
    weights = hashlib.sha256((bundle / "model.safetensors").read_bytes()).hexdigest()
    assert check_image(load_predictor(bundle), _showcase(1)[0]) is None      # no calibration: no verdict
    images = _showcase(6)
    calibration = calibrate_bundle(bundle, images)
    stored = json.loads((bundle / "model.json").read_text())["ood"]
    assert stored == json.loads(json.dumps(calibration)) and stored["n_train"] == 6
    assert hashlib.sha256((bundle / "model.safetensors").read_bytes()).hexdigest() == weights
    predictor = load_predictor(bundle)
    assert all(not check_image(predictor, im)["out_of_distribution"] for im in images)
    assert check_image(predictor, _photo_like(images[0].shape, seed=3))["out_of_distribution"]


def test_instance_report_says_the_view_was_withheld():
    from types import SimpleNamespace

    from core.case_report import instance_report_html

    unlike = SimpleNamespace(name="holiday.png", frame=0, instances=[0], checklist={"view": "head", "found": {},
                             "expected": ["cranium"]}, ood={"out_of_distribution": True, "score": 7.4})
    usual = SimpleNamespace(name="FT0001_head.png", frame=0, instances=[0, 1], checklist={
        "view": "head", "found": {"cranium": 0.9}, "expected": ["cranium", "choroid_plexus"]},
        ood={"out_of_distribution": False, "score": 0.4})
    html = instance_report_html([unlike, usual], study="first_trimester", decision=None, note="n")
    assert ("holiday.png: AI view</th><td>withheld: unlike the model&#x27;s training data "
            "(out-of-distribution score 7.4; above 1 = unusual)") in html
    assert "holiday.png: completeness" not in html
    assert "FT0001_head.png: AI view</th><td>head" in html and "FT0001_head.png: completeness</th><td>1/2" in html
    assert "Clinician decision</th><td>—" in html
