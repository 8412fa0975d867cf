"""A fifth study added without editing any file of SonoDash: this module is its task file.

``SONODASH_TASKS`` points the command line at this file; the CLI imports it and registers every task in
``TASKS``. Its labels, recipe and protocol (default architecture, input size, epochs, 3-fold CV) must be what
``train`` uses, and ``predict`` must analyse images with the bundle it made. Importing this module under
pytest registers nothing (``TASKS`` is only a list), so other tests never see the throw-away study.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from core.tasks import Protocol, Recipe, Task

LABELS = ("normal_cord", "nuchal_cord")
TASKS = [
    Task(name="nuchal_cord_test", kind="classification", title="Nuchal cord (throw-away test study)",
         labels=LABELS, positive_label="nuchal_cord", image_kind="neck", default_arch="smallcnn",
         recipe=Recipe(optimizer="adam", lr=2e-3, weight_decay=0.0, batch_size=4, epochs=2, input_size=32,
                       augment="basic", early_stopping_metric="val_loss", patience=5),
         protocol=Protocol(cv="kfold:3", aggregation="mean", metrics=("auc", "sensitivity", "specificity"))),
]
NAME = TASKS[0].name
HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]


def _cli(args, home, *, tasks: bool = True):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SONODASH_HOME": str(home), "PYTHONPATH": str(ROOT)}
    env.pop("SONODASH_TASKS", None)
    if tasks:
        env["SONODASH_TASKS"] = str(HERE)
    return subprocess.run([sys.executable, "-m", "core", *args], capture_output=True, text=True, env=env,
                          timeout=600, cwd=ROOT)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from tests.test_train_data import make_user_dataset

    root = tmp_path_factory.mktemp("fifth")
    csv = make_user_dataset(root / "data", n_patients=9, labels=LABELS)   # kfold:3 needs 3 patients per class
    out = root / "run"
    proc = _cli(["train", "--task", NAME, "--manifest", str(csv), "--out", str(out), "--json", "--quiet"], root)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {"csv": csv, "out": out, "home": root, "result": json.loads(proc.stdout.strip().splitlines()[-1])}


def test_importing_this_module_registers_nothing():
    from core.tasks import list_tasks

    assert NAME not in list_tasks()


def test_train_uses_the_fifth_tasks_labels_recipe_and_protocol(trained):
    out, result = trained["out"], trained["result"]
    assert set(result) == {"run_dir", "bundle", "metrics"}
    assert 0.0 <= result["metrics"]["auc"] <= 1.0
    meta = json.loads((out / "bundle" / "model.json").read_text())
    assert meta["task"] == NAME
    assert tuple(meta["class_names"]) == LABELS
    assert meta["architecture"] == "smallcnn"                       # task.default_arch (no --arch given)
    assert meta["input_size"] == 32                                  # recipe.input_size (no --input-size)
    assert (meta["recipe"]["optimizer"], meta["recipe"]["lr"], meta["recipe"]["batch_size"]) == ("adam", 2e-3, 4)
    assert meta["cv"] == "kfold:3" and meta["positive_label"] == "nuchal_cord"
    splits = json.loads((out / "splits.json").read_text())["splits"]
    assert len(splits) == 3                                          # protocol.cv kfold:3 (no --cv)
    for fold in range(3):                                            # recipe.epochs 2 (no --epochs)
        assert json.loads((out / "folds" / str(fold) / "result.json").read_text())["epochs_run"] == 2
    oof = pd.read_csv(out / "oof_predictions.csv")
    assert len(oof) == 18 and sorted(oof["fold"].unique()) == [0, 1, 2]
    assert set(oof["truth"]) == set(LABELS)


def test_predict_analyses_images_with_the_fifth_tasks_bundle(trained):
    data = trained["csv"].parent
    images = [str(data / "pt1_sagittal.png"), str(data / "pt1_transverse.png")]
    proc = _cli(["predict", "--model", trained["result"]["bundle"], "--image", *images, "--json"], trained["home"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(proc.stdout)
    assert res["class_names"] == list(LABELS)
    assert len(res["images"]) == 2
    for im in res["images"]:
        assert sum(im["probabilities"]) == pytest.approx(1.0, abs=1e-6)
    # binary task: "probability" is the positive class's (nuchal_cord), the patient's mean over its images
    mean_pos = sum(im["probabilities"][1] for im in res["images"]) / 2
    assert res["probability"] == pytest.approx(mean_pos, abs=1e-6)
    assert res["predicted_class"] in LABELS


def test_without_the_task_file_the_cli_does_not_know_the_study(tmp_path):
    proc = _cli(["train", "--task", NAME, "--manifest", str(HERE), "--json"], tmp_path, tasks=False)
    assert proc.returncode == 2
    assert f"unknown task {NAME!r}" in proc.stderr and "Traceback" not in proc.stderr
