"""The ``segment`` and ``bench-seg`` commands, run in-process through core.cli.main."""

import json
import math

import cv2
import numpy as np
import pytest

from core.cli import main


def _phantom(path_img, path_mask, *, seed=0, size=128):
    """A speckled fan with a dark elliptical sac and a bright rim; writes image and mask PNGs."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    r = np.hypot(xx - size / 2, yy + 15)
    fan = (r >= 25) & (r <= size + 10) & (np.abs(np.arctan2(xx - size / 2, yy + 15)) <= 0.7)
    sac = np.zeros((size, size), np.uint8)
    cv2.ellipse(sac, (64, 72), (22, 15), 20, 0, 360, 1, -1)
    rim = np.zeros_like(sac)
    cv2.ellipse(rim, (64, 72), (26, 19), 20, 0, 360, 1, -1)
    grain = np.hypot(cv2.GaussianBlur(rng.standard_normal((size, size)).astype(np.float32), (0, 0), 1.0),
                     cv2.GaussianBlur(rng.standard_normal((size, size)).astype(np.float32), (0, 0), 1.0))
    echo = np.where(sac > 0, 0.05, np.where(rim > 0, 0.8, 0.45)) * grain / grain.mean()
    img = (np.clip(echo, 0, 1) * fan * 255).astype(np.uint8)
    cv2.imwrite(str(path_img), img)
    cv2.imwrite(str(path_mask), (sac > 0).astype(np.uint8) * 255)
    return sac > 0


def _json(capsys):
    out = capsys.readouterr().out.strip().splitlines()
    return json.loads(out[-1])


@pytest.fixture
def case(tmp_path):
    img, mask = tmp_path / "img.png", tmp_path / "mask.png"
    truth = _phantom(img, mask)
    return img, mask, truth


def test_segment_levelset_with_mask_and_spacing(case, tmp_path, capsys):
    img, mask, truth = case
    out_png = tmp_path / "pred" / "mask.png"
    rc = main(["segment", "--model", "levelset", "--image", str(img), "--mask", str(mask), "--spacing-mm", "0.2",
               "--out", str(out_png), "--overlay", str(tmp_path / "overlay.png"), "--json"])
    assert rc == 0
    res = _json(capsys)
    for key in ("area_px", "area_mm2", "circumference_mm", "mean_diameter_mm", "dice", "iou", "precision",
                "recall"):
        assert key in res
    assert res["dice"] >= 0.8
    assert res["area_mm2"] == pytest.approx(res["area_px"] * 0.04)
    # The sac is an ellipse with semi-axes 22 and 15 px: mean diameter ~ (44 + 30) / 2 px.
    assert res["mean_diameter_mm"] == pytest.approx(37 * 0.2, rel=0.15)
    written = cv2.imread(str(out_png), cv2.IMREAD_GRAYSCALE)
    assert written.shape == truth.shape and set(np.unique(written)) <= {0, 255}
    assert int((written > 0).sum()) == res["area_px"]
    assert cv2.imread(str(tmp_path / "overlay.png")).shape == (128, 128, 3)


def test_segment_without_spacing_gives_null_mm(case, capsys):
    img, _, _ = case
    assert main(["segment", "--model", "levelset", "--image", str(img), "--json"]) == 0
    res = _json(capsys)
    assert res["area_px"] > 0
    assert res["area_mm2"] is None and res["circumference_mm"] is None and res["mean_diameter_mm"] is None
    assert "dice" not in res


def test_segment_roi_and_plain_output(case, capsys):
    img, mask, _ = case
    assert main(["segment", "--model", "levelset", "--image", str(img), "--mask", str(mask),
                 "--roi", "30,40,100,105"]) == 0
    out = capsys.readouterr().out
    assert "dice:" in out and "area_mm2: n/a" in out


def test_segment_empty_prediction_does_not_crash(tmp_path, capsys):
    img, mask = tmp_path / "flat.png", tmp_path / "m.png"
    cv2.imwrite(str(img), np.full((40, 50), 120, np.uint8))
    m = np.zeros((40, 50), np.uint8)
    m[10:20, 10:20] = 255
    cv2.imwrite(str(mask), m)
    assert main(["segment", "--model", "levelset", "--image", str(img), "--mask", str(mask), "--json"]) == 0
    res = _json(capsys)
    assert res["area_px"] == 0 and res["dice"] == 0.0 and res["precision"] is None
    assert res["circumference_mm"] is None and res["warnings"]


@pytest.mark.parametrize("extra, message", [
    (["--model", "no-such-bundle"], "levelset"),
    (["--model", "levelset", "--spacing-mm", "-1"], "spacing"),
    (["--model", "levelset", "--roi", "1,2,3"], "roi"),
    (["--model", "levelset", "--mask", "WRONG_SIZE"], "pixels"),
    (["--model", "levelset", "--out", "mask.jpg"], ".png"),
])
def test_segment_bad_input_exits_2(case, tmp_path, capsys, extra, message):
    img, _, _ = case
    wrong = tmp_path / "small.png"
    cv2.imwrite(str(wrong), np.zeros((10, 10), np.uint8))
    extra = [str(wrong) if e == "WRONG_SIZE" else str(tmp_path / e) if e == "mask.jpg" else e for e in extra]
    assert main(["segment", "--image", str(img), *extra]) == 2
    assert message in capsys.readouterr().err


def test_segment_missing_image_exits_2(tmp_path, capsys):
    assert main(["segment", "--model", "levelset", "--image", str(tmp_path / "none.png")]) == 2
    assert "not found" in capsys.readouterr().err


def test_segment_with_a_network_bundle(case, tmp_path, capsys):
    import torch

    from core.models import build_model, save_bundle

    torch.manual_seed(0)
    model = build_model("unet", num_classes=1, in_channels=1, width=4, depth=2)
    bundle = save_bundle(tmp_path / "bundle", model, {"task": "segmentation", "input_size": 32,
                                                       "normalization": "unit"})
    img, mask, truth = case
    assert main(["segment", "--model", str(bundle), "--image", str(img), "--mask", str(mask), "--json"]) == 0
    res = _json(capsys)
    assert 0 <= res["area_px"] <= truth.size
    assert res["dice"] is None or 0.0 <= res["dice"] <= 1.0
    assert main(["segment", "--model", str(bundle), "--image", str(img), "--roi", "0,0,50,50"]) == 2
    capsys.readouterr()
    assert main(["bench-seg", "--n-patients", "1", "--no-find", "--bundle", f"tiny={bundle}", "--json"]) == 0
    rows = {r["name"]: r for r in _json(capsys)["models"]}
    assert set(rows) == {"levelset", "tiny"}
    assert rows["tiny"]["params"] == sum(p.numel() for p in model.parameters())
    assert rows["tiny"]["n"] == 2 and rows["tiny"]["cpu_ms_per_image"] > 0


def test_bench_seg_on_a_manifest(tmp_path, capsys):
    rows = ["image_path,patient_id,mask_path"]
    for k in range(3):
        _phantom(tmp_path / f"i{k}.png", tmp_path / f"m{k}.png", seed=k)
        rows.append(f"i{k}.png,P{k},m{k}.png")
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert main(["bench-seg", "--manifest", str(tmp_path / "manifest.csv"), "--no-find", "--json"]) == 0
    res = _json(capsys)
    assert res["n_images"] == 3
    (row,) = res["models"]
    assert row["name"] == "levelset" and row["params"] == 0 and row["n"] == 3
    assert row["dice_mean"] >= 0.8 and 0 <= row["dice_sd"] < 0.2 and row["iou_mean"] <= row["dice_mean"]
    assert row["ms_per_image"] > 0
    assert main(["bench-seg", "--manifest", str(tmp_path / "manifest.csv"), "--no-find"]) == 0
    assert "levelset" in capsys.readouterr().out


def test_bench_seg_synthetic_and_bad_flags(capsys):
    assert main(["bench-seg", "--n-patients", "2", "--no-find", "--json"]) == 0
    res = _json(capsys)
    assert res["n_images"] == 4 and not math.isnan(res["models"][0]["dice_mean"])
    assert main(["bench-seg", "--n-patients", "0"]) == 2
    assert main(["bench-seg", "--bundle", "x"]) == 2
