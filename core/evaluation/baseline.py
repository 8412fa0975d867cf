"""A continuous rule baseline: logistic regression on CRL, FHR and gestational age, out of fold.

Why: a binary rule is one ROC point, so its "AUC" (sens+spec)/2 is not comparable with a CNN's full curve.
Fitting a logistic regression on the same three clinical values, inside the *same* cross-validation folds as
the CNN, gives every case an out-of-fold probability; then the rules get a full ROC curve and a paired DeLong
test against the CNN on identical cases without leaking test cases into the fit. Missing values are imputed
by the training fold's median, with missing-indicator columns, all inside the fold.
"""

from __future__ import annotations

import math

import numpy as np

from core.evaluation._validation import check_binary_truth, undefined
from core.errors import InputError

FEATURES = ("crl_mm", "fhr_bpm", "ga_weeks")


def _feature_matrix(features) -> np.ndarray:
    try:
        x = np.asarray(features, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError("features must be numbers (crl_mm, fhr_bpm, ga_weeks per case); missing = NaN") from None
    if x.ndim != 2 or x.shape[1] < 1:
        raise InputError(f"features must be a 2-D (cases x features) array; got shape {x.shape}")
    bad = np.argwhere(np.isinf(x))
    if bad.size:
        i, j = bad[0]
        raise InputError(f"features[{i}, {j}] is infinite")
    return x


def out_of_fold_logistic(features, y_true, folds, *, pos_label=None, seed: int = 0) -> np.ndarray:
    """Out-of-fold probabilities of a logistic regression fitted on the other folds.

    Parameters
    ----------
    features : array-like of shape (n, p)
        E.g. columns CRL (mm), FHR (bpm), GA (weeks); NaN marks a missing value.
    y_true : array-like of 0/1 (or two labels with ``pos_label``)
    folds : array-like of shape (n,)
        Test-fold id of each case (the CNN's cross-validation assignment); each distinct value is one fold.
    seed : int
        ``random_state`` of the solver (lbfgs is deterministic; kept for reproducibility records).

    Returns
    -------
    ndarray of shape (n,)
        Probability of the positive class for each case, predicted by the model not trained on it. NaN (with
        a warning) for the cases of a fold whose training part holds one class only.

    Examples
    --------
    >>> x = [[5.0, 110], [9.0, 150], [4.5, 100], [10.0, 160], [5.5, 115], [9.5, 155]]
    >>> p = out_of_fold_logistic(x, [1, 0, 1, 0, 1, 0], [0, 0, 1, 1, 2, 2])
    >>> bool((p[[0, 2, 4]] > p[[1, 3, 5]]).all())
    True
    """
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = _feature_matrix(features)
    t = check_binary_truth(y_true, pos_label=pos_label)
    f = np.asarray(folds, dtype=object).reshape(-1)
    if t.size != x.shape[0] or f.size != x.shape[0]:
        raise InputError(f"features has {x.shape[0]} rows, y_true {t.size} values and folds {f.size} values")
    fold_ids = np.unique(f.astype(str))
    if fold_ids.size < 2:
        raise InputError(f"folds has {fold_ids.size} distinct value(s); out-of-fold fitting needs at least two")
    f = f.astype(str)
    proba = np.full(t.size, math.nan)
    for fold in fold_ids:
        test = f == fold
        train = ~test
        if np.unique(t[train]).size < 2:
            undefined(f"fold {fold!r}: its training cases hold one class only; its predictions are NaN")
            continue
        keep_cols = ~np.all(np.isnan(x[train]), axis=0)
        if not keep_cols.any():
            undefined(f"fold {fold!r}: every feature is missing in its training cases; its predictions are NaN")
            continue
        model = make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler(),
                              LogisticRegression(random_state=seed, max_iter=1000))
        model.fit(x[train][:, keep_cols], t[train])
        proba[test] = model.predict_proba(x[test][:, keep_cols])[:, 1]
    return proba


def rules_baseline_frame(df, *, truth: str, folds: str, pos_label=None, seed: int = 0) -> np.ndarray:
    """:func:`out_of_fold_logistic` on a per-case DataFrame with columns crl_mm, fhr_bpm, ga_weeks.

    Absent columns are left out of the model; a value that is not numeric raises InputError naming the row.
    """
    import pandas as pd

    from core.evaluation.subgroups import resolve_column

    cols = []
    for name in FEATURES:
        try:
            cols.append(resolve_column(df, name))
        except InputError:
            continue
    if not cols:
        raise InputError(f"none of the columns {list(FEATURES)!r} is present for the rules baseline")
    x = df[cols].apply(pd.to_numeric, errors="coerce")
    bad = x.isna() & df[cols].notna()
    if bad.to_numpy().any():
        i, j = np.argwhere(bad.to_numpy())[0]
        row = df["row"].iloc[i] if "row" in df.columns else i
        raise InputError(f"row {row}, column {cols[j]}: {df[cols[j]].iloc[i]!r} is not a number")
    return out_of_fold_logistic(x.to_numpy(), df[resolve_column(df, truth)].to_numpy(),
                                df[resolve_column(df, folds)].to_numpy(), pos_label=pos_label, seed=seed)
