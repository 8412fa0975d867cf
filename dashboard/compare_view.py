"""Rendering of the "CNN versus rules" page: ROC with rule points, live threshold, DeLong, per-week table."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.errors import InputError
from core.rules import RuleTable
from core.tasks import get_task
from dashboard.charts import roc_figure


def _pct(m: dict) -> str:
    v, lo, hi = m["value"], m.get("ci_low"), m.get("ci_high")
    if v is None or v != v:
        return "n/a"
    return f"{100 * v:.1f} % ({100 * lo:.1f}–{100 * hi:.1f})" if lo == lo and hi == hi else f"{100 * v:.1f} %"


def rule_table_editor(table) -> object:
    """An editable copy of the rule table; returns the RuleTable the user set (or shows an error)."""
    rows = [{"week": w, "FHR low at or below (bpm)": r["fhr_low_max_bpm"], "CRL small at or below (mm)":
             r["crl_small_max_mm"]} for w, r in table.rows.items()]
    edited = st.data_editor(pd.DataFrame(rows), num_rows="dynamic", hide_index=True, key="rule_table_editor")
    try:
        return RuleTable(rows={int(r["week"]): {"fhr_low_max_bpm": r["FHR low at or below (bpm)"],
                                                "crl_small_max_mm": r["CRL small at or below (mm)"]}
                               for r in edited.to_dict("records") if pd.notna(r["week"])},
                         name="edited")
    except (InputError, ValueError, TypeError) as err:
        st.error(f"Rule table: {err}")
        return table


def metrics_table(result: dict) -> pd.DataFrame:
    cnn = result["cnn"]["metrics"]
    rows = [{"method": f"CNN @ {result['threshold']:.2f}", "sensitivity": _pct(cnn["sensitivity"]),
             "specificity": _pct(cnn["specificity"]), "PPV": _pct(cnn["ppv"]), "NPV": _pct(cnn["npv"]),
             "AUC": f"{result['cnn']['auc']:.3f} ({result['cnn']['auc_ci'][0]:.3f}–{result['cnn']['auc_ci'][1]:.3f})"}]
    if "baseline" in result:
        b = result["baseline"]
        rows.append({"method": "logistic baseline (CRL, FHR, GA)", "AUC":
                     f"{b['auc']:.3f} ({b['auc_ci'][0]:.3f}–{b['auc_ci'][1]:.3f})"})
    for name, r in result["rules"].items():
        rows.append({"method": f"rule {name}", "sensitivity": _pct(r["sensitivity"]),
                     "specificity": _pct(r["specificity"]), "AUC": f"{r['auc']:.3f} (single point)",
                     "PPV": "", "NPV": ""})
    return pd.DataFrame(rows).fillna("")


def render(result: dict) -> None:
    cnn = result["cnn"]
    curves = {"CNN": {**cnn["roc"], "auc": cnn["auc"]}}
    if "baseline" in result:
        curves["logistic baseline"] = {**result["baseline"]["roc"], "auc": result["baseline"]["auc"]}
    points = {name: (r["fpr"], r["tpr"]) for name, r in result["rules"].items()}
    m = cnn["metrics"]
    operating = (1 - m["specificity"]["value"], m["sensitivity"]["value"])
    st.plotly_chart(roc_figure(curves, points=points, operating=operating), width="stretch")
    st.dataframe(metrics_table(result), hide_index=True, width="stretch")
    if "delong" in result:
        d = result["delong"]
        st.write(f"DeLong test, CNN vs logistic baseline: ΔAUC = {d['difference']:+.3f}, p = {d['p_value']:.4f}")
    st.caption(f"{result['n']} patients, {result['n_positive']} positive; patient level.")


def uses_rules(task_name) -> bool:
    """Whether the stored evaluation's task uses the CRL/FHR rules (core.tasks), so it can be compared."""
    try:
        return bool(get_task(str(task_name)).uses_rules)
    except InputError:
        return False
