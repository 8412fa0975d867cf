"""Weak demo models say so: findings recomputed from per-case rows against the issue-19 targets."""

import numpy as np
import pandas as pd
import pytest

from core.demo_quality import MIN_PATIENTS, figures_text, rate, warning_text


def _binary(n, *, good: bool, spread: float = 0.8, seed=0):
    rng = np.random.default_rng(seed)
    truth = np.array(["term", "preterm"] * (n // 2))
    pos = truth == "preterm"
    score = 0.5 + (spread / 2) * np.where(pos == good, 1, -1) * rng.uniform(0.5, 1.0, n)
    return pd.DataFrame({"patient_id": [f"p{i}" for i in range(n)], "truth": truth, "score": score})


def test_good_model_meets_targets():
    f = rate("preterm", cases=_binary(80, good=True), class_names=["term", "preterm"], positive_label="preterm",
             metrics={"dice": 0.93})
    assert warning_text(f) is None
    assert {(x.metric, x.status) for x in f} == {("auc", "meets"), ("dice", "meets")}
    assert next(x for x in f if x.metric == "auc").value == pytest.approx(1.0)


def test_inverted_collapsed_and_small_are_flagged():
    cases = _binary(20, good=False, spread=0.15)
    f = rate("preterm", cases=cases, class_names=["term", "preterm"], positive_label="preterm",
             metrics={"dice": 0.68})
    status = {x.metric: x.status for x in f}
    assert status == {"n_patients": "too_few_patients", "auc": "inverted", "score_spread": "collapsed",
                      "dice": "below_target"}
    text = warning_text(f)
    assert "AUC 0.000" in text and "0.68" in text and str(MIN_PATIENTS) in text


def test_patient_level_mean_is_used():
    # Two images per patient: per image the classes overlap, the patient means separate them perfectly.
    cases = pd.DataFrame({"patient_id": ["a", "a", "b", "b"] * 20, "truth": ["x", "x", "y", "y"] * 20,
                          "score": [0.9, 0.2, 0.7, 0.8] * 20})
    cases["patient_id"] = cases["patient_id"] + (cases.index // 4).astype(str)
    f = rate("miscarriage", cases=cases, class_names=["x", "y"], positive_label="y")
    assert next(x for x in f if x.metric == "auc").value == pytest.approx(1.0)


def test_unknown_task_gets_generic_checks_only():
    assert rate("segmentation", metrics={"dice": 0.1}) == []


def test_figures_text_lists_every_target_met_or_not():
    f = rate("preterm", cases=_binary(80, good=True), class_names=["term", "preterm"], positive_label="preterm",
             metrics={"dice": 0.87})
    text = figures_text(f, 80)
    assert text == ("Demo targets: held-out Dice 0.870 (target >= 0.90, not met); patient-level AUC 1.000 "
                    "(target >= 0.70, met) on 80 held-out patients.")
    assert figures_text(rate("segmentation", metrics={"dice": 0.1})) is None


def _note():
    from dashboard import bland_altman_view

    bland_altman_view.quality_note("weak-preterm")
    bland_altman_view.quality_note("good-preterm")


def test_evaluations_page_hook_warns_only_for_the_weak_model(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from core import store

    monkeypatch.setenv("SONODASH_HOME", str(tmp_path))
    monkeypatch.delenv("SONODASH_DB_URL", raising=False)
    meta = {"class_names": ["term", "preterm"], "positive_label": "preterm"}
    weak = _binary(20, good=False, spread=0.15)
    weak["case_id"] = weak["patient_id"] + ".png"
    good = _binary(80, good=True)
    good["case_id"] = good["patient_id"] + ".png"
    store.save_evaluation("weak-preterm", task="preterm", cases=weak, meta=meta)
    store.save_evaluation("good-preterm", task="preterm", cases=good, meta=meta)
    at = AppTest.from_function(_note, default_timeout=60).run()
    assert not at.exception
    assert len(at.warning) == 1
    text = at.warning[0].value
    assert text.startswith("weak-preterm: Weak model:") and "below chance" in text and "collapsed" in text
    captions = [c.value for c in at.caption]        # the good model's figure is shown, with its sample size
    assert "good-preterm: Demo targets: patient-level AUC 1.000 (target >= 0.70, met) on 80 held-out patients." \
        in captions
