"""The first-trimester paper's instance metrics on a hand-built example (numbers worked out by hand below)."""

import math

import numpy as np
import pandas as pd
import pytest

from core.errors import InputError
from core.evaluation.instance import (average_precision, box_iou, boxes_from_masks, class_average_precision,
                                      evaluate_instances, mask_iou, structure_table, summarize_runs,
                                      summarize_tables, true_view, view_accuracy)

STRUCTURES = ("a", "b", "c")            # "c" is present once and never detected
VIEWS = {"v1": ("a", "b"), "v2": ("c",)}
S = 16


def _mask(y0, y1, x0, x1):
    m = np.zeros((S, S), dtype=bool)
    m[y0:y1, x0:x1] = True
    return m


A = _mask(0, 8, 0, 8)           # structure a
B = _mask(8, 16, 8, 16)         # structure b
B_WRONG = _mask(0, 4, 8, 16)    # disjoint from B: IoU 0
C = _mask(8, 16, 0, 8)


def _pred(items):
    """items: (class id, score, mask) -> prediction dict with boxes from the masks."""
    if not items:
        return {"labels": np.zeros(0, int), "scores": np.zeros(0), "masks": np.zeros((0, S, S), bool),
                "boxes": np.zeros((0, 4))}
    masks = np.stack([m for _, _, m in items])
    return {"labels": np.array([k for k, _, _ in items]), "scores": np.array([s for _, s, _ in items]),
            "masks": masks, "boxes": boxes_from_masks(masks)}


def _truth(items):
    if not items:
        return {"labels": np.zeros(0, int), "masks": np.zeros((0, S, S), bool)}
    return {"labels": np.array([k for k, _ in items]), "masks": np.stack([m for _, m in items])}


# image 1: a found (0.9) plus a duplicate (0.5); b's top detection (0.8) misses; a 0.2 b-detection is ignored
# image 2: a found at 0.4; c present, never detected
# image 3: nothing present; a false b at 0.7
# image 4: b found at 0.6
TRUTHS = [_truth([(1, A), (2, B)]), _truth([(1, A), (3, C)]), _truth([]), _truth([(2, B)])]
PREDS = [_pred([(1, 0.9, A), (1, 0.5, A), (2, 0.8, B_WRONG), (2, 0.2, B)]),
         _pred([(1, 0.4, A)]),
         _pred([(2, 0.7, B)]),
         _pred([(2, 0.6, B)])]


def test_structure_table_matches_hand_counts():
    with pytest.warns(RuntimeWarning, match="c"):
        table = structure_table(TRUTHS, PREDS, structures=STRUCTURES)
    # a: TP img1, TP img2, TN img3, TN img4
    # b: FP+FN img1 (top detection IoU 0), TN img2, FP img3, TP img4
    # c: TN img1, FN img2, TN img3, TN img4 -> never detected: precision undefined
    expected = pd.DataFrame(
        {"TP": [2, 1, 0], "FP": [0, 2, 0], "FN": [0, 1, 1], "TN": [2, 1, 3],
         "accuracy": [1.0, 2 / 5, 3 / 4], "recall": [1.0, 1 / 2, 0.0], "precision": [1.0, 1 / 3, math.nan],
         "f1": [1.0, 2 / 5, 0.0]},
        index=pd.Index(list(STRUCTURES), name="structure"))
    pd.testing.assert_frame_equal(table, expected, check_dtype=False)


def test_box_iou_decides_the_same_way_here():
    with pytest.warns(RuntimeWarning):
        table = structure_table(TRUTHS, PREDS, structures=STRUCTURES, iou_type="box")
    assert table.loc["b", ["TP", "FP", "FN", "TN"]].tolist() == [1, 2, 1, 1]


def test_threshold_moves_detections_out():
    with pytest.warns(RuntimeWarning):
        table = structure_table(TRUTHS, PREDS, structures=STRUCTURES, score_threshold=0.45)
    # a's only image-2 detection (0.4) falls below the threshold: FN instead of TP
    assert table.loc["a", ["TP", "FP", "FN", "TN"]].tolist() == [1, 0, 1, 2]


def test_average_precision_by_hand():
    # a: detections 0.9 TP, 0.5 duplicate FP, 0.4 TP over 2 truths: recall .5 .5 1, precision 1 .5 2/3
    # all-point envelope: .5 * 1 + .5 * 2/3 = 5/6
    assert class_average_precision(TRUTHS, PREDS, class_id=1) == pytest.approx(5 / 6)
    # b: 0.8 FP (IoU 0), 0.7 FP (no truth), 0.6 TP over 2 truths: recall 0 0 .5, precision 0 0 1/3 -> 1/6
    assert class_average_precision(TRUTHS, PREDS, class_id=2) == pytest.approx(1 / 6)
    assert class_average_precision(TRUTHS, PREDS, class_id=3) == 0.0
    assert average_precision(np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3])) == pytest.approx(5 / 6)


def test_evaluate_instances_map_and_views():
    result = evaluate_instances(TRUTHS, PREDS, structures=STRUCTURES, views=VIEWS,
                                true_views=["v1", "v2", "v2", "v1"])
    assert result["mask_map50"] == pytest.approx((5 / 6 + 1 / 6 + 0) / 3)
    assert result["box_map50"] == pytest.approx((5 / 6 + 1 / 6 + 0) / 3)
    # predicted views: v1 (a .9 + b .8), v1 (a .4), v1 (b .7), v1 (b .6)
    assert result["view_accuracy"] == pytest.approx(0.5)
    assert result["per_structure"].loc["a", "mask_ap50"] == pytest.approx(5 / 6)


def test_class_absent_from_truth_has_no_ap():
    truths = [_truth([(1, A)])]
    preds = [_pred([(1, 0.9, A), (2, 0.9, B)])]
    assert math.isnan(class_average_precision(truths, preds, class_id=2))
    result = evaluate_instances(truths, preds, structures=("a", "b"))
    assert result["mask_map50"] == pytest.approx(1.0)


def test_ious_by_hand():
    assert box_iou(np.array([[0, 0, 2, 2]]), np.array([[1, 1, 3, 3]]))[0, 0] == pytest.approx(1 / 7)
    assert mask_iou(A[None], _mask(0, 8, 4, 12)[None])[0, 0] == pytest.approx(32 / 96)
    assert boxes_from_masks(_mask(2, 5, 3, 4)[None]).tolist() == [[3, 2, 4, 5]]


def test_true_view_and_accuracy():
    assert true_view([1, 2], STRUCTURES, VIEWS) == "v1"
    assert true_view([3], STRUCTURES, VIEWS) == "v2"
    assert true_view([], STRUCTURES, VIEWS) is None
    assert view_accuracy(["v1", "v2", None], ["v1", None, "v2"]) == pytest.approx(0.5)


def test_summaries_over_runs():
    s = summarize_runs([{"mask_map50": 0.6}, {"mask_map50": 0.8}], keys=("mask_map50",))
    assert s["mask_map50"] == pytest.approx(0.7)
    assert s["mask_map50_sd"] == pytest.approx(np.std([0.6, 0.8], ddof=1))
    t1 = pd.DataFrame({"TP": [1, 2]}, index=pd.Index(["a", "b"], name="structure"))
    t2 = pd.DataFrame({"TP": [3, 2]}, index=pd.Index(["a", "b"], name="structure"))
    assert summarize_tables([t1, t2])["TP"].tolist() == [2.0, 2.0]


def test_bad_input_is_an_input_error():
    with pytest.raises(InputError, match="iou_type"):
        structure_table(TRUTHS, PREDS, structures=STRUCTURES, iou_type="polygon")
    with pytest.raises(InputError, match="predictions"):
        structure_table(TRUTHS, PREDS[:2], structures=STRUCTURES)
