"""Biometry (area, ellipse circumference, mean diameter) against shapes whose answers are known by hand."""

import math

import cv2
import numpy as np
import pytest

from core.errors import InputError
from core.segmentation.biometry import fit_ellipse, measure, ramanujan_circumference


def _disc(r, size=128):
    m = np.zeros((size, size), np.uint8)
    cv2.circle(m, (size // 2, size // 2), r, 1, -1)
    return m


@pytest.mark.parametrize("r,spacing", [(10, 1.0), (20, 0.2), (45, 0.07)])
def test_circle(r, spacing):
    b = measure(_disc(r), spacing_mm=spacing)
    assert b.circumference_mm == pytest.approx(2 * math.pi * r * spacing, rel=0.03)
    assert b.mean_diameter_mm == pytest.approx(2 * r * spacing, rel=0.03)
    assert b.area_mm2 == pytest.approx(math.pi * r * r * spacing ** 2, rel=0.03)
    assert b.area_px == int(_disc(r).sum())


def test_rotated_ellipse():
    m = np.zeros((160, 160), np.uint8)
    cv2.ellipse(m, (80, 80), (50, 20), 33, 0, 360, 1, -1)     # semi-axes 50 and 20 px
    e = fit_ellipse(m)
    assert e.axes_px[0] == pytest.approx(100, rel=0.03) and e.axes_px[1] == pytest.approx(40, rel=0.05)
    b = measure(m, spacing_mm=0.5)
    assert b.mean_diameter_mm == pytest.approx((100 + 40) / 2 * 0.5, rel=0.03)
    assert b.circumference_mm == pytest.approx(ramanujan_circumference(50, 20) * 0.5, rel=0.03)


def test_ramanujan_known_values():
    assert ramanujan_circumference(3.0, 3.0) == pytest.approx(2 * math.pi * 3.0)
    assert ramanujan_circumference(2.0, 1.0) == pytest.approx(9.688448, abs=1e-3)   # exact value 9.6884482
    with pytest.raises(InputError):
        ramanujan_circumference(-1.0, 1.0)


def test_largest_component_is_measured():
    m = _disc(20)
    m[2:6, 2:6] = 1                      # a small speck elsewhere
    b = measure(m, spacing_mm=1.0)
    assert b.mean_diameter_mm == pytest.approx(40, rel=0.03)
    assert b.area_px == int(m.sum())


def test_no_spacing_gives_none_mm():
    b = measure(_disc(15))
    assert b.area_mm2 is None and b.circumference_mm is None and b.mean_diameter_mm is None
    assert b.circumference_px == pytest.approx(2 * math.pi * 15, rel=0.03)
    assert set(b.to_dict()) >= {"area_px", "area_mm2", "circumference_mm", "mean_diameter_mm", "ellipse"}


def test_empty_and_tiny_masks_do_not_crash():
    b = measure(np.zeros((10, 10), np.uint8), spacing_mm=0.1)
    assert b.area_px == 0 and b.area_mm2 == 0.0
    assert b.circumference_mm is None and b.mean_diameter_mm is None and b.ellipse is None
    one = np.zeros((10, 10), np.uint8)
    one[4, 4] = 1
    assert measure(one, spacing_mm=0.1).circumference_mm is None


@pytest.mark.parametrize("bad", [0, -0.1, float("nan"), "abc"])
def test_bad_spacing(bad):
    with pytest.raises(InputError, match="spacing"):
        measure(_disc(5), spacing_mm=bad)


# --- ellipses of known axes drawn in mm space (pixel centres inside the ellipse), HC within 0.5 % -----------

def _mm_ellipse(a_mm, b_mm, angle_deg, spacing, size=400):
    sy, sx = spacing
    yy, xx = np.mgrid[0:size, 0:size]
    x, y = (xx - size / 2) * sx, (yy - size / 2) * sy
    t = math.radians(angle_deg)
    u, v = x * math.cos(t) + y * math.sin(t), -x * math.sin(t) + y * math.cos(t)
    return ((u / a_mm) ** 2 + (v / b_mm) ** 2 <= 1).astype(np.uint8)


@pytest.mark.parametrize("a,b,angle,spacing", [
    (12.0, 8.0, 0, (0.1, 0.1)), (12.0, 8.0, 33, (0.1, 0.1)), (6.0, 4.0, 70, (0.1, 0.1)),
    (90.0, 65.0, 20, (0.5, 0.5)),                 # a term head at HC18-like resolution
    (12.0, 8.0, 30, (0.15, 0.1)), (12.0, 8.0, 80, (0.1, 0.2)),     # anisotropic pixels
])
def test_hc_bpd_ofd_of_drawn_ellipse(a, b, angle, spacing):
    bio = measure(_mm_ellipse(a, b, angle, spacing), spacing_mm=spacing)
    hc = ramanujan_circumference(a, b)
    assert bio.circumference_mm == pytest.approx(hc, rel=0.005)
    assert bio.ofd_mm == pytest.approx(2 * a, rel=0.01)
    assert bio.bpd_mm == pytest.approx(2 * b, rel=0.01)
    assert bio.area_mm2 == pytest.approx(math.pi * a * b, rel=0.01)


def test_anisotropic_circle_is_fitted_in_mm_space():
    # A 10 mm radius circle seen with 0.2 mm rows and 0.1 mm columns is 200 x 100 px: in pixels an ellipse
    # (semi-axes 100 and 50 px), in mm a circle. Scaling the pixel ellipse's axes afterwards would give a
    # wrong HC when it is rotated.
    m = _mm_ellipse(10.0, 10.0, 0, (0.2, 0.1))
    bio = measure(m, spacing_mm=(0.2, 0.1))
    assert bio.circumference_mm == pytest.approx(2 * math.pi * 10, rel=0.005)
    assert bio.bpd_mm == pytest.approx(bio.ofd_mm, rel=0.01)
    assert bio.circumference_px == pytest.approx(ramanujan_circumference(100, 50), rel=0.02)
    rotated = _mm_ellipse(12.0, 6.0, 45, (0.2, 0.1))
    assert measure(rotated, spacing_mm=(0.2, 0.1)).circumference_mm == pytest.approx(
        ramanujan_circumference(12, 6), rel=0.005)


def test_scalar_spacing_equals_square_pair():
    m = _mm_ellipse(9.0, 7.0, 15, (0.1, 0.1))
    assert measure(m, spacing_mm=0.1).circumference_mm == pytest.approx(
        measure(m, spacing_mm=(0.1, 0.1)).circumference_mm)


@pytest.mark.parametrize("bad", [(0.1,), (0.1, 0.0), (0.1, "x"), (0.1, 0.2, 0.3)])
def test_bad_spacing_pair(bad):
    with pytest.raises(InputError, match="spacing"):
        measure(_disc(5), spacing_mm=bad)
