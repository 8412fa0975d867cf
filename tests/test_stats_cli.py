"""`python -m core stats roc` on CSVs named the way users name columns, and on bad rows."""

import json
import subprocess
import sys

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from core.evaluation.delong import delong_test
from core.paths import REPO_ROOT


def _stats(*args):
    """The real command line in a fresh process (what a researcher's script runs)."""
    return subprocess.run([sys.executable, "-m", "core", "stats", *args], capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=120)


class _Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def stats_inproc(capsys):
    """The same command through core.cli.main in this process: same parser and exit codes, no start-up cost."""
    from core.cli import main

    def call(*args):
        capsys.readouterr()
        code = main(["stats", *args])
        out = capsys.readouterr()
        return _Result(code, out.out, out.err)

    return call


def _write(path, header, rows):
    path.write_text(",".join(header) + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows),
                    encoding="utf-8")
    return path


@pytest.fixture
def cohort(rng):
    n = 80
    y = rng.integers(0, 2, size=n)
    s1 = np.round(y + rng.normal(size=n), 2)
    s2 = np.round(0.5 * y + rng.normal(size=n), 1)
    return y, s1, s2


def test_spaced_mixed_case_columns_json(tmp_path, cohort):
    y, s1, s2 = cohort
    labels = np.where(y == 1, "Miscarriage", "Live birth")
    csv = _write(tmp_path / "scores.csv", ["Patient ID", "Outcome Label", "CNN Score", "Rule Score (logistic)"],
                 [(f"p{i}", labels[i], s1[i], s2[i]) for i in range(y.size)])
    proc = _stats("roc", "--csv", str(csv), "--truth", "outcome label", "--score", "CNN Score",
                  "--score2", "rule score (LOGISTIC)", "--positive", "Miscarriage", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    ref = delong_test(y, s1, s2)
    assert out["auc"] == pytest.approx(roc_auc_score(y, s1), abs=1e-12)
    assert out["auc2"] == pytest.approx(roc_auc_score(y, s2), abs=1e-12)
    assert out["auc_ci"] == pytest.approx(ref["ci1"]) and out["auc2_ci"] == pytest.approx(ref["ci2"])
    assert out["delong_p"] == pytest.approx(ref["p_value"])
    assert out["n"] == y.size and out["n_pos"] == int(y.sum()) and out["positive"] == "Miscarriage"
    assert out["truth"] == "Outcome Label" and out["score2"] == "Rule Score (logistic)"


def test_zero_one_truth_single_score_and_text(stats_inproc, tmp_path, cohort):
    y, s1, _ = cohort
    csv = _write(tmp_path / "s.csv", ["truth", "score"], zip(y, s1))
    out = json.loads(stats_inproc("roc", "--csv", str(csv), "--truth", "TRUTH", "--score", "Score", "--json").stdout)
    assert out["auc2"] is None and out["auc2_ci"] is None and out["delong_p"] is None
    assert out["auc_ci"][0] < out["auc"] < out["auc_ci"][1] and out["positive"] == "1"
    proc = stats_inproc("roc", "--csv", str(csv), "--truth", "truth", "--score", "score")
    assert proc.returncode == 0 and "AUC score" in proc.stdout and "DeLong" in proc.stdout


def test_two_labels_need_positive(stats_inproc, tmp_path):
    csv = _write(tmp_path / "s.csv", ["label", "p"], [("term", 0.1), ("preterm", 0.9), ("term", 0.3), ("preterm", 0.4)])
    proc = stats_inproc("roc", "--csv", str(csv), "--truth", "label", "--score", "p", "--json")
    assert proc.returncode == 2 and "--positive" in proc.stderr and "'preterm', 'term'" in proc.stderr
    proc = stats_inproc("roc", "--csv", str(csv), "--truth", "label", "--score", "p", "--positive", "preterm", "--json")
    out = json.loads(proc.stdout)
    assert out["auc"] == 1.0 and out["positive"] == "preterm"


@pytest.mark.parametrize("bad,expect", [("abc", "'abc'"), ("", "empty"), ("inf", "'inf'")])
def test_non_numeric_score_row_exits_2_naming_the_line(tmp_path, bad, expect):
    rows = [(0, 0.1), (1, 0.8), (0, bad), (1, 0.7)]
    csv = _write(tmp_path / "bad.csv", ["Truth", "Model Score"], rows)
    proc = _stats("roc", "--csv", str(csv), "--truth", "truth", "--score", "model score", "--json")
    assert proc.returncode == 2
    assert "line 4" in proc.stderr and "row 3" in proc.stderr and "'Model Score'" in proc.stderr
    assert expect in proc.stderr and "Traceback" not in proc.stderr and proc.stdout == ""


@pytest.mark.parametrize("args,expect", [
    (["--truth", "nope", "--score", "score"], "column 'nope' not found"),
    (["--truth", "truth", "--score", "score", "--positive", "2"], "--positive '2'"),
])
def test_other_bad_inputs_exit_2(stats_inproc, tmp_path, args, expect):
    csv = _write(tmp_path / "s.csv", ["truth", "score"], [(0, 0.1), (1, 0.2)])
    proc = stats_inproc("roc", "--csv", str(csv), *args)
    assert proc.returncode == 2 and expect in proc.stderr


def test_one_class_and_missing_file_exit_2(stats_inproc, tmp_path):
    csv = _write(tmp_path / "s.csv", ["truth", "score"], [(1, 0.1), (1, 0.2)])
    proc = stats_inproc("roc", "--csv", str(csv), "--truth", "truth", "--score", "score")
    assert proc.returncode == 2 and "only positives" in proc.stderr
    proc = stats_inproc("roc", "--csv", str(tmp_path / "none.csv"), "--truth", "t", "--score", "s")
    assert proc.returncode == 2 and "not found" in proc.stderr


# ---- issue 21: every stats sub-command, checked against the core functions and published values ----------


def test_roc_json_adds_the_difference_ci_and_options(stats_inproc, tmp_path, cohort):
    y, s1, s2 = cohort
    csv = _write(tmp_path / "s.csv", ["truth", "a", "b"], zip(y, s1, s2))
    out = json.loads(stats_inproc("roc", "--csv", str(csv), "--truth", "truth", "--score", "a", "--score2", "b",
                                  "--json").stdout)
    ref = delong_test(y, s1, s2)
    assert out["difference_ci"] == pytest.approx(ref["difference_ci"]) and out["z"] == pytest.approx(ref["z"])
    from core.evaluation.coords_ci import ci_auc_bootstrap, ci_coords

    out = json.loads(stats_inproc("roc", "--csv", str(csv), "--truth", "truth", "--score", "a", "--partial", "0.9",
                                  "1", "--partial-correct", "--specificity", "0.8", "--boot-n", "200", "--seed", "3",
                                  "--ci-method", "bootstrap", "--json").stdout)
    p = ci_auc_bootstrap(y, s1, partial=(0.9, 1.0), correct=True, n_boot=200, seed=3, direction="<")
    assert out["partial_auc"] == pytest.approx(p["estimate"]) and out["partial_auc_ci"] == pytest.approx(
        [p["ci_low"], p["ci_high"]])
    c = ci_coords(y, s1, 0.8, n_boot=200, seed=3, direction="<")
    sa = out["sensitivity_at_specificity"]
    assert sa["sensitivity"] == pytest.approx(c["estimate"]["sensitivity"][0])
    assert sa["ci"] == pytest.approx([c["sensitivity"][0][0], c["sensitivity"][0][2]])
    assert out["ci_method"] == "bootstrap" and out["bootstrap"]["stratified"] is True
    flipped = json.loads(stats_inproc("roc", "--csv", str(csv), "--truth", "truth", "--score", "a",
                                      "--direction", ">", "--json").stdout)
    assert flipped["auc"] == pytest.approx(1 - roc_auc_score(y, s1)) and flipped["direction"] == ">"


def test_roc_cluster_bootstrap_by_patient(stats_inproc, tmp_path, cohort):
    y, s1, _ = cohort
    patients = [f"p{i // 2}" for i in range(y.size)]
    csv = _write(tmp_path / "s.csv", ["truth", "a", "patient"], zip(y, s1, patients))
    out = json.loads(stats_inproc("roc", "--csv", str(csv), "--truth", "truth", "--score", "a", "--groups",
                                  "Patient", "--boot-n", "300", "--json").stdout)
    from core.evaluation.bootstrap import cluster_bootstrap_ci

    ref = cluster_bootstrap_ci(y, s1, patients, n_boot=300)
    assert out["auc_ci"] == pytest.approx([ref["ci_low"], ref["ci_high"]])
    assert out["bootstrap"]["n_clusters"] == 40 and "n_missing_class" in out["bootstrap"]


def test_coords_and_compare_commands(stats_inproc, tmp_path):
    from eval_reference_data import NDKA, OUTCOME, S100B, WFNS

    csv = _write(tmp_path / "asah.csv", ["outcome", "s100b", "wfns", "ndka"], zip(OUTCOME, S100B, WFNS, NDKA))
    out = json.loads(stats_inproc("coords", "--csv", str(csv), "--truth", "outcome", "--score", "s100b", "--x",
                                  "0.9", "0.5", "--json").stdout)
    assert out["sensitivity"] == pytest.approx([0.390243902439024, 0.774390243902439])       # pROC test-coords.R
    base = ["--csv", str(csv), "--truth", "outcome", "--score", "wfns", "--score2", "s100b", "--json"]
    paired = json.loads(stats_inproc("compare", *base).stdout)
    assert paired["statistic"] == pytest.approx(2.20898359144091) and paired["paired"] is True
    unpaired = json.loads(stats_inproc("compare", *base, "--unpaired").stdout)
    assert unpaired["statistic"] == pytest.approx(1.43490640926908)                          # pROC test-roc.test.R
    assert unpaired["p_value"] == pytest.approx(0.152825378808796)
    half = _write(tmp_path / "second.csv", ["outcome", "s100b"], zip(OUTCOME[:60], S100B[:60]))
    other = json.loads(stats_inproc("compare", *base[:-1], "--csv2", str(half), "--json").stdout)
    from core.evaluation.roc_tests import unpaired_delong_test

    ref = unpaired_delong_test(OUTCOME, WFNS, OUTCOME[:60], S100B[:60])
    assert other["statistic"] == pytest.approx(ref["statistic"]) and other["n2"] == 60
    boot = json.loads(stats_inproc("compare", *base, "--method", "bootstrap", "--boot-n", "200").stdout)
    assert boot["method"] == "bootstrap" and 0 < boot["p_value"] < 0.2
    ven = json.loads(stats_inproc("compare", *base, "--method", "venkatraman", "--boot-n", "50").stdout)
    assert ven["statistic"] == 578.0 and 0 <= ven["p_value"] <= 1
    proc = stats_inproc("compare", *base, "--partial", "0.9", "1")
    assert proc.returncode == 2 and "bootstrap" in proc.stderr


def test_kappa_command(stats_inproc, tmp_path):
    from sklearn.metrics import cohen_kappa_score

    a = ["mild", "moderate", "severe", "severe", "mild", "moderate", "mild", "severe"]
    b = ["mild", "severe", "severe", "moderate", "mild", "moderate", "moderate", "severe"]
    csv = _write(tmp_path / "k.csv", ["Reader A", "Reader B"], zip(a, b))
    out = json.loads(stats_inproc("kappa", "--csv", str(csv), "--rater1", "reader a", "--rater2", "Reader B",
                                  "--weights", "linear", "--labels", "mild,moderate,severe", "--json").stdout)
    want = cohen_kappa_score(a, b, weights="linear", labels=["mild", "moderate", "severe"])
    assert out["kappa"] == pytest.approx(want) and out["kappa_ci"][0] < out["kappa"] < out["kappa_ci"][1]
    assert out["labels"] == ["mild", "moderate", "severe"] and out["n"] == 8


def _van_dyke_long(path):
    from test_mrmc import _van_dyke

    truth, scores = _van_dyke()
    rows = [(f"R{r + 1}", f"M{t + 1}", f"c{c:03d}", truth[c], scores[t, r, c])
            for t in range(2) for r in range(5) for c in range(truth.size)]
    return _write(path, ["reader", "modality", "case", "truth", "score"], rows), rows


def test_mrmc_command_on_van_dyke_long_csv(stats_inproc, tmp_path):
    csv, rows = _van_dyke_long(tmp_path / "vd.csv")
    out = json.loads(stats_inproc("mrmc", "--csv", str(csv), "--json").stdout)
    rr, fr, fc = out["random_readers"], out["fixed_readers"], out["fixed_cases"]
    assert rr["f"] == pytest.approx(4.456319, rel=1e-6) and rr["df2"] == pytest.approx(15.25967, rel=1e-6)
    assert rr["p_value"] == pytest.approx(0.05166569, rel=1e-6)
    assert fr["chi2"] == pytest.approx(5.476, abs=5e-4) and fr["p_value"] == pytest.approx(0.0193, abs=5e-5)
    assert fc["df2"] == 4 and out["tests"] == ["M1", "M2"] and len(out["readers"]) == 5
    sens = json.loads(stats_inproc("mrmc", "--csv", str(csv), "--fom", "sensitivity", "--threshold", "4",
                                   "--json").stdout)
    assert sens["fom"] == "sensitivity" and 0 < sens["auc_by_test"][0] < 1
    conflict = [r if i != 5 else (r[0], r[1], r[2], 1 - r[3], r[4]) for i, r in enumerate(rows)]
    proc = stats_inproc("mrmc", "--csv", str(_write(tmp_path / "conflict.csv", ["reader", "modality", "case", "truth",
                                                                               "score"], conflict)))
    assert proc.returncode == 2 and "two different truth values" in proc.stderr
    missing = _write(tmp_path / "gap.csv", ["reader", "modality", "case", "truth", "score"], rows[:-1])
    proc = stats_inproc("mrmc", "--csv", str(missing))
    assert proc.returncode == 2 and "no score for case" in proc.stderr
    twice = _write(tmp_path / "dup.csv", ["reader", "modality", "case", "truth", "score"], rows + rows[:1])
    proc = stats_inproc("mrmc", "--csv", str(twice))
    assert proc.returncode == 2 and "twice" in proc.stderr


def test_power_command_matches_proc(stats_inproc, tmp_path):
    out = json.loads(stats_inproc("power", "--auc", "0.73", "--n-cases", "41", "--n-controls", "72",
                                  "--json").stdout)
    assert out["power"] == pytest.approx(0.9897453, abs=1e-6) and out["solved"] == "power"
    out = json.loads(stats_inproc("power", "--auc", "0.73", "--n-cases", "41", "--n-controls", "72", "--power",
                                  "0.95", "--solve", "sig_level", "--json").stdout)
    assert out["sig_level"] == pytest.approx(0.009238584, rel=1e-6)
    from eval_reference_data import NDKA, OUTCOME, WFNS

    csv = _write(tmp_path / "pilot.csv", ["y", "ndka", "wfns"], zip(OUTCOME, NDKA, WFNS))
    out = json.loads(stats_inproc("power", "--csv", str(csv), "--truth", "y", "--score", "ndka", "--score2", "wfns",
                                  "--power", "0.9", "--json").stdout)
    assert out["n_cases"] == pytest.approx(64.77777, rel=1e-6)
    proc = stats_inproc("power", "--auc", "0.7", "--n-cases", "10", "--power", "0.8")
    assert proc.returncode == 2 and "all but one" in proc.stderr


def test_stats_help_imports_no_numerics():
    code = ("import sys; from core.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('numpy', 'scipy', 'pandas', 'pyarrow', 'sklearn') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert "scipy" not in proc.stdout and "pyarrow" not in proc.stdout and "sklearn" not in proc.stdout


def test_large_csv_fast_path_agrees_with_string_path(tmp_path, rng):
    from core.cli import _stats_csv as C

    n = 5000
    y = rng.integers(0, 2, n)
    s = np.round(rng.normal(size=n), 3)
    csv = _write(tmp_path / "big.csv", ["truth", "score"], zip(y, s))
    data = C.load(csv, ["truth", "score"])
    assert not isinstance(data["score"], list)                   # the pyarrow path ran
    np.testing.assert_array_equal(C.numbers(csv, data, "score"), s)
    t, pos = C.truth(csv, data, "truth", None)
    np.testing.assert_array_equal(t, y)
    assert pos == "1"
