"""The classifier's region of interest: a square around the level-set sac, the same in training and prediction."""

import numpy as np
import pytest
import torch

from core.errors import InputError
from core.segmentation.roi import crop_to_box, paste_map, roi_box, square_box


def test_square_box_is_centred_and_margin_times_the_longer_side():
    m = np.zeros((100, 120), bool)
    m[10:30, 50:90] = True                       # rows 10..29, columns 50..89: centre (70, 20), longer side 40
    assert square_box(m, margin=1.0) == (50, 0, 90, 40)
    assert square_box(m, margin=1.3) == (44, -6, 96, 46)     # 52 wide, reaching above the picture
    assert square_box(np.zeros((5, 5), bool)) is None


def test_crop_to_box_pads_outside_the_picture_with_black():
    img = np.arange(1, 26, dtype=np.uint8).reshape(5, 5)
    out = crop_to_box(img, (-1, 3, 2, 6))         # columns -1..1, rows 3..5
    assert out.shape == (3, 3)
    assert out.tolist() == [[0, 16, 17], [0, 21, 22], [0, 0, 0]]
    rgb = np.dstack([img] * 3)
    assert crop_to_box(rgb, (1, 1, 3, 3)).shape == (2, 2, 3)
    assert crop_to_box(img, (10, 10, 12, 12)).tolist() == [[0, 0], [0, 0]]


def test_paste_map_puts_a_crop_map_back_where_the_crop_lies():
    full = paste_map(np.ones((8, 8)), (2, 3, 6, 9), (10, 12))
    assert full.shape == (10, 12)
    assert full[3:9, 2:6].min() == 1.0 and full.sum() == 6 * 4
    edge = paste_map(np.ones((4, 4)), (-2, -2, 2, 2), (5, 5))       # half outside: only the inside part lands
    assert edge.sum() == 4 and edge[:2, :2].min() == 1.0


def test_sac_box_on_a_synthetic_sac_surrounds_the_expert_tracing(sample_miscarriage):
    from core.io import load_image

    root, df = sample_miscarriage
    for _, r in df.head(4).iterrows():
        image = load_image(str(root / r["image_path"])).image
        truth = load_image(str(root / r["mask_path"])).image.max(axis=-1) > 0
        x0, y0, x1, y1 = roi_box(image, "sac")
        tx0, ty0, tx1, ty1 = square_box(truth, margin=1.0)
        inside = truth[max(y0, 0):y1, max(x0, 0):x1].sum() / truth.sum()
        assert inside > 0.95                        # the crop holds the sac
        assert (x1 - x0) < 0.8 * image.shape[1]     # and magnifies it (not the whole frame)
        assert (x1 - x0) == pytest.approx(1.3 * max(tx1 - tx0, ty1 - ty0), rel=0.25)


def test_whole_picture_when_no_sac_is_found_or_roi_is_image():
    blank = np.zeros((40, 60, 3), np.uint8)
    assert roi_box(blank, "sac") == (0, 0, 60, 40)
    assert roi_box(np.full((40, 60), 90, np.uint8), "image") == (0, 0, 60, 40)
    with pytest.raises(InputError, match="roi 'fan'; choose one of: image, sac"):
        roi_box(blank, "fan")


def test_training_pictures_and_prediction_see_the_same_crop(sample_miscarriage, tmp_path):
    """load_pictures (training) and Predictor.preprocess (use) give the network the same input for one image."""
    from core.data.datasets import load_pictures
    from core.io import load_image
    from core.models import build_model, load_bundle, save_bundle
    from core.models.predictor import Predictor

    root, df = sample_miscarriage
    rows = df.head(2).assign(image_path=lambda d: [str(root / p) for p in d["image_path"]])
    pics = load_pictures(rows, root=root, size=64, in_channels=1, roi="sac")
    model = build_model("smallcnn", num_classes=2, in_channels=1)
    save_bundle(tmp_path / "b", model, {"task": "miscarriage", "kind": "classification", "input_size": 64,
                                        "class_names": ["live_birth", "miscarriage"], "normalization": "unit",
                                        "roi": "sac"})
    predictor = Predictor(*load_bundle(tmp_path / "b"))
    images = [load_image(p).image for p in rows["image_path"]]
    x = predictor.preprocess(images)
    expected = torch.from_numpy(pics.images).float() / 255.0
    assert x.shape == expected.shape == (2, 1, 64, 64)
    assert torch.allclose(x, expected, atol=1.5 / 255)
    whole = load_pictures(rows, root=root, size=64, in_channels=1)
    assert not np.array_equal(whole.images, pics.images)          # the crop really changes the input


def test_analysis_with_a_sac_roi_bundle_explains_only_the_sac_square(sample_miscarriage, tmp_path):
    """The heat map of a model that saw the sac's square lies on that square of the picture, zero elsewhere."""
    from core.io import load_image
    from core.models import build_model, save_bundle
    from core.pipeline import analyze

    root, df = sample_miscarriage
    torch.manual_seed(0)
    path = save_bundle(tmp_path / "b", build_model("smallcnn", num_classes=2, in_channels=1, width=8),
                       {"task": "miscarriage", "kind": "classification", "input_size": 64, "normalization": "unit",
                        "class_names": ["live_birth", "miscarriage"], "positive_label": "miscarriage", "roi": "sac"})
    image = load_image(str(root / df["image_path"].iloc[0])).image
    x0, y0, x1, y1 = roi_box(image, "sac")
    result = analyze([image], model=path, cam="gradcam", uncertainty=False)
    cam = result.images[0].cam
    assert cam.shape == image.shape[:2] and 0.0 <= result.probability <= 1.0
    outside = np.ones(cam.shape, bool)
    outside[max(y0, 0):y1, max(x0, 0):x1] = False
    assert cam[outside].max() == 0.0 and cam[~outside].max() > 0.0


def test_loading_reports_progress_per_row_and_the_bar_follows(sample_miscarriage, capsys):
    """Cropping to the sac runs the level set on every picture: the run shows a loading bar meanwhile."""
    from core.data.datasets import load_pictures
    from core.training.callbacks import TqdmProgress

    root, df = sample_miscarriage
    rows = df.assign(image_path=[str(root / p) for p in df["image_path"]])
    events = []
    bar = TqdmProgress()
    load_pictures(rows, root=root, size=32, in_channels=1, roi="sac", progress=lambda e: (events.append(e), bar(e)))
    assert [e["done"] for e in events] == list(range(1, len(df) + 1))
    assert {e["total"] for e in events} == {len(df)} and bar.bar is None        # closed at the last row
    assert "loading images: 100%" in capsys.readouterr().err
