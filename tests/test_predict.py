"""Predictor (preprocessing from the bundle, probabilities, masks at original size, caching) and `predict` CLI."""

import json

import cv2
import numpy as np
import pytest
import torch

from core.errors import InputError
from core.models import ModelEnsemble, build_model, load_predictor, save_bundle
from core.models.transforms import normalization_stats, preprocess_batch

torch.set_num_threads(1)


def _bundle(path, name, *, num_classes=2, in_channels=1, input_size=32, **meta):
    model = build_model(name, num_classes=num_classes, in_channels=in_channels,
                        **({"width": 4, "depth": 2} if name.startswith("unet") else {}))
    if name in ("smallcnn", "resnet18", "unet_cls") or meta.get("class_names"):
        meta.setdefault("class_names", [f"c{i}" for i in range(max(num_classes, 2))])
    save_bundle(path, model.eval(), {"input_size": input_size, **meta})
    return model.eval()


class Loaded:
    """Duck-typed core.io.LoadedImage."""

    def __init__(self, image):
        self.image = image


def test_preprocess_matches_a_hand_computed_tensor(rng):
    img = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    norm = normalization_stats("imagenet", in_channels=3)
    x = preprocess_batch([img], in_channels=3, input_size=(20, 25), normalization=norm)
    # uint8 stays uint8 through resize (area when shrinking) like the trainer's pictures, then /255, then mean/std
    ref = cv2.resize(img, (25, 20), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    ref = (ref - np.array(norm["mean"], np.float32)) / np.array(norm["std"], np.float32)
    assert x.shape == (1, 3, 20, 25)
    assert np.allclose(x[0].permute(1, 2, 0).numpy(), ref, atol=1e-5)
    unit = normalization_stats("unit", in_channels=1)
    grey = preprocess_batch([img], in_channels=1, input_size=40, normalization=unit)
    ref_grey = cv2.cvtColor(cv2.resize(img, (40, 40), interpolation=cv2.INTER_LINEAR), cv2.COLOR_RGB2GRAY) / 255
    assert np.allclose(grey[0, 0].numpy(), ref_grey, atol=1e-6)
    # float pictures on 0..1 go through float; grey -> 3 channels replicates
    f = rng.random((30, 30)).astype(np.float32)
    x3 = preprocess_batch([f], in_channels=3, input_size=30, normalization=normalization_stats("unit", in_channels=3))
    assert all(np.allclose(x3[0, c].numpy(), f) for c in range(3))
    # float on 0..255 is read as 0..255
    assert np.allclose(preprocess_batch([f * 255], in_channels=1, input_size=30, normalization=unit)[0, 0], f,
                       atol=1e-5)


def test_predict_proba_uses_the_bundle_preprocessing(tmp_path, rng):
    model = _bundle(tmp_path / "b", "smallcnn", num_classes=3, in_channels=1, input_size=32,
                    normalization="imagenet")
    p = load_predictor(tmp_path / "b", device="cpu")
    assert p.kind == "classification" and p.class_names == ["c0", "c1", "c2"] and not p.model.training
    imgs = [rng.integers(0, 256, (48, 64), dtype=np.uint8), rng.random((30, 20, 3)).astype(np.float32),
            Loaded(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))]
    proba = p.predict_proba(imgs)
    assert proba.shape == (3, 3) and np.allclose(proba.sum(1), 1, atol=1e-5)
    norm = normalization_stats("imagenet", in_channels=1)
    x = preprocess_batch(imgs, in_channels=1, input_size=32, normalization=norm)
    with torch.inference_mode():
        ref = torch.softmax(model(x), 1).numpy()
    assert np.allclose(proba, ref, atol=1e-6)
    # batching does not change the answer
    p.batch_size = 2
    assert np.allclose(p.predict_proba(imgs), proba, atol=1e-6)
    # a preprocessed tensor goes straight to the network
    assert np.allclose(p.predict_proba(x), proba, atol=1e-6)


def test_binary_positive_index_and_single_logit_head(tmp_path, rng):
    _bundle(tmp_path / "b", "smallcnn", num_classes=1, class_names=["live_birth", "miscarriage"],
            positive_label="live_birth")
    p = load_predictor(tmp_path / "b", device="cpu")
    proba = p.predict_proba([rng.integers(0, 256, (40, 40), dtype=np.uint8)])
    assert proba.shape == (1, 2) and np.isclose(proba.sum(), 1)
    assert p.positive_index == 0


@pytest.mark.parametrize("name", ["unet", "unet_cls"])
def test_masks_come_back_at_each_original_size(tmp_path, rng, name):
    model = _bundle(tmp_path / "b", name, num_classes=1 if name == "unet" else 2, input_size=32)
    p = load_predictor(tmp_path / "b", device="cpu")
    imgs = [rng.integers(0, 256, (45, 70), dtype=np.uint8), rng.integers(0, 256, (90, 33, 3), dtype=np.uint8)]
    masks = p.predict_mask(imgs)
    assert [m.shape for m in masks] == [(45, 70), (90, 33)] and all(m.dtype == bool for m in masks)
    x = preprocess_batch(imgs, in_channels=1, input_size=32, normalization=p.meta.normalization.to_json())
    with torch.inference_mode():
        out = model(x)
    logits = out["mask_logits"] if isinstance(out, dict) else out
    prob = torch.sigmoid(logits[:, 0]).numpy()
    ref = cv2.resize(prob[0], (70, 45), interpolation=cv2.INTER_LINEAR) > 0.5
    assert np.array_equal(masks[0], ref)
    both = p.predict(imgs)
    assert [m.shape for m in both.masks] == [(45, 70), (90, 33)]
    if name == "unet":
        assert both.probabilities is None
        with pytest.raises(InputError, match="segmentation model"):
            p.predict_proba(imgs)
    else:
        assert both.probabilities.shape == (2, 2)
        assert np.allclose(both.probabilities, p.predict_proba(imgs), atol=1e-6)


def test_classifier_bundle_has_no_masks(tmp_path, rng):
    _bundle(tmp_path / "b", "smallcnn")
    with pytest.raises(InputError, match="masks need a segmentation or multitask"):
        load_predictor(tmp_path / "b", device="cpu").predict_mask([np.zeros((8, 8), np.uint8)])


@pytest.mark.parametrize("bad, msg", [
    ([np.zeros((4, 4, 2), np.uint8)], "image 0: expected HxW or HxWx3"),
    (["not an image"], "image 0: expected an array"),
    ([np.full((8, 8), np.nan, np.float32)], "NaN"),
    ([], "no images"),
])
def test_bad_images_are_input_errors(tmp_path, bad, msg):
    _bundle(tmp_path / "b", "smallcnn")
    with pytest.raises(InputError, match=msg):
        load_predictor(tmp_path / "b", device="cpu").predict_proba(bad)


def test_predictor_cache_reloads_after_the_bundle_changes(tmp_path):
    _bundle(tmp_path / "b", "smallcnn")
    a = load_predictor(tmp_path / "b", device="cpu")
    assert load_predictor(tmp_path / "b", device="cpu") is a
    _bundle(tmp_path / "b", "smallcnn")
    assert load_predictor(tmp_path / "b", device="cpu") is not a


def test_ensemble_member_probabilities(tmp_path, rng):
    members = [build_model("smallcnn", num_classes=2) for _ in range(3)]
    save_bundle(tmp_path / "e", ModelEnsemble(members).eval(), {"input_size": 32, "class_names": ["a", "b"]})
    p = load_predictor(tmp_path / "e", device="cpu")
    imgs = [rng.integers(0, 256, (32, 32), dtype=np.uint8) for _ in range(4)]
    per_member = p.predict_member_proba(imgs)
    assert per_member.shape == (3, 4, 2)
    assert np.allclose(per_member.mean(0), p.predict_proba(imgs), atol=1e-5)


def _write_png(path, rng, shape=(60, 80)):
    cv2.imwrite(str(path), rng.integers(0, 256, shape, dtype=np.uint8))
    return str(path)


def test_predict_command_json(tmp_path, rng, capsys):
    from core.cli import main

    _bundle(tmp_path / "b", "smallcnn", class_names=["live_birth", "miscarriage"], positive_label="miscarriage")
    files = [_write_png(tmp_path / f"img{i}.png", rng) for i in range(2)]
    code = main(["predict", "--model", str(tmp_path / "b"), "--image", *files, "--ga-weeks", "6.5",
                 "--crl-mm", "5", "--fhr-bpm", "118", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    images = out["images"]
    assert [i["file"].endswith(f"img{k}.png") for k, i in enumerate(images)] == [True, True]
    per_image = [i["probability"] for i in images]
    assert np.isclose(out["probability"], np.mean(per_image), atol=1e-6)
    assert np.allclose([i["probabilities"][1] for i in images], per_image)
    assert out["predicted_class"] == ("miscarriage" if out["probability"] >= 0.5 else "live_birth")
    assert out["rules"] == {"applicable": True, "crl_low": True, "fhr_low": True, "both_low": True}
    # the same numbers as the predictor on the decoded images
    p = load_predictor(tmp_path / "b", device="cpu")
    ref = p.predict_proba([cv2.imread(f, cv2.IMREAD_GRAYSCALE) for f in files])[:, 1]
    assert np.allclose(per_image, ref, atol=1e-4)


def test_predict_command_without_ga_and_bad_input(tmp_path, rng, capsys):
    from core.cli import main

    _bundle(tmp_path / "b", "smallcnn")
    img = _write_png(tmp_path / "x.png", rng)
    assert main(["predict", "--model", str(tmp_path / "b"), "--image", img, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rules"] is None
    assert main(["predict", "--model", str(tmp_path / "nope"), "--image", img]) == 2
    assert main(["predict", "--model", str(tmp_path / "b"), "--image", str(tmp_path / "missing.png")]) == 2
    assert main(["predict", "--model", str(tmp_path / "b"), "--image", img, "--fhr-bpm", "100"]) == 2
    _bundle(tmp_path / "seg", "unet", num_classes=1)
    assert main(["predict", "--model", str(tmp_path / "seg"), "--image", img]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and "missing.png" in err and "--ga-weeks" in err and "segment" in err
