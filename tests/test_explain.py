"""Every CAM method on every supported architecture (tiny inputs), overlays at the original size, ROAD."""

import numpy as np
import pytest
import torch

from core.errors import InputError
from core.explain import CAM_METHOD_NAMES, overlay_cam, triptych
from core.explain.cam import CAM_METHODS, compute_cams, road_faithfulness
from core.models.registry import build_model

ARCHS = ["smallcnn", "resnet18", "resnet34", "vgg19", "mobilenet_v3_small", "unet_cls"]


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _input(arch, size=64):
    g = torch.Generator().manual_seed(0)
    return torch.rand(1, 1, size, size, generator=g)


@pytest.mark.parametrize("method", CAM_METHOD_NAMES)
@pytest.mark.parametrize("arch", ARCHS)
def test_every_method_on_every_architecture(arch, method):
    torch.manual_seed(0)
    kw = {"width": 4, "depth": 2} if arch == "unet_cls" else {}
    model = build_model(arch, num_classes=2, in_channels=1, **kw)
    x = _input(arch)
    cams, targets = compute_cams(model, x, arch=arch, method=method, target_class=1)
    assert cams.shape == (1, 64, 64) and cams.dtype == np.float32
    assert np.isfinite(cams).all() and cams.min() >= 0 and cams.max() <= 1
    assert len(targets) == 1


def test_segmentation_head_of_multitask_unet():
    model = build_model("unet_cls", num_classes=2, in_channels=1, width=4, depth=2)
    cams, _ = compute_cams(model, _input("unet_cls"), arch="unet_cls", method="gradcam", head="mask")
    assert cams.shape == (1, 64, 64)


def test_gradcam_points_at_the_evidence():
    """A fixed model whose logit is the mean of the top-left quadrant of its feature map: HiResCAM (gradient
    times activation, element-wise) must light up the top-left and nothing else (known by construction)."""

    class Quadrant(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.features = torch.nn.Conv2d(1, 1, 1, bias=False)
            torch.nn.init.ones_(self.features.weight)

        def forward(self, x):
            f = torch.relu(self.features(x))
            score = f[:, :, :8, :8].mean(dim=(1, 2, 3))
            return torch.stack([-score, score], dim=1)

    model = Quadrant()
    model.sonodash_build = {"kind": "classification"}
    x = torch.ones(1, 1, 16, 16)
    cams, _ = compute_cams(model, x, arch="custom", method="hirescam", target_class=1, layer="features")
    assert cams[0, :8, :8].mean() > 0.9 and cams[0, 8:, 8:].mean() < 0.1


def test_road_faithfulness_returns_one_finite_score_per_image():
    model = build_model("smallcnn", num_classes=2, in_channels=1)
    x = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    cams, targets = compute_cams(model, x, arch="smallcnn", method="gradcam", target_class=1)
    scores = road_faithfulness(model, x, cams, targets, percentiles=(50,))
    assert scores.shape == (2,) and np.isfinite(scores).all()


def test_overlay_keeps_the_original_size_and_blends():
    image = np.zeros((300, 200), np.uint8)
    cam = np.ones((7, 7), np.float32)
    out = overlay_cam(image, cam, alpha=0.5)
    assert out.shape == (300, 200, 3) and out.dtype == np.uint8
    assert out.max() > 0
    assert np.array_equal(overlay_cam(image, cam, alpha=0.0), np.zeros((300, 200, 3), np.uint8))
    assert triptych(image, cam).shape == (300, 600, 3)


def test_bad_method_and_opacity_are_input_errors():
    from core.explain.cam import cam_method

    with pytest.raises(InputError, match="unknown CAM method"):
        cam_method("magic")
    assert cam_method("GradCAM++") is CAM_METHODS["gradcam++"]
    with pytest.raises(InputError, match="opacity"):
        overlay_cam(np.zeros((4, 4)), np.zeros((4, 4)), alpha=2)
