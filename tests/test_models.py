"""Registry grid (every non-instance model x in_channels x input size) and ImageNet weights from the local cache."""

import os

import pytest
import torch
from torchvision import models as tvm

from core.errors import InputError
from core.models import build_model, cam_target_layer, list_models, model_kind
from core.models.weights import adapt_conv_weight, cached_weights_path

torch.set_num_threads(1)

NON_INSTANCE = [n for n in list_models() if model_kind(n) != "instance"]
SIZES = [64, (48, 80)]


def test_registry_lists_the_studies_models_with_kinds():
    names = set(list_models())
    assert {"vgg19", "resnet34", "resnet18", "mobilenet_v3_small", "smallcnn", "unet", "unet_cls",
            "fcn_resnet50", "deeplabv3_resnet50"} <= names
    assert model_kind("resnet34") == "classification"
    assert model_kind("unet") == "segmentation"
    assert model_kind("unet_cls") == "multitask"
    assert model_kind("deeplabv3_resnet50") == "segmentation"
    assert list_models("multitask") == ["unet_cls"]


def test_unknown_architecture_and_bad_options_are_input_errors():
    with pytest.raises(InputError, match="unknown architecture 'resnet999'"):
        build_model("resnet999", num_classes=2)
    with pytest.raises(InputError, match="num_classes"):
        build_model("smallcnn", num_classes=0)
    with pytest.raises(InputError, match="bad option"):
        build_model("smallcnn", num_classes=2, no_such_option=3)
    with pytest.raises(InputError, match="unknown weights"):
        build_model("resnet18", num_classes=2, weights="IMAGENET9K")


def _n_out(name):
    return 1 if model_kind(name) == "segmentation" else 3


@pytest.mark.parametrize("size", SIZES, ids=str)
@pytest.mark.parametrize("in_channels", [1, 3])
@pytest.mark.parametrize("name", NON_INSTANCE)
def test_builds_and_forward_shapes(name, in_channels, size):
    h, w = (size, size) if isinstance(size, int) else size
    model = build_model(name, num_classes=_n_out(name), in_channels=in_channels).eval()
    x = torch.randn(2, in_channels, h, w, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        out = model(x)
    kind = model_kind(name)
    if kind == "classification":
        assert out.shape == (2, 3)
    elif kind == "segmentation":
        assert out.shape == (2, 1, h, w)
    else:
        assert set(out) == {"mask_logits", "class_logits"}
        assert out["mask_logits"].shape == (2, 1, h, w)
        assert out["class_logits"].shape == (2, 3)
    assert model.sonodash_build["architecture"] == name
    assert model.sonodash_build["pretrained"] is False
    assert cam_target_layer(model, name) is not None


def test_unet_width_and_depth_are_configurable():
    small = build_model("unet", num_classes=1, width=4, depth=2)
    big = build_model("unet", num_classes=1, width=8, depth=3)
    assert len(small.encoder.downs) == 2 and len(big.encoder.downs) == 3
    assert small.encoder.stem[0].out_channels == 4
    n_small = sum(p.numel() for p in small.parameters())
    assert n_small < sum(p.numel() for p in big.parameters())
    # unet_cls: the classification head reads the bottleneck (deepest encoder level)
    cls = build_model("unet_cls", num_classes=2, width=4, depth=2)
    assert cls.classification_head[2].in_features == cls.encoder.channels[-1] == 16
    x = torch.rand(1, 1, 40, 40)
    out = cls.predict(x)
    assert not cls.training and out["class_logits"].shape == (1, 2)


def test_adapt_conv_weight_sums_rgb_for_one_channel():
    w = torch.randn(4, 3, 3, 3)
    assert torch.allclose(adapt_conv_weight(w, 1), w.sum(1, keepdim=True))
    # a grey image replicated to RGB gives the same response with the adapted 1-channel filter
    x = torch.rand(1, 1, 8, 8)
    a = torch.nn.functional.conv2d(x.repeat(1, 3, 1, 1), w)
    b = torch.nn.functional.conv2d(x, adapt_conv_weight(w, 1))
    assert torch.allclose(a, b, atol=1e-5)
    w2 = adapt_conv_weight(w, 2)
    assert w2.shape == (4, 2, 3, 3) and torch.allclose(w2.sum(1), w.sum(1), atol=1e-5)


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def no_download(*a, **k):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    return tmp_path / "torch"


def _fake_cache(state: dict, weights) -> str:
    path = cached_weights_path(weights)
    os.makedirs(path.parent, exist_ok=True)
    torch.save(state, path)
    return path


def test_imagenet_weights_load_from_local_cache_with_channel_sum(torch_home):
    torch.manual_seed(1)
    source = tvm.resnet18().state_dict()            # "ImageNet" weights we make ourselves (1000 classes, RGB)
    path = _fake_cache(source, tvm.ResNet18_Weights.IMAGENET1K_V1)
    assert str(path).startswith(str(torch_home))
    model = build_model("resnet18", num_classes=2, in_channels=1, weights="imagenet")
    assert model.sonodash_build["pretrained"] is True
    assert model.sonodash_build["weights"] == "ResNet18_Weights.IMAGENET1K_V1"
    got = model.state_dict()
    assert torch.equal(got["conv1.weight"], source["conv1.weight"].sum(1, keepdim=True))
    assert torch.equal(got["layer3.1.conv2.weight"], source["layer3.1.conv2.weight"])
    assert got["fc.weight"].shape == (2, 512)            # the ImageNet head does not fit and stays random
    rgb = build_model("resnet18", num_classes=2, in_channels=3, weights="ResNet18_Weights.IMAGENET1K_V1")
    assert torch.equal(rgb.state_dict()["conv1.weight"], source["conv1.weight"])


def test_segnet_backbone_weights_land_under_their_prefix(torch_home):
    torch.manual_seed(2)
    source = tvm.resnet50().state_dict()
    _fake_cache(source, tvm.ResNet50_Weights.IMAGENET1K_V2)     # DEFAULT of ResNet50_Weights
    model = build_model("fcn_resnet50", num_classes=1, in_channels=1, weights="imagenet")
    assert model.sonodash_build["pretrained"] is True
    got = model.state_dict()
    assert torch.equal(got["net.backbone.layer4.2.conv3.weight"], source["layer4.2.conv3.weight"])
    assert torch.equal(got["net.backbone.conv1.weight"], source["conv1.weight"].sum(1, keepdim=True))


def test_missing_cache_trains_from_scratch_and_never_downloads(torch_home):
    with pytest.warns(UserWarning, match="not in the local torch cache"):
        model = build_model("resnet34", num_classes=2, weights="imagenet")
    assert model.sonodash_build["pretrained"] is False
    assert model.sonodash_build["weights_missing"] == "ResNet34_Weights.IMAGENET1K_V1"
    with pytest.warns(UserWarning, match="no ImageNet weights"):
        model = build_model("smallcnn", num_classes=2, weights="imagenet")
    assert model.sonodash_build["pretrained"] is False
    assert build_model("resnet18", num_classes=2, weights=None).sonodash_build["pretrained"] is False


def test_corrupt_cache_file_is_an_input_error(torch_home):
    path = cached_weights_path(tvm.ResNet18_Weights.IMAGENET1K_V1)
    os.makedirs(path.parent, exist_ok=True)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="cannot read cached weights"):
        build_model("resnet18", num_classes=2, weights="imagenet")


def test_every_family_module_is_found_without_a_hand_kept_list():
    from pathlib import Path

    from core.models import registry

    families = registry.family_modules()
    owners = {registry.get_model_spec(n).builder.__module__ for n in list_models()}
    assert owners == set(families) == {"core.models.classifiers", "core.models.instance", "core.models.segnets",
                                       "core.models.unet"}
    # infrastructure modules (bundle, predictor, weights...) are not imported as families
    assert "core.models.bundle" not in families and "core.models.registry" not in families
    code = Path(registry.__file__).read_text(encoding="utf-8")
    assert not any(f'"{m}"' in code for m in families), "the registry must not list its families"


@pytest.fixture
def scratch_family():
    from core.models import registry

    before = dict(registry._REGISTRY)
    yield registry
    registry._REGISTRY.clear()
    registry._REGISTRY.update(before)


def test_register_model_alone_adds_a_family(scratch_family):
    from torch import nn

    @scratch_family.register_model("tiny_test_net", kind="classification", cam_layer="0")
    def tiny_test_net(*, num_classes, in_channels=1, width=4):
        """A two-layer test network."""
        return nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                             nn.Linear(width, num_classes))

    assert "tiny_test_net" in list_models("classification")
    model = build_model("tiny_test_net", num_classes=3, in_channels=2, width=5)
    assert model(torch.zeros(1, 2, 8, 8)).shape == (1, 3)
    assert model.sonodash_build["arch_kwargs"] == {"width": 5}
    assert model_kind("tiny_test_net") == "classification"
    assert isinstance(cam_target_layer(model, "tiny_test_net"), torch.nn.Conv2d)
    assert scratch_family.get_model_spec("tiny_test_net").description == "A two-layer test network."
    with pytest.raises(ValueError, match="already registered"):
        scratch_family.register_model("tiny_test_net", kind="classification")(lambda **kw: None)
