"""Segmentation metrics against hand-computed cases and slow, obviously-correct references."""

import itertools
import math

import numpy as np
import pytest

from core.errors import InputError
from core.evaluation import UndefinedMetricWarning
from core.segmentation.metrics import (confusion_counts, dice, hausdorff95, iou, mean_surface_distance, precision,
                                       recall, segmentation_scores)


def test_two_by_two_by_hand():
    truth = [[1, 1], [0, 0]]
    pred = [[1, 0], [1, 0]]           # TP=1, FP=1, FN=1, TN=1
    assert confusion_counts(truth, pred) == {"tp": 1, "fp": 1, "fn": 1, "tn": 1}
    assert dice(truth, pred) == pytest.approx(2 / 4)
    assert iou(truth, pred) == pytest.approx(1 / 3)
    assert precision(truth, pred) == pytest.approx(1 / 2)
    assert recall(truth, pred) == pytest.approx(1 / 2)


def test_under_segmentation_by_hand():
    truth = [[1, 1], [1, 0]]
    pred = [[1, 0], [0, 0]]           # TP=1, FP=0, FN=2
    assert dice(truth, pred) == pytest.approx(2 / 4)
    assert iou(truth, pred) == pytest.approx(1 / 3)
    assert precision(truth, pred) == pytest.approx(1.0)
    assert recall(truth, pred) == pytest.approx(1 / 3)


def test_perfect_and_disjoint():
    a = np.zeros((4, 4), bool)
    a[1:3, 1:3] = True
    b = np.zeros((4, 4), bool)
    b[0, 0] = True
    assert dice(a, a) == 1.0 and iou(a, a) == 1.0
    assert dice(a, b) == 0.0 and iou(a, b) == 0.0 and precision(a, b) == 0.0 and recall(a, b) == 0.0


def test_empty_vs_empty_is_nan_with_warning():
    e = np.zeros((3, 3), bool)
    for fn in (dice, iou, precision, recall):
        with pytest.warns(UndefinedMetricWarning):
            assert math.isnan(fn(e, e))
    with pytest.warns(UndefinedMetricWarning):
        assert dice(e, e, zero_division=1.0) == 1.0


def test_empty_prediction_vs_nonempty_truth():
    truth = np.zeros((3, 3), bool)
    truth[1, 1] = True
    empty = np.zeros((3, 3), bool)
    assert dice(truth, empty) == 0.0
    assert iou(truth, empty) == 0.0
    assert recall(truth, empty) == 0.0
    with pytest.warns(UndefinedMetricWarning):
        assert math.isnan(precision(truth, empty))
    with pytest.warns(UndefinedMetricWarning):
        assert math.isnan(recall(empty, truth))      # truth empty: recall undefined
    with pytest.warns(UndefinedMetricWarning):
        assert math.isnan(hausdorff95(truth, empty, spacing=0.5))
    with pytest.warns(UndefinedMetricWarning):
        scores = segmentation_scores(empty, empty, spacing=0.3)
    assert all(math.isnan(v) for v in scores.values())


def test_against_counting_loops(rng):
    for _ in range(5):
        t = rng.random((7, 9)) > 0.5
        p = rng.random((7, 9)) > 0.4
        tp = fp = fn = 0
        for i, j in itertools.product(range(7), range(9)):
            tp += t[i, j] and p[i, j]
            fp += p[i, j] and not t[i, j]
            fn += t[i, j] and not p[i, j]
        assert dice(t, p) == pytest.approx(2 * tp / (2 * tp + fp + fn))
        assert iou(t, p) == pytest.approx(tp / (tp + fp + fn))
        assert precision(t, p) == pytest.approx(tp / (tp + fp))
        assert recall(t, p) == pytest.approx(tp / (tp + fn))


def test_bad_input_raises_input_error():
    with pytest.raises(InputError, match="shape"):
        dice(np.zeros((2, 2)), np.zeros((2, 3)))
    with pytest.raises(InputError, match="spacing"):
        hausdorff95(np.ones((2, 2)), np.ones((2, 2)), spacing=-1)


def _boundary_reference(mask):
    """Pixels of the mask with an 8-neighbour outside the mask or outside the image (slow loops)."""
    h, w = mask.shape
    pts = []
    for i in range(h):
        for j in range(w):
            if not mask[i, j]:
                continue
            for di in (-1, 0, 1):
                for dj in (-1, 0, 1):
                    ii, jj = i + di, j + dj
                    if not (0 <= ii < h and 0 <= jj < w) or not mask[ii, jj]:
                        pts.append((i, j))
                        break
                else:
                    continue
                break
    return np.array(pts, dtype=float)


def _directed_reference(a, b, spacing):
    pa, pb = _boundary_reference(a) * spacing, _boundary_reference(b) * spacing
    return np.array([np.min(np.hypot(*(pb - p).T)) for p in pa])


@pytest.mark.parametrize("spacing", [(1.0, 1.0), (0.5, 0.5), (0.3, 0.7)])
def test_surface_distances_against_brute_force(rng, spacing):
    a = np.zeros((20, 24), bool)
    a[3:12, 4:15] = True
    b = np.zeros((20, 24), bool)
    b[6:17, 8:20] = True
    b[10, 3:8] = rng.random(5) > 0.3
    sp = np.array(spacing)
    d = np.concatenate([_directed_reference(b, a, sp), _directed_reference(a, b, sp)])
    assert hausdorff95(a, b, spacing=spacing) == pytest.approx(np.percentile(d, 95))
    assert mean_surface_distance(a, b, spacing=spacing) == pytest.approx(d.mean())


def test_surface_distance_hand_cases():
    a = np.zeros((10, 10), bool)
    b = np.zeros((10, 10), bool)
    a[1, 1] = True
    b[4, 5] = True                     # a 3-4-5 triangle
    assert hausdorff95(a, b, spacing=0.5) == pytest.approx(2.5)
    assert mean_surface_distance(a, b, spacing=2.0) == pytest.approx(10.0)
    sq = np.zeros((10, 10), bool)
    sq[2:7, 2:7] = True
    assert hausdorff95(sq, sq) == 0.0 and mean_surface_distance(sq, sq) == 0.0
