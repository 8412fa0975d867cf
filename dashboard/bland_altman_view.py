"""Evaluations: real-data benchmark runs (``python -m core bench-real``) with their Bland-Altman plot.

Why a view of its own: a segmentation benchmark has no ROC; what a sonographer judges is how far the network's
head circumference lies from the expert's, case by case: bias and 95 % limits of agreement, drawn over the
mean of the two measurements. Everything shown is recomputed from the run's per-case rows
(:func:`core.segmentation.real_bench.load_bench_run`), never read from a stored summary.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import streamlit as st


def figure(cases, *, title: str = "Bland–Altman: head circumference") -> go.Figure:
    """Differences (predicted − reference) over means, with the bias, the limits of agreement and the
    confidence band of each limit (Bland & Altman 1999)."""
    from core.evaluation.bland_altman import bland_altman

    pair = cases[["hc_pred_mm", "hc_ref_mm"]].apply(lambda c: c.astype(float)).dropna()
    fig = go.Figure()
    fig.update_layout(title=title, xaxis_title="mean of predicted and reference HC (mm)",
                      yaxis_title="predicted − reference HC (mm)", height=460,
                      margin=dict(l=50, r=20, t=50, b=45), showlegend=True)
    if len(pair) < 2:
        return fig
    ba = bland_altman(pair["hc_pred_mm"].to_numpy(), pair["hc_ref_mm"].to_numpy())
    case_ids = cases.loc[pair.index, "case"].astype(str).tolist() if "case" in cases.columns else None
    fig.add_trace(go.Scatter(x=ba.means, y=ba.diffs, mode="markers", name=f"cases (n = {ba.n})",
                             text=case_ids, marker=dict(size=7, opacity=0.7),
                             hovertemplate="%{text}<br>mean %{x:.1f} mm<br>diff %{y:.2f} mm<extra></extra>"))
    x0, x1 = float(np.min(ba.means)), float(np.max(ba.means))
    for y, name, dash in ((ba.mean_diff, f"bias {ba.mean_diff:+.2f} mm", "solid"),
                          (ba.loa[0], f"lower limit {ba.loa[0]:+.2f} mm", "dash"),
                          (ba.loa[1], f"upper limit {ba.loa[1]:+.2f} mm", "dash")):
        fig.add_trace(go.Scatter(x=[x0, x1], y=[y, y], mode="lines", name=name, line=dict(dash=dash)))
    for lo, hi in (ba.loa_lower_ci, ba.loa_upper_ci):
        if math.isfinite(lo) and math.isfinite(hi):
            fig.add_hrect(y0=lo, y1=hi, fillcolor="gray", opacity=0.15, line_width=0)
    return fig


def _fmt(value, unit: str = "", digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:.{digits}f}{unit}"


def render(run_dir) -> None:
    """One bench-real run: headline figures, the Bland-Altman plot, the per-case table."""
    from core.errors import InputError
    from core.segmentation.real_bench import load_bench_run

    try:
        summary, cases = load_bench_run(run_dir)
    except InputError as err:
        st.error(str(err))
        return
    hc = summary.get("hc_abs_err_mm") or {}
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Dice (mean)", _fmt(summary.get("dice")))
    c2.metric("HD95 (mm)", _fmt(summary.get("hd95_mm"), "", 2))
    c3.metric("HC |error| (mm)", _fmt(hc.get("mean"), "", 2))
    c4.metric("Training (min)", _fmt((summary.get("train_s") or math.nan) / 60, "", 1))
    loa = hc.get("loa") or [None, None]
    st.caption(f"{summary.get('n_test')} test images; post-processing {summary.get('postprocess')}; "
               f"HC |error| {_fmt(hc.get('mean'), '', 2)} ± {_fmt(hc.get('sd'), ' mm', 2)} (mean ± SD); "
               f"limits of agreement {_fmt(loa[0], ' mm', 2)} to {_fmt(loa[1], ' mm', 2)} "
               f"(bias {_fmt(hc.get('bias'), ' mm', 2)}); epochs {summary.get('epochs_run')} within a "
               f"{summary.get('budget_min')} min budget. Shaded: 95 % CI of each limit (Bland & Altman 1999).")
    offset = summary.get("hc_ref_mask_offset_mm")
    if offset is not None and abs(offset) >= 0.5:
        st.warning(f"The reference masks' own ellipses differ from the reference HC by {offset:+.2f} mm on "
                   "average (how the masks were drawn); part of the HC error is that offset.")
    st.plotly_chart(figure(cases), width="stretch", key=f"ba_{run_dir}")
    st.dataframe(cases, hide_index=True, width="stretch")


def section() -> None:
    """Pick a bench-real run from SONODASH_HOME/runs and render it (an info line when there is none)."""
    from core.segmentation.real_bench import list_bench_runs

    runs = list_bench_runs()
    st.subheader("Real-data segmentation benchmarks (Bland–Altman)")
    if not runs:
        st.info("No bench-real run yet. `python -m core bench-real --manifest CSV --task segmentation` "
                "(or `make real-data`) makes one.")
        return
    names = {p.name: p for p in runs}
    choice = st.selectbox("Benchmark run", list(names), key="bench_real_run")
    render(names[choice])


def quality_note(name: str) -> None:
    """A warning under a stored evaluation whose model is weak or broken (core.demo_quality), and for a study
    with demo targets its figures against them (met or not), so the demo's held-out figures are on screen."""
    from core.demo_quality import case_metrics, figures_text, rate_evaluation, warning_text
    from dashboard.resources import evaluation

    meta, cases = evaluation(name)
    findings = rate_evaluation(meta, cases)
    text = warning_text(findings)
    if text:
        st.warning(f"{name}: {text}")
    n = case_metrics(cases, list(meta.get("class_names") or sorted(cases["truth"].astype(str).unique())),
                     meta.get("positive_label")).get("n_patients") if len(cases) else None
    figures = figures_text(findings, n)
    if figures:
        st.caption(f"{name}: {figures}")
