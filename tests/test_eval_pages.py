"""Evaluations page (pAUC, sensitivity at a chosen specificity with CI, stratified bootstrap CI, calibration
slope / intercept, paper vs COCO mAP) and the Study results MRMC table: the values shown are the core's."""

import math
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.demo import demo_bundle

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "dashboard" / "app.py")


def _open(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300).run()
    at.switch_page(str(ROOT / "pages" / page)).run()
    assert not at.exception, at.exception
    return at


def _stats_table(at):
    return next(df.value for df in at.dataframe if "statistic" in df.value.columns and "method" in df.value.columns)


@pytest.mark.skipif(demo_bundle("miscarriage") is None, reason="demo models not built")
def test_evaluations_roc_statistics_match_core_and_follow_the_specificity_slider():
    from core.comparison import patient_cases
    from core.evaluation import calibration_slope_intercept, ci_auc_bootstrap, ci_se
    from dashboard.resources import evaluation

    at = _open("evaluations.py")
    at.multiselect(key="eval_chosen").set_value(["demo-miscarriage"]).run()
    assert not at.exception
    table = _stats_table(at)
    meta, cases = evaluation("demo-miscarriage")
    df, y = patient_cases(meta, cases)
    s = df["score"].to_numpy(float)
    rows = dict(zip(table["statistic"] + " | " + table["method"], zip(table["value"], table["95% CI low"],
                                                                      table["95% CI high"])))
    boot = ci_auc_bootstrap(y, s, n_boot=2000, seed=0, direction="<")
    assert rows["AUC | stratified bootstrap (2000)"] == (f"{boot['estimate']:.3f}", f"{boot['ci_low']:.3f}",
                                                         f"{boot['ci_high']:.3f}")
    se = ci_se(y, s, [0.9], n_boot=2000, seed=0, direction="<")
    key = "sensitivity at specificity 0.9 | interpolated (pROC ci.se), bootstrap (2000)"
    assert rows[key][0] == f"{se['estimate']['sensitivity'][0]:.3f}"
    assert rows[key][1] == f"{se['sensitivity'][0][0]:.3f}"
    pauc = ci_auc_bootstrap(y, s, partial=(0.9, 1.0), n_boot=2000, seed=0, direction="<")
    assert rows["partial AUC, specificity 0.9–1 | stratified bootstrap (2000)"][0] == f"{pauc['estimate']:.3f}"
    cal = calibration_slope_intercept(y, s)
    assert rows["calibration slope | logistic recalibration (Wald)"][0] == f"{cal['slope']:.3f}"
    assert rows["calibration intercept | calibration-in-the-large (Wald)"][0] == f"{cal['intercept']:.3f}"

    at.slider(key="eval_specificity").set_value(0.8).run()
    assert not at.exception
    after = _stats_table(at)
    assert not any("specificity 0.9" in v for v in after["statistic"])          # no stale row
    se8 = ci_se(y, s, [0.8], n_boot=2000, seed=0, direction="<")
    row = after[after["statistic"] == "sensitivity at specificity 0.8"].iloc[0]
    assert row["value"] == f"{se8['estimate']['sensitivity'][0]:.3f}"


@pytest.fixture
def fresh_instance_sources():
    """instance_sources is cached for 10 s across the process: clear it so this test's run folder is seen and
    the next test does not see this one."""
    from dashboard.instance_eval_view import instance_sources

    instance_sources.clear()
    yield
    instance_sources.clear()


def test_evaluations_shows_paper_and_coco_map(tmp_path, fresh_instance_sources):
    import json
    import os

    run = Path(os.environ["SONODASH_HOME"]) / "runs" / "first_trimester-coco-test"
    run.mkdir(parents=True)
    rows = [{"structure": "cranium", "TP": 4, "FP": 1, "FN": 1, "TN": 4, "accuracy": 0.8, "recall": 0.8,
             "precision": 0.8, "f1": 0.8, "mask_ap50": 0.5, "box_ap50": 0.6, "coco_mask_ap50": 0.9,
             "coco_box_ap50": 0.7},
            {"structure": "nasal_bone", "TP": 0, "FP": 0, "FN": 2, "TN": 8, "accuracy": 0.8, "recall": 0.0,
             "precision": None, "f1": 0.0, "mask_ap50": 0.25, "box_ap50": 0.35, "coco_mask_ap50": 0.5,
             "coco_box_ap50": 0.4}]
    (run / "metrics.json").write_text(json.dumps({"mask_map50": 0.375, "box_map50": 0.475, "per_structure": rows}))
    at = _open("evaluations.py")
    at.selectbox(key="instance_source").set_value(f"run: {run.name}").run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Paper mask mAP@0.5"] == "0.375" and metrics["COCO mask mAP@0.5"] == "0.700"
    assert metrics["Paper box mAP@0.5"] == "0.475" and metrics["COCO box mAP@0.5"] == "0.550"
    table = next(df.value for df in at.dataframe if "Mask AP (COCO)" in df.value.columns)
    assert list(table["Mask AP (COCO)"]) == [0.9, 0.5] and list(table["Structure"]) == ["cranium", "nasal bone"]


def test_mrmc_frame_puts_the_three_analyses_side_by_side():
    from test_mrmc import _van_dyke

    from core.reader_study.mrmc import or_hillis
    from dashboard.mrmc_view import mrmc_frame

    truth, scores = _van_dyke()
    res = or_hillis(truth, scores, tests=["aided", "unaided"])
    frame = mrmc_frame({"aided_vs_unaided": res, "unaided_vs_ai": {"error": "the AI has no scores"}})
    rows = frame[frame["comparison"] == "Aided vs unaided"].set_index("analysis")
    assert list(rows.index) == ["random readers & cases", "fixed readers", "fixed cases"]
    assert rows.loc["random readers & cases", "statistic"] == "F = 4.456"
    assert rows.loc["random readers & cases", "p"] == "0.0517"
    assert rows.loc["fixed readers", "statistic"] == "X² = 5.476" and rows.loc["fixed readers", "p"] == "0.0193"
    assert rows.loc["fixed cases", "statistic"] == "F = 8.704" and rows.loc["fixed cases", "df"] == "1, 4"
    assert frame[frame["comparison"] == "Readers (unaided) vs AI"]["note"].iloc[0] == "the AI has no scores"
    assert not math.isnan(res["fixed_readers"]["chi2"]) and np.isfinite(res["fixed_cases"]["p_value"])


@pytest.mark.skipif(demo_bundle("cns") is None, reason="demo models not built")
def test_evaluations_multiclass_summary_matches_sklearn():
    from sklearn.metrics import roc_auc_score

    from dashboard.resources import evaluation

    at = _open("evaluations.py")
    at.multiselect(key="eval_chosen").set_value(["demo-cns"]).run()
    assert not at.exception
    table = next(df.value for df in at.dataframe if "multi-class AUC" in df.value.columns)
    meta, cases = evaluation("demo-cns")
    df = cases[cases["truth_index"].notna() & cases["scores"].notna()]
    y = df["truth_index"].astype(int).to_numpy()
    proba = np.array([list(v) for v in df["scores"]], float)
    rows = dict(zip(table["multi-class AUC"], table["value"]))
    assert rows["one-vs-one (Hand–Till)"] == round(roc_auc_score(y, proba, multi_class="ovo"), 3)
    assert rows["one-vs-rest, support-weighted"] == round(
        roc_auc_score(y, proba, multi_class="ovr", average="weighted"), 3)
