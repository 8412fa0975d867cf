"""Plotly figures for the evaluation pages (drawing only; the numbers come from core)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

RULE_MARKERS = {"CRL": "square", "HR": "diamond", "CRL+HR": "star"}


def _base(title: str, x: str, y: str) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, height=480, legend=dict(x=0.55, y=0.05),
                      xaxis=dict(range=[0, 1]), yaxis=dict(range=[0, 1.02]), margin=dict(l=40, r=20, t=50, b=40))
    return fig


def _thresholds_text(thresholds) -> list[str]:
    return [f"threshold {t:.3f}" if np.isfinite(t) else "threshold ∞" for t in thresholds]


def roc_figure(curves: dict, *, points: dict | None = None, operating: tuple | None = None) -> go.Figure:
    """``curves``: name -> {"fpr", "tpr", optional "thresholds", optional "auc"}; ``points``: name -> (fpr, tpr)."""
    fig = _base("ROC", "1 − specificity (false-positive rate)", "sensitivity")
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dot", color="gray"),
                             name="chance", hoverinfo="skip"))
    for name, c in curves.items():
        label = f"{name} (AUC {c['auc']:.3f})" if c.get("auc") is not None else name
        text = _thresholds_text(c["thresholds"]) if c.get("thresholds") is not None else None
        fig.add_trace(go.Scatter(x=c["fpr"], y=c["tpr"], mode="lines", name=label, text=text,
                                 hovertemplate="FPR %{x:.3f}<br>sens %{y:.3f}<br>%{text}<extra>" + name + "</extra>"
                                 if text else None))
    for name, (fpr, tpr) in (points or {}).items():
        fig.add_trace(go.Scatter(x=[fpr], y=[tpr], mode="markers", name=f"rule {name}",
                                 marker=dict(size=13, symbol=RULE_MARKERS.get(name, "circle")),
                                 hovertemplate=f"rule {name}<br>FPR %{{x:.3f}}<br>sens %{{y:.3f}}<extra></extra>"))
    if operating is not None:
        fig.add_trace(go.Scatter(x=[operating[0]], y=[operating[1]], mode="markers", name="CNN operating point",
                                 marker=dict(size=14, color="black", symbol="x")))
    return fig


def pr_figure(curves: dict) -> go.Figure:
    """``curves``: name -> {"recall", "precision", optional "ap"}."""
    fig = _base("Precision-recall", "recall (sensitivity)", "precision (PPV)")
    for name, c in curves.items():
        label = f"{name} (AP {c['ap']:.3f})" if c.get("ap") is not None else name
        fig.add_trace(go.Scatter(x=c["recall"], y=c["precision"], mode="lines", name=label))
    return fig


def calibration_figure(curves: dict) -> go.Figure:
    """``curves``: name -> {"mean_predicted", "fraction_positive"}."""
    fig = _base("Calibration (reliability)", "mean predicted probability", "observed fraction positive")
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dot", color="gray"), name="perfect"))
    for name, c in curves.items():
        fig.add_trace(go.Scatter(x=c["mean_predicted"], y=c["fraction_positive"], mode="lines+markers", name=name))
    return fig


def decision_figure(curves: dict) -> go.Figure:
    """``curves``: name -> {"thresholds", "net_benefit"}, plus treat-all / treat-none."""
    fig = go.Figure()
    for name, c in curves.items():
        fig.add_trace(go.Scatter(x=c["thresholds"], y=c["net_benefit"], mode="lines", name=name))
    fig.update_layout(title="Decision curve", xaxis_title="threshold probability", yaxis_title="net benefit",
                      height=420, margin=dict(l=40, r=20, t=50, b=40))
    return fig


def confusion_figure(matrix, labels: list[str]) -> go.Figure:
    fig = go.Figure(go.Heatmap(z=matrix, x=[f"pred {l}" for l in labels], y=[f"true {l}" for l in labels],
                               text=matrix, texttemplate="%{text}", colorscale="Blues", showscale=False))
    fig.update_layout(title="Confusion matrix", height=380, yaxis=dict(autorange="reversed"),
                      margin=dict(l=40, r=20, t=50, b=40))
    return fig
