"""Kill a cross-validation run mid-epoch (SIGKILL) and finish it with --resume: same folds, nothing redone."""

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd

from core.training.checkpoint import load_checkpoint
from tests.test_train_data import make_user_dataset


def test_kill_mid_epoch_then_resume(tmp_path):
    csv = make_user_dataset(tmp_path / "data", n_patients=6)
    out = tmp_path / "run"
    args = [sys.executable, "-m", "core", "train", "--quiet", "--task", "miscarriage", "--manifest", str(csv),
            "--arch", "smallcnn", "--cv", "kfold:3", "--epochs", "6", "--input-size", "16", "--batch-size", "2",
            "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ck = out / "folds" / "1" / "checkpoint.pt"
    deadline = time.time() + 300
    try:
        while not ck.exists():
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.time() < deadline, "run never reached fold 2"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)          # fold 0 finished, fold 1 inside an epoch
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "folds" / "1" / "result.json").exists()
    splits_before = (out / "splits.json").read_text()
    fold0 = out / "folds" / "0" / "result.json"
    fold0_mtime, fold0_text = fold0.stat().st_mtime_ns, fold0.read_text()
    resumed_from = load_checkpoint(ck)["epoch"]
    assert resumed_from >= 1

    done = subprocess.run(args + ["--resume", "--json"], env={**env}, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert (out / "splits.json").read_text() == splits_before          # same fold assignment
    assert fold0.stat().st_mtime_ns == fold0_mtime and fold0.read_text() == fold0_text   # not redone
    for k in range(3):
        assert (out / "folds" / str(k) / "result.json").exists()
        assert not (out / "folds" / str(k) / "checkpoint.pt").exists()
    fold1 = json.loads((out / "folds" / "1" / "result.json").read_text())
    assert len(fold1["history"]) == fold1["epochs_run"] and fold1["epochs_run"] >= resumed_from
    oof = pd.read_csv(out / "oof_predictions.csv")
    splits = json.loads(splits_before)["splits"]
    assert set(oof["patient_id"]) == {p for s in splits for p in s["test"]}
    for k, s in enumerate(splits):
        assert set(oof.loc[oof["fold"] == k, "patient_id"]) == set(s["test"])
    assert result["metrics"]["n_folds"] == 3
