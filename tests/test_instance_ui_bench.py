"""bench's "instance" rows and the first-trimester demo branch (metrics kept, oversized weights left out)."""

import json

import pytest
import torch

from core import demo, demo_build
from core.bench import _instance_rows


def test_instance_rows_cover_both_backbones_on_every_device_with_consistent_figures():
    torch.set_num_threads(1)
    rows = _instance_rows(size=64, n_frames=1)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    assert [(r["name"], r["device"]) for r in rows] == [(a, d) for a in ("maskrcnn_lite", "maskrcnn_mobilenet", "maskrcnn")
                                                        for d in devices]
    for row in rows:
        assert set(row) == {"name", "input", "device", "fps", "ms_median", "n_frames"}
        assert row["input"] == "3x64x64" and row["n_frames"] == 1 and row["fps"] > 0
        # one frame: its time is the median, and FPS is its inverse (up to rounding: 3 and 1 decimals)
        tolerance = 0.0006 / row["fps"] + 0.06 / row["ms_median"]
        assert row["fps"] * row["ms_median"] / 1000 == pytest.approx(1.0, abs=tolerance)


def _fake_run(tmp_path, mb: float) -> dict:
    bundle = tmp_path / "run" / "bundle"
    bundle.mkdir(parents=True)
    (bundle / "model.json").write_text(json.dumps({"kind": "instance", "task": "first_trimester"}))
    (bundle / "model.safetensors").write_bytes(b"\0" * int(mb * 1e6))
    table = [{"structure": "cranium", "TP": 1.0, "FP": 0.0, "FN": 0.0, "TN": 1.0, "accuracy": 1.0, "recall": 1.0,
              "precision": 1.0, "f1": 1.0, "mask_ap50": 1.0, "box_ap50": 1.0}]
    metrics = {"mask_map50": 0.7, "box_map50": 0.8, "view_accuracy": 1.0, "fps": 3.0, "per_structure": table,
               "runs": [{"run": "run0", "history": [1, 2], "mask_map50": 0.7}]}
    return {"run_dir": str(tmp_path / "run"), "bundle": str(bundle), "metrics": metrics}


@pytest.mark.parametrize("mb, kept", [(0.5, True), (1.5, False)])
def test_instance_demo_keeps_metrics_and_the_bundle_only_within_budget(tmp_path, monkeypatch, mb, kept):
    monkeypatch.setattr(demo_build, "DEMO_BUNDLE_LIMIT_MB", 1.0)
    target = tmp_path / "models" / "first_trimester"
    target.mkdir(parents=True)
    out = demo_build._keep_instance_run(_fake_run(tmp_path, mb), target)
    saved = json.loads((target / "metrics.json").read_text())
    assert saved["per_structure"][0]["structure"] == "cranium" and "history" not in saved["runs"][0]
    assert (target / "bundle" / "model.json").is_file() is kept
    assert (out["bundle"] is not None) is kept and out["bundle_mb"] == pytest.approx(mb, abs=0.1)
    if not kept:
        assert "exceeds" in out["skipped"]


def test_demo_spec_for_first_trimester_uses_the_tasks_own_recipe():
    from core.tasks import get_task

    spec = next(s for s in demo.DEMO_SPECS if s.study == "first_trimester")
    assert spec.arch == "maskrcnn_lite" and spec.input_size == 256
    assert demo.demo_task("first_trimester").recipe == get_task("first_trimester").recipe
    assert demo.demo_task("cns").recipe.lr == demo.DEMO_RECIPE["lr"]
