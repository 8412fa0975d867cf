"""Instance models: registry entries, tiny forward passes, bundle round trip, predictor, cine and FPS."""

import numpy as np
import pytest
import torch

from core.errors import InputError
from core.evaluation.instance_speed import bench_instance_models
from core.models.instance import (InstancePredictor, Instances, load_instance_predictor, maskrcnn_mobilenet,
                                  predict_view, to_model_input)
from core.models.registry import build_model, list_models, model_kind

TINY = {"min_size": 64, "max_size": 96}


def _target(size=64):
    masks = torch.zeros(1, size, size, dtype=torch.uint8)
    masks[0, 10:30, 20:50] = 1
    return {"boxes": torch.tensor([[20.0, 10.0, 50.0, 30.0]]), "labels": torch.tensor([2]), "masks": masks}


def test_every_arch_is_registered_as_an_instance_model():
    assert {"maskrcnn", "maskrcnn_mobilenet", "maskrcnn_lite"} <= set(list_models("instance"))
    assert model_kind("maskrcnn_lite") == "instance"


def test_lite_model_is_small_enough_for_a_demo_bundle():
    # the demo bundle must fit sample_data's budget: fp32 weights of at most 3 M parameters (12 MB)
    model = build_model("maskrcnn_lite", num_classes=17, in_channels=3)
    assert sum(p.numel() for p in model.parameters()) < 3_000_000
    assert model.backbone.out_channels == 96


@pytest.mark.parametrize("arch", ["maskrcnn_lite", "maskrcnn_mobilenet", "maskrcnn"])
@pytest.mark.parametrize("in_channels", [1, 3])
def test_tiny_train_step_and_inference(arch, in_channels):
    torch.manual_seed(0)
    model = build_model(arch, num_classes=3, in_channels=in_channels, **TINY)
    # num_classes counts structures; the background class is added by the builder
    assert model.roi_heads.box_predictor.cls_score.out_features == 4
    model.train()
    losses = model([torch.rand(in_channels, 64, 64)], [_target()])
    assert {"loss_classifier", "loss_mask", "loss_objectness"} <= set(losses)
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    model.eval()
    with torch.no_grad():
        out = model([torch.rand(in_channels, 48, 80)])[0]
    assert out["masks"].shape[-2:] == (48, 80)
    assert out["boxes"].shape[1] == 4


def test_bad_options_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="in_channels"):
        maskrcnn_mobilenet(num_classes=2, in_channels=2)
    with pytest.raises(InputError, match="num_classes"):
        maskrcnn_mobilenet(num_classes=0)
    with pytest.raises(InputError, match="safetensors"):
        maskrcnn_mobilenet(num_classes=2, weights="DEFAULT")


def _predictor(tmp_path):
    from core.models.bundle import save_bundle

    torch.manual_seed(0)
    model = build_model("maskrcnn_mobilenet", num_classes=3, in_channels=3, **TINY)
    meta = {"kind": "instance", "structures": ["a", "b", "c"], "class_names": ["a", "b", "c"],
            "views": {"v1": ["a", "b"], "v2": ["c"]}, "input_size": 64, "normalization": "imagenet",
            "score_threshold": 0.0}
    save_bundle(tmp_path / "bundle", model, meta)
    return load_instance_predictor(tmp_path / "bundle"), model


def test_bundle_round_trip_and_prediction_at_original_size(tmp_path, rng):
    predictor, model = _predictor(tmp_path)
    assert predictor.class_names == ("a", "b", "c")
    image = rng.integers(0, 256, (50, 70), dtype=np.uint8)
    [inst] = predictor.predict_instances([image])
    assert inst.masks.shape[1:] == (50, 70) and inst.masks.dtype == bool
    assert len(inst.names) == len(inst) == inst.boxes.shape[0]
    assert set(inst.names) <= {"a", "b", "c"}
    # same weights as the saved model: identical raw detections
    with torch.no_grad():
        raw = model.eval()([to_model_input(image)])[0]
    assert np.allclose(np.sort(raw["scores"].numpy())[::-1][:len(inst)], np.sort(inst.scores)[::-1], atol=1e-5)


def test_non_instance_bundle_is_refused(tmp_path):
    from core.models.bundle import save_bundle

    model = build_model("smallcnn", num_classes=2, in_channels=1)
    save_bundle(tmp_path / "cls", model, {"class_names": ["x", "y"], "input_size": 32})
    with pytest.raises(InputError, match="instance"):
        load_instance_predictor(tmp_path / "cls")


def test_to_model_input_shapes():
    assert to_model_input(np.zeros((5, 6), np.uint8)).shape == (3, 5, 6)
    assert to_model_input(np.ones((5, 6, 3), np.float32), in_channels=1).shape == (1, 5, 6)
    with pytest.raises(InputError, match="shape"):
        to_model_input(np.zeros((2, 5, 6, 3)))


def test_predict_view_sums_confidences():
    inst = Instances(boxes=np.zeros((3, 4)), scores=np.array([0.9, 0.5, 0.45]), labels=np.array([3, 1, 2]),
                     masks=np.zeros((3, 4, 4), bool), names=["c", "a", "b"])
    views = {"v1": ("a", "b"), "v2": ("c",)}
    assert predict_view(inst, views) == "v1"          # 0.5 + 0.45 > 0.9
    assert inst.top_per_structure() == {"c": 0, "a": 1, "b": 2}
    empty = Instances(np.zeros((0, 4)), np.zeros(0), np.zeros(0, int), np.zeros((0, 4, 4), bool), [])
    assert predict_view(empty, views) is None


def test_a_loaded_clip_is_analysed_frame_by_frame_through_analyze(tmp_path, rng):
    """core.pipeline.analyze dispatches on the bundle's kind: an instance bundle gives detections, the view
    checklist and the model time for every frame of a clip (no probability)."""
    from core.io import LoadedImage
    from core.pipeline import analyze

    predictor, _ = _predictor(tmp_path)
    clip = LoadedImage(frames=rng.integers(0, 256, (3, 48, 64, 3), dtype=np.uint8), kind="video", name="clip.mp4")
    analysis = analyze([clip], model=predictor, frame_step=1)
    assert [r.frame for r in analysis.images] == [0, 1, 2]
    assert analysis.probability is None and analysis.class_names == ["a", "b", "c"]
    for r in analysis.images:
        expected = predictor.predict_instances([r.image])[0]
        assert r.instances.names == expected.names and np.allclose(r.instances.scores, expected.scores)
        assert r.checklist["view"] == predictor.predict_view(r.instances) and r.ms > 0
    out = analysis.to_dict()["images"][0]
    assert len(out["detections"]) == len(analysis.images[0].instances)
    assert {d["structure"] for d in out["detections"]} <= {"a", "b", "c"} and out["view"] in (None, "v1", "v2")
    assert analyze([clip], model=predictor, frame_step=1, max_frames=2).images[-1].frame == 1


def test_bench_reports_fps_per_arch():
    rows = bench_instance_models(archs=("maskrcnn_mobilenet",), size=64, n_frames=1, devices=["cpu"])
    assert rows[0]["name"] == "maskrcnn_mobilenet" and rows[0]["device"] == "cpu"
    assert rows[0]["fps"] > 0 and rows[0]["n_frames"] == 1


def test_completeness_checklist():
    from core.models.instance import completeness

    inst = Instances(boxes=np.zeros((2, 4)), scores=np.array([0.9, 0.6]), labels=np.array([1, 1]),
                     masks=np.zeros((2, 4, 4), bool), names=["a", "a"])
    views = {"v1": ("a", "b"), "v2": ("c",)}
    check = completeness(inst, views)
    assert check == {"view": "v1", "expected": ["a", "b"], "found": {"a": 0.9}, "missing": ["b"],
                     "complete": False}
    assert completeness(inst, views, view="v2")["missing"] == ["c"]


def test_cine_file_through_the_io_gate_and_analyze(tmp_path, rng):
    from core.data.synthetic.writer import write_clip
    from core.pipeline import analyze

    _predictor(tmp_path)
    frames = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(4)]
    write_clip(tmp_path / "clip.mp4", frames)
    analysis = analyze([str(tmp_path / "clip.mp4")], model=str(tmp_path / "bundle"), frame_step=2)
    assert [r.frame for r in analysis.images] == [0, 2] and all(r.kind == "video" for r in analysis.images)
    assert all(r.instances is not None and r.checklist is not None for r in analysis.images)


def test_shipped_demo_bundle_finds_the_head_structures_of_a_showcase_image():
    """The demo first-trimester bundle in sample_data (maskrcnn_lite) loads and reads a showcase head view."""
    from core.demo import demo_bundle
    from core.io import load_image
    from core.paths import SAMPLE_DATA

    bundle = demo_bundle("first_trimester")
    assert bundle is not None and sum(f.stat().st_size for f in bundle.iterdir()) < 12e6
    torch.set_num_threads(1)
    predictor = load_instance_predictor(bundle)
    assert predictor.meta.architecture == "maskrcnn_lite"
    image = load_image(SAMPLE_DATA / "first_trimester" / "images" / "FT0002_head.png").image
    found = predictor.predict_instances([image])[0]
    assert predictor.predict_view(found) == "head"
    assert "cranium" in found.top_per_structure()
    assert found.masks.shape[1:] == image.shape[:2]
