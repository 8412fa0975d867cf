"""Saved cases -> training manifest: columns, files, labels, refusals, CLI, and `python -m core train` on it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import cv2
import numpy as np
import pandas as pd
import pytest

from core import store
from core.cases_export import export_cases, export_zip_bytes
from core.errors import InputError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _save(i: int, *, label: str, corrected: bool = True, withheld: bool = False, size: int = 48):
    rng = np.random.default_rng(i)
    image = rng.integers(90, 140, (size, size, 3), dtype=np.uint8)
    ai = np.zeros((size, size), bool)
    ai[14:30, 14:30] = True
    mask = np.zeros((size, size), bool)
    mask[10 + i % 3:34, 12:36 - i % 4] = True
    image[mask] //= 4                                          # a dark "sac" the masks outline
    return store.save_case(study="miscarriage", decision=None if withheld else "live_birth",
                           clinician_decision=label, case_key=f"P{i:03d}", ai_output={"decision_withheld": withheld},
                           images=[{"image": image, "mask": mask if corrected else ai, "ai_mask": ai, "name": "x.png",
                                    "corrected": corrected, "pixel_spacing_mm": 0.25}])


def test_manifest_rows_point_at_the_corrected_masks_and_clinician_labels(tmp_path):
    a = _save(0, label="miscarriage")
    b = _save(1, label="live_birth", corrected=False)
    c = _save(2, label=None, withheld=True)                     # AI withheld, clinician gave no label
    empty = store.save_case(study="miscarriage", clinician_decision="live_birth")   # no image: skipped
    result = export_cases(tmp_path / "out")
    assert (result["n_cases"], result["n_images"], result["n_corrected"], result["skipped"]) == (3, 3, 2, [empty])
    table = pd.read_csv(result["manifest"], keep_default_na=False)
    assert list(table.columns[:4]) == ["image_path", "patient_id", "label", "mask_path"]
    assert table["case_id"].tolist() == [a, b, c]
    assert table["patient_id"].tolist() == ["P000", "P001", "P002"]
    assert table["label"].tolist() == ["miscarriage", "live_birth", ""]
    assert table["corrected"].tolist() == [1, 0, 1]
    for row in table.itertuples():
        assert not os.path.isabs(row.image_path) and not os.path.isabs(row.mask_path)
        saved = store.cases.get_case(row.case_id)["images"][0]
        assert np.array_equal(cv2.imread(str(tmp_path / "out" / row.mask_path), cv2.IMREAD_GRAYSCALE) > 0,
                              cv2.imread(saved["mask_file"], cv2.IMREAD_GRAYSCALE) > 0)
    assert float(table["pixel_spacing_mm"].iloc[0]) == 0.25


def test_zip_export_holds_the_manifest_and_its_files():
    _save(0, label="miscarriage")
    data, result = export_zip_bytes()
    import io

    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = set(zf.namelist())
        manifest = pd.read_csv(zf.open("manifest.csv"))
    assert {"manifest.csv", manifest.loc[0, "image_path"], manifest.loc[0, "mask_path"]} <= names
    assert result["n_images"] == 1


def test_refusals(tmp_path):
    with pytest.raises(InputError, match="no saved cases"):
        export_cases(tmp_path / "a")
    _save(0, label="miscarriage")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="not an empty folder"):
        export_cases(tmp_path / "full")
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
    with pytest.raises(InputError, match="no saved cases to export for study 'cns'"):
        export_cases(tmp_path / "b", study="cns")


def _cli(*args, env):
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)


def test_cli_export_and_the_manifest_trains(tmp_path):
    """`python -m core cases export` writes a manifest that `python -m core train --epochs 1` accepts, for the
    segmentation (corrected masks) and for the study's classifier (clinician labels)."""
    for i in range(10):
        _save(i, label="miscarriage" if i % 2 else "live_birth", corrected=i % 3 == 0)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = tmp_path / "export"
    done = _cli("cases", "export", "--out", str(out), "--json", env=env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["n_images"] == 10 and result["n_corrected"] == 4
    again = _cli("cases", "export", "--out", str(out), env=env)
    assert again.returncode == 2 and "not an empty folder" in again.stderr
    listed = _cli("cases", "list", "--json", env=env)
    assert listed.returncode == 0 and len(listed.stdout.splitlines()) == 10
    for task, arch, key in (("segmentation", "unet", "dice"), ("miscarriage", "resnet18", "auc")):
        run = _cli("train", "--task", task, "--manifest", result["manifest"], "--arch", arch, "--epochs", "1",
                   "--input-size", "32", "--cv", "holdout", "--quiet", "--json", "--out", str(tmp_path / task),
                   env=env)
        assert run.returncode == 0, run.stderr[-2000:]
        metrics = json.loads(run.stdout.strip().splitlines()[-1])["metrics"]
        assert key in metrics and 0.0 <= metrics[key] <= 1.0


def test_per_image_labels_win_over_the_case_decision(tmp_path):
    """Instance studies decide per image (the view category): each manifest row carries its image's label."""
    image = np.zeros((32, 32, 3), np.uint8)
    store.save_case(study="first_trimester", decision="head, neck", clinician_decision="head, thorax",
                    case_key="FT1", images=[{"image": image, "name": "a.png", "label": "head"},
                                            {"image": image, "name": "b.png", "label": "thorax"}])
    table = pd.read_csv(export_cases(tmp_path / "ft")["manifest"], keep_default_na=False)
    assert table["label"].tolist() == ["head", "thorax"] and "mask_path" not in table.columns
