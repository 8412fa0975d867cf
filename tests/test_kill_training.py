"""SIGKILL while a model bundle is being written, then ``--resume``: no half-written bundle anywhere.

test_resume.py (training) already kills a run mid-epoch and checks that ``--resume`` keeps the fold
assignment and does not redo finished folds. What it cannot show is the moment that matters for bundles: the
kill landing *between* the weights file and the json of a bundle. A timer cannot hit that window reliably, so
the child process here patches the bundle writer to SIGKILL itself right after the weights are on disk, in
the middle of the second fold's bundle. Afterwards:
every directory that looks like a bundle is complete and loads, the resumed run keeps splits.json, and no
temporary half-bundle is left anywhere in the run folder.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_train_data import make_user_dataset

KILLER = """
import os, signal, sys
import core.models.bundle as bundle
calls = {"n": 0}
original = bundle.save_file
def save_then_die(*args, **kwargs):
    original(*args, **kwargs)                    # weights written, model.json not yet
    calls["n"] += 1
    if calls["n"] == int(os.environ["KILL_AT_SAVE"]):
        os.kill(os.getpid(), signal.SIGKILL)
bundle.save_file = save_then_die
from core.cli import main
raise SystemExit(main(sys.argv[1:]))
"""


def _bundle_like_dirs(root: Path) -> list[Path]:
    return sorted({p.parent for name in ("model.json", "model.safetensors") for p in root.rglob(name)})


def _assert_no_half_bundle(root: Path, *, allow_tmp: bool) -> None:
    from core.models import load_bundle

    for folder in _bundle_like_dirs(root):
        if folder.name.startswith(".") and allow_tmp:
            continue   # the writer's private temporary folder: never under a bundle's name
        assert not folder.name.startswith("."), f"temporary half-written bundle left behind: {folder}"
        assert (folder / "model.json").is_file() and (folder / "model.safetensors").is_file(), folder
        load_bundle(folder)  # complete: json and weights agree
    for folder in root.rglob("bundle"):
        assert (folder / "model.json").is_file() and (folder / "model.safetensors").is_file(), folder


@pytest.mark.parametrize("kill_at, label", [(2, "fold-1 bundle")])  # 3 = the final ensemble bundle (slower)
def test_sigkill_while_writing_a_bundle_then_resume(tmp_path, kill_at, label):
    csv = make_user_dataset(tmp_path / "data", n_patients=4)
    out = tmp_path / "run"
    args = ["train", "--quiet", "--task", "miscarriage", "--manifest", str(csv), "--arch", "smallcnn",
            "--cv", "kfold:2", "--epochs", "2", "--input-size", "16", "--batch-size", "2", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "KILL_AT_SAVE": str(kill_at)}
    killed = subprocess.run([sys.executable, "-c", KILLER, *args], env=env, capture_output=True, text=True,
                            timeout=600, cwd=Path(__file__).resolve().parent.parent)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert list(out.rglob(".*.tmp-*")), f"the kill did not land inside the {label} write"
    _assert_no_half_bundle(out, allow_tmp=True)
    assert not (out / "metrics.json").exists()
    splits_before = (out / "splits.json").read_text()

    env.pop("KILL_AT_SAVE")
    done = subprocess.run([sys.executable, "-m", "core", *args, "--resume", "--json"], env=env, capture_output=True,
                          text=True, timeout=600, cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert (out / "splits.json").read_text() == splits_before            # same fold assignment
    _assert_no_half_bundle(out, allow_tmp=False)
    assert {p.relative_to(out).as_posix() for p in _bundle_like_dirs(out)} == {"folds/0/bundle", "folds/1/bundle",
                                                                              "bundle"}
    assert Path(result["bundle"]) == out / "bundle" and result["metrics"]["n_folds"] == 2
