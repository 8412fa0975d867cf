"""The ``python -m core stats`` sub-commands: read the CSV (core.cli._stats_csv), call core.evaluation, print.

Why separate from core/cli/stats.py: that module is imported for every ``--help``; this one pulls numpy and the
statistics in only when a statistic actually runs. JSON keys are documented in the README ("Statistics").
"""

from __future__ import annotations

import math
import sys
import warnings

from core.cli import _stats_csv as C
from core.cli._util import existing_file, print_json
from core.errors import InputError


def _fmt(v) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}"


def _notes(caught) -> list[str]:
    from core.evaluation._validation import UndefinedMetricWarning

    return [str(w.message) for w in caught if issubclass(w.category, (UndefinedMetricWarning, RuntimeWarning))]


def _emit(args, out: dict, notes: list[str], lines) -> int:
    if notes:
        out["notes"] = notes
    if args.json:
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
        print_json(out)
        return 0
    for line in lines(out):
        print(line)
    for note in notes:
        print(f"  note: {note}")
    return 0


def _scores(args, *, need_score2=False):
    """(path, truth 0/1, score, score2 or None, resolved names, positive label) from --csv/--truth/--score."""
    from core.evaluation._validation import check_confidence

    path = existing_file(args.csv, "CSV")
    check_confidence(args.confidence)
    header = C.read_header(path)
    names = {k: C.resolve(path, header, getattr(args, k, None)) for k in ("truth", "score", "score2")}
    if getattr(args, "groups", None):
        names["groups"] = C.resolve(path, header, args.groups)
    data = C.load(path, list(names.values()))
    y, positive = C.truth(path, data, names["truth"], args.positive)
    s1 = C.numbers(path, data, names["score"])
    s2 = C.numbers(path, data, names["score2"]) if names["score2"] else None
    n_pos = int(y.sum())
    if n_pos in (0, y.size):
        raise InputError(f"{path}: column {names['truth']!r} holds only {'negatives' if n_pos == 0 else 'positives'}; "
                         "an ROC needs both classes")
    groups = C.strings(path, data, names["groups"], what="patient id") if names.get("groups") else None
    return path, y, s1, s2, names, positive, groups


def run_roc(args) -> int:
    from core.evaluation.coords import oriented, resolve_direction
    from core.evaluation.coords_ci import ci_auc_bootstrap, ci_coords
    from core.evaluation.delong import delong_ci, delong_test

    path, y, s1, s2, names, positive, groups = _scores(args)
    conf = args.confidence
    d1 = resolve_direction(y, s1, args.direction)
    o1 = oriented(s1, d1)
    o2 = oriented(s2, resolve_direction(y, s2, args.direction)) if s2 is not None else None
    boot = dict(n_boot=args.boot_n, confidence=conf, stratified=args.stratified, seed=args.seed, direction="<")
    ci_method = "bootstrap" if groups is not None else args.ci_method
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if s2 is None:
            d = delong_ci(y, o1, confidence=conf)
            out = {"auc": d["auc"], "auc_ci": [d["ci_low"], d["ci_high"]], "auc2": None, "auc2_ci": None,
                   "delong_p": None, "auc_difference": None, "difference_ci": None, "z": None}
        else:
            d = delong_test(y, o1, o2, confidence=conf)
            out = {"auc": d["auc1"], "auc_ci": d["ci1"], "auc2": d["auc2"], "auc2_ci": d["ci2"],
                   "delong_p": d["p_value"], "auc_difference": d["difference"], "difference_ci": d["difference_ci"],
                   "z": d["z"]}
        if ci_method == "bootstrap":
            from core.evaluation.bootstrap import cluster_bootstrap_ci

            strat = args.stratified if groups is None else None
            b = cluster_bootstrap_ci(y, o1, groups, n_boot=args.boot_n, confidence=conf, seed=args.seed,
                                     stratified=strat)
            out["auc_ci"] = [b["ci_low"], b["ci_high"]]
            out["bootstrap"] = {k: b[k] for k in ("n_boot", "n_valid", "n_missing_class", "n_clusters",
                                                  "stratified", "seed")}
            if o2 is not None:
                b2 = cluster_bootstrap_ci(y, o2, groups, n_boot=args.boot_n, confidence=conf, seed=args.seed,
                                          stratified=strat)
                out["auc2_ci"] = [b2["ci_low"], b2["ci_high"]]
        if args.partial is not None:
            p = ci_auc_bootstrap(y, o1, partial=tuple(args.partial), focus=args.partial_focus,
                                 correct=args.partial_correct, **boot)
            out["partial_auc"] = p["estimate"]
            out["partial_auc_ci"] = [p["ci_low"], p["ci_high"]]
            out["partial"] = {"range": p["partial"], "focus": args.partial_focus, "correct": args.partial_correct}
        for given, key in (("specificity", "sensitivity_at_specificity"), ("sensitivity", "specificity_at_sensitivity")):
            x = getattr(args, given)
            if x is not None:
                r = ci_coords(y, o1, x, input=given, **boot)
                want = "sensitivity" if given == "specificity" else "specificity"
                low, _, high = r[want][0]
                out[key] = {given: x, want: r["estimate"][want][0], "ci": [low, high],
                            "n_missing_class": r["n_missing_class"]}
        notes = _notes(caught)
    out.update(n=int(y.size), n_pos=int(y.sum()), positive=positive, truth=names["truth"], score=names["score"],
               score2=names["score2"], confidence=conf, ci_method=ci_method, direction=d1)

    def lines(o):
        pct = f"{conf * 100:g} %"
        yield f"{path}: {o['n']} cases, {o['n_pos']} positive ({o['truth']} = {positive})"
        yield (f"  AUC {o['score']}: {_fmt(o['auc'])} ({pct} CI {_fmt(o['auc_ci'][0])}-{_fmt(o['auc_ci'][1])}, "
               f"{'DeLong' if ci_method == 'delong' else 'bootstrap'})")
        if o["score2"]:
            yield f"  AUC {o['score2']}: {_fmt(o['auc2'])} ({pct} CI {_fmt(o['auc2_ci'][0])}-{_fmt(o['auc2_ci'][1])})"
            yield (f"  difference {_fmt(o['auc_difference'])} ({pct} CI {_fmt(o['difference_ci'][0])} to "
                   f"{_fmt(o['difference_ci'][1])}), paired DeLong test p = {_fmt(o['delong_p'])}")
        if "partial_auc" in o:
            yield f"  partial AUC {o['partial']['range']}: {_fmt(o['partial_auc'])} (CI {_fmt(o['partial_auc_ci'][0])}-{_fmt(o['partial_auc_ci'][1])})"
        for key in ("sensitivity_at_specificity", "specificity_at_sensitivity"):
            if key in o:
                v = o[key]
                given, want = [k for k in v if k not in ("ci", "n_missing_class")]
                yield f"  {want} at {given} {v[given]:g}: {_fmt(v[want])} (CI {_fmt(v['ci'][0])}-{_fmt(v['ci'][1])})"

    return _emit(args, out, notes, lines)


def run_coords(args) -> int:
    from core.evaluation.coords import coords
    from core.evaluation.coords_ci import ci_coords

    path, y, s1, _, names, positive, _ = _scores(args)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = coords(y, s1, args.x, input=args.input, direction=args.direction)
        out = {"input": args.input, "x": list(args.x), "sensitivity": r["sensitivity"],
               "specificity": r["specificity"], "threshold": r["threshold"], "direction": r["direction"]}
        if args.ci:
            c = ci_coords(y, s1, args.x, input=args.input, n_boot=args.boot_n, confidence=args.confidence,
                          stratified=args.stratified, seed=args.seed, direction=args.direction)
            out["ci"] = {"sensitivity": c["sensitivity"], "specificity": c["specificity"], "n_boot": c["n_boot"],
                         "n_missing_class": c["n_missing_class"], "stratified": c["stratified"]}
        notes = _notes(caught)
    out.update(n=int(y.size), n_pos=int(y.sum()), positive=positive, score=names["score"], confidence=args.confidence)

    def lines(o):
        yield f"{path}: {o['n']} cases, {o['n_pos']} positive; direction {o['direction']}"
        for i, x in enumerate(o["x"]):
            extra = ""
            if "ci" in o:
                se, sp = o["ci"]["sensitivity"][i], o["ci"]["specificity"][i]
                extra = f"  (CI se {_fmt(se[0])}-{_fmt(se[2])}, sp {_fmt(sp[0])}-{_fmt(sp[2])})"
            yield (f"  {o['input']} {x:g}: sensitivity {_fmt(o['sensitivity'][i])}, specificity "
                   f"{_fmt(o['specificity'][i])}, threshold {_fmt(o['threshold'][i])}{extra}")

    return _emit(args, out, notes, lines)


def run_compare(args) -> int:
    from core.evaluation.roc_tests import roc_test

    path, y, s1, s2, names, positive, _ = _scores(args)
    kw = {"direction": args.direction}
    y2 = None
    if args.csv2:
        p2 = existing_file(args.csv2, "CSV")
        header = C.read_header(p2)
        t2, sc2 = C.resolve(p2, header, args.truth), C.resolve(p2, header, args.score2)
        data = C.load(p2, [t2, sc2])
        y2, _ = C.truth(p2, data, t2, args.positive)
        s2 = C.numbers(p2, data, sc2)
    paired = not (args.unpaired or args.csv2)
    if not paired and y2 is None:
        y2 = y                          # --unpaired on one CSV: the two scores treated as separate samples
    if args.method == "delong":
        kw["confidence"] = args.confidence
        if args.partial is not None:
            raise InputError("DeLong's test does not apply to a partial AUC; use --method bootstrap")
    elif args.method == "bootstrap":
        kw.update(n_boot=args.boot_n, stratified=args.stratified, seed=args.seed,
                  partial=tuple(args.partial) if args.partial else None)
    else:
        kw.update(n_boot=args.boot_n, seed=args.seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = roc_test(y, s1, s2, method=args.method, y_true2=None if paired else y2, paired=paired, **kw)
        notes = _notes(caught)
    keep = ("method", "paired", "auc1", "auc2", "difference", "difference_ci", "statistic", "df", "p_value",
            "n_boot", "n_missing_class", "stratified", "partial", "direction")
    out = {k: r.get(k) for k in keep}
    out.update(n=int(y.size), n2=int(len(s2)), score=names["score"], score2=names["score2"], positive=positive)

    def lines(o):
        what = {"delong": "DeLong", "bootstrap": "bootstrap", "venkatraman": "Venkatraman"}[o["method"]]
        yield f"{what} test ({'paired' if o['paired'] else 'unpaired'}): statistic {_fmt(o['statistic'])}, p = {_fmt(o['p_value'])}"
        if o.get("auc1") is not None:
            yield f"  AUC {o['score']} {_fmt(o['auc1'])}, {o['score2']} {_fmt(o['auc2'])}, difference {_fmt(o['difference'])}"

    return _emit(args, out, notes, lines)


def run_kappa(args) -> int:
    from core.evaluation.kappa import cohen_kappa

    path = existing_file(args.csv, "CSV")
    header = C.read_header(path)
    c1, c2 = C.resolve(path, header, args.rater1), C.resolve(path, header, args.rater2)
    data = C.load(path, [c1, c2])
    a, b = C.strings(path, data, c1, what="rating"), C.strings(path, data, c2, what="rating")
    labels = [v.strip() for v in args.labels.split(",")] if args.labels else None
    if labels is None:
        labels = sorted(set(a) | set(b), key=C._label_order)
    weights = None if args.weights == "none" else args.weights
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = cohen_kappa(a.tolist(), b.tolist(), weights=weights, labels=labels, confidence=args.confidence)
        notes = _notes(caught)
    out = {k: r.get(k) for k in ("kappa", "se", "ci_low", "ci_high", "se0", "z", "p_value", "weights", "labels", "n",
                                 "observed_agreement", "expected_agreement", "confidence")}
    out["kappa_ci"] = [out["ci_low"], out["ci_high"]]
    out.update(rater1=c1, rater2=c2)

    def lines(o):
        yield (f"{path}: {o['n']} cases; {'unweighted' if not weights else weights} kappa {_fmt(o['kappa'])} "
               f"(SE {_fmt(o['se'])}, CI {_fmt(o['ci_low'])}-{_fmt(o['ci_high'])}), p = {_fmt(o['p_value'])}")

    return _emit(args, out, notes, lines)


def run_mrmc(args) -> int:
    import numpy as np

    from core.reader_study.mrmc import or_hillis

    path = existing_file(args.csv, "CSV")
    header = C.read_header(path)
    cols = {k: C.resolve(path, header, getattr(args, k)) for k in ("reader", "modality", "case", "truth", "score")}
    data = C.load(path, list(cols.values()))
    reader = C.strings(path, data, cols["reader"], what="reader")
    modality = C.strings(path, data, cols["modality"], what="modality")
    case = C.strings(path, data, cols["case"], what="case id")
    y, positive = C.truth(path, data, cols["truth"], args.positive)
    s = C.numbers(path, data, cols["score"])
    tests, ti = np.unique(modality, return_inverse=True)
    readers, ri = np.unique(reader, return_inverse=True)
    cases, ci = np.unique(case, return_inverse=True)
    cube = np.full((tests.size, readers.size, cases.size), np.nan)
    counts = np.zeros(cube.shape, dtype=np.int64)
    np.add.at(counts, (ti, ri, ci), 1)
    if (counts > 1).any():
        t, r, c = (int(v[0]) for v in np.nonzero(counts > 1))
        raise InputError(f"{path}: reader {readers[r]!r} scored case {cases[c]!r} twice in modality {tests[t]!r}")
    cube[ti, ri, ci] = s
    truth = np.full(cases.size, -1)
    truth[ci] = y
    lo = np.full(cases.size, 2)
    np.minimum.at(lo, ci, y)
    hi = np.full(cases.size, -1)
    np.maximum.at(hi, ci, y)
    if (lo != hi).any():
        k = int(np.flatnonzero(lo != hi)[0])
        raise InputError(f"{path}: case {cases[k]!r} has two different truth values")
    if np.isnan(cube).any():
        t, r, c = (int(v[0]) for v in np.nonzero(np.isnan(cube)))
        raise InputError(f"{path}: reader {readers[r]!r} has no score for case {cases[c]!r} in modality "
                         f"{tests[t]!r}; MRMC needs every reader to read every case in every modality")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = or_hillis(truth, cube, tests=tests.tolist(), readers=readers.tolist(), covariance=args.covariance,
                        confidence=args.confidence, fom=args.fom, threshold=args.threshold, limits=tuple(args.limits))
        notes = _notes(caught)
    out = {"random_readers": {k: res[k] for k in ("f", "df1", "df2", "p_value", "differences", "by_test")},
           "fixed_readers": res["fixed_readers"], "fixed_cases": res["fixed_cases"],
           "tests": res["tests"], "readers": res["readers"], "auc": res["auc"], "auc_by_test": res["auc_by_test"],
           "components": res["components"], "n_cases": res["n_cases"], "n_pos": res["n_pos"],
           "covariance_method": res["covariance_method"], "positive": positive, "fom": res["fom"]}

    def lines(o):
        rr, fr, fc = o["random_readers"], o["fixed_readers"], o["fixed_cases"]
        yield f"{path}: {len(o['tests'])} modalities, {len(o['readers'])} readers, {o['n_cases']} cases"
        yield f"  random readers & cases: F = {_fmt(rr['f'])} on {rr['df1']} and {_fmt(rr['df2'])} df, p = {_fmt(rr['p_value'])}"
        yield f"  fixed readers:          X2 = {_fmt(fr['chi2'])} on {fr['df']} df, p = {_fmt(fr['p_value'])}"
        yield f"  fixed cases:            F = {_fmt(fc['f'])} on {fc['df1']} and {fc['df2']} df, p = {_fmt(fc['p_value'])}"

    return _emit(args, out, notes, lines)


def run_power(args) -> int:
    from core.evaluation.power import power_auc, power_two_aucs

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if args.csv:
            if not (args.truth and args.score and args.score2):
                raise InputError("two-curve power from pilot data needs --truth, --score and --score2")
            path = existing_file(args.csv, "CSV")
            header = C.read_header(path)
            cols = [C.resolve(path, header, c) for c in (args.truth, args.score, args.score2)]
            data = C.load(path, cols)
            y, _ = C.truth(path, data, cols[0], args.positive)
            out = power_two_aucs(y, C.numbers(path, data, cols[1]), C.numbers(path, data, cols[2]),
                                 sig_level=args.sig_level, power=args.power, alternative=args.alternative)
        else:
            given = {"auc": args.auc, "n_cases": args.n_cases, "sig_level": args.sig_level, "power": args.power}
            if args.solve:
                given[args.solve] = None
            out = power_auc(**given, n_controls=args.n_controls, kappa=args.kappa, alternative=args.alternative)
        notes = _notes(caught)

    def lines(o):
        yield (f"{o['method']}: power {_fmt(o['power'])} with {_fmt(o['n_cases'])} cases and "
               f"{_fmt(o['n_controls'])} controls at alpha {_fmt(o['sig_level'])} (solved: {o['solved']})")

    return _emit(args, out, notes, lines)
