"""One preprocessing kernel (core.models.transforms): the training path and the Predictor give the network the
same tensor for the same picture, for every normalisation, resize mode and channel count."""

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from core.data.augment import base_size, build_transform
from core.data.datasets import load_pictures
from core.io import load_image
from core.models import build_model, load_bundle, save_bundle
from core.models.predictor import Predictor
from core.models.transforms import CENTER_CROP_RATIO, center_crop, normalization_stats, resize

torch.set_num_threads(1)

# (bundle resize_mode, the recipe's resize, crop_ratio, augmentation recipe): what a task's Recipe decides.
GEOMETRIES = {
    "stretch": ("stretch", "stretch", 1.0, "basic"),
    "letterbox": ("letterbox", "letterbox", 1.0, "segmentation"),
    "center_crop": ("center_crop", "stretch", CENTER_CROP_RATIO, "crop_flip"),
    "center_crop_1.25": ("center_crop", "stretch", 1.25, "crop_flip"),
    "center_crop_letterbox": ("center_crop", "letterbox", CENTER_CROP_RATIO, "crop_flip"),
}


@pytest.fixture(scope="module")
def picture(tmp_path_factory):
    """A non-square RGB PNG whose channels differ (so the grey conversion and the aspect ratio matter)."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:61, :83]
    rgb = np.stack([(xx * 3) % 256, (yy * 4) % 256, (xx + yy) % 256], axis=-1).astype(np.float64)
    rgb = np.clip(rgb + rng.normal(0, 20, rgb.shape), 0, 255).astype(np.uint8)
    path = tmp_path_factory.mktemp("kernel") / "case.png"
    Image.fromarray(rgb).save(path)
    return path


def _training_input(path, *, input_size, in_channels, normalization, geometry, roi="image"):
    """What the trainer's evaluation sees: load_pictures at the recipe's base size, then the eval transform."""
    _, fit, ratio, recipe = GEOMETRIES[geometry]
    df = pd.DataFrame({"image_path": [str(path)], "patient_id": ["p1"], "label": ["a"]})
    pics = load_pictures(df, root=path.parent, size=base_size(input_size, ratio), in_channels=in_channels,
                         resize_mode=fit, roi=roi)
    transform = build_transform(recipe, train=False, input_size=input_size, normalization=normalization,
                                in_channels=in_channels)
    x, _ = transform(torch.from_numpy(pics.images[0]), None)
    return x[None]


def _predictor(tmp_path, *, input_size, in_channels, normalization, geometry, roi="image"):
    """A bundle recording its preprocessing the way the trainer records it (resize_mode, roi, recipe)."""
    mode, fit, ratio, recipe = GEOMETRIES[geometry]
    model = build_model("smallcnn", num_classes=2, in_channels=in_channels, width=4)
    path = save_bundle(tmp_path / "bundle", model, {
        "task": "kernel_test", "kind": "classification", "class_names": ["a", "b"], "input_size": input_size,
        "normalization": normalization, "resize_mode": mode, "roi": roi,
        "recipe": {"input_size": input_size, "in_channels": in_channels, "normalization": normalization,
                   "crop_ratio": ratio, "resize": fit, "augment": recipe, "roi": roi}})
    return Predictor(*load_bundle(path), device="cpu")


@pytest.mark.parametrize("in_channels", [1, 3])
@pytest.mark.parametrize("geometry", list(GEOMETRIES))
@pytest.mark.parametrize("normalization", ["unit", "imagenet"])
@pytest.mark.parametrize("input_size", [32, 49, 96])   # shrink, odd centre-crop margin (56 -> 49), enlarge
def test_training_and_prediction_give_the_network_the_same_tensor(picture, tmp_path, input_size, normalization,
                                                                   geometry, in_channels):
    trained = _training_input(picture, input_size=input_size, in_channels=in_channels,
                              normalization=normalization, geometry=geometry)
    predictor = _predictor(tmp_path, input_size=input_size, in_channels=in_channels,
                           normalization=normalization, geometry=geometry)
    image = load_image(str(picture)).image
    predicted = predictor.preprocess([image])
    assert predicted.shape == trained.shape == (1, in_channels, input_size, input_size)
    torch.testing.assert_close(predicted, trained, rtol=1e-6, atol=1e-6)
    # and the values are really normalised as named: unit keeps 0..1, imagenet centres each channel
    stats = normalization_stats(normalization, in_channels=in_channels)
    rgb_or_grey = (predicted[0] * torch.tensor(stats["std"]).view(-1, 1, 1)
                   + torch.tensor(stats["mean"]).view(-1, 1, 1))
    assert float(rgb_or_grey.min()) >= -1e-6 and float(rgb_or_grey.max()) <= 1 + 1e-6
    if normalization == "imagenet":
        assert float(predicted.min()) < -0.5


@pytest.mark.parametrize("in_channels", [1, 3])
def test_sac_roi_crop_is_the_same_in_both_paths(sample_miscarriage, tmp_path, in_channels):
    """The region of interest (the level-set sac's square) is cut the same way before the kernel's resize."""
    root, df = sample_miscarriage
    path = root / df["image_path"].iloc[0]
    trained = _training_input(path, input_size=48, in_channels=in_channels, normalization="imagenet",
                              geometry="stretch", roi="sac")
    predictor = _predictor(tmp_path, input_size=48, in_channels=in_channels, normalization="imagenet",
                           geometry="stretch", roi="sac")
    predicted = predictor.preprocess([load_image(str(path)).image])
    torch.testing.assert_close(predicted, trained, rtol=1e-6, atol=1e-6)
    whole = _training_input(path, input_size=48, in_channels=in_channels, normalization="imagenet",
                            geometry="stretch")
    assert not torch.allclose(whole, trained, atol=0.1)          # the crop really changes the input


def test_center_crop_rounds_like_torchvision_and_resize_rule():
    """An odd margin: torchvision's v2.CenterCrop (the training's evaluation crop) puts the extra row on top
    (round(7 / 2) = 4); the kernel's crop does the same. Shrinking uses INTER_AREA (a block mean)."""
    arr = np.arange(56 * 56, dtype=np.int32).reshape(56, 56)
    crop = center_crop(arr, (49, 49))
    assert crop[0, 0] == arr[4, 4] and crop.shape == (49, 49)
    blocks = np.kron(np.array([[0, 200], [100, 50]], np.uint8), np.ones((4, 4), np.uint8))
    assert resize(blocks, (2, 2)).tolist() == [[0, 200], [100, 50]]


class _Counter:
    """Wraps a function and counts its calls (``calls``), passing everything through."""

    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.fn(*args, **kwargs)


def _count(monkeypatch):
    """Count the kernel's per-picture step and the level set the sac's box runs."""
    import core.models.transforms as kernel
    import core.segmentation.roi as roi

    pictures = _Counter(kernel.fit_picture)
    levelset = _Counter(roi.segment_levelset)
    monkeypatch.setattr(kernel, "fit_picture", pictures)
    monkeypatch.setattr(roi, "segment_levelset", levelset)
    return pictures, levelset


def test_analysis_preprocesses_each_image_once_and_tta_does_not_rerun_the_level_set(sample_miscarriage, tmp_path,
                                                                                    monkeypatch):
    """A sac-ROI bundle with uncertainty (test-time augmentation), Grad-CAM and the out-of-distribution check:
    probability, 6 TTA views, heat map and OOD embedding share one preprocessed tensor, and the level set runs
    once per image (not once more per shifted view)."""
    from core.ood import fit_ood
    from core.pipeline import analyze

    root, df = sample_miscarriage
    everything = [load_image(str(root / p)).image for p in df["image_path"]]
    images = everything[:2]
    torch.manual_seed(0)
    meta = {"task": "kernel_test", "kind": "classification", "class_names": ["a", "b"], "positive_label": "b",
            "input_size": 48, "normalization": "unit", "roi": "sac"}
    model = build_model("smallcnn", num_classes=2, in_channels=1, width=4)
    path = save_bundle(tmp_path / "b", model, meta)
    calibration = fit_ood(Predictor(*load_bundle(path), device="cpu"), everything)
    path = save_bundle(path, model, {**meta, "ood": calibration})
    predictor = Predictor(*load_bundle(path), device="cpu")      # a fresh one: no remembered boxes
    pictures, levelset = _count(monkeypatch)
    result = analyze(images, model=predictor, cam="gradcam", uncertainty=True)
    assert result.uncertainty["method"] == "tta" and result.uncertainty["n"] == 6
    assert result.images[0].cam is not None and result.ood is not None
    assert (pictures.calls, levelset.calls) == (2, 2)


def test_multitask_analysis_preprocesses_each_image_once(tmp_path, monkeypatch, rng):
    """A multitask bundle gives masks and probabilities: one preprocessed tensor serves both."""
    from core.pipeline import analyze

    torch.manual_seed(0)
    model = build_model("unet_cls", num_classes=2, in_channels=1, width=4, depth=2)
    path = save_bundle(tmp_path / "b", model, {"task": "kernel_test", "kind": "multitask", "input_size": 32,
                                               "class_names": ["a", "b"], "normalization": "unit"})
    predictor = Predictor(*load_bundle(path), device="cpu")
    images = [rng.integers(0, 256, (40, 52, 3), dtype=np.uint8) for _ in range(2)]
    pictures, _ = _count(monkeypatch)
    result = analyze(images, model=predictor, cam="gradcam", uncertainty=True)
    assert [r.mask.shape for r in result.images] == [(40, 52), (40, 52)]
    assert result.probability is not None and pictures.calls == 2


def test_a_crop_ratio_needs_a_crop_recipe(monkeypatch):
    """crop_ratio > 1 makes the bundle crop the centre at prediction; only a crop recipe's evaluation does the
    same, so a task pairing it with another recipe is refused by name instead of training a drifted model."""
    from core import tasks
    from core.errors import InputError
    from core.tasks import Recipe, Task, register_task

    monkeypatch.setattr(tasks, "_USER", dict(tasks._USER))      # registrations stay inside this test

    def task(**recipe):
        return Task(name="kernel_crop_test", kind="classification", title="Crop test", labels=("a", "b"),
                    recipe=Recipe(**recipe))

    with pytest.raises(InputError, match=r"crop_ratio 1.2 needs a crop augmentation \(crop_flip\)"):
        register_task(task(augment="basic", crop_ratio=1.2))
    with pytest.raises(InputError, match="crop_ratio 'big' must be a number >= 1"):
        register_task(task(augment="crop_flip", crop_ratio="big"))
    assert register_task(task(augment="crop_flip", crop_ratio=1.2), replace_existing=True).recipe.crop_ratio == 1.2
