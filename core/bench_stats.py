"""Speed of the statistics on large inputs (the "stats" key of ``python -m core bench``; issue 21).

Why beside :mod:`core.bench` and not in :mod:`core.evaluation`: it times the CLI's CSV reader and the reader
study's MRMC as well, so inside the statistics package it would make that package import its own users.

Why measured here rather than asserted in tests: wall-clock depends on the machine (tests never assert it).
Figures: reading 10^6 rows (three columns) from CSV; DeLong CI and the paired test on 10^6 cases; the whole
``python -m core stats roc --json`` command on that CSV in a fresh process (start-up and imports included);
2000 cluster-bootstrap replicates over 3000 patients; the MRMC jackknife covariance at 1000 cases. Each is a
median of ``repeats`` runs.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from core.cli import _stats_csv as C
from core.evaluation.bootstrap import cluster_bootstrap_ci
from core.evaluation.delong import delong_ci, delong_test
from core.reader_study.mrmc import jackknife_covariance
from core.timing import median_seconds


def _median(fn, repeats: int) -> float:
    return median_seconds(fn, repeats=repeats)


def write_scores_csv(path: Path, n: int, seed: int = 0) -> Path:
    """A CSV of n cases: patient, truth (0/1), score, score2 (what a researcher's export looks like)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    s1 = np.round(y + rng.normal(size=n), 4)
    s2 = np.round(0.5 * y + rng.normal(size=n), 3)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("patient,truth,score,score2\n")
        for start in range(0, n, 100_000):
            stop = min(n, start + 100_000)
            fh.write("".join(f"p{i},{y[i]},{s1[i]},{s2[i]}\n" for i in range(start, stop)))
    return path


def bench_stats(*, n_rows: int = 1_000_000, repeats: int = 3) -> dict:
    """The figures above as {"n_rows", "csv_read_s", "delong_ci_s", "delong_test_s", "roc_cli_s",
    "roc_cli_paired_s", "cluster_bootstrap_s", "cluster_bootstrap_shape", "mrmc_jackknife_1000_s"}."""
    with tempfile.TemporaryDirectory() as tmp:
        csv = write_scores_csv(Path(tmp) / "scores.csv", n_rows)

        def read():
            data = C.load(csv, ["truth", "score", "score2"])
            return C.truth(csv, data, "truth", None)[0], C.numbers(csv, data, "score"), C.numbers(csv, data, "score2")

        read_s = _median(read, repeats)
        y, s1, s2 = read()
        ci_s = _median(lambda: delong_ci(y, s1), repeats)
        test_s = _median(lambda: delong_test(y, s1, s2), repeats)
        cmd = [sys.executable, "-m", "core", "stats", "roc", "--csv", str(csv), "--truth", "truth", "--score", "score",
               "--json"]
        cli_s = _median(lambda: subprocess.run(cmd, check=True, capture_output=True), repeats)
        cli2_s = _median(lambda: subprocess.run(cmd + ["--score2", "score2"], check=True, capture_output=True),
                         repeats)
    rng = np.random.default_rng(1)
    sizes = rng.integers(1, 4, 3000)
    codes = np.repeat(np.arange(3000), sizes)
    t = (rng.random(3000) < 0.3)[codes].astype(int)
    s = rng.normal(size=t.size) + t
    boot_s = _median(lambda: cluster_bootstrap_ci(t, s, codes, n_boot=2000), repeats)
    truth = (rng.random(1000) < 0.4).astype(int)
    scores = rng.integers(1, 6, size=(10, 1000)).astype(float) + truth
    jk_s = _median(lambda: jackknife_covariance(truth, scores), repeats)
    r = lambda v: round(v, 3)  # noqa: E731
    return {"n_rows": n_rows, "csv_read_s": r(read_s), "delong_ci_s": r(ci_s), "delong_test_s": r(test_s),
            "roc_cli_s": r(cli_s), "roc_cli_paired_s": r(cli2_s), "cluster_bootstrap_s": r(boot_s),
            "cluster_bootstrap_shape": "2000 replicates x 3000 patients (6000 images)",
            "mrmc_jackknife_1000_s": r(jk_s), "mrmc_jackknife_shape": "10 reader-modality AUCs x 1000 cases"}
