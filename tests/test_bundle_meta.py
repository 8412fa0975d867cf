"""BundleMeta: model.json as a typed, validated, frozen value (issue 20 item 5).

What must hold: every bundle ever written (the shipped demo bundles included) reads and writes back the very
same JSON; a bad value is refused with one line naming the bundle and the key, whichever way the value is made
(from_json, the constructor, dataclasses.replace); the training builder gives a valid meta for every kind.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
from pathlib import Path

import pytest
import torch
from torch import nn

from core.models import build_model, load_bundle, load_predictor, read_meta, save_bundle
from core.models.bundle import complete_meta
from core.models.meta import META_RANGES, BundleError, BundleMeta, Normalization
from core.models.meta_builder import training_meta
from core.tasks import get_task

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted((ROOT / "sample_data" / "models").glob("*/bundle/model.json"))
MINIMAL = {"architecture": "smallcnn", "num_classes": 2, "in_channels": 1, "input_size": 32}


def test_the_shipped_bundles_are_found():
    assert {p.parent.parent.name for p in SHIPPED} == {"cns", "first_trimester", "miscarriage", "preterm"}


@pytest.mark.parametrize("path", SHIPPED, ids=[p.parent.parent.name for p in SHIPPED])
def test_shipped_model_json_reads_and_writes_back_unchanged(path):
    raw = json.loads(path.read_text())
    meta = BundleMeta.from_json(path.read_text(), where=str(path))
    assert meta.to_json() == raw                              # same keys, same values, nothing added or lost
    assert BundleMeta.from_json(meta.to_json()) == meta
    assert read_meta(path.parent) == meta
    assert meta.architecture == raw["architecture"] and meta.kind == raw["kind"]
    assert meta.class_names == tuple(raw["class_names"]) and meta.num_classes == raw["num_classes"]
    assert meta.normalization == Normalization(tuple(raw["normalization"]["mean"]), tuple(raw["normalization"]["std"]))
    assert meta.ood is not None and meta.ood["n_train"] == raw["ood"]["n_train"]


@pytest.mark.parametrize("study", ["miscarriage", "preterm", "first_trimester"])
def test_shipped_bundles_still_load_and_predict(study):
    predictor = load_predictor(ROOT / "sample_data" / "models" / study / "bundle", device="cpu")
    image = next((ROOT / "sample_data" / study / "images").glob("*.png"))
    from core.io import load_image

    picture = load_image(image).image
    if study == "first_trimester":
        assert predictor.structures == tuple(predictor.meta.structures) and "head" in predictor.views
        assert predictor.score_threshold == 0.3
        assert len(predictor.predict_instances([picture])) == 1
    else:
        p = predictor.predict_proba([picture])
        assert p.shape == (1, 2) and abs(float(p.sum()) - 1) < 1e-5
        assert predictor.class_names == list(predictor.meta.class_names)
        assert predictor.positive_index == predictor.class_names.index(predictor.meta.positive_label)


def test_an_old_minimal_model_json_gets_defaults_and_keeps_its_keys():
    old = {**MINIMAL, "task": "miscarriage", "class_names": ["live_birth", "miscarriage"], "note": {"by": "x"}}
    meta = BundleMeta.from_json(json.dumps(old))
    assert meta.kind == "classification" and meta.threshold == 0.5 and meta.resize_mode == "stretch"
    assert meta.roi == "image" and meta.ensemble_size == 1 and meta.arch_kwargs == {}
    assert meta.normalization == Normalization((0.0,), (1.0,))
    assert meta.extra == {"note": {"by": "x"}}               # unknown keys travel unchanged
    out = meta.to_json()
    assert set(out) == set(old) | {"normalization"} and out["note"] == {"by": "x"}
    assert out["class_names"] == ["live_birth", "miscarriage"] and out["input_size"] == 32


def test_null_where_a_default_exists_reads_as_the_default():
    meta = BundleMeta.from_json({**MINIMAL, "threshold": None, "class_names": None, "metrics": None})
    assert meta.threshold == 0.5 and meta.class_names == () and meta.metrics == {}


def test_frozen_copies_and_pickles():
    meta = BundleMeta.from_json({**MINIMAL, "metrics": {"auc": 0.7, "ci": [0.6, 0.8]}, "input_size": [64, 48]})
    with pytest.raises(dataclasses.FrozenInstanceError):
        meta.threshold = 0.2
    with pytest.raises(TypeError):
        meta.metrics["auc"] = 1.0                             # read-only view
    mine = dict(meta.metrics)
    mine["auc"] = 1.0
    assert meta.metrics["auc"] == 0.7                         # a copy does not reach back
    assert meta.input_size == (64, 48) and meta.input_hw == (64, 48) and meta.to_json()["input_size"] == [64, 48]
    for other in (pickle.loads(pickle.dumps(meta)), copy.deepcopy(meta)):
        assert other == meta and other.to_json() == meta.to_json()
    assert hash(meta) == hash(BundleMeta.from_json(meta.to_json()))
    named = dataclasses.replace(meta, name="demo")
    assert named.name == "demo" and named.to_json()["name"] == "demo" and meta.name is None


BAD = [
    ("input_size", 2049, "out of range (1..2048)"),
    ("input_size", [96], "one number or [height, width]"),
    ("num_classes", 1001, "out of range (1..1000)"),
    ("num_classes", "2", "whole number"),
    ("in_channels", 0, "out of range (1..16)"),
    ("ensemble_size", True, "whole number"),
    ("threshold", 1.5, "out of range (0..1)"),
    ("threshold", float("nan"), "out of range (0..1)"),
    ("mask_threshold", -0.1, "out of range (0..1)"),
    ("score_threshold", "high", "must be a number"),
    ("min_size", 10 ** 6, "out of range (1..4096)"),
    ("kind", "detector", "must be one of"),
    ("architecture", "", "model name"),
    ("class_names", [1, 2], "short names"),
    ("structures", "cranium", "short names"),
    ("views", {"head": [1]}, "short names"),
    ("pretrained", "yes", "true or false"),
    ("metrics", [0.5], "must be an object"),
    ("ensemble_members", "../folds/0", "short names"),
    ("aliases", {"a": 1}, "tensor names"),
    ("arch_kwargs", {"width": 10 ** 9}, "out of range"),
    ("normalization", {"mean": [0.0], "std": [0.0]}, "must not contain 0"),
    ("normalization", {"mean": [0.0, 0.0], "std": [1.0, 1.0]}, "2 values for 1 input channels"),
    ("normalization", "unit", "mean and std"),
    ("task", 5, "must be a text"),
    ("seed", 1.5, "whole number"),
]


@pytest.mark.parametrize("key,value,message", BAD, ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(BAD)])
def test_a_bad_value_is_one_line_naming_the_bundle_and_the_key(key, value, message):
    with pytest.raises(BundleError) as info:
        BundleMeta.from_json({**MINIMAL, key: value}, where="runs/x/bundle/model.json")
    text = str(info.value)
    assert text.startswith("runs/x/bundle/model.json: ") and "\n" not in text
    assert repr(key)[1:-1] in text and message in text


def test_replace_validates_too():
    meta = BundleMeta.from_json(MINIMAL, where="b/model.json")
    with pytest.raises(BundleError, match=r"^b/model.json: field 'threshold' = 3 is out of range"):
        dataclasses.replace(meta, threshold=3)
    with pytest.raises(BundleError, match="missing key"):
        BundleMeta.from_json({"architecture": "smallcnn"})
    with pytest.raises(BundleError, match="not valid JSON"):
        BundleMeta.from_json("{not json")
    with pytest.raises(BundleError, match="expected a JSON object"):
        BundleMeta.from_json("[1, 2]")


@pytest.mark.parametrize("key", ["num_classes", "in_channels", "input_size", "ensemble_size"])
def test_range_edges_are_inclusive(key):
    lo, hi = META_RANGES[key]
    base = {**MINIMAL, "normalization": {"mean": [0.0], "std": [1.0]}}
    for ok in (lo, hi):
        assert getattr(BundleMeta.from_json({**base, key: ok}), key) == ok
    for bad in (lo - 1, hi + 1):
        with pytest.raises(BundleError, match=f"'{key}' = {bad} is out of range"):
            BundleMeta.from_json({**base, key: bad})


def _stand_in(architecture, num_classes, in_channels):
    net = nn.Identity()                        # complete_meta reads only what build_model records
    net.sonodash_build = {"architecture": architecture, "kind": None, "num_classes": num_classes,
                          "in_channels": in_channels, "arch_kwargs": {}, "pretrained": False, "weights": None}
    return net


def test_the_builder_gives_a_valid_meta_for_every_kind():
    miscarriage, preterm = get_task("miscarriage"), get_task("preterm")
    cls = complete_meta(_stand_in("smallcnn", 2, 1), training_meta(
        miscarriage, kind="classification", recipe=miscarriage.recipe, class_names=miscarriage.labels,
        cv="kfold:5", seed=3, data_fingerprint="abc", monitor="val_auc"))
    assert cls.kind == "classification" and cls.task == "miscarriage" and cls.roi == miscarriage.recipe.roi
    assert cls.class_names == miscarriage.labels and cls.positive_label == "miscarriage" and cls.seed == 3
    assert cls.recipe["monitor"] == "val_auc" and cls.recipe["lr"] == miscarriage.recipe.lr
    seg_task = get_task("segmentation")
    seg = complete_meta(_stand_in("unet", 1, 1), training_meta(seg_task, kind="segmentation", recipe=seg_task.recipe))
    assert seg.class_names == () and "class_names" not in seg.to_json() and seg.kind == "segmentation"
    assert seg.postprocess == seg_task.protocol.postprocess
    multi = complete_meta(_stand_in("unet_cls", 2, 1), training_meta(
        preterm, kind="multitask", recipe=preterm.recipe, class_names=preterm.labels))
    assert multi.kind == "multitask" and multi.class_names == preterm.labels
    ft = get_task("first_trimester")
    inst = complete_meta(_stand_in("maskrcnn_lite", len(ft.structures), 3), training_meta(
        ft, kind="instance", recipe=ft.recipe, score_threshold=0.3, arch_kwargs={"min_size": 256, "max_size": 342}))
    assert inst.kind == "instance" and inst.structures == ft.structures == inst.class_names
    assert inst.views["head"] == ft.views["head"] and (inst.min_size, inst.max_size) == (256, 342)
    assert inst.score_threshold == 0.3 and len(inst.normalization.mean) == 3
    for meta in (cls, seg, multi, inst):
        assert BundleMeta.from_json(json.loads(json.dumps(meta.to_json()))) == meta


def test_save_and_load_give_the_same_meta_and_the_predictor_reads_it(tmp_path):
    task = get_task("miscarriage")
    model = build_model("smallcnn", num_classes=2, in_channels=1, width=4).eval()
    fields = {**training_meta(task, kind="classification", recipe=dataclasses.replace(task.recipe, input_size=32),
                              class_names=task.labels, metrics={"auc": 0.61}), "threshold": 0.3, "custom": [1, 2]}
    save_bundle(tmp_path / "b", model, fields)
    on_disk = json.loads((tmp_path / "b" / "model.json").read_text())
    _, meta = load_bundle(tmp_path / "b")
    assert meta.to_json() == on_disk and on_disk["custom"] == [1, 2] and on_disk["threshold"] == 0.3
    save_bundle(tmp_path / "c", model, meta)                  # a loaded meta saves back to the same json
    again = json.loads((tmp_path / "c" / "model.json").read_text())
    assert again == on_disk
    predictor = load_predictor(tmp_path / "b", device="cpu")
    assert predictor.threshold == 0.3 and predictor.roi == task.recipe.roi and predictor.kind == "classification"
    assert predictor.meta.metrics == {"auc": 0.61}
