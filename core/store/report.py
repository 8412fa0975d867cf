"""Reports of a stored evaluation: the per-case CSV, or one self-contained HTML page.

Why self-contained: a report is mailed, archived with a paper or opened on a ward PC without internet, so the
HTML carries plotly.js inline and needs no other file. Every number in it is recomputed from the stored
cases (:func:`core.store.summary.summarize`).
"""

from __future__ import annotations

import html
import math
from pathlib import Path

from core.errors import InputError
from core.store.evaluations import load_evaluation
from core.store.summary import summarize

FORMATS = (".html", ".htm", ".csv")
DISCLAIMER = "Research software, not a medical device. Not for clinical decisions."
ROWS = [("auc", "AUC"), ("accuracy", "Accuracy"), ("sensitivity", "Sensitivity"), ("specificity", "Specificity"),
        ("ppv", "PPV"), ("npv", "NPV"), ("f1", "F1")]


def cases_table(meta: dict, df):
    """The per-case table for export: per-class scores as ``score_<class>`` columns instead of lists."""
    out = df.copy()
    names = list(meta.get("class_names") or [])
    if out["scores"].notna().any() and names:
        for j, name in enumerate(names):
            out[f"score_{name}"] = [None if s is None else s[j] for s in out["scores"]]
    out = out.drop(columns=["scores"])
    return out.dropna(axis=1, how="all").assign(case_id=df["case_id"], patient_id=df["patient_id"])


def _num(v, digits: int = 3) -> str:
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.{digits}f}"


def _metric_cell(m) -> str:
    if not isinstance(m, dict):
        return _num(m)
    lo, hi = m.get("ci", [math.nan, math.nan])
    ci = "" if not (isinstance(lo, float) and math.isfinite(lo)) else f" ({_num(lo)} to {_num(hi)})"
    return f"{_num(m['value'])}{ci}"


def _summary_table(patient: dict, image: dict) -> str:
    head = "<tr><th>Metric (95% CI)</th><th>Patient level</th><th>Image level</th></tr>"
    rows = [f"<tr><td>{label}</td><td>{_metric_cell(patient.get(key))}</td><td>{_metric_cell(image.get(key))}</td>"
            "</tr>" for key, label in ROWS if key in patient or key in image]
    rows.append(f"<tr><td>Cases</td><td>{patient.get('n')}</td><td>{image.get('n')}</td></tr>")
    if "micro_auc" in patient:
        rows.append(f"<tr><td>Micro-average AUC</td><td>{_num(patient['micro_auc'])}</td>"
                    f"<td>{_num(image.get('micro_auc'))}</td></tr>")
    for name, auc in (patient.get("per_class_auc") or {}).items():
        rows.append(f"<tr><td>AUC {html.escape(str(name))} vs rest</td><td>{_num(auc)}</td>"
                    f"<td>{_num((image.get('per_class_auc') or {}).get(name))}</td></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _baseline_text(baseline: dict | None) -> str:
    if not baseline:
        return ""
    return (f"<h2>Continuous rules baseline (patient level)</h2><p>Logistic regression on CRL, FHR and GA fitted in "
            f"the model's folds: AUC {_metric_cell(baseline['auc'])}. Model minus baseline: "
            f"{_num(baseline['difference'])} ({_num(baseline['difference_ci'][0])} to "
            f"{_num(baseline['difference_ci'][1])}), DeLong p = {_num(baseline['delong_p'], 4)}.</p>")


def _rules_table(rules: dict) -> str:
    if not rules:
        return ""
    head = "<tr><th>Rule</th><th>Sensitivity (95% CI)</th><th>Specificity (95% CI)</th><th>AUC (sens+spec)/2</th>" \
           "<th>Patients</th><th>Not applicable / missing</th></tr>"
    rows = [f"<tr><td>{html.escape(k)}</td><td>{_metric_cell(v['sensitivity'])}</td>"
            f"<td>{_metric_cell(v['specificity'])}</td><td>{_num(v['auc'])}</td><td>{v['n']}</td>"
            f"<td>{v['n_excluded']}</td></tr>" for k, v in rules.items()]
    return f"<h2>CRL / FHR rules (patient level)</h2><table>{head}{''.join(rows)}</table>"


def roc_figure(summary: dict):
    """Plotly ROC figure: the model's curve(s), the rules as single points, the chance diagonal."""
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance", line={"dash": "dot", "color": "grey"}))
    roc = summary.get("roc") or {}
    if "fpr" in roc:
        fig.add_trace(go.Scatter(x=roc["fpr"], y=roc["tpr"], mode="lines",
                                 name=f"model (AUC {_num(summary['auc']['value'])})"))
    else:
        for name, curve in roc.items():
            auc = (summary.get("per_class_auc") or {}).get(name)
            fig.add_trace(go.Scatter(x=curve["fpr"], y=curve["tpr"], mode="lines", name=f"{name} (AUC {_num(auc)})"))
    if summary.get("baseline"):
        b = summary["baseline"]
        fig.add_trace(go.Scatter(x=b["roc"]["fpr"], y=b["roc"]["tpr"], mode="lines", line={"dash": "dash"},
                                 name=f"rules baseline (AUC {_num(b['auc']['value'])})"))
    for name, r in (summary.get("rules") or {}).items():
        fig.add_trace(go.Scatter(x=[1 - r["specificity"]["value"]], y=[r["sensitivity"]["value"]], mode="markers",
                                 marker={"size": 11, "symbol": "diamond"}, name=f"rule {name} (AUC {_num(r['auc'])})"))
    fig.update_layout(title="ROC curve (patient level)", xaxis_title="1 - specificity", yaxis_title="sensitivity",
                      xaxis={"range": [0, 1]}, yaxis={"range": [0, 1.02]}, width=640, height=560,
                      template="plotly_white")
    return fig


def render_html(meta: dict, df) -> str:
    """The whole report page as one string (plotly.js inline: it works offline)."""
    import plotly.io as pio

    patient = summarize(meta, df, level="patient")
    image = summarize(meta, df, level="image")
    plot = pio.to_html(roc_figure(patient), include_plotlyjs=True, full_html=False)
    esc = lambda v: html.escape(str(v))  # noqa: E731
    facts = [("Evaluation", meta["name"]), ("Task", meta["task"]), ("Model bundle", meta.get("bundle_name") or "-"),
             ("Created (UTC)", meta.get("created")), ("Cases / patients", f"{len(df)} / {df['patient_id'].nunique()}"),
             ("Patient aggregation", meta.get("aggregation") or "mean"),
             ("Threshold", patient.get("threshold", "-")), ("Manifest fingerprint", meta.get("manifest_fingerprint") or "-")]
    facts_html = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in facts)
    style = ("body{font-family:system-ui,sans-serif;margin:2em;max-width:60em}table{border-collapse:collapse;"
             "margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .7em;text-align:left}"
             ".warn{background:#fff3cd;padding:.6em;border:1px solid #e0c068}")
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>SonoDash report: {esc(meta['name'])}"
            f"</title><style>{style}</style></head><body><p class='warn'>{DISCLAIMER}</p>"
            f"<h1>Evaluation {esc(meta['name'])}</h1><table>{facts_html}</table><h2>Summary</h2>"
            f"{_summary_table(patient, image)}{_rules_table(patient.get('rules') or {})}{_baseline_text(patient.get('baseline'))}<h2>ROC</h2>{plot}"
            f"<p>Intervals: AUC by DeLong, proportions by Wilson score. Statistics were recomputed from the "
            f"{len(df)} stored per-case predictions.</p></body></html>")


def write_report(name: str, out) -> Path:
    """Write the report of stored evaluation ``name`` to ``out`` (.html/.htm or .csv, by suffix)."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise InputError(f"{out}: the report file must end in .html or .csv")
    if out.is_dir():
        raise InputError(f"{out}: is a folder; give a file name")
    meta, df = load_evaluation(name)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    if suffix == ".csv":
        cases_table(meta, df).to_csv(tmp, index=False)
    else:
        tmp.write_text(render_html(meta, df), encoding="utf-8")
    tmp.replace(out)
    return out
