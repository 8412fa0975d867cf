"""The same metrics per subgroup (gestational week, plane, trimester, centre), and Mann-Whitney comparisons.

Why: the papers report results per gestational week and per plane, and the CNS study compares the score
distribution before and after 20 weeks with a Mann-Whitney U test (p = 0.1432). Any manifest column works as
a grouping; a group with one class only gets NaN AUC (with a warning) rather than breaking the table.
"""

from __future__ import annotations

import warnings

import numpy as np

from core.evaluation._validation import (
    UndefinedMetricWarning, check_binary_truth, check_choice, check_scores, show, undefined,
)
from core.evaluation.binary import binary_metrics
from core.evaluation.delong import delong_ci
from core.errors import InputError

ALTERNATIVES = ("two-sided", "less", "greater")


def resolve_column(df, name: str) -> str:
    """The column of ``df`` called ``name``: exact match first, then case- and surrounding-space-insensitive.

    Why: users name columns as they like ("Ground Truth", "cnn score"); a near-miss should still be found,
    but two columns that differ only in case must not be silently merged.

    Examples
    --------
    >>> import pandas as pd
    >>> resolve_column(pd.DataFrame(columns=["Patient ID", "CNN Score"]), "cnn score")
    'CNN Score'
    """
    if name in df.columns:
        return name
    key = str(name).strip().casefold()
    hits = [c for c in df.columns if str(c).strip().casefold() == key]
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise InputError(f"column {name!r} is ambiguous: it matches {hits!r} ignoring case")
    raise InputError(f"column {name!r} not found; the columns are {list(map(str, df.columns))!r}")


# Groupings a protocol may name that are derived from the gestational age column (Protocol.subgroups: the
# papers split by completed week, by trimester and before/after 20 weeks); any other name is a column.
_GA = "ga_weeks"
DERIVED_SUBGROUPS = {
    "ga_week": lambda ga: np.floor(ga),
    "trimester": lambda ga: np.where(np.isnan(ga), np.nan, np.where(ga < 14, 1, np.where(ga < 28, 2, 3))),
    "before_20_weeks": lambda ga: np.where(np.isnan(ga), np.nan, (ga < 20).astype(float)),
}


def subgroup_column(df, name: str):
    """The grouping values of protocol subgroup ``name`` for ``df``'s rows, or None when ``df`` lacks what it
    needs: a column of that name (``resolve_column``), or, for a derived grouping, the ``ga_weeks`` column.

    >>> import pandas as pd
    >>> subgroup_column(pd.DataFrame({"ga_weeks": [12.5, 19.0, 22.0]}), "trimester").tolist()
    [1.0, 2.0, 2.0]
    """
    try:
        return df[resolve_column(df, name)].to_numpy()
    except InputError:
        pass
    if name in DERIVED_SUBGROUPS and _GA in df.columns:
        ga = np.asarray(df[_GA].to_numpy(), dtype=float)
        return DERIVED_SUBGROUPS[name](ga)
    return None


def subgroup_choices(df: pd.DataFrame, subgroups=()) -> dict:
    """{name: group values}: the protocol's subgroups that ``df`` can build first (the study's own splits,
    e.g. trimester from ga_weeks), then the other low-cardinality columns (the Evaluations page's choices).

    >>> import pandas as pd
    >>> list(subgroup_choices(pd.DataFrame({"ga_weeks": [12.5, 21.0], "plane": ["a", "b"]}), ("trimester",)))
    ['trimester', 'ga_weeks', 'plane']
    """
    out = {}
    for name in subgroups:
        values = subgroup_column(df, name)
        if values is not None:
            out[name] = values
    for c in df.columns:
        if c not in out and (c in ("plane", "ga_weeks", "centre", "fold") or (
                df[c].dtype.kind == "O" and 1 < df[c].nunique() <= 12     # object or str (pandas 3)
                and c not in ("truth", "case_id", "patient_id", "scores"))):
            out[c] = np.floor(df[c].astype(float)).to_numpy() if c == _GA else df[c].to_numpy()
    return out


def subgroup_metrics(df, *, by: str, truth: str, score: str, threshold: float = 0.5, pos_label=None,
                     method: str = "wilson", confidence: float = 0.95, include_all: bool = True):
    """One row per value of column ``by`` with n, positives, AUC (DeLong CI) and the threshold metrics.

    Parameters
    ----------
    df : pandas.DataFrame
        Per-case table (e.g. stored predictions joined with manifest columns).
    by, truth, score : str
        Column names (matched as in :func:`resolve_column`). Rows where ``by`` is missing form no group.
    include_all : bool
        Add a final row "all" over every case.

    Returns
    -------
    pandas.DataFrame
        Columns ``group, n, n_pos, auc, auc_ci_low, auc_ci_high`` and for each of accuracy, sensitivity,
        specificity, ppv, npv, f1: ``<name>, <name>_ci_low, <name>_ci_high``.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"week": [6, 6, 6, 7, 7, 7], "y": [0, 1, 1, 0, 0, 1], "p": [.2, .9, .4, .1, .6, .8]})
    >>> subgroup_metrics(df, by="week", truth="y", score="p")["auc"].tolist()
    [1.0, 1.0, 0.8888888888888888]
    """
    import pandas as pd

    by_c, truth_c, score_c = (resolve_column(df, c) for c in (by, truth, score))
    t_all = check_binary_truth(df[truth_c].to_numpy(), pos_label=pos_label, name=truth_c)
    s_all = check_scores(df[score_c].to_numpy(), name=score_c)
    keys = df[by_c]
    groups = [(k, np.flatnonzero((keys == k).to_numpy())) for k in sorted(keys.dropna().unique(), key=_sort_key)]
    if include_all:
        groups.append(("all", np.arange(len(df))))
    rows = []
    for key, idx in groups:
        t, s = t_all[idx], s_all[idx]
        row = {"group": _plain(key), "n": int(idx.size), "n_pos": int(t.sum())}
        with warnings.catch_warnings():
            # a one-class week is expected in small studies: the row says NaN, one warning below says why
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            d = delong_ci(t, s, confidence=confidence)
            m = binary_metrics(t, s, threshold=threshold, method=method, confidence=confidence)
        row.update(auc=d["auc"], auc_ci_low=d["ci_low"], auc_ci_high=d["ci_high"])
        for name in ("accuracy", "sensitivity", "specificity", "ppv", "npv", "f1"):
            row[name] = m[name]["value"]
            row[f"{name}_ci_low"] = m[name]["ci_low"]
            row[f"{name}_ci_high"] = m[name]["ci_high"]
        rows.append(row)
    table = pd.DataFrame(rows)
    undefined_groups = table.loc[table["auc"].isna(), "group"].tolist()
    if undefined_groups:
        undefined(f"AUC undefined in group(s) {show(undefined_groups)} of {by_c!r} (one class only or too few cases)")
    return table


def _sort_key(v):
    return (0, float(v), "") if isinstance(v, (int, float, np.integer, np.floating)) else (1, 0.0, str(v))


def mann_whitney(scores_a, scores_b, *, alternative: str = "two-sided") -> dict:
    """Mann-Whitney U test (scipy) of two independent score samples.

    Returns ``u`` (statistic of sample a), ``p_value``, ``n_a``, ``n_b``, ``median_a``, ``median_b`` and
    ``auc`` = U / (n_a n_b), the probability that a score from a exceeds one from b (ties 1/2).

    Examples
    --------
    >>> r = mann_whitney([0.9, 0.8, 0.7], [0.1, 0.2, 0.3])
    >>> r["u"], r["auc"]
    (9.0, 1.0)
    """
    from scipy.stats import mannwhitneyu

    check_choice(alternative, ALTERNATIVES, name="alternative")
    a, b = check_scores(scores_a, name="scores_a"), check_scores(scores_b, name="scores_b")
    if a.size < 1 or b.size < 1:
        raise InputError("both samples need at least one score")
    res = mannwhitneyu(a, b, alternative=alternative)
    return {"u": float(res.statistic), "p_value": float(res.pvalue), "n_a": int(a.size), "n_b": int(b.size),
            "median_a": float(np.median(a)), "median_b": float(np.median(b)),
            "auc": float(res.statistic) / (a.size * b.size)}


def mann_whitney_by_group(df, *, by: str, score: str, groups=None, alternative: str = "two-sided") -> dict:
    """Mann-Whitney U of column ``score`` between the two values of column ``by`` (or the two in ``groups``).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"after_20w": ["no", "no", "yes", "yes"], "p_true": [.9, .8, .3, .2]})
    >>> mann_whitney_by_group(df, by="after_20w", score="p_true")["groups"]
    ['no', 'yes']
    """
    by_c, score_c = resolve_column(df, by), resolve_column(df, score)
    present = sorted(df[by_c].dropna().unique(), key=_sort_key)
    chosen = list(groups) if groups is not None else present
    if len(chosen) != 2:
        raise InputError(f"column {by_c!r} has groups {show(present)}; name exactly two with groups=")
    for g in chosen:
        if g not in present:
            raise InputError(f"group {show(g)} is not a value of column {by_c!r} (values: {show(present)})")
    a = df.loc[df[by_c] == chosen[0], score_c].to_numpy()
    b = df.loc[df[by_c] == chosen[1], score_c].to_numpy()
    out = mann_whitney(a, b, alternative=alternative)
    out["groups"] = [_plain(g) for g in chosen]
    return out


def _plain(v):
    return v.item() if hasattr(v, "item") else v
