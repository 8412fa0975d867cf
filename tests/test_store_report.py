"""Statistics and reports recomputed from stored cases (no model needed): Table 3, aggregation, CSV, HTML."""


import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

import core.store as store
from core.cli import main
from core.store.summary import patient_level, summarize

CLASSES = ["live_birth", "miscarriage"]


def _flags(n_pos_low, n_pos, n_neg_low, n_neg):
    return [True] * n_pos_low + [False] * (n_pos - n_pos_low) + [True] * n_neg_low + [False] * (n_neg - n_neg_low)


def test_table3_rule_rows_from_stored_cases(rng):
    """The paper's Table 3 (6 miscarriages, 95 live births) rebuilt from stored per-patient rule flags."""
    n_pos, n_neg = 6, 95
    truth = [1] * n_pos + [0] * n_neg
    cases = pd.DataFrame({
        "case_id": [f"c{i}" for i in range(n_pos + n_neg)],
        "patient_id": [f"p{i}" for i in range(n_pos + n_neg)],
        "truth": truth,
        "score": rng.uniform(size=n_pos + n_neg),
        # CRL: sens 4/6, spec 63/95; HR: 3/6, 80/95; CRL+HR: 3/6, 83/95
        "crl_low": _flags(4, n_pos, 95 - 63, n_neg),
        "fhr_low": _flags(3, n_pos, 95 - 80, n_neg),
        "both_low": _flags(3, n_pos, 95 - 83, n_neg),
    })
    store.save_evaluation("table3", task="miscarriage", cases=cases, meta={"class_names": CLASSES})
    meta, df = store.load_evaluation("table3")
    rules = summarize(meta, df)["rules"]
    got = {k: (round(100 * v["sensitivity"]["value"], 2), round(100 * v["specificity"]["value"], 2),
               round(v["auc"], 3)) for k, v in rules.items()}
    assert got == {"CRL": (66.67, 66.32, 0.665), "HR": (50.0, 84.21, 0.671), "CRL+HR": (50.0, 87.37, 0.687)}


def test_patient_level_mean_and_auc_match_a_hand_computation():
    cases = pd.DataFrame({
        "case_id": list("abcdefgh"), "patient_id": ["p1", "p1", "p2", "p2", "p3", "p3", "p4", "p4"],
        "truth": [1, 1, 0, 0, 1, 1, 0, 0], "score": [0.9, 0.3, 0.2, 0.4, 0.5, 0.7, 0.8, 0.1],
        "plane": ["sagittal", "transverse"] * 4,
    })
    store.save_evaluation("agg", task="miscarriage", cases=cases, meta={"class_names": CLASSES})
    meta, df = store.load_evaluation("agg")
    per_patient = patient_level(df, names=CLASSES).set_index("patient_id")
    assert per_patient["score"].to_dict() == pytest.approx({"p1": 0.6, "p2": 0.3, "p3": 0.6, "p4": 0.45})
    assert per_patient["n_images"].tolist() == [2, 2, 2, 2]
    # patients: positives 0.6, 0.6; negatives 0.3, 0.45 -> every positive above every negative
    s = summarize(meta, df, level="patient")
    assert s["auc"]["value"] == 1.0 and s["n"] == 4
    img = summarize(meta, df, level="image")
    assert img["auc"]["value"] == pytest.approx(roc_auc_score(cases["truth"], cases["score"]))
    lo, hi = img["auc"]["ci"]
    assert lo < img["auc"]["value"] < hi
    # threshold 0.5 at image level: predicted positive 0.9, 0.5, 0.7, 0.8 -> TP 3, FP 1, FN 1, TN 3
    assert img["sensitivity"]["value"] == 0.75 and img["specificity"]["value"] == 0.75
    assert img["counts"] == {"tp": 3, "fp": 1, "fn": 1, "tn": 3, "n": 8, "n_pos": 4, "n_neg": 4}


def test_baseline_score_gets_its_auc_and_a_delong_test(rng):
    from core.evaluation import delong_test

    n = 40
    truth = np.array([i % 2 for i in range(n)])
    score = np.clip(truth * 0.3 + rng.uniform(size=n) * 0.7, 0, 1)
    baseline = np.clip(truth * 0.1 + rng.uniform(size=n) * 0.9, 0, 1)
    cases = pd.DataFrame({"case_id": [f"c{i}" for i in range(n)], "patient_id": [f"p{i}" for i in range(n)],
                          "truth": truth, "score": score, "baseline_score": baseline})
    store.save_evaluation("base", task="miscarriage", cases=cases, meta={"class_names": CLASSES})
    s = summarize(*store.load_evaluation("base"))
    ref = delong_test(truth, score, baseline)
    assert s["baseline"]["auc"]["value"] == pytest.approx(roc_auc_score(truth, baseline))
    assert s["baseline"]["delong_p"] == pytest.approx(ref["p_value"])
    assert s["auc"]["value"] == pytest.approx(roc_auc_score(truth, score))
    from core.store.report import render_html

    page = render_html(*store.load_evaluation("base"))
    assert f"DeLong p = {ref['p_value']:.4f}" in page and "rules baseline (AUC" in page


def test_patient_with_two_truths_is_refused():
    cases = pd.DataFrame({"case_id": ["a", "b"], "patient_id": ["p", "p"], "truth": [0, 1], "score": [0.1, 0.2]})
    store.save_evaluation("clash", task="miscarriage", cases=cases, meta={"class_names": CLASSES})
    with pytest.raises(Exception, match="different truths"):
        summarize(*store.load_evaluation("clash"))


def _multiclass(rng, n=60):
    names = ["normal", "anencephaly", "encephalocele"]
    truth = rng.integers(0, 3, size=n)
    logits = rng.normal(size=(n, 3)) + 1.5 * np.eye(3)[truth]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    cases = pd.DataFrame({"case_id": [f"c{i}" for i in range(n)], "patient_id": [f"p{i}" for i in range(n)],
                          "truth": truth, "scores": list(proba), "trimester": rng.integers(1, 4, size=n)})
    store.save_evaluation("cns", task="cns", cases=cases, meta={"class_names": names})
    return names, truth, proba


def test_multiclass_summary_matches_sklearn(rng):
    names, truth, proba = _multiclass(rng)
    s = summarize(*store.load_evaluation("cns"), level="image")
    assert s["macro_auc"] == pytest.approx(roc_auc_score(truth, proba, multi_class="ovr", average="macro"))
    assert s["accuracy"]["value"] == pytest.approx(np.mean(proba.argmax(1) == truth))
    for j, name in enumerate(names):
        assert s["per_class_auc"][name] == pytest.approx(roc_auc_score(truth == j, proba[:, j]))


def test_report_csv_and_html(tmp_path, rng, capsys):
    names, truth, proba = _multiclass(rng)
    assert main(["report", "cns", "--out", str(tmp_path / "out" / "cns.csv")]) == 0
    csv = pd.read_csv(tmp_path / "out" / "cns.csv")
    assert len(csv) == len(truth) and csv["truth_index"].tolist() == truth.tolist()
    np.testing.assert_allclose(csv[[f"score_{n}" for n in names]].to_numpy(), proba, rtol=0, atol=1e-12)
    assert "trimester" in csv.columns and "scores" not in csv.columns

    cases = pd.DataFrame({"case_id": [f"c{i}" for i in range(40)], "patient_id": [f"p{i // 2}" for i in range(40)],
                          "truth": [(i // 2) % 2 for i in range(40)], "score": rng.uniform(size=40),
                          "crl_low": [bool(i % 3) for i in range(40)]})
    store.save_evaluation("bin <b>", task="miscarriage", cases=cases, meta={"class_names": CLASSES})
    out = tmp_path / "bin.html"
    assert main(["report", "bin <b>", "--out", str(out), "--json"]) == 0
    assert '"format": "html"' in capsys.readouterr().out
    page = out.read_text(encoding="utf-8")
    meta, df = store.load_evaluation("bin <b>")
    auc = summarize(meta, df)["auc"]["value"]
    assert f"{auc:.3f}" in page and "CRL+HR" not in page and "CRL" in page
    assert "plotly.js v" in page and "cdn.plot.ly/plotly" not in page  # plotly inline: works offline
    assert "<b>" not in page.split("<body>")[1].split("<script")[0]  # names are escaped
    assert "not a medical device" in page
    assert main(["report", "cns", "--out", str(tmp_path / "cns.html")]) == 0
    assert "encephalocele" in (tmp_path / "cns.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("argv, message", [
    (["report", "missing", "--out", "x.csv"], "'missing': not in the store"),
    (["report", "cns", "--out", "x.pdf"], "must end in .html or .csv"),
])
def test_report_bad_input_exits_2(argv, message, rng, capsys, tmp_path, monkeypatch):
    _multiclass(rng)
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
