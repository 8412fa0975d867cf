"""The reader-study ROC chart: the AI's ROC curve with each reader's unaided -> aided operating points.

Why arrows: the question a reader study answers is whether the AI moves readers towards the top-left; an
arrow from each reader's unaided point to their aided point shows direction and size of that move at a
glance, with the AI's own curve as the reference (as in the CNS paper's reader figure).
"""

from __future__ import annotations

import math

import plotly.graph_objects as go

PHASE_STYLE = {"unaided": ("circle-open", "unaided"), "aided": ("circle", "aided")}
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def roc_figure(roc: dict) -> go.Figure:
    """Plotly figure from :func:`core.reader_study.figures.roc_points`."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dot", color="#999"),
                             name="chance", hoverinfo="skip"))
    ai = roc.get("ai")
    if ai:
        fig.add_trace(go.Scatter(x=ai["fpr"], y=ai["tpr"], mode="lines", line=dict(color="#444", width=2),
                                 name=f"AI (AUC {ai['auc']:.3f}, {ai['n']} cases)"))
    readers = sorted({p["reader"] for p in roc.get("readers", [])})
    for k, reader in enumerate(readers):
        color = COLORS[k % len(COLORS)]
        points = {p["phase"]: p for p in roc["readers"] if p["reader"] == reader
                  and not (math.isnan(p["fpr"]) or math.isnan(p["tpr"]))}
        for phase, p in points.items():
            symbol, text = PHASE_STYLE.get(phase, ("square", phase))
            fig.add_trace(go.Scatter(x=[p["fpr"]], y=[p["tpr"]], mode="markers",
                                     marker=dict(symbol=symbol, size=13, color=color, line=dict(width=2, color=color)),
                                     name=f"{reader} · {text}",
                                     hovertemplate=f"{reader} {text}<br>1 − specificity %{{x:.2f}}<br>"
                                                   f"sensitivity %{{y:.2f}}<extra></extra>"))
        if "unaided" in points and "aided" in points:
            a, b = points["unaided"], points["aided"]
            fig.add_annotation(x=b["fpr"], y=b["tpr"], ax=a["fpr"], ay=a["tpr"], xref="x", yref="y", axref="x",
                               ayref="y", showarrow=True, arrowhead=3, arrowsize=1.3, arrowwidth=2, arrowcolor=color,
                               standoff=7, startstandoff=7, text="")
    fig.update_layout(xaxis=dict(title="1 − specificity", range=[-0.02, 1.02], constrain="domain"),
                      yaxis=dict(title="sensitivity", range=[-0.02, 1.02], scaleanchor="x", scaleratio=1),
                      height=560, margin=dict(l=10, r=10, t=30, b=10),
                      legend=dict(orientation="h", x=0, y=-0.15, yanchor="top"),
                      title=f"Positive class: {roc.get('positive')}")
    return fig
