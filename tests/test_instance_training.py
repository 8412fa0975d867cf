"""Instance training: manifest parsing, joint image/mask/box augmentation, one tiny end-to-end run."""

from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch

from core.errors import InputError
from core.tasks import get_task
from core.training.instance_data import (InstanceDataset, InstanceSample, parse_instance_classes,
                                         read_instances)

STRUCTURES = ("disk", "bar")


def test_parse_instance_classes():
    assert parse_instance_classes("1:bar; 2:disk;", structures=STRUCTURES, where="row 2") == {1: 2, 2: 1}
    assert parse_instance_classes("", structures=STRUCTURES, where="row 2") == {}
    with pytest.raises(InputError, match="row 3, column instance_classes.*unknown structure"):
        parse_instance_classes("1:heart", structures=STRUCTURES, where="row 3")
    with pytest.raises(InputError, match="not 'k:structure'"):
        parse_instance_classes("disk", structures=STRUCTURES, where="row 3")
    with pytest.raises(InputError, match="repeated"):
        parse_instance_classes("1:disk;1:bar", structures=STRUCTURES, where="row 3")


def test_read_instances_checks_size_and_names(tmp_path):
    labels = np.zeros((20, 30), np.uint8)
    labels[2:5, 3:9] = 1
    labels[10:15, 10:12] = 2
    path = tmp_path / "inst.png"
    cv2.imwrite(str(path), labels)
    ids, masks = read_instances(path, {1: 2, 2: 1}, shape=(20, 30), where="row 2")
    assert ids.tolist() == [2, 1] and masks.shape == (2, 20, 30) and masks[0].sum() == 18
    with pytest.raises(InputError, match="row 2, column instances_path.*30x20"):
        read_instances(path, {1: 2, 2: 1}, shape=(20, 20), where="row 2")
    with pytest.raises(InputError, match="instance 2 .*has no structure"):
        read_instances(path, {1: 2}, shape=(20, 30), where="row 2")


def test_augmentation_moves_image_masks_and_boxes_together():
    image = np.zeros((64, 64, 3), np.uint8)
    mask = np.zeros((1, 64, 64), bool)
    mask[0, 10:26, 30:50] = True
    image[mask[0]] = 250
    sample = InstanceSample("p", image, np.array([1]), mask)
    ds = InstanceDataset([sample], train=True, seed=3)
    for epoch in range(4):
        ds.set_epoch(epoch)
        img, target = ds[0]
        m = target["masks"][0].bool()
        ys, xs = torch.nonzero(m, as_tuple=True)
        assert target["boxes"][0].tolist() == [xs.min().item(), ys.min().item(), xs.max().item() + 1,
                                               ys.max().item() + 1]
        inside, outside = img[:, m].mean(), img[:, ~m].mean()
        assert inside > 0.6 and outside < 0.2          # the bright square moved with its mask
    ds.set_epoch(1)
    a, b = ds[0][0], ds[0][0]
    assert torch.equal(a, b)                           # same seed, epoch, index -> same augmentation


def _write_dataset(root, n_patients=6, size=64, seed=0):
    rng = np.random.default_rng(seed)
    lines = ["image_path,patient_id,instances_path,instance_classes"]
    for p in range(n_patients):
        img = rng.normal(60, 10, (size, size)).clip(0, 255)
        inst = np.zeros((size, size), np.uint8)
        cx, cy = (int(v) for v in rng.integers(16, size - 16, 2))
        cv2.circle(inst, (cx, cy), 9, 1, -1)
        bar = np.zeros_like(inst)
        bar[4:10, 8:40] = 1
        bar[inst > 0] = 0
        inst[bar > 0] = 2
        img[inst == 1] = 220
        img[inst == 2] = 140
        cv2.imwrite(str(root / f"img{p}.png"), img.astype(np.uint8))
        cv2.imwrite(str(root / f"inst{p}.png"), inst)
        lines.append(f"img{p}.png,P{p},inst{p}.png,1:disk;2:bar")
    (root / "manifest.csv").write_text("\n".join(lines) + "\n")
    return root / "manifest.csv"


def test_instance_training_goes_through_the_common_run_and_resumes(tmp_path):
    """One run of the common trainer (core.training.train): the common run folder, the paper's metrics, a
    loadable instance bundle; --resume of a finished run skips its fold; a second run in the folder and a
    non-instance architecture are refused with the common messages."""
    from core.models.instance import load_instance_predictor
    from core.training import train
    from core.training.checkpoint import read_json

    torch.set_num_threads(1)
    csv = _write_dataset(tmp_path)
    task = get_task("instance")
    task = replace(task, recipe=replace(task.recipe, batch_size=2, input_size=64))
    events = []
    res = train(task, csv, arch="maskrcnn_mobilenet", cv="holdout", epochs=1, out=tmp_path / "run",
                progress=events.append, seed=0, device="cpu")
    metrics = res["metrics"]
    assert {"mask_map50", "mask_map50_sd", "box_map50", "view_accuracy", "per_structure", "runs"} <= set(metrics)
    assert metrics["n_runs"] == 1 and metrics["n_folds"] == 1
    assert [r["structure"] for r in metrics["per_structure"]] == ["bar", "disk"]   # sorted from the manifest
    m = metrics["mask_map50"]
    assert m is None or np.isnan(m) or 0.0 <= m <= 1.0
    kinds = [e["event"] for e in events if e["event"] != "load"]
    assert kinds[0] == "fold_start" and "epoch_end" in kinds and kinds[-1] == "fold_end"
    assert any(e["event"] == "load" and e["done"] == e["total"] == 6 for e in events)
    run = tmp_path / "run"                        # the layout every kind writes
    assert {"run.json", "splits.json", "metrics.json", "per_structure.csv", "bundle", "folds"} <= \
        {p.name for p in run.iterdir()}
    assert (run / "folds" / "0" / "result.json").is_file() and not (run / "folds" / "0" / "checkpoint.pt").exists()
    assert read_json(run / "run.json")["settings"]["kind"] == "instance"
    predictor = load_instance_predictor(res["bundle"])
    assert predictor.class_names == ("bar", "disk") and predictor.score_threshold == 0.3
    stored = read_json(run / "bundle" / "model.json")
    assert stored["kind"] == "instance" and stored["structures"] == ["bar", "disk"]
    assert stored["metrics"]["mask_map50"] == metrics["mask_map50"] or np.isnan(metrics["mask_map50"])
    [inst] = predictor.predict_instances([np.zeros((40, 50), np.uint8)])
    assert inst.masks.shape[1:] == (40, 50)

    events.clear()
    again = train(task, csv, arch="maskrcnn_mobilenet", cv="holdout", epochs=1, out=run, resume=True,
                  progress=events.append, seed=0, device="cpu")
    assert [e["event"] for e in events if e["event"] != "load"] == ["fold_skipped"]
    assert again["metrics"]["runs"][0]["run"] == metrics["runs"][0]["run"]
    with pytest.raises(InputError, match="already holds a run"):
        train(task, csv, arch="maskrcnn_mobilenet", cv="holdout", epochs=1, out=run)
    with pytest.raises(InputError, match="smallcnn is a classification network"):
        train(task, csv, arch="smallcnn", epochs=1, out=tmp_path / "other")


def test_cli_input_and_batch_size_reach_instance_training(tmp_path):
    """--input-size and --batch-size are honoured for instance tasks (they were once dropped): the samples
    are decoded at that size, the detector resizes to it, and the run and bundle record it."""
    import json
    import os
    import subprocess
    import sys

    from core.training.checkpoint import read_json

    csv = _write_dataset(tmp_path, size=96)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "core", "train", "--task", "instance", "--manifest", str(csv),
                           "--arch", "maskrcnn_mobilenet", "--cv", "holdout", "--epochs", "1", "--input-size", "48",
                           "--batch-size", "3", "--out", str(tmp_path / "run"), "--quiet", "--json"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert "mask_map50" in out["metrics"]
    settings = read_json(tmp_path / "run" / "run.json")["settings"]
    assert settings["input_size"] == 48 and settings["batch_size"] == 3
    meta = read_json(tmp_path / "run" / "bundle" / "model.json")
    assert meta["input_size"] == 48 and meta["recipe"]["batch_size"] == 3
    assert meta["arch_kwargs"]["min_size"] == 48 and meta["min_size"] == 48 and meta["max_size"] == 64


def test_an_instance_fold_resumes_from_its_epoch_checkpoint(tmp_path):
    """The common trainer with the instance adapter: a fold killed after epoch 1 continues at epoch 2."""
    from core.models.registry import build_model
    from core.training.adapters import InstanceAdapter
    from core.training.instance_data import FoldInstances, collate
    from core.training.trainer import FitConfig, Trainer

    torch.set_num_threads(1)
    mask = np.zeros((1, 48, 48), bool)
    mask[0, 8:24, 10:30] = True
    image = np.where(mask[0, ..., None], 220, 40).astype(np.uint8).repeat(3, axis=2)
    samples = [InstanceSample("p", image, np.array([1]), mask)] * 3
    adapter = InstanceAdapter(samples, ("disk",))

    def loader(idx, train):
        ds = FoldInstances(samples, idx, train=train, seed=0)
        return torch.utils.data.DataLoader(ds, batch_size=2, shuffle=False, collate_fn=collate)

    def trainer(epochs, events):
        model = build_model("maskrcnn_mobilenet", num_classes=1, in_channels=3, min_size=48, max_size=64)
        config = FitConfig(epochs=epochs, optimizer="sgd", lr=5e-3, monitor="val_mask_map50", clip_grad_norm=10.0)
        return Trainer(model, adapter=adapter, config=config, device=torch.device("cpu"), emit=events.append)

    ckpt = tmp_path / "checkpoint.pt"
    first = trainer(1, []).fit(loader([0, 1], True), loader([2], False), checkpoint_path=ckpt)
    assert ckpt.is_file() and len(first["history"]) == 1
    assert 0.0 <= first["history"][0]["val_mask_map50"] <= 1.0 and first["history"][0]["val_loss"] is None
    events = []
    second = trainer(2, events).fit(loader([0, 1], True), loader([2], False), checkpoint_path=ckpt)
    assert [e["epoch"] for e in events if e["event"] == "epoch_end"] == [1]     # epoch 0 came from the checkpoint
    assert len(second["history"]) == 2 and second["epochs_run"] == 2
