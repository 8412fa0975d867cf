"""The train command end to end on a tiny user-made dataset: every study network trains >= 1 epoch."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from tests.test_train_data import make_user_dataset

ENV_THREADS = {"OMP_NUM_THREADS": "1"}


def _train(args, tmp_path, *, check=True):
    import os

    env = {**os.environ, **ENV_THREADS}
    proc = subprocess.run([sys.executable, "-m", "core", "train", "--quiet", *args], capture_output=True, text=True,
                          env=env, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_user_dataset(tmp_path_factory.mktemp("data") / "user", n_patients=10)   # holdout minimum


@pytest.mark.parametrize("task,arch,key", [
    ("miscarriage", "vgg19", "auc"),
    ("cns4", "resnet34", "auc"),
    ("preterm", "unet_cls", "auc"),
    ("segmentation", "unet", "dice"),
])
def test_study_networks_train_one_epoch(task, arch, key, dataset, tmp_path):
    csv = dataset
    if task == "cns4":       # relabel the user set with the CNS anomaly names
        df = pd.read_csv(csv)
        df["label"] = df["label"].map({"live_birth": "anencephaly", "miscarriage": "rachischisis"})
        csv = csv.parent / "cns.csv"
        df.to_csv(csv, index=False)
    if task == "preterm":
        df = pd.read_csv(csv)
        df["label"] = df["label"].map({"live_birth": "term", "miscarriage": "preterm"})
        csv = csv.parent / "preterm.csv"
        df.to_csv(csv, index=False)
    out = tmp_path / "run"
    proc = _train(["--task", task, "--manifest", str(csv), "--arch", arch, "--cv", "holdout", "--epochs", "1",
                   "--input-size", "32", "--batch-size", "2", "--out", str(out), "--json"], tmp_path)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(result) == {"run_dir", "bundle", "metrics"}
    assert key in result["metrics"]
    assert (out / "bundle" / "model.safetensors").is_file()
    meta = json.loads((out / "bundle" / "model.json").read_text())
    assert meta["architecture"] == arch and meta["input_size"] == 32
    assert meta["ensemble_members"] == ["../folds/0/bundle"]
    splits = json.loads((out / "splits.json").read_text())["splits"]
    assert len(splits) == 1
    if key == "auc":
        oof = pd.read_csv(out / "oof_predictions.csv")
        assert {"case", "patient_id", "truth", "score", "fold", "plane", "ga_weeks"} <= set(oof.columns)
        assert set(oof["patient_id"]) == set(splits[0]["test"])
    if arch in ("unet", "unet_cls"):
        per_case = pd.read_csv(out / "per_case.csv")
        assert per_case["dice"].between(0, 1).all() and len(per_case) == 2 * len(splits[0]["test"])
        assert (per_case["dice"].mean() - result["metrics"]["dice"]) < 1e-9


def test_kfold_ensemble_and_out_of_fold(dataset, tmp_path):
    out = tmp_path / "run"
    proc = _train(["--task", "miscarriage", "--manifest", str(dataset), "--arch", "smallcnn", "--cv", "kfold:4",
                   "--epochs", "1", "--input-size", "32", "--out", str(out), "--json"], tmp_path)
    metrics = json.loads(proc.stdout)["metrics"]
    assert metrics["n_folds"] == 4 and 0 <= metrics["auc"] <= 1
    oof = pd.read_csv(out / "oof_predictions.csv")
    assert len(oof) == 20 and oof.groupby("patient_id")["fold"].nunique().max() == 1
    assert sorted(oof["fold"].unique()) == [0, 1, 2, 3]
    meta = json.loads((out / "bundle" / "model.json").read_text())
    assert meta["ensemble_size"] == 4 and len(meta["ensemble_members"]) == 4
    from core.models import load_bundle

    model, _ = load_bundle(out / "bundle")
    assert len(model.members) == 4


@pytest.mark.parametrize("args,needle", [
    (["--cv", "kfold:1"], "--cv"),
    (["--cv", "banana"], "--cv"),
    (["--arch", "nosuchnet"], "nosuchnet"),
    (["--arch", "unet"], "unet"),                     # a segmentation network on a classification task
    (["--manifest", "missing.csv"], "missing.csv"),
])
def test_bad_flags_exit_2_with_one_line(args, needle, dataset, tmp_path):
    base = {"--task": "miscarriage", "--manifest": str(dataset), "--arch": "smallcnn", "--epochs": "1"}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    flat = [x for kv in base.items() for x in kv] + ["--out", str(tmp_path / "r")]
    proc = _train(flat, tmp_path, check=False)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in proc.stderr


def test_existing_run_dir_needs_resume(dataset, tmp_path):
    out = tmp_path / "run"
    args = ["--task", "miscarriage", "--manifest", str(dataset), "--arch", "smallcnn", "--cv", "holdout",
            "--epochs", "1", "--input-size", "16", "--out", str(out)]
    _train(args, tmp_path)
    again = _train(args, tmp_path, check=False)
    assert again.returncode == 2 and "--resume" in again.stderr
    resumed = _train(args + ["--resume", "--json"], tmp_path)
    assert json.loads(resumed.stdout)["run_dir"] == str(out)
