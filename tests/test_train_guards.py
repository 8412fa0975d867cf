"""Issue 17's training guarantees: image-level labels with patient-disjoint splits, refusal of data too small
for the CV scheme, the "not better than chance" flag, and identical out-of-fold predictions for one seed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.errors import InputError
from tests.test_train_data import make_user_dataset

PLANES = ("cerebellar", "thalamic", "ventricular")


def make_plane_dataset(folder: Path, *, n_patients: int = 9, agreeing: int = 2, seed: int = 0) -> Path:
    """Standard-plane classification: each patient has one image of each plane, labelled by its plane, except
    the first ``agreeing`` patients, whose images all show (and are labelled) the same plane."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    lines = ["image_path,patient_id,label,ga_weeks"]
    for p in range(n_patients):
        for j in range(len(PLANES)):
            plane = PLANES[0] if p < agreeing else PLANES[j]
            k = PLANES.index(plane)
            img = (rng.random((24, 28)) * 40).astype(np.uint8)
            cv2.rectangle(img, (2 + 6 * k, 4), (8 + 6 * k, 20), 220, -1)   # the plane's landmark moves
            name = f"p{p}_{j}.png"
            cv2.imwrite(str(folder / name), img)
            lines.append(f"{name},pat{p},{plane},{20 + p % 5}.5")
    csv = folder / "manifest.csv"
    csv.write_text("\n".join(lines) + "\n")
    return csv


def _cli(args, *, check=True):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "core", "train", "--quiet", *args], capture_output=True,
                          text=True, env=env, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def test_mixed_labels_within_patients_train_with_image_level_macro_auc_and_disjoint_splits(tmp_path):
    csv = make_plane_dataset(tmp_path / "planes")
    out = tmp_path / "run"
    proc = _cli(["--task", "classification", "--manifest", str(csv), "--arch", "smallcnn", "--cv", "kfold:3",
                 "--epochs", "1", "--input-size", "16", "--batch-size", "4", "--out", str(out), "--json"])
    result = json.loads(proc.stdout)          # stdout is exactly one JSON object
    metrics = result["metrics"]
    assert metrics["level"] == "image" and metrics["n_patients_mixed_labels"] == 7
    oof = pd.read_csv(out / "oof_predictions.csv")
    assert len(oof) == 27 and set(oof["truth"]) == set(PLANES)
    # metrics.auc is the image-level macro one-vs-rest AUC of the out-of-fold predictions
    from sklearn.metrics import roc_auc_score

    classes = sorted(PLANES)
    expected = roc_auc_score(oof["truth"].map({c: i for i, c in enumerate(classes)}),
                             oof[[f"score_{c}" for c in classes]].to_numpy(), multi_class="ovr", average="macro")
    assert metrics["auc"] == pytest.approx(expected, abs=1e-12)
    assert metrics["auc_image"] == pytest.approx(expected, abs=1e-12)
    # patient level only over the 2 patients whose labels agree
    assert metrics["n_patients_agreeing"] == 2
    # no patient crosses parts: within each fold train / val / test are disjoint, each patient tested once
    splits = json.loads((out / "splits.json").read_text())["splits"]
    assert len(splits) == 3
    for s in splits:
        train, val, test = set(s["train"]), set(s["val"]), set(s["test"])
        assert not (train & val) and not (train & test) and not (val & test)
        assert train | val | test == {f"pat{p}" for p in range(9)}
    assert oof.groupby("patient_id")["fold"].nunique().max() == 1
    tested = [p for s in splits for p in s["test"]]
    assert sorted(tested) == sorted(set(tested)) and len(tested) == 9
    for fold, group in oof.groupby("fold"):
        assert set(group["patient_id"]) == set(splits[int(fold)]["test"])


def test_data_too_small_for_the_scheme_is_refused_before_training_with_the_minimum(tmp_path):
    csv = make_user_dataset(tmp_path / "tiny", n_patients=4)
    out = tmp_path / "run"
    proc = _cli(["--task", "miscarriage", "--manifest", str(csv), "--arch", "smallcnn", "--cv", "holdout",
                 "--epochs", "1", "--input-size", "16", "--out", str(out)], check=False)
    assert proc.returncode == 2
    line = proc.stderr.strip().splitlines()
    assert len(line) == 1 and "needs at least 10 patients" in line[0] and "the manifest has 4" in line[0]
    assert not (out / "folds").exists()        # nothing trained
    from core.training.preflight import preflight

    csv10 = make_user_dataset(tmp_path / "ten", n_patients=10)
    df = pd.read_csv(csv10)
    df.loc[df["patient_id"].isin(["patient1", "patient3", "patient5", "patient7"]), "label"] = "live_birth"
    df.to_csv(tmp_path / "ten" / "rare.csv", index=False)       # 1 miscarriage patient left
    with pytest.raises(InputError, match=r"at least 3 patients of each class.* 1 of 'miscarriage'"):
        preflight("miscarriage", tmp_path / "ten" / "rare.csv", arch="smallcnn", cv="holdout")
    with pytest.raises(InputError, match=r"kfold:10 needs at least 20 patients"):
        preflight("miscarriage", csv10, arch="smallcnn", cv="kfold:10")
    ok = preflight("miscarriage", csv10, arch="smallcnn", cv="kfold:5")
    assert ok["n_patients"] == 10 and ok["patients_per_class"] == {"live_birth": 5, "miscarriage": 5}


def test_a_nan_run_is_flagged_and_the_cli_warns_on_stderr(tmp_path):
    csv = make_user_dataset(tmp_path / "d", n_patients=4)
    df = pd.read_csv(csv)
    # A fixed split whose test part holds one class only: the held-out AUC is undefined.
    df["split"] = df["patient_id"].map({"patient0": "test", "patient1": "val", "patient2": "train",
                                        "patient3": "train"})
    fixed = csv.parent / "fixed.csv"
    df.to_csv(fixed, index=False)
    out = tmp_path / "run"
    proc = _cli(["--task", "miscarriage", "--manifest", str(fixed), "--arch", "smallcnn", "--cv", "holdout",
                 "--epochs", "1", "--input-size", "16", "--out", str(out), "--json"])
    metrics = json.loads(proc.stdout)["metrics"]
    assert metrics["auc"] is None and metrics["flag"] == "not better than chance"
    assert "NaN" in metrics["flag_reason"]
    assert "warning: not better than chance" in proc.stderr
    meta = json.loads((out / "bundle" / "model.json").read_text())
    assert meta["metrics"]["flag"] == "not better than chance"


def test_chance_flag_rules():
    from core.training.metrics import chance_flag

    assert chance_flag({"auc": 0.9, "auc_ci": [0.8, 0.97]}) is None
    assert "contains 0.5" in chance_flag({"auc": 0.62, "auc_ci": [0.41, 0.83]})
    assert "NaN" in chance_flag({"auc": float("nan"), "auc_ci": [float("nan")] * 2})
    assert "NaN" in chance_flag({"dice": float("nan")})
    assert chance_flag({"dice": 0.8}) is None


def test_same_seed_gives_identical_out_of_fold_predictions(tmp_path):
    """smallcnn has dropout and the recipe augments: every random draw must be seeded for this to hold."""
    from core.training import train

    csv = make_user_dataset(tmp_path / "d", n_patients=6)
    runs = []
    for name in ("a", "b"):
        train("miscarriage", csv, arch="smallcnn", cv="kfold:3", epochs=2, out=tmp_path / name, seed=5,
              input_size=16, batch_size=2)
        runs.append((tmp_path / name / "oof_predictions.csv").read_bytes())
    assert runs[0] == runs[1]
    train("miscarriage", csv, arch="smallcnn", cv="kfold:3", epochs=2, out=tmp_path / "c", seed=6,
          input_size=16, batch_size=2)
    assert (tmp_path / "c" / "oof_predictions.csv").read_bytes() != runs[0]
