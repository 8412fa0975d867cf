"""predict --cam METHOD --out DIR: overlays and analysis.json next to the probability, rules, uncertainty."""

import json
import subprocess
import sys

import numpy as np
import torch
from PIL import Image

from core.models import save_bundle
from core.models.registry import build_model


def _bundle(tmp_path):
    torch.manual_seed(0)
    model = build_model("smallcnn", num_classes=2, in_channels=1, width=4)
    meta = {"task": "miscarriage", "class_names": ["live_birth", "miscarriage"], "positive_label": "miscarriage",
            "input_size": 32, "normalization": "unit"}
    return save_bundle(tmp_path / "bundle", model, meta)


def _run(*args):
    return subprocess.run([sys.executable, "-m", "core", "predict", *args], capture_output=True, text=True,
                          timeout=300)


def test_cam_and_out_write_overlays_and_json(tmp_path):
    image = tmp_path / "sac.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 40), dtype=np.uint8)).save(image)
    out = tmp_path / "out"
    res = _run("--model", str(_bundle(tmp_path)), "--image", str(image), "--ga-weeks", "6.5", "--crl-mm", "5",
               "--fhr-bpm", "118", "--cam", "gradcam", "--out", str(out), "--json")
    assert res.returncode == 0, res.stderr
    result = json.loads(res.stdout)
    assert 0 <= result["probability"] <= 1
    assert result["rules"] == {"applicable": True, "crl_low": True, "fhr_low": True, "both_low": True}
    assert result["uncertainty"]["method"] == "tta"
    assert result["cam"] == "gradcam" and result["images"][0]["cam_faithfulness_road"] is not None
    overlay = Image.open(out / "00-sac-overlay.png")
    assert overlay.size == (40, 48)  # the original image's size, not the network's 32x32
    assert Image.open(out / "00-sac-triptych.png").size == (120, 48)
    assert json.loads((out / "analysis.json").read_text())["probability"] == result["probability"]


def test_unknown_cam_method_exits_2(tmp_path):
    image = tmp_path / "x.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(image)
    res = _run("--model", str(_bundle(tmp_path)), "--image", str(image), "--cam", "magic")
    assert res.returncode == 2 and "unknown CAM method" in res.stderr and "Traceback" not in res.stderr
