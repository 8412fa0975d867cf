"""The classical gestational-sac pipeline (level set -> largest component -> convex hull -> contour).

Phantoms are drawn here: a speckled fan on black with a text banner, a dark sac with a bright rim, an
echogenic embryo on its wall and (sometimes) a yellow caliper cross, so the test does not depend on the
synthetic-data package.
"""

import cv2
import numpy as np
import pytest

from core.errors import InputError
from core.segmentation.levelset import LevelSetParams, draw_contours, segment_levelset
from core.segmentation.metrics import dice

SIZE = 192


def _speckle(rng, shape, grain):
    a = cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), grain)
    b = cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), grain)
    s = np.hypot(a, b)
    return s / s.mean()


def sac_phantom(seed, size=SIZE):
    """(RGB uint8 image, bool sac mask): Rayleigh speckle, depth attenuation, banner, rim, embryo, calipers."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    apex = -25.0
    r = np.hypot(xx - size / 2, yy - apex)
    fan = (r >= 14 - apex) & (r <= size + 20 - apex) & (np.abs(np.arctan2(xx - size / 2, yy - apex)) <= 0.68)
    cx, cy = size / 2 + rng.uniform(-15, 15), size * 0.55 + rng.uniform(-12, 8)
    a, b = rng.uniform(22, 36), rng.uniform(17, 28)
    angle = rng.uniform(-30, 30)
    sac = np.zeros((size, size), np.uint8)
    cv2.ellipse(sac, (int(cx), int(cy)), (int(a), int(b)), angle, 0, 360, 1, -1)
    rim = np.zeros_like(sac)
    cv2.ellipse(rim, (int(cx), int(cy)), (int(a) + 5, int(b) + 5), angle, 0, 360, 1, -1)
    sac, rim = sac.astype(bool) & fan, rim.astype(bool) & fan
    tissue = cv2.GaussianBlur(rng.standard_normal((size, size)).astype(np.float32), (0, 0), 9)
    echo = 0.42 * (1 + 0.25 * tissue / tissue.std())
    echo[rim] = 0.8
    echo[sac] = 0.05
    embryo = np.zeros_like(sac, dtype=np.uint8)
    cv2.ellipse(embryo, (int(cx + 0.6 * a), int(cy)), (int(a * 0.3), 4), angle, 0, 360, 1, -1)
    echo[embryo.astype(bool) & sac] = 0.7
    depth = np.clip((r + apex) / size, 0, 1)
    img = np.clip(echo * _speckle(rng, (size, size), 1.2) * np.exp(-0.6 * depth), 0, 1) * fan
    rgb = cv2.cvtColor((img * 255).astype(np.uint8), cv2.COLOR_GRAY2RGB)
    cv2.putText(rgb, "SONO TV GA 7w2d", (3, 9), cv2.FONT_HERSHEY_SIMPLEX, 0.3, (230, 230, 230), 1)
    if seed % 2 == 0:
        cv2.drawMarker(rgb, (int(cx), int(cy - b)), (255, 255, 0), cv2.MARKER_CROSS, 9, 1)
    return rgb, sac


def test_dice_on_phantoms():
    scores = []
    for seed in range(6):
        image, truth = sac_phantom(seed)
        result = segment_levelset(image)
        assert result.mask.shape == truth.shape and result.mask.dtype == bool
        scores.append(dice(truth, result.mask))
    assert np.mean(scores) >= 0.85, scores
    assert min(scores) >= 0.7, scores


def test_result_is_one_convex_filled_region_with_its_contour():
    image, truth = sac_phantom(1)
    result = segment_levelset(image)
    n, _ = cv2.connectedComponents(result.mask.astype(np.uint8))
    assert n == 2                                        # background + one region
    assert len(result.contours) == 1
    hull = cv2.convexHull(result.contours[0])
    assert cv2.contourArea(hull) <= 1.08 * cv2.contourArea(result.contours[0]) + 10
    x0, y0, x1, y1 = result.roi
    assert 0 <= x0 < x1 <= SIZE and 0 <= y0 < y1 <= SIZE


def test_user_box_and_gray_float_input():
    image, truth = sac_phantom(3)
    ys, xs = np.nonzero(truth)
    box = (xs.min() - 20, ys.min() - 20, xs.max() + 20, ys.max() + 20)
    boxed = segment_levelset(image, roi=box)
    assert dice(truth, boxed.mask) >= 0.8
    assert not boxed.mask[:, : box[0]].any() and not boxed.mask[: box[1]].any()
    gray = image[:, :, 0].astype(np.float32) / 255.0
    assert dice(truth, segment_levelset(gray).mask) >= 0.8
    with pytest.raises(InputError, match="box"):
        segment_levelset(image, roi=(10, 10, 12, 12))


def test_geodesic_variant_runs():
    image, truth = sac_phantom(2)
    result = segment_levelset(image, params=LevelSetParams(method="geodesic", iterations=30))
    assert dice(truth, result.mask) >= 0.6


def test_images_without_a_sac_give_an_empty_mask():
    for image in (np.zeros((64, 64), np.uint8), np.full((64, 64, 3), 120, np.uint8)):
        result = segment_levelset(image)
        assert result.mask.shape == (64, 64) and not result.mask.any() and result.contours == []


@pytest.mark.parametrize("kwargs", [{"method": "snake"}, {"iterations": 0}, {"working_size": 4},
                                    {"edge_margin": 0.7}, {"close_px": -1}, {"median_px": 4}])
def test_bad_parameters(kwargs):
    with pytest.raises(InputError, match="level set"):
        LevelSetParams(**kwargs)


def test_params_are_frozen():
    with pytest.raises(AttributeError):
        LevelSetParams().iterations = 3


def test_draw_contours():
    image, truth = sac_phantom(4)
    drawn = draw_contours(image, truth, color=(255, 0, 0), thickness=1)
    changed = np.any(drawn != image, axis=2)
    assert drawn.shape == image.shape and changed.any()
    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    edge = truth ^ cv2.erode(truth.astype(np.uint8), cross).astype(bool)
    assert changed[edge].mean() > 0.9
    with pytest.raises(InputError):
        draw_contours(image, truth[:10])
