"""Training and evaluation score the same predictions the same way (issue 20 item 4).

One empty-mask convention (:mod:`core.segmentation.metrics`: two empty masks have NaN Dice, left out of means),
one ``UndefinedMetricWarning`` class, one positive-class rule (:func:`core.tasks.positive_index`), and training's
AUC / sensitivity / specificity from :mod:`core.evaluation`, checked against scikit-learn.
"""

import math
import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.metrics import recall_score, roc_auc_score

from core.evaluation import UndefinedMetricWarning
from core.segmentation.metrics import dice, iou, segmentation_scores
from core.store.summary import summarize
from core.tasks import get_task, positive_index
from core.training.adapters import Adapter
from core.training.folds import _prediction_tables
from core.training.metrics import probability_auc, run_metrics


def _masks():
    """Case 0: truth and prediction both empty; case 1: a 4-pixel truth, a 2-pixel overlap plus 2 false pixels."""
    truth = np.zeros((2, 8, 8), np.uint8)
    truth[1, 2:4, 2:4] = 1
    pred = np.zeros((2, 8, 8), np.float32)
    pred[1, 2:3, 2:4] = 0.9
    pred[1, 6, 6:8] = 0.8
    return truth, pred


def test_empty_masks_give_the_same_value_in_training_validation_held_out_tables_and_evaluation(tmp_path):
    truth, pred = _masks()
    # Evaluation (segment --mask, stored segmentation scores): both empty -> NaN with the one warning class.
    with pytest.warns(UndefinedMetricWarning):
        evaluated = segmentation_scores(truth[0], pred[0] >= 0.5)
    assert math.isnan(evaluated["dice"]) and math.isnan(evaluated["iou"])
    assert dice(truth[1], pred[1] >= 0.5) == pytest.approx(2 * 2 / (4 + 4))

    # Training validation (the number early stopping reads): the same NaN, left out of the mean.
    adapter = Adapter("segmentation", masks=truth.astype(np.uint8) * 255)   # coverage, as load_pictures stores
    with warnings.catch_warnings():
        warnings.simplefilter("error")           # the adapter neither warns every epoch nor divides by zero
        only_empty = adapter.metrics({"indices": np.array([0]), "seg": pred[:1]})
        both = adapter.metrics({"indices": np.array([0, 1]), "seg": pred})
    assert math.isnan(only_empty["val_dice"])
    assert both["val_dice"] == pytest.approx(0.5)

    # Training's held-out table (per_case.csv) and the run's dice: same per-case values as the evaluation.
    paths = []
    for i in range(2):
        paths.append(str(tmp_path / f"m{i}.png"))
        Image.fromarray(truth[i] * 255).save(paths[-1])
    records = pd.DataFrame({"case": ["a", "b"], "patient_id": ["p0", "p1"], "image_path": paths, "mask_path": paths,
                            "label": [None, None]})
    plan = SimpleNamespace(pictures=SimpleNamespace(records=records), targets=None, class_names=(),
                           bundle_meta={"resize_mode": "stretch"})
    _, seg_rows = _prediction_tables(plan, {"indices": np.array([0, 1]), "probs": None, "seg": pred}, 0, "fold0")
    assert math.isnan(seg_rows["dice"][0]) and math.isnan(seg_rows["iou"][0])
    assert seg_rows["dice"][1] == pytest.approx(dice(truth[1], pred[1] >= 0.5))
    assert seg_rows["iou"][1] == pytest.approx(iou(truth[1], pred[1] >= 0.5))
    metrics = run_metrics(None, seg_rows)
    assert metrics["dice"] == pytest.approx(0.5) and metrics["n_cases_dice_undefined"] == 1
    assert metrics["flag"] is None          # one undefined case does not make the run NaN


def test_one_warning_class_everywhere():
    import core.evaluation._validation as validation
    import core.segmentation.metrics as seg

    assert seg.UndefinedMetricWarning is validation.UndefinedMetricWarning is UndefinedMetricWarning
    e = np.zeros((3, 3), bool)
    with pytest.warns(UndefinedMetricWarning):
        dice(e, e)
    with pytest.warns(UndefinedMetricWarning):
        probability_auc(np.zeros(4, int), np.full((4, 2), 0.5))


def _binary_oof(rng, n=40, positive_first=False):
    names = ["miscarriage", "live_birth"] if positive_first else ["live_birth", "miscarriage"]
    y = np.r_[np.ones(n // 4, int), np.zeros(n - n // 4, int)]          # 1 = miscarriage
    p = np.clip(0.35 + 0.3 * y + rng.normal(0, 0.2, n), 0.01, 0.99)     # P(miscarriage)
    oof = pd.DataFrame({"case": [f"c{i}" for i in range(n)], "patient_id": [f"p{i}" for i in range(n)],
                        "truth": np.where(y == 1, "miscarriage", "live_birth"),
                        f"score_{names[0]}": p if positive_first else 1 - p,
                        f"score_{names[1]}": 1 - p if positive_first else p, "fold": 0})
    return oof, y, p


@pytest.mark.parametrize("positive_first", [False, True])
def test_training_auc_sensitivity_specificity_equal_sklearn(rng, positive_first):
    oof, y, p = _binary_oof(rng, positive_first=positive_first)
    m = run_metrics(oof, None, positive="miscarriage")
    assert m["level"] == "patient"
    assert m["auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert m["auc"] > 0.5                      # the positive column, whatever its position among the scores
    called = (p >= 0.5).astype(int)
    assert m["sensitivity"] == pytest.approx(recall_score(y, called))
    assert m["specificity"] == pytest.approx(recall_score(1 - y, 1 - called))
    # The validation AUC the trainer monitors is the same function.
    probs = np.c_[1 - p, p]
    assert Adapter("classification", targets=y).metrics({"indices": np.arange(len(y)), "probs": probs})[
        "val_auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-12)


def test_training_multiclass_auc_equals_sklearn_macro_one_vs_rest(rng):
    n, k = 60, 4
    truth = np.arange(n) % k
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[truth]
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    expected = roc_auc_score(truth, probs, multi_class="ovr", average="macro")
    assert probability_auc(truth, probs) == pytest.approx(expected, abs=1e-12)
    # Per class present, as the stored evaluation's macro AUC: class 3 absent -> mean of the other three.
    keep = truth != 3
    per_class = [roc_auc_score(truth[keep] == j, probs[keep, j]) for j in range(3)]
    assert probability_auc(truth[keep], probs[keep]) == pytest.approx(np.mean(per_class), abs=1e-12)


def test_one_positive_class_rule_for_tasks_training_predictor_and_stored_evaluations(rng):
    assert positive_index(["live_birth", "miscarriage"], "miscarriage") == 1
    assert positive_index(["miscarriage", "live_birth"], "miscarriage") == 0
    assert positive_index(["a", "b"]) == 1 and positive_index(["a", "b"], "not a class") == 1
    assert positive_index(["a", "b", "c"], "a") is None and positive_index([]) is None
    generic = get_task("classification", labels=["previa", "normal", "previa"])
    assert generic.positive_label == "previa"          # sorted ("normal", "previa"): the second is positive

    # A stored evaluation whose positive class is listed first: the summary scores the positive class.
    oof, y, p = _binary_oof(rng, positive_first=True)
    cases = pd.DataFrame({"case_id": oof["case"], "patient_id": oof["patient_id"],
                          "truth_index": np.where(y == 1, 0, 1), "score": p, "scores": None})
    meta = {"name": "e", "class_names": ["miscarriage", "live_birth"], "positive_label": "miscarriage"}
    s = summarize(meta, cases, level="image")
    assert s["auc"]["value"] == pytest.approx(roc_auc_score(y, p)) == pytest.approx(
        run_metrics(oof, None, positive="miscarriage")["auc"])
    assert s["n_positive"] == int(y.sum())
