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


def _png(image) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def test_one_bad_file_among_good_ones_is_listed_and_the_others_analysed(bundle, rng):
    good = [(f"/server/secret/dir/good{i}.png", _png(_sac_image(rng, dark_sac=True))) for i in range(2)]
    result = analyze([good[0], ("/tmp/upload/notes.png", b"not an image"), good[1]], model=bundle, cam=None,
                     uncertainty=False, on_error="skip")
    assert [r.name for r in result.images] == ["good0.png", "good1.png"]      # file names, never server paths
    assert [e["file"] for e in result.errors] == ["notes.png"]
    assert result.errors[0]["error"].startswith("notes.png") and "\n" not in result.errors[0]["error"]
    assert result.predicted_class == "miscarriage"
    with pytest.raises(InputError, match="notes.png"):                         # the CLI default
        analyze([good[0], ("notes.png", b"not an image")], model=bundle, cam=None)
    with pytest.raises(InputError, match="none of the 2 files"):
        analyze([("a.png", b"x"), ("b.png", b"y")], model=bundle, on_error="skip")


def test_out_of_distribution_withholds_the_decision(bundle, rng):
    photo = np.zeros((64, 64, 3), np.uint8)
    photo[:32] = (40, 120, 230)
    photo[32:] = (30, 160, 40)
    result = analyze([_sac_image(rng, dark_sac=True), photo], model=bundle, cam=None, uncertainty=False)
    assert result.decision_withheld is True and result.decision is None
    assert result.ood["out_of_distribution"] and result.ood["score"] > 1.0 and "unlike" in result.ood["reason"]
    assert result.probability is not None                                      # shown greyed, not hidden
    normal = analyze([_sac_image(rng, dark_sac=True)], model=bundle, cam=None, uncertainty=False)
    assert normal.decision_withheld is False and normal.decision == normal.predicted_class
    assert normal.ood["out_of_distribution"] is False
    assert result.to_dict()["decision_withheld"] is True


def test_values_used_spacing_and_centre_line_length_are_reported(bundle, rng, tmp_path):
    import cv2

    image = np.full((100, 160, 3), 60, np.uint8)
    cv2.line(image, (20, 50), (140, 50), (255, 255, 255), 11)                  # a bright band 120 px long

    def seg(img):
        return img[..., 0] > 128

    path = tmp_path / "band.png"
    path.write_bytes(_png(image))
    result = analyze([str(path)], {"ga_weeks": 21.1}, model=bundle, segmenter=seg, cam=None,
                     uncertainty=False, spacing_mm=0.25)
    r = result.images[0]
    assert r.name == "band.png" and r.pixel_spacing_mm == 0.25
    assert abs(r.biometry["length_mm"] - 120 * 0.25) < 1.0
    assert result.clinical == {"ga_weeks": 21.1, "crl_mm": None, "fhr_bpm": None, "pixel_spacing_mm": 0.25}


def test_faithfulness_can_come_after_the_first_result(bundle, rng):
    from core.pipeline import add_faithfulness

    images = [_sac_image(rng, dark_sac=True)]
    first = analyze(images, model=bundle, cam="gradcam", uncertainty=False)
    assert first.images[0].faithfulness is None and first.images[0].overlay is not None
    torch.manual_seed(0)                          # ROAD's imputation adds random noise
    scores = add_faithfulness(first, bundle)
    torch.manual_seed(0)
    together = analyze(images, model=bundle, cam="gradcam", uncertainty=False, faithfulness=True)
    assert scores[0] is not None and np.isfinite(scores[0])
    assert scores[0] == pytest.approx(together.images[0].faithfulness, abs=1e-6)
