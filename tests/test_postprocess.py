"""Post-processing of closed structures: a mask with a hole and a stray blob, worked out by hand."""

import math

import numpy as np
import pytest

from core.errors import InputError
from core.segmentation.metrics import dice
from core.segmentation.postprocess import MODES, fill_holes, largest_component, postprocess
from core.tasks import get_task


def _ellipse(a, b, angle_deg=0.0, size=(200, 240), centre=(120, 100)):
    """Pixels whose centres lie inside the ellipse with semi-axes a (along angle) and b."""
    yy, xx = np.mgrid[0:size[0], 0:size[1]]
    x, y = xx - centre[0], yy - centre[1]
    t = math.radians(angle_deg)
    u, v = x * math.cos(t) + y * math.sin(t), -x * math.sin(t) + y * math.cos(t)
    return (u / a) ** 2 + (v / b) ** 2 <= 1


def _damaged():
    """A 7x7 square with a one-pixel hole and a 2x2 blob apart from it: 48 + 4 pixels."""
    m = np.zeros((12, 12), np.uint8)
    m[1:8, 1:8] = 1
    m[4, 4] = 0
    m[10:12, 10:12] = 1
    return m


def test_hand_counted_square_with_hole_and_blob():
    m = _damaged()
    assert int(postprocess(m, "none").sum()) == 48 + 4
    assert int(postprocess(m, "largest").sum()) == 48          # blob gone, hole kept
    filled = postprocess(m, "fill")
    assert int(filled.sum()) == 49 and filled[4, 4] and not filled[10, 10]
    assert filled.dtype == bool and filled.shape == m.shape


def test_diagonal_touch_is_one_component():
    m = np.zeros((6, 6), bool)
    m[0:2, 0:2] = True
    m[2:5, 2:5] = True      # touches the first square at a corner: 8-connected
    assert int(largest_component(m).sum()) == 4 + 9


def test_ellipse_mode_repairs_a_damaged_head():
    truth = _ellipse(70, 45, angle_deg=25)
    m = truth.copy()
    m[90:110, 110:130] = False          # a hole (dark ventricle)
    m[5:15, 5:15] = True                # a stray blob
    assert dice(truth, m) < 0.98
    fixed = postprocess(m, "ellipse")
    assert dice(truth, fixed) > 0.995
    assert not fixed[10, 10] and fixed[100, 120]
    m[122:130, 172:190] = False         # a notch cut from the edge at the major axis: filling cannot restore it
    assert not postprocess(m, "fill")[127, 180]
    fixed = postprocess(m, "ellipse")
    assert fixed[127, 180] and dice(truth, fixed) > 0.98


def test_empty_and_tiny_masks_pass_through():
    assert not postprocess(np.zeros((5, 5)), "ellipse").any()
    one = np.zeros((5, 5), bool)
    one[2, 2] = True
    assert postprocess(one, "ellipse").sum() == 1


def test_fill_holes_keeps_open_shapes_open():
    c = np.zeros((10, 10), bool)
    c[2:8, 2] = c[2, 2:8] = c[7, 2:8] = True        # a "C": its inside touches the border through the gap
    assert int(fill_holes(c).sum()) == int(c.sum())


def test_bad_mode_and_shape():
    with pytest.raises(InputError, match="postprocess"):
        postprocess(np.zeros((4, 4)), "convex")
    with pytest.raises(InputError):
        postprocess(np.zeros((2, 4, 4)), "fill")
    assert MODES == ("none", "largest", "fill", "ellipse")


def test_task_selects_the_step():
    assert get_task("segmentation").protocol.postprocess == "fill"
    assert get_task("preterm").protocol.postprocess == "largest"       # the cervix is open: never filled
    for name in ("miscarriage", "cns", "first_trimester", "classification", "instance"):
        assert get_task(name).protocol.postprocess in MODES
