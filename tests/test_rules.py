"""CRL/FHR rules: the table, week boundaries (via the command line), Table 3 end to end, the baseline."""

import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from core.errors import InputError
from core.paths import REPO_ROOT
from core.rules import DEFAULT_RULE_TABLE, RuleTable, RuleTableError, apply_rules, apply_rules_frame


def _rules_cli(*args):
    proc = subprocess.run([sys.executable, "-m", "core", "rules", *args], capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=120)
    return proc


@pytest.mark.parametrize("args,expected", [
    (["--ga-weeks", "6.0", "--fhr-bpm", "122"], {"applicable": True, "fhr_low": True}),
    (["--ga-weeks", "6.99", "--fhr-bpm", "123"], {"applicable": True, "fhr_low": False}),
    (["--ga-weeks", "8.5", "--fhr-bpm", "158"], {"applicable": True, "fhr_low": True}),
    (["--ga-weeks", "8", "--fhr-bpm", "158.5"], {"applicable": True, "fhr_low": False}),
    (["--ga-weeks", "6.2", "--crl-mm", "6.0"], {"applicable": True, "crl_low": True, "fhr_low": None}),
    (["--ga-weeks", "8.9", "--crl-mm", "10.9"], {"applicable": True, "crl_low": True}),
    (["--ga-weeks", "8.9", "--crl-mm", "11.0"], {"applicable": True, "crl_low": False}),
    (["--ga-weeks", "9.0", "--crl-mm", "5", "--fhr-bpm", "100"],
     {"applicable": False, "crl_low": None, "fhr_low": None, "both_low": None}),
    (["--ga-weeks", "5.99", "--crl-mm", "3"], {"applicable": False, "crl_low": None}),
    (["--ga-weeks", "7.5", "--crl-mm", "8.5", "--fhr-bpm", "123"],
     {"applicable": True, "crl_low": True, "fhr_low": True, "both_low": True}),
])
def test_rules_command_at_week_boundaries(args, expected):
    proc = _rules_cli(*args, "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out) == {"applicable", "crl_low", "fhr_low", "both_low"}
    for key, value in expected.items():
        assert out[key] is value, (key, out)


def test_rules_command_text_and_bad_input(tmp_path):
    proc = _rules_cli("--ga-weeks", "6.4", "--crl-mm", "5.2", "--fhr-bpm", "130")
    assert proc.returncode == 0 and "SMALL" in proc.stdout and "week 6" in proc.stdout
    proc = _rules_cli("--ga-weeks", "7", "--crl-mm", "-3")
    assert proc.returncode == 2 and "crl_mm" in proc.stderr and "Traceback" not in proc.stderr
    table = tmp_path / "table.json"
    table.write_text(json.dumps({"weeks": {"9": {"fhr_low_max_bpm": 160, "crl_small_max_mm": 20}}}))
    proc = _rules_cli("--ga-weeks", "9.2", "--crl-mm", "19", "--table", str(table), "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["crl_low"] is True
    table.write_text('{"weeks": {"9": {"fhr_low_max_bpm": "fast"}}}')
    proc = _rules_cli("--ga-weeks", "9.2", "--table", str(table))
    assert proc.returncode == 2 and "week 9" in proc.stderr and "fhr_low_max_bpm" in proc.stderr


def test_three_valued_combination():
    assert apply_rules(7.1, crl_mm=20, fhr_bpm=None)["both_low"] is False   # CRL normal decides it
    assert apply_rules(7.1, crl_mm=5, fhr_bpm=None)["both_low"] is None     # cannot be decided
    assert apply_rules(7.1, crl_mm=float("nan"), fhr_bpm=100)["crl_low"] is None
    assert apply_rules(None, crl_mm=5)["applicable"] is False


def test_table_round_trip_and_validation():
    d = DEFAULT_RULE_TABLE.to_dict()
    assert d["weeks"]["6"] == {"fhr_low_max_bpm": 122.0, "crl_small_max_mm": 6.0}
    again = RuleTable.from_json(DEFAULT_RULE_TABLE.to_json())
    assert again == DEFAULT_RULE_TABLE and again.weeks == (6, 7, 8)
    week8 = {"fhr_low_max_bpm": 150, "crl_small_max_mm": 10.9}
    edited = RuleTable.from_dict({**d, "weeks": {**d["weeks"], "8": week8}})
    assert apply_rules(8.0, fhr_bpm=155, table=edited)["fhr_low"] is False
    assert apply_rules(8.0, fhr_bpm=155)["fhr_low"] is True
    only_crl = RuleTable.from_dict({"6": {"crl_small_max_mm": 6.0}})
    assert apply_rules(6.5, crl_mm=5, fhr_bpm=90, table=only_crl) == {
        "applicable": True, "crl_low": True, "fhr_low": None, "both_low": None}
    for bad, match in [({"6.5": {"crl_small_max_mm": 6}}, "whole number"),
                       ({"6": {"crl_max": 6}}, "unknown key"),
                       ({"6": {"crl_small_max_mm": -1}}, "positive"),
                       ({}, "no weeks")]:
        with pytest.raises(RuleTableError, match=match):
            RuleTable.from_dict(bad)
    with pytest.raises(RuleTableError, match="line 1"):
        RuleTable.from_json("{not json")
    with pytest.raises(InputError, match="fhr_bpm"):
        apply_rules(6.5, fhr_bpm="fast")


def _table3_cohort():
    """101 pregnancies whose measurements reproduce Table 3 through apply_rules.

    Miscarriages (6): 3 both low, 1 CRL small only, 2 neither. Live births (95): 12 both low, 20 CRL small
    only, 3 FHR low only, 60 neither. Weeks cycle through 6, 7, 8; values sit 0.5 either side of the cut-offs.
    """
    groups = [(1, True, True, 3), (1, True, False, 1), (1, False, False, 2),
              (0, True, True, 12), (0, True, False, 20), (0, False, True, 3), (0, False, False, 60)]
    rows, i = [], 0
    for outcome, crl_small, fhr_low, count in groups:
        for _ in range(count):
            week = 6 + i % 3
            row = DEFAULT_RULE_TABLE.row(week)
            rows.append({"row": i + 2, "outcome": outcome, "ga_weeks": week + 0.3,
                         "crl_mm": row["crl_small_max_mm"] + (-0.5 if crl_small else 0.5),
                         "fhr_bpm": row["fhr_low_max_bpm"] + (-0.5 if fhr_low else 0.5)})
            i += 1
    return pd.DataFrame(rows)


def test_table3_end_to_end_through_the_rules():
    from core.evaluation.rule_metrics import rules_table

    df = _table3_cohort()
    flags = apply_rules_frame(df)
    table = rules_table(df["outcome"].to_numpy(), flags)
    expected = {"CRL": (66.67, 66.32, 0.665), "HR": (50.00, 84.21, 0.671), "CRL+HR": (50.00, 87.37, 0.687)}
    for rule, (sens, spec, auc) in expected.items():
        m = table[rule]
        assert (round(m["sensitivity"]["value"] * 100, 2), round(m["specificity"]["value"] * 100, 2),
                round(m["auc"], 3)) == (sens, spec, auc), rule
        assert m["counts"]["n"] == 101 and m["n_excluded"] == 0


def test_rule_cases_without_values_are_excluded_not_guessed():
    from core.evaluation.rule_metrics import rule_performance

    df = pd.DataFrame({"outcome": [1, 0, 1, 0], "ga_weeks": [6.2, 9.4, 7.0, 7.5], "crl_mm": [5, 5, None, 20]})
    flags = apply_rules_frame(df)
    assert flags["applicable"].tolist() == [True, False, True, True]
    assert flags["crl_low"].tolist() == [True, None, None, False]
    r = rule_performance(df["outcome"], flags["crl_low"])
    assert r["n_excluded"] == 2 and r["counts"]["n"] == 2
    bad = df.assign(crl_mm=[5, "x", 1, 2], row=[2, 3, 4, 5])
    with pytest.raises(InputError, match="row 3"):
        apply_rules_frame(bad)


def test_logistic_baseline_is_out_of_fold_and_comparable_with_delong(rng):
    from sklearn.linear_model import LogisticRegression

    from core.evaluation.baseline import out_of_fold_logistic, rules_baseline_frame
    from core.evaluation.delong import delong_test

    n = 300
    ga = rng.uniform(6, 9, size=n)
    y = rng.random(n) < 0.2
    crl = (ga - 5.5) * 4 - 2.5 * y + rng.normal(size=n)
    fhr = 110 + (ga - 6) * 15 - 12 * y + rng.normal(scale=8, size=n)
    crl[rng.random(n) < 0.05] = np.nan   # missing values are imputed inside each fold
    folds = rng.integers(0, 5, size=n)
    x = np.column_stack([crl, fhr, ga])
    p = out_of_fold_logistic(x, y.astype(int), folds)
    assert np.isfinite(p).all() and ((0 < p) & (p < 1)).all()
    # fold 0's predictions come from a model that never saw fold 0: refit by hand on complete-case columns
    xs = np.column_stack([fhr, ga])
    p2 = out_of_fold_logistic(xs, y.astype(int), folds)
    train = folds != 0
    mu, sd = xs[train].mean(0), xs[train].std(0)
    ref = LogisticRegression(max_iter=1000).fit((xs[train] - mu) / sd, y[train])
    np.testing.assert_allclose(p2[~train], ref.predict_proba((xs[~train] - mu) / sd)[:, 1], atol=1e-6)
    # a full ROC and a paired DeLong comparison with another score on the same cases
    cnn = y * 1.0 + rng.normal(size=n)
    t = delong_test(y.astype(int), cnn, p)
    assert 0 <= t["p_value"] <= 1 and t["auc2"] > 0.6
    df = pd.DataFrame({"CRL_mm": crl, "fhr_bpm": fhr, "ga_weeks": ga, "truth": y.astype(int), "fold": folds})
    np.testing.assert_allclose(rules_baseline_frame(df, truth="truth", folds="fold"), p)
    with pytest.raises(InputError, match="at least two"):
        out_of_fold_logistic(x, y.astype(int), np.zeros(n))
    assert not math.isnan(p.mean())
