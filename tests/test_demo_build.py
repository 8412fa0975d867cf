"""Demo models: class-balanced epochs that keep the whole training set, the multitask kept epoch chosen on
validation Dice, the cards' training facts, and the shipped demo figures against the issue-19 targets."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from core import demo, demo_build
from core.demo_quality import DEMO_TARGETS, MIN_PATIENTS, rate
from core.training.folds import BalancedEpochs, balanced_copies


def test_balanced_copies_even_the_classes_and_keep_every_sample():
    targets = np.array([0] * 9 + [1] * 2 + [2] * 3)
    idx = np.arange(100, 114)
    copies = balanced_copies(targets, idx)
    drawn = np.concatenate([idx, *copies])
    # every sample of the training set is drawn at least once per epoch
    assert set(drawn.tolist()) == set(idx.tolist())
    counts = {c: int(np.isin(drawn, idx[targets == c]).sum()) for c in (0, 1, 2)}
    # 9 common; 2 rare -> round(9/2) = 4 (rounded half to even) copies each = 8; 3 -> 3 copies each = 9
    assert counts == {0: 9, 1: 8, 2: 9}
    assert balanced_copies(np.array([0, 0, 1, 1]), np.arange(4)) == []


class _Pictures:
    def __init__(self, n):
        self.images = np.arange(n, dtype=np.uint8).reshape(n, 1, 1, 1).repeat(8, 2).repeat(8, 3)
        self.masks = None


def test_balanced_epochs_give_each_copy_its_own_augmentation():
    from core.data.augment import build_transform
    from core.data.datasets import SampleDataset

    pics = _Pictures(6)
    targets = np.array([0, 0, 0, 0, 0, 1])
    transform = build_transform("crop_jitter", train=True, input_size=8, normalization="unit", in_channels=1)
    idx = np.arange(6)
    base = SampleDataset(pics, idx, transform=transform, targets=targets, seed=3)
    base.generator = torch.Generator().manual_seed(0)
    ds = BalancedEpochs(base, [SampleDataset(pics, part, transform=transform, targets=targets, seed=3 * 31 + k)
                               for k, part in enumerate(balanced_copies(targets, idx), start=1)])
    assert len(ds) == 10 and ds.targets_drawn().tolist().count(1) == 5
    ds.set_epoch(0)
    rare = [ds[i]["image"] for i in range(len(ds)) if ds[i]["index"] == 5]
    assert len(rare) == 5
    # the jitter (noise, contrast) differs between the copies of the one rare image
    assert len({tuple(x.flatten().tolist()) for x in rare}) == 5
    first = [ds[i]["image"] for i in range(len(ds))]
    ds.set_epoch(0)
    assert all(torch.equal(a, ds[i]["image"]) for i, a in enumerate(first))      # reproducible per epoch


@pytest.fixture(scope="module")
def tiny_preterm(tmp_path_factory):
    from core.data.synthetic import make_sample_data

    root = tmp_path_factory.mktemp("pt")
    manifest = make_sample_data(root, study="preterm", n_patients=14, seed=0, progress=False)["preterm"]
    df = pd.read_csv(manifest)      # a fixed split (the manifest's split column): 1 preterm patient in training
    df["split"] = ["train"] * 8 + ["val"] * 3 + ["test"] * 3
    df.loc[df["label"] == "preterm", "split"] = "train"
    df.to_csv(manifest, index=False)
    return manifest


def test_multitask_run_keeps_the_best_validation_dice_epoch(tiny_preterm, tmp_path):
    from core.tasks import get_task
    from core.training import train

    task = get_task("preterm")
    assert task.recipe.early_stopping_metric == "val_dice"
    result = train(task, tiny_preterm, arch="unet_cls", cv="holdout", epochs=3, input_size=16, batch_size=4,
                   out=tmp_path / "run", seed=0, progress=lambda e: None, arch_kwargs={"width": 4})
    fold = json.loads((tmp_path / "run" / "folds" / "0" / "result.json").read_text())
    dices = [h["val_dice"] for h in fold["history"]]
    assert fold["monitor"] == "val_dice"
    assert fold["best_epoch"] == int(np.argmax(dices))
    assert fold["best_val"]["val_dice"] == pytest.approx(max(dices))
    meta = json.loads((tmp_path / "run" / "bundle" / "model.json").read_text())
    assert meta["arch_kwargs"]["width"] == 4 and meta["recipe"]["monitor"] == "val_dice"
    assert result["metrics"]["n_patients"] >= 2


def test_demo_card_says_what_the_model_was_trained_on():
    spec = demo.demo_spec("preterm")
    facts = demo_build.demo_card_facts(spec, {"n_patients": spec.n_patients}, 3.5)
    data = facts["training_data"]
    assert data["synthetic"] is True and data["n_patients"] == spec.n_patients
    assert f"--n-patients {spec.n_patients} --seed 0" in data["source"]
    assert facts["demo"]["build_minutes"] == 3.5 and "out-of-fold" in facts["demo"]["evaluation"]


def test_demo_specs_hold_out_enough_patients():
    for spec in demo.DEMO_SPECS:
        if spec.extra_test_patients:
            assert spec.extra_test_patients >= MIN_PATIENTS
        else:
            assert spec.cv.startswith("kfold") and spec.n_patients >= MIN_PATIENTS, spec


def test_first_patients_manifest_keeps_the_training_patients_only(tmp_path):
    df = pd.DataFrame({"image_path": [f"images/p{i}.png" for i in range(6)],
                       "patient_id": ["FT0003", "FT0001", "FT0002", "FT0001", "FT0004", "FT0003"]})
    df.to_csv(tmp_path / "manifest.csv", index=False)
    out = pd.read_csv(demo_build._first_patients(tmp_path / "manifest.csv", 2))
    assert out["patient_id"].tolist() == ["FT0001", "FT0002", "FT0001"]
    assert out.columns.tolist() == ["image_path", "patient_id"]


def _shipped(study):
    folder = demo.DEMO_MODELS / study
    meta = json.loads((folder / "bundle" / "model.json").read_text())
    return folder, meta


@pytest.mark.parametrize("study", ["miscarriage", "preterm", "cns"])
def test_shipped_demo_meets_its_targets(study):
    folder, meta = _shipped(study)
    cases = demo.evaluation_cases(folder / "evaluation.csv", meta["class_names"])
    assert cases["patient_id"].nunique() >= MIN_PATIENTS
    findings = rate(study, cases=cases, class_names=meta["class_names"], positive_label=meta["positive_label"],
                    metrics={k: v for k, v in meta["metrics"].items() if isinstance(v, (int, float))})
    assert [f.message for f in findings if f.is_problem] == []
    assert {f.metric for f in findings} == {m for m, _ in DEMO_TARGETS[study]}
    assert meta["training_data"]["synthetic"] is True and meta["demo"]["study"] == study
    # the evaluation is the run's own out-of-fold table: one row per image, every patient in one fold
    assert cases.groupby("patient_id")["fold"].nunique().max() == 1


def test_shipped_first_trimester_demo_meets_its_target():
    folder, meta = _shipped("first_trimester")
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["n_test_patients"] >= MIN_PATIENTS
    findings = rate("first_trimester", metrics=metrics)
    assert [(f.metric, f.status) for f in findings] == [("mask_map50", "meets")]
    assert meta["training_data"]["synthetic"] is True


def test_demo_fits_the_budget():
    total = sum(f.stat().st_size for f in demo.SAMPLE_DATA.rglob("*") if f.is_file())
    assert total < 25e6
