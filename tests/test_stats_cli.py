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
