"""``python -m core predict`` on an instance bundle goes through core.pipeline.analyze like every other bundle:
detections, the view and its checklist per image, and the bundle's out-of-distribution check (the shipped
first-trimester demo bundle carries a backbone-feature calibration in its model.json)."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from core.cli import main

ROOT = Path(__file__).resolve().parent.parent
BUNDLE = ROOT / "sample_data" / "models" / "first_trimester" / "bundle"
HEAD = ROOT / "sample_data" / "first_trimester" / "images" / "FT0002_head.png"
pytestmark = pytest.mark.skipif(not (BUNDLE / "model.safetensors").exists(), reason="demo instance bundle absent")


def _predict(capsys, *args) -> tuple[int, dict | None, str]:
    torch.set_num_threads(1)
    code = main(["predict", "--model", str(BUNDLE), *args])
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if "--json" in args and code == 0 else None), captured.out + captured.err


def test_predict_on_an_instance_bundle_reports_structures_view_and_ood(capsys, tmp_path):
    from core.io import load_image
    from core.models import load_predictor

    code, out, _ = _predict(capsys, "--image", str(HEAD), "--json")
    assert code == 0
    [image] = out["images"]
    expected = load_predictor(BUNDLE).predict_instances([load_image(HEAD).image])[0]
    assert [d["structure"] for d in image["detections"]] == list(expected.names)
    assert image["view"] == "head" and image["checklist"]["view"] == "head"
    assert "cranium" in image["checklist"]["found"]
    assert out["probability"] is None and out["decision_withheld"] is False
    assert image["ood"]["out_of_distribution"] is False and out["ood"]["out_of_distribution"] is False

    coarse = (np.random.default_rng(7).random((48, 64, 3)) * 255).astype(np.uint8)
    photo = tmp_path / "holiday.png"
    cv2.imwrite(str(photo), cv2.resize(coarse, (512, 384), interpolation=cv2.INTER_CUBIC))
    code, out, _ = _predict(capsys, "--image", str(photo), "--json")
    assert code == 0
    assert out["decision_withheld"] is True and out["ood"]["files"] == ["holiday.png"]
    assert out["images"][0]["ood"]["score"] > 1.0
    assert any("holiday.png: this image looks unlike" in w for w in out["warnings"])

    code, _, text = _predict(capsys, "--image", str(photo))
    assert code == 0 and "holiday.png: view withheld (unlike the training data)" in text


def test_predict_refuses_a_heat_map_for_an_instance_bundle(capsys):
    code, _, text = _predict(capsys, "--image", str(HEAD), "--cam", "gradcam")
    assert code == 2 and "no class heat maps" in text
