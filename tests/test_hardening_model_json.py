"""Hostile model.json values exit 2 with the field named, before anything is allocated or built.

Issue 18: ``input_size`` 60000 or ``ensemble_size`` 10^6 exhausted memory, and a deeply nested model.json
exited 1 (RecursionError). Each case edits one field of a copy of the shipped demo bundle.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import InputError
from core.models.bundle import BundleError, load_bundle, read_meta

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "sample_data" / "models" / "miscarriage" / "bundle"


def _bundle(tmp_path: Path, edit=None, raw: str | None = None) -> Path:
    target = tmp_path / "bundle"
    shutil.copytree(DEMO, target)
    meta_path = target / "model.json"
    if raw is not None:
        meta_path.write_text(raw)
    else:
        meta = json.loads(meta_path.read_text())
        edit(meta)
        meta_path.write_text(json.dumps(meta))
    return target


def _set(key, value):
    def edit(meta):
        meta[key] = value
    return edit


CASES = [
    ("input_size", _set("input_size", 60000)),
    ("input_size", _set("input_size", [96, 0])),
    ("ensemble_size", _set("ensemble_size", 10 ** 6)),
    ("ensemble_size", _set("ensemble_size", True)),
    ("num_classes", _set("num_classes", "2")),
    ("in_channels", _set("in_channels", 0)),
    ("threshold", _set("threshold", 2.5)),
    ("class_names", _set("class_names", ["x"] * 5000)),
    ("arch_kwargs.width", _set("arch_kwargs", {"width": 10 ** 9})),
    ("normalization.std", _set("normalization", {"mean": [0.0], "std": [0.0]})),
]


@pytest.mark.parametrize("field,edit", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_out_of_range_field_is_refused_by_name(tmp_path, field, edit):
    bundle = _bundle(tmp_path, edit)
    with pytest.raises(BundleError) as info:
        read_meta(bundle)
    assert f"'{field}'" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(InputError):
        load_bundle(bundle)  # the loader goes through the same checks


@pytest.mark.parametrize("raw", ['{"a": ' * 100_000 + "1" + "}" * 100_000,    # past the parser's stack
                                 '{"architecture": "smallcnn", "num_classes": 2, "in_channels": 1, "input_size": 96,'
                                 ' "arch_kwargs": {"x": ' + "[" * 40 + "]" * 40 + "}}"])  # parses, too deep
def test_deep_nesting_is_refused(tmp_path, raw):
    with pytest.raises(BundleError, match="nested deeper than 32 levels"):
        read_meta(_bundle(tmp_path, raw=raw))


def test_the_shipped_bundles_pass_the_checks():
    for meta_path in sorted((ROOT / "sample_data" / "models").glob("*/bundle/model.json")):
        read_meta(meta_path.parent)


@pytest.mark.parametrize("case", ["input_size", "ensemble_size", "nesting"])
def test_cli_exits_2_naming_the_field(tmp_path, case):
    if case == "nesting":
        bundle = _bundle(tmp_path, raw="[" * 200_000 + "]" * 200_000)
    else:
        bundle = _bundle(tmp_path, _set(case, 60000 if case == "input_size" else 10 ** 6))
    image = next((ROOT / "sample_data" / "miscarriage" / "images").glob("*.png"))
    proc = subprocess.run([sys.executable, "-m", "core", "predict", "--model", str(bundle), "--image", str(image),
                           "--json"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 2, proc.stderr[-500:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert (case in lines[0]) if case != "nesting" else "nested deeper" in lines[0]
