"""Protocol.metrics and Protocol.subgroups drive the Evaluations page's tables (issue 20 item 2)."""

import numpy as np
import pandas as pd

from core.evaluation import subgroup_choices, subgroup_column, subgroup_metrics
from core.tasks import get_task
from dashboard.evaluations_view import THRESHOLD_METRICS, threshold_metrics


def test_derived_subgroups_come_from_gestational_age():
    df = pd.DataFrame({"ga_weeks": [12.9, 13.99, 14.0, 19.9, 20.0, 27.9, 28.0, np.nan]})
    assert subgroup_column(df, "ga_week")[:7].tolist() == [12, 13, 14, 19, 20, 27, 28]
    assert subgroup_column(df, "trimester")[:7].tolist() == [1, 1, 2, 2, 2, 2, 3]
    assert subgroup_column(df, "before_20_weeks")[:7].tolist() == [1, 1, 1, 1, 0, 0, 0]
    assert np.isnan(subgroup_column(df, "trimester")[7])
    assert subgroup_column(df, "centre") is None                    # neither a column nor derivable
    assert subgroup_column(pd.DataFrame({"plane": ["x"]}), "trimester") is None


def test_the_protocols_subgroups_are_offered_first():
    df = pd.DataFrame({"patient_id": list("abcd"), "ga_weeks": [18.0, 19.5, 21.0, 22.0],
                       "Plane": ["axial", "axial", "sagittal", "sagittal"], "score": [0.1, 0.3, 0.5, 0.9]})
    cns = get_task("cns").protocol.subgroups
    assert list(subgroup_choices(df, cns))[:2] == list(cns) == ["trimester", "before_20_weeks"]
    assert list(subgroup_choices(df, ())) == ["ga_weeks", "Plane"]  # no protocol: the columns only
    # the table splits by the derived grouping: before 20 weeks {a, b}, after {c, d}
    groups = subgroup_choices(df, cns)["before_20_weeks"]
    table = subgroup_metrics(pd.DataFrame({"g": groups, "y": [0, 1, 0, 1], "s": df["score"]}), by="g",
                             truth="y", score="s")
    assert table.set_index("group")["n"].to_dict() == {0.0: 2, 1.0: 2, "all": 4}
    assert table.set_index("group")["auc"].to_dict() == {0.0: 1.0, 1.0: 1.0, "all": 0.75}


def test_the_protocols_metrics_choose_the_threshold_table():
    assert threshold_metrics(get_task("miscarriage").protocol.metrics) == [
        "accuracy", "sensitivity", "specificity", "ppv", "npv"]
    # precision = PPV, recall = sensitivity; AUROC is in the ROC table, not this one
    assert threshold_metrics(get_task("cns").protocol.metrics) == ["accuracy", "ppv", "sensitivity", "f1"]
    assert threshold_metrics(get_task("segmentation").protocol.metrics) == list(THRESHOLD_METRICS)
    assert threshold_metrics(()) == list(THRESHOLD_METRICS)


def test_evaluations_page_reports_the_protocols_metrics_and_subgroups():
    from pathlib import Path

    import pytest
    from streamlit.testing.v1 import AppTest

    from core.demo import demo_bundle

    if demo_bundle("miscarriage") is None:
        pytest.skip("demo models not built")
    root = Path(__file__).resolve().parent.parent
    at = AppTest.from_file(str(root / "dashboard" / "app.py"), default_timeout=300).run()
    at.switch_page(str(root / "pages" / "evaluations.py")).run()
    at.multiselect(key="eval_chosen").set_value(["demo-miscarriage"]).run()
    assert not at.exception, at.exception
    protocol = get_task("miscarriage").protocol
    metric_table = next(df.value for df in at.dataframe if list(df.value.columns) == ["metric", "value", "95% CI"])
    assert metric_table["metric"].tolist() == threshold_metrics(protocol.metrics)       # no f1: not in protocol
    by = at.selectbox(key="subgroup_by")
    assert by.options[:2] == list(protocol.subgroups) == ["ga_week", "plane"] and by.value == "ga_week"
    groups = next(df.value for df in at.dataframe if "group" in df.value.columns)["group"].tolist()
    assert groups[-1] == "all" and all(g.isdigit() for g in groups[:-1])   # completed weeks, not 12.0
    notes = [c.value for c in at.caption if "the paper's figures" in c.value]
    assert len(notes) == 1 and notes[0].startswith("demo-miscarriage — the paper's figures (")
    assert "auc retrospective 0.857 (0.793–0.922); auc prospective 0.885 (0.846–0.925)" in notes[0]
