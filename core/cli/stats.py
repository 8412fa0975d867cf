"""Diagnostic statistics on any CSV of per-case scores.

  python -m core stats roc --csv scores.csv --truth "Outcome" --score "CNN score" [--score2 "rule score"] --json

prints {"auc", "auc_ci": [lo, hi], "auc2", "auc2_ci", "delong_p", "n", "n_pos", "positive", ...}: the AUC
with its DeLong 95 % CI, and with a second score on the same cases the second AUC and the paired DeLong
p-value. Column names match exactly first, then ignoring case and surrounding spaces. Truth values are 0/1
or two labels; with labels other than 0/1 name the positive one with --positive (never guessed; the
output repeats it). Every score must be a number: a bad row stops with exit code 2 naming its
CSV line.
"""

from __future__ import annotations

NAME = "stats"
HELP = "statistics on a CSV of scores: stats roc (AUC, DeLong CI and paired test)"


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="stats_command", metavar="STAT")
    roc = sub.add_parser("roc", help="AUC with DeLong CI; with --score2 the paired DeLong test",
                         description=__doc__, formatter_class=parser.formatter_class)
    roc.add_argument("--csv", required=True, metavar="CSV", help="CSV file with a header row")
    roc.add_argument("--truth", required=True, metavar="COL", help="column with the true class (0/1 or two labels)")
    roc.add_argument("--score", required=True, metavar="COL", help="column with the score (higher = positive)")
    roc.add_argument("--score2", default=None, metavar="COL", help="second score column on the same cases")
    roc.add_argument("--positive", default=None, metavar="LABEL", help="truth value of the positive class")
    roc.add_argument("--confidence", type=float, default=0.95, help="confidence level of the CIs (default 0.95)")
    roc.add_argument("--json", action="store_true", help="print one JSON object")


def run(args) -> int:
    from core.errors import InputError

    if getattr(args, "stats_command", None) != "roc":
        raise InputError("name a statistic: python -m core stats roc --csv CSV --truth COL --score COL")
    return _run_roc(args)


def _read_csv(path):
    import pandas as pd

    from core.errors import InputError

    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=False, encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: the CSV is empty") from None
    except pd.errors.ParserError as err:
        raise InputError(f"{path}: not a readable CSV ({str(err).strip().splitlines()[-1]})") from None


def _numbers(df, col, path):
    """Parse a score column; the first bad cell raises InputError with its CSV line (header = line 1)."""
    import numpy as np

    from core.errors import InputError

    out = np.empty(len(df), dtype=np.float64)
    for i, raw in enumerate(df[col].tolist()):
        text = raw.strip()
        try:
            value = float(text)
        except ValueError:
            value = None
        if value is None or not np.isfinite(value):
            shown = repr(raw) if text else "empty"
            raise InputError(f"{path}: line {i + 2} (row {i + 1}), column {col!r}: score {shown} is not a number")
        out[i] = value
    return out


def _truth(df, col, positive, path):
    import numpy as np

    from core.errors import InputError

    values = [v.strip() for v in df[col].tolist()]
    for i, v in enumerate(values):
        if v == "":
            raise InputError(f"{path}: line {i + 2} (row {i + 1}), column {col!r}: the truth value is empty")
    labels = sorted(set(values), key=_label_order)
    if positive is not None:
        pos = str(positive).strip()
        if pos not in labels:
            raise InputError(f"{path}: --positive {positive!r} is not a value of column {col!r} (values: {labels!r})")
        if len(labels) > 2:
            raise InputError(f"{path}: column {col!r} has {len(labels)} values {labels[:6]!r}; ROC needs two")
        return np.array([v == pos for v in values], dtype=np.int8), pos
    numeric = _as_zero_one(labels)
    if numeric is not None:
        return np.array([numeric[v] for v in values], dtype=np.int8), "1"
    if len(labels) != 2:
        raise InputError(f"{path}: column {col!r} has values {labels[:6]!r}; expected 0/1 or two labels")
    raise InputError(f"{path}: column {col!r} has labels {labels!r}; say which is positive with --positive LABEL")


def _as_zero_one(labels):
    """{text: 0|1} when every label is the number 0 or 1 ("0", "1.0", ...), else None."""
    try:
        parsed = {v: float(v) for v in labels}
    except ValueError:
        return None
    if set(parsed.values()) <= {0.0, 1.0}:
        return {v: int(x) for v, x in parsed.items()}
    return None


def _label_order(label):
    """Numbers sort numerically ("9" before "10"), other labels alphabetically after them."""
    try:
        return (0, float(label), "")
    except ValueError:
        return (1, 0.0, label)


def _run_roc(args) -> int:
    import math
    import warnings

    from core.cli._util import existing_file, print_json
    from core.evaluation._validation import UndefinedMetricWarning, check_confidence
    from core.evaluation.delong import delong_ci, delong_test
    from core.evaluation.subgroups import resolve_column
    from core.errors import InputError

    path = existing_file(args.csv, "CSV")
    conf = check_confidence(args.confidence)
    df = _read_csv(path)
    if len(df) == 0:
        raise InputError(f"{path}: the CSV has a header but no rows")
    try:
        truth_col = resolve_column(df, args.truth)
        score_col = resolve_column(df, args.score)
        score2_col = resolve_column(df, args.score2) if args.score2 is not None else None
    except InputError as err:
        raise InputError(f"{path}: {err}") from None
    y, positive = _truth(df, truth_col, args.positive, path)
    s1 = _numbers(df, score_col, path)
    s2 = _numbers(df, score2_col, path) if score2_col is not None else None
    n_pos = int(y.sum())
    if n_pos in (0, y.size):
        raise InputError(f"{path}: column {truth_col!r} holds only {'negatives' if n_pos == 0 else 'positives'}; "
                         "an ROC needs both classes")
    notes = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UndefinedMetricWarning)
        if s2 is None:
            d = delong_ci(y, s1, confidence=conf)
            out = {"auc": d["auc"], "auc_ci": [d["ci_low"], d["ci_high"]], "auc2": None, "auc2_ci": None,
                   "delong_p": None}
        else:
            d = delong_test(y, s1, s2, confidence=conf)
            out = {"auc": d["auc1"], "auc_ci": d["ci1"], "auc2": d["auc2"], "auc2_ci": d["ci2"],
                   "delong_p": d["p_value"], "auc_difference": d["difference"], "z": d["z"]}
        notes = [str(w.message) for w in caught if issubclass(w.category, UndefinedMetricWarning)]
    out.update(n=int(y.size), n_pos=n_pos, positive=positive, truth=truth_col, score=score_col,
               score2=score2_col, confidence=conf, ci_method="delong")
    if args.json:
        for note in notes:
            print(f"note: {note}", file=__import__("sys").stderr)
        print_json(out)
        return 0
    pct = f"{conf * 100:g} %"
    fmt = lambda v: "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}"  # noqa: E731
    print(f"{path}: {out['n']} cases, {n_pos} positive ({truth_col} = {positive})")
    print(f"  AUC {score_col}: {fmt(out['auc'])} ({pct} CI {fmt(out['auc_ci'][0])}-{fmt(out['auc_ci'][1])}, DeLong)")
    if s2 is not None:
        print(f"  AUC {score2_col}: {fmt(out['auc2'])} ({pct} CI {fmt(out['auc2_ci'][0])}-{fmt(out['auc2_ci'][1])})")
        print(f"  difference {fmt(out['auc_difference'])}, paired DeLong test p = {fmt(out['delong_p'])}")
    for note in notes:
        print(f"  note: {note}")
    return 0
