"""analyze(): one patient's images -> probability, rules, uncertainty, CAM overlays, OOD warning."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from core.errors import InputError
from core.models import load_predictor, save_bundle
from core.models.registry import build_model
from core.ood import fit_ood
from core.pipeline import Clinical, analyze


def _sac_image(rng, *, dark_sac: bool, size=64):
    """Gray speckle with (class 1) or without (class 0) a dark disc in the middle."""
    img = rng.gamma(4.0, 30.0, size=(size, size)).clip(0, 255)
    if dark_sac:
        yy, xx = np.mgrid[:size, :size]
        img[(yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 5) ** 2] *= 0.15
    return np.repeat(img.astype(np.uint8)[:, :, None], 3, axis=2)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """A smallcnn trained for a few steps to tell a dark central disc from plain speckle."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    images = [_sac_image(rng, dark_sac=bool(i % 2)) for i in range(32)]
    labels = torch.tensor([i % 2 for i in range(32)])
    model = build_model("smallcnn", num_classes=2, in_channels=1, width=8)
    meta = {"task": "miscarriage", "class_names": ["live_birth", "miscarriage"], "positive_label": "miscarriage",
            "input_size": 64, "normalization": "unit"}
    path = save_bundle(tmp_path_factory.mktemp("b") / "bundle", model, meta)
    predictor = load_predictor(path)
    opt = torch.optim.Adam(predictor.model.parameters(), lr=3e-3)
    x = predictor.preprocess(images)
    predictor.model.train()
    for _ in range(60):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(predictor.model(x), labels)
        loss.backward()
        opt.step()
    predictor.model.eval()
    meta["ood"] = fit_ood(predictor, images)
    return save_bundle(path, predictor.model, meta)


def test_analysis_of_one_patient(bundle, rng):
    images = [_sac_image(rng, dark_sac=True), _sac_image(rng, dark_sac=True)]
    result = analyze(images, Clinical(ga_weeks=6.5, crl_mm=5.0, fhr_bpm=118), model=bundle, cam="gradcam")
    assert result.probability > 0.5 and result.predicted_class == "miscarriage"
    assert result.rules == {"applicable": True, "crl_low": True, "fhr_low": True, "both_low": True}
    assert result.uncertainty["method"] == "tta" and result.uncertainty["sd"] >= 0
    assert len(result.images) == 2
    first = result.images[0]
    assert first.overlay.shape == (64, 64, 3) and first.cam.shape == (64, 64)
    # The heat map sits on the dark disc (the evidence), not on the border.
    yy, xx = np.mgrid[:64, :64]
    centre = (yy - 32) ** 2 + (xx - 32) ** 2 < 12 ** 2
    assert first.cam[centre].mean() > first.cam[~centre].mean()
    assert not result.warnings
    as_json = result.to_dict()
    assert as_json["rules"]["both_low"] is True and len(as_json["images"]) == 2


def test_png_bytes_and_levelset_segmentation(bundle, rng):
    buf = io.BytesIO()
    Image.fromarray(_sac_image(rng, dark_sac=True, size=128)).save(buf, format="PNG")
    result = analyze([("case.png", buf.getvalue())], model=bundle, segmenter="levelset", cam=None,
                     uncertainty=False)
    assert result.images[0].mask is not None and result.images[0].biometry["area_px"] > 0
    assert result.rules is None


def test_noise_and_photos_get_the_out_of_distribution_warning(bundle, rng):
    noise = rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    photo = np.zeros((64, 64, 3), np.uint8)
    photo[:32] = (40, 120, 230)   # sky
    photo[32:] = (30, 160, 40)    # grass
    for image in (noise, photo):
        result = analyze([image], model=bundle, cam=None, uncertainty=False)
        assert any("unlike the model's training data" in w for w in result.warnings)


def test_bad_inputs_are_input_errors(bundle):
    with pytest.raises(InputError, match="no images"):
        analyze([], model=bundle)
    with pytest.raises(InputError):
        analyze([("x.png", b"not an image")], model=bundle)
    with pytest.raises(InputError, match="aggregation"):
        analyze([np.zeros((8, 8), np.uint8)], model=bundle, aggregation="median")
