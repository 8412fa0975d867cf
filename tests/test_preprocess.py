"""Preprocessing: coloured caliper removal by Telea inpainting, fan detection, text-banner masking.

The test images are built here (a speckled sector on black, a text banner, coloured crosses) so the tests do
not depend on the synthetic-data package.
"""

import cv2
import numpy as np
import pytest

from core.errors import InputError
from core.preprocess import (YELLOW_GREEN_HUES, banner_rows, bounding_box, check_box, crop, fan_mask,
                             mask_banner, normalize_intensity, overlay_mask, preprocess, remove_overlays, to_gray)

SIZE = 160


def _sector(size=SIZE):
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    apex_y = -20.0
    r = np.hypot(xx - size / 2, yy - apex_y)
    ang = np.arctan2(xx - size / 2, yy - apex_y)
    return (r >= 34 - apex_y + 0) & (r <= size + 10 - apex_y) & (np.abs(ang) <= np.deg2rad(38))


def _clean_image(seed, size=SIZE):
    """Gray speckled fan on black, as RGB uint8 (R = G = B): speckle grain ~2 px, SD 25 grey levels, on a
    slowly varying tissue level (SD ~25)."""
    rng = np.random.default_rng(seed)
    grain = cv2.GaussianBlur(rng.standard_normal((size, size)).astype(np.float32), (0, 0), 2.0)
    tissue = cv2.GaussianBlur(rng.standard_normal((size, size)).astype(np.float32), (0, 0), 10)
    tissue = 110 + 25 * grain / grain.std() + 25 * tissue / tissue.std()
    gray = np.clip(tissue, 20, 235) * _sector(size)
    gray = gray.astype(np.uint8)
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB)


def _with_crosses(clean, seed):
    rng = np.random.default_rng(seed + 100)
    img = clean.copy()
    for k in range(4):
        x, y = (int(v) for v in rng.integers(50, SIZE - 20, size=2))
        color = (255, 255, 0) if k % 2 == 0 else (0, 255, 0)
        cv2.drawMarker(img, (x, y), color, cv2.MARKER_CROSS, 11, 1 + k % 2, cv2.LINE_AA if k == 3 else cv2.LINE_8)
    return img


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_inpainting_removes_at_least_80_percent_of_the_cross_error(seed):
    clean = _clean_image(seed)
    crossed = _with_crosses(clean, seed)
    cross = np.any(crossed != clean, axis=2)
    assert cross.sum() > 40
    before = np.abs(crossed.astype(float) - clean)[cross].mean()
    restored, found = remove_overlays(crossed)
    after = np.abs(restored.astype(float) - clean)[cross].mean()
    assert found[cross].mean() > 0.95                 # the detector found (nearly) every cross pixel
    assert after <= 0.2 * before, (before, after)
    # Outside the (dilated) overlay nothing changed.
    assert np.array_equal(restored[~found], crossed[~found])


def test_gray_images_have_no_overlay():
    clean = _clean_image(3)
    assert not overlay_mask(clean).any()
    assert not overlay_mask(clean[:, :, 0]).any()
    out, mask = remove_overlays(clean[:, :, 0])
    assert out.ndim == 2 and not mask.any() and np.array_equal(out, clean[:, :, 0])


def test_hue_ranges_select_yellow_and_green_only():
    img = np.full((20, 30, 3), 90, np.uint8)
    img[5, 5] = (255, 255, 0)      # yellow
    img[5, 15] = (0, 255, 0)       # green
    img[5, 25] = (255, 0, 0)       # red
    m = overlay_mask(img, hue_ranges=YELLOW_GREEN_HUES, dilate_px=0)
    assert m[5, 5] and m[5, 15] and not m[5, 25]
    assert overlay_mask(img, dilate_px=0).sum() == 3
    with pytest.raises(InputError):
        overlay_mask(img, hue_ranges=((10, 300),))


def test_fan_mask_matches_the_sector():
    img = _clean_image(4)
    truth = _sector()
    found = fan_mask(img)
    inter, union = (found & truth).sum(), (found | truth).sum()
    assert inter / union > 0.93
    x0, y0, x1, y1 = bounding_box(found)
    tx0, ty0, tx1, ty1 = bounding_box(truth)
    assert max(abs(x0 - tx0), abs(y0 - ty0), abs(x1 - tx1), abs(y1 - ty1)) <= 4


def test_fan_covers_a_dark_structure_and_whole_bright_image():
    img = _clean_image(5)
    cv2.circle(img, (80, 100), 18, (8, 8, 8), -1)       # an anechoic sac inside the fan
    assert fan_mask(img)[100, 80]
    assert fan_mask(np.full((40, 50), 128, np.uint8)).all()


def test_banner_is_found_and_masked():
    img = _clean_image(6)
    cv2.putText(img, "SONO 7w2d", (3, 10), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (230, 230, 230), 1)
    rows = banner_rows(img)
    assert 8 <= rows <= 14
    masked = mask_banner(img, rows)
    assert not masked[:rows].any() and np.array_equal(masked[rows:], img[rows:])
    assert banner_rows(_clean_image(6)) == 0


def test_preprocess_pipeline():
    img = _with_crosses(_clean_image(7), 7)
    cv2.putText(img, "GA 7w", (3, 10), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (230, 230, 230), 1)
    out = preprocess(img)
    assert out.image.shape == img.shape and out.overlay.any() and out.banner_rows > 0
    assert not out.image[: out.banner_rows].any()
    assert not overlay_mask(out.image).any()
    x0, y0, x1, y1 = out.fan_box
    assert out.cropped.shape[:2] == (y1 - y0, x1 - x0)
    assert out.gray.dtype == np.float32 and out.gray.max() <= 1.0


def test_boxes_and_normalisation():
    img = np.arange(100, dtype=np.uint8).reshape(10, 10)
    assert crop(img, (2, 3, 6, 9)).shape == (6, 4)
    assert check_box((-5, -5, 50, 50), img.shape) == (0, 0, 10, 10)
    with pytest.raises(InputError, match="box"):
        check_box((3, 3, 4, 4), img.shape)
    with pytest.raises(InputError, match="box"):
        check_box(("a", 1, 2, 3), img.shape)
    with pytest.raises(InputError):
        bounding_box(np.zeros((4, 4), bool))
    g = normalize_intensity(to_gray(img), low=0, high=100)
    assert g.min() == 0.0 and g.max() == 1.0
    assert to_gray(np.zeros((4, 4, 3), np.uint8)).shape == (4, 4)
    with pytest.raises(InputError):
        to_gray(np.zeros((4, 4, 5)))
