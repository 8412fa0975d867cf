"""bench-real end to end on tiny generated data (ellipse "heads" of known circumference), 1 epoch; the
letterbox resize; the split; the figures recomputed from the stored per-case rows."""

import json
import math

import cv2
import numpy as np
import pandas as pd
import pytest

from core.cli import main
from core.errors import InputError
from core.models.transforms import letterbox, letterbox_geometry, resize, restore_size
from core.segmentation.biometry import ramanujan_circumference
from core.segmentation.real_bench import assign_split, list_bench_runs, load_bench_run, summarize


def _write_set(root, n=16, size=(60, 90), seed=0):
    """n images of w x h (not square: letterboxing matters) with one bright ellipse each; hc_mm exact."""
    rng = np.random.default_rng(seed)
    rows = []
    h, w = size
    for i in range(n):
        a, b = rng.uniform(14, 22), rng.uniform(9, 13)
        cx, cy, ang = rng.uniform(35, 55), rng.uniform(25, 35), rng.uniform(0, 180)
        img = (rng.normal(40, 10, (h, w))).clip(0, 255).astype(np.uint8)
        mask = np.zeros((h, w), np.uint8)
        cv2.ellipse(mask, (int(cx), int(cy)), (int(a), int(b)), ang, 0, 360, 255, -1)
        img[mask > 0] = 200
        cv2.imwrite(str(root / f"img{i}.png"), img)
        cv2.imwrite(str(root / f"mask{i}.png"), mask)
        rows.append({"image_path": f"img{i}.png", "mask_path": f"mask{i}.png", "patient_id": f"p{i // 2}",
                     "pixel_spacing_mm": 0.2, "hc_mm": ramanujan_circumference(int(a) + .5, int(b) + .5) * 0.2})
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    return root / "manifest.csv"


def test_letterbox_keeps_aspect_and_maps_back():
    img = np.zeros((60, 90), np.uint8)
    img[20:40, 30:60] = 255
    top, left, nh, nw = letterbox_geometry(60, 90, (30, 30))
    assert (top, left, nh, nw) == (5, 0, 20, 30)
    box = letterbox(img, (30, 30))
    assert box.shape == (30, 30) and box[:5].max() == 0 and box[25:].max() == 0   # padding rows
    assert np.array_equal(resize(img, (30, 30), mode="letterbox"), box)
    back = restore_size(box.astype(np.float32) / 255, 60, 90, mode="letterbox") > 0.5
    assert back.shape == (60, 90)
    assert (back == (img > 0)).mean() > 0.97
    rgb = letterbox(np.zeros((10, 40, 3), np.uint8), (16, 16))
    assert rgb.shape == (16, 16, 3)


def test_assign_split_is_patient_disjoint_seeded_and_keeps_given_values():
    df = pd.DataFrame({"patient_id": [f"p{i // 2}" for i in range(100)]})
    s1, s2 = assign_split(df, seed=1), assign_split(df, seed=1)
    assert (s1 == s2).all() and set(s1) == {"train", "val", "test"}
    parts = df.assign(split=s1).groupby("patient_id")["split"].nunique()
    assert (parts == 1).all()
    assert df.assign(split=s1).groupby("split")["patient_id"].nunique()["test"] == 10     # 20 % of 50
    fixed = df.assign(split=["test" if i < 20 else "train" for i in range(100)])
    s3 = assign_split(fixed, seed=0)
    assert (s3[:20] == "test").all() and (s3 == "val").any() and not (s3[20:] == "test").any()


def test_summary_from_rows_matches_hand_numbers():
    cases = pd.DataFrame({"dice": [0.9, 0.8], "hd95_mm": [1.0, 3.0], "hc_pred_mm": [101.0, 98.0],
                          "hc_ref_mm": [100.0, 100.0]})
    s = summarize(cases)
    assert s["dice"] == pytest.approx(0.85) and s["hd95_mm"] == pytest.approx(2.0) and s["n_test"] == 2
    hc = s["hc_abs_err_mm"]
    assert hc["mean"] == pytest.approx(1.5) and hc["sd"] == pytest.approx(math.sqrt(0.5))
    assert hc["bias"] == pytest.approx(-0.5)                         # d = [+1, -2]
    sd = math.sqrt(4.5)
    assert hc["loa"] == pytest.approx([-0.5 - 1.959964 * sd, -0.5 + 1.959964 * sd], rel=1e-5)


def test_bench_real_cli_end_to_end(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SONODASH_HOME", str(tmp_path / "home"))
    manifest = _write_set(tmp_path)
    out = tmp_path / "home" / "runs" / "bench1"
    rc = main(["bench-real", "--manifest", str(manifest), "--task", "segmentation", "--epochs", "1",
               "--input-size", "32", "--batch-size", "4", "--budget-min", "5", "--out", str(out), "--json",
               "--quiet"])
    assert rc == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(res) >= {"dice", "hd95_mm", "hc_abs_err_mm", "train_s", "n_test"}
    assert res["n_test"] == 4                                # 8 patients: 20 % -> 2 patients, 4 images
    assert 0.0 <= res["dice"] <= 1.0 and res["train_s"] > 0 and res["epochs_run"] == 1 and res["train_cpu_s"] > 0
    assert res["train_total_s"] >= res["train_s"]
    assert res["postprocess"] == "fill"                       # the generic segmentation task's step
    meta = json.loads((out / "bundle" / "model.json").read_text())
    assert meta["resize_mode"] == "letterbox" and meta["postprocess"] == "fill"
    stored, cases = load_bench_run(out)
    assert len(cases) == 4 and stored["dice"] == pytest.approx(res["dice"])
    assert list_bench_runs(tmp_path / "home" / "runs") == [out]
    if res["hc_abs_err_mm"] is not None:
        assert len(res["hc_abs_err_mm"]["loa"]) == 2


def test_bad_input_exit_2(tmp_path, capsys):
    assert main(["bench-real", "--manifest", str(tmp_path / "nope.csv"), "--json"]) == 2
    manifest = _write_set(tmp_path, n=4)
    assert main(["bench-real", "--manifest", str(manifest), "--task", "miscarriage"]) == 2
    assert main(["bench-real", "--manifest", str(manifest), "--budget-min", "-1"]) == 2
    err = capsys.readouterr().err
    assert "segmentation" in err and "budget" in err


def test_load_bench_run_rejects_foreign_folder(tmp_path):
    with pytest.raises(InputError):
        load_bench_run(tmp_path)


def test_budget_stops_training_mid_epoch(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SONODASH_HOME", str(tmp_path / "home"))
    manifest = _write_set(tmp_path)
    # 0.03 s of budget: spent while the pictures load, so the first epoch ends after one batch and no second
    # epoch starts although five were allowed.
    rc = main(["bench-real", "--manifest", str(manifest), "--epochs", "5", "--input-size", "32", "--batch-size",
               "2", "--budget-min", "0.0005", "--out", str(tmp_path / "run"), "--json", "--quiet"])
    assert rc == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["epochs_run"] == 1 and res["n_test"] == 4


def _page():
    from dashboard import bland_altman_view

    bland_altman_view.section()


def test_evaluations_tab_shows_recomputed_figures(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("SONODASH_HOME", str(tmp_path))
    run = tmp_path / "runs" / "bench-real-x"
    run.mkdir(parents=True)
    # The stored summary claims Dice 0.99; the page must show what the rows say (0.85), never the summary.
    (run / "bench_real.json").write_text(json.dumps({"dice": 0.99, "train_s": 600.0, "n_test": 2,
                                                     "postprocess": "ellipse", "budget_min": 20}))
    pd.DataFrame({"case": ["a.png", "b.png"], "patient_id": ["p1", "p2"], "dice": [0.9, 0.8],
                  "hd95_mm": [1.0, 3.0], "hc_pred_mm": [101.0, 98.0], "hc_ref_mm": [100.0, 100.0],
                  "hc_ref_mask_mm": [101.0, 101.0]}).to_csv(run / "bench_real_cases.csv", index=False)
    at = AppTest.from_function(_page, default_timeout=60).run()
    assert not at.exception
    shown = {m.label: m.value for m in at.metric}
    assert shown["Dice (mean)"] == "0.850"
    assert shown["HD95 (mm)"] == "2.00"
    assert shown["HC |error| (mm)"] == "1.50"
    assert "1.50 ± 0.71 mm" in at.caption[0].value and "-4.66 mm to 3.66 mm" in at.caption[0].value
    assert shown["Training (min)"] == "10.0"
    assert any("+1.00 mm" in w.value for w in at.warning)          # reference masks vs reference HC


def test_evaluations_tab_without_runs_says_how_to_make_one(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("SONODASH_HOME", str(tmp_path))
    at = AppTest.from_function(_page, default_timeout=60).run()
    assert not at.exception and "bench-real" in at.info[0].value


def test_non_square_input_size_trains_and_predicts_at_its_own_aspect(tmp_path, monkeypatch, capsys):
    """--input-size 32x48 (height x width): the 60x90 scans fill the input without padding; the bundle records
    [32, 48] and the test masks come back at the scans' own size."""
    monkeypatch.setenv("SONODASH_HOME", str(tmp_path / "home"))
    manifest = _write_set(tmp_path)
    out = tmp_path / "run"
    rc = main(["bench-real", "--manifest", str(manifest), "--epochs", "1", "--input-size", "32x48",
               "--batch-size", "4", "--out", str(out), "--json", "--quiet"])
    assert rc == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["n_test"] == 4
    meta = json.loads((out / "bundle" / "model.json").read_text())
    assert meta["input_size"] == [32, 48] and meta["recipe"]["input_size"] == [32, 48]
    assert letterbox_geometry(60, 90, (32, 48)) == (0, 0, 32, 48)          # no padding at this aspect
    from core.models import load_predictor

    mask = load_predictor(out / "bundle").predict_mask([np.zeros((60, 90), np.uint8)])[0]
    assert mask.shape == (60, 90)


@pytest.mark.parametrize("text, expected", [("160", 160), ("160x240", (160, 240)), (" 96X128 ", (96, 128)),
                                            ("64\u00d780", (64, 80))])
def test_parse_input_size(text, expected):
    from core.models.transforms import parse_input_size

    assert parse_input_size(text) == expected


@pytest.mark.parametrize("bad", ["0", "160x", "x160", "1x2x3", "big", "4x0"])
def test_bad_input_size_is_refused_with_exit_2(bad, tmp_path, capsys):
    manifest = _write_set(tmp_path, n=4)
    with pytest.raises(SystemExit) as stop:
        main(["bench-real", "--manifest", str(manifest), "--input-size", bad])
    assert stop.value.code == 2
    assert "HEIGHTxWIDTH" in capsys.readouterr().err


@pytest.mark.parametrize("recipe", ["segmentation", "basic", "crop_jitter", "crop_flip", "none"])
def test_every_augmentation_gives_the_pair_size(recipe):
    """Training and evaluation transforms hand the network (height, width) = the pair, masks alike."""
    import torch

    from core.data.augment import base_size, build_transform

    big = base_size((16, 24), 1.14 if recipe.startswith("crop_") else 1.0)
    image = torch.zeros((1, *([big] * 2 if isinstance(big, int) else big)), dtype=torch.uint8)
    mask = torch.zeros(image.shape[1:], dtype=torch.uint8)
    for train in (True, False):
        out, out_mask = build_transform(recipe, train=train, input_size=(16, 24))(image, mask)
        assert tuple(out.shape) == (1, 16, 24) and tuple(out_mask.shape) == (16, 24)
