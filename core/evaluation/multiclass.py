"""Multi-class evaluation: one-vs-rest ROC per class, micro and macro ROC/AUC, per-class PR/AP, confusion.

Why both averages: the CNS paper reports micro AUC 0.97 and macro 0.95 for five classes. Micro pools every
(case, class) decision, so frequent classes dominate; macro averages the per-class AUCs, so a rare anomaly
counts as much as the normal class. The macro ROC curve is the per-class TPRs interpolated on the union of
their FPRs and averaged (scikit-learn's documented recipe); ``macro_auc`` is the mean of per-class AUCs, which
is what ``roc_auc_score(average="macro", multi_class="ovr")`` returns.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn import metrics as skm

from core.evaluation._validation import check_scores, show, undefined
from core.errors import InputError


def check_multiclass(y_true, y_proba, *, classes=None):
    """Validate labels and an (n, k) probability matrix; returns ``(int codes, float matrix, class names)``.

    ``y_true`` holds class names (then ``classes`` gives the column order) or integer column indices.
    """
    proba = np.asarray(y_proba)
    if proba.ndim != 2 or proba.shape[1] < 2:
        raise InputError(f"y_proba must be a 2-D (cases x classes) array with >= 2 columns; got shape {proba.shape}")
    flat = check_scores(proba.reshape(-1), name="y_proba").reshape(proba.shape)
    labels = np.asarray(y_true, dtype=object).reshape(-1)
    if labels.size != flat.shape[0]:
        raise InputError(f"y_true has {labels.size} values but y_proba has {flat.shape[0]} rows")
    k = flat.shape[1]
    if classes is None:
        classes = list(range(k))
    classes = list(classes)
    if len(classes) != k:
        raise InputError(f"{len(classes)} class names given for {k} probability columns")
    index = {c: i for i, c in enumerate(classes)} | {str(c): i for i, c in enumerate(classes)}
    codes = np.empty(labels.size, dtype=np.int64)
    for i, v in enumerate(labels):
        key = v if v in index else str(v)
        if key not in index:
            if isinstance(v, (int, np.integer)) and 0 <= int(v) < k:
                codes[i] = int(v)
                continue
            raise InputError(f"y_true[{i}] = {show(v)} is not one of the classes {classes!r}")
        codes[i] = index[key]
    return codes, flat, classes


def multiclass_roc(y_true, y_proba, *, classes=None) -> dict:
    """One-vs-rest ROC per class plus micro- and macro-average curves and AUCs.

    Returns
    -------
    dict
        ``per_class``: {class: {fpr, tpr, auc}} (NaN AUC with a warning for a class absent from
        ``y_true``), ``micro``: {fpr, tpr, auc}, ``macro``: {fpr, tpr, auc}, ``macro_auc`` (mean of the
        defined per-class AUCs), ``micro_auc``.

    Examples
    --------
    >>> r = multiclass_roc(["a", "b", "c"], [[.8, .1, .1], [.2, .7, .1], [.1, .2, .7]], classes=["a", "b", "c"])
    >>> r["micro_auc"], r["macro_auc"]
    (1.0, 1.0)
    """
    codes, proba, classes = check_multiclass(y_true, y_proba, classes=classes)
    onehot = np.eye(len(classes), dtype=np.int8)[codes]
    per_class, aucs = {}, []
    for j, name in enumerate(classes):
        t = onehot[:, j]
        if t.sum() in (0, t.size):
            undefined(f"the ROC of class {name!r} is undefined: it has {'no' if t.sum() == 0 else 'only'} cases")
            per_class[name] = {"fpr": np.array([]), "tpr": np.array([]), "auc": math.nan}
            continue
        fpr, tpr, _ = skm.roc_curve(t, proba[:, j])
        per_class[name] = {"fpr": fpr, "tpr": tpr, "auc": float(skm.auc(fpr, tpr))}
        aucs.append(per_class[name]["auc"])
    fpr_micro, tpr_micro, _ = skm.roc_curve(onehot.ravel(), proba.ravel())
    micro = {"fpr": fpr_micro, "tpr": tpr_micro, "auc": float(skm.auc(fpr_micro, tpr_micro))}
    defined = [c for c in per_class.values() if c["fpr"].size]
    if defined:
        grid = np.unique(np.concatenate([c["fpr"] for c in defined]))
        mean_tpr = np.mean([np.interp(grid, c["fpr"], c["tpr"]) for c in defined], axis=0)
        macro = {"fpr": grid, "tpr": mean_tpr, "auc": float(skm.auc(grid, mean_tpr))}
    else:
        macro = {"fpr": np.array([]), "tpr": np.array([]), "auc": math.nan}
    macro_auc = float(np.mean(aucs)) if aucs else undefined("the macro AUC is undefined: no class has a ROC")
    return {"per_class": per_class, "micro": micro, "macro": macro, "micro_auc": micro["auc"],
            "macro_auc": macro_auc, "classes": classes}


def multiclass_pr(y_true, y_proba, *, classes=None) -> dict:
    """Per-class precision-recall curves and average precision, plus micro AP.

    Examples
    --------
    >>> r = multiclass_pr([0, 1, 1], [[.9, .1], [.3, .7], [.6, .4]])
    >>> round(r["per_class"][1]["average_precision"], 3)
    1.0
    """
    codes, proba, classes = check_multiclass(y_true, y_proba, classes=classes)
    onehot = np.eye(len(classes), dtype=np.int8)[codes]
    per_class = {}
    for j, name in enumerate(classes):
        t = onehot[:, j]
        if t.sum() == 0:
            undefined(f"the precision-recall curve of class {name!r} is undefined: it has no cases")
            per_class[name] = {"precision": np.array([]), "recall": np.array([]), "average_precision": math.nan,
                               "prevalence": 0.0}
            continue
        precision, recall, _ = skm.precision_recall_curve(t, proba[:, j])
        per_class[name] = {"precision": precision, "recall": recall, "prevalence": float(t.mean()),
                           "average_precision": float(skm.average_precision_score(t, proba[:, j]))}
    micro_ap = float(skm.average_precision_score(onehot.ravel(), proba.ravel()))
    return {"per_class": per_class, "micro_average_precision": micro_ap, "classes": classes}


def multiclass_metrics(y_true, y_proba, *, classes=None) -> dict:
    """Accuracy, per-class precision/recall/F1 (predicted class = arg-max), macro F1 and the confusion matrix.

    Examples
    --------
    >>> r = multiclass_metrics([0, 1, 1], [[.9, .1], [.3, .7], [.6, .4]])
    >>> round(r["accuracy"], 4), r["confusion_matrix"].tolist()
    (0.6667, [[1, 0], [1, 1]])
    """
    codes, proba, classes = check_multiclass(y_true, y_proba, classes=classes)
    pred = proba.argmax(axis=1)
    labels = list(range(len(classes)))
    p, r, f, support = skm.precision_recall_fscore_support(codes, pred, labels=labels, zero_division=np.nan)
    per_class = {name: {"precision": float(p[j]), "recall": float(r[j]), "f1": float(f[j]),
                        "support": int(support[j])} for j, name in enumerate(classes)}
    return {
        "accuracy": float(np.mean(pred == codes)),
        "per_class": per_class,
        "macro_f1": float(np.nanmean(f)) if np.isfinite(f).any() else math.nan,
        "confusion_matrix": skm.confusion_matrix(codes, pred, labels=labels),
        "classes": classes,
    }


def true_class_probability(y_true, y_proba, *, classes=None) -> np.ndarray:
    """Each case's probability for its own true class (the CNS study's Mann-Whitney comparison input).

    Examples
    --------
    >>> true_class_probability([1, 0], [[.2, .8], [.6, .4]]).tolist()
    [0.8, 0.6]
    """
    codes, proba, _ = check_multiclass(y_true, y_proba, classes=classes)
    return proba[np.arange(codes.size), codes]
