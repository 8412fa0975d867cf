"""MRMC results side by side: random readers and cases, fixed readers, fixed cases (Study results page).

Why three analyses: the random-readers analysis (Obuchowski-Rockette, Hillis df) is the one that generalises to
new readers and new cases and is what a paper reports; "these readers only" (fixed readers, chi-square) and
"these cases only" (fixed cases, F = MS(T)/MS(T:R)) are what MRMCaov and OR-DBM MRMC print beside it, and
seeing all three tells an organizer whether a borderline result hinges on the reader sample or the case sample.
"""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

TITLES = {"aided_vs_unaided": "Aided vs unaided", "unaided_vs_ai": "Readers (unaided) vs AI",
          "aided_vs_ai": "Readers (aided) vs AI"}
ANALYSES = (("random readers & cases", None), ("fixed readers", "fixed_readers"), ("fixed cases", "fixed_cases"))


def _f(v, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    return f"{v:.{digits}f}"


def mrmc_frame(mrmc: dict) -> pd.DataFrame:
    """One row per comparison and analysis: difference with CI, test statistic, df and p-value."""
    rows = []
    for key, res in mrmc.items():
        title = TITLES.get(key, key)
        if "error" in res:
            rows.append({"comparison": title, "analysis": "—", "note": res["error"]})
            continue
        for label, sub in ANALYSES:
            part = res if sub is None else res.get(sub)
            if not part:
                continue
            d = part["differences"][0]
            if sub == "fixed_readers":
                stat, df = f"X² = {_f(part['chi2'])}", f"{part['df']}"
            else:
                df2 = part["df2"] if isinstance(part["df2"], int) else _f(part["df2"], 2)
                stat, df = f"F = {_f(part['f'])}", f"{part['df1']}, {df2}"
            rows.append({"comparison": title, "analysis": label,
                         "AUC": " vs ".join(_f(t["estimate"]) for t in part["by_test"]),
                         "difference (95% CI)": f"{_f(d['estimate'])} ({_f(d['ci_low'])} to {_f(d['ci_high'])})",
                         "statistic": stat, "df": df, "p": _f(part["p_value"], 4), "note": ""})
    return pd.DataFrame(rows, columns=["comparison", "analysis", "AUC", "difference (95% CI)", "statistic", "df",
                                       "p", "note"]).fillna("—")


def render(mrmc: dict) -> None:
    """The MRMC section of Study results: the three analyses of each comparison in one table."""
    st.subheader("MRMC analysis of AUC: random and fixed readers side by side")
    if not mrmc:
        st.info("MRMC needs at least two readers who read every case (and the AI's scores for a readers-vs-AI "
                "comparison).")
        return
    st.dataframe(mrmc_frame(mrmc), hide_index=True, width="stretch", key="mrmc_side_by_side")
    st.caption("Random readers & cases: Obuchowski–Rockette with Hillis df, jackknife covariances (generalises to "
               "new readers and cases). Fixed readers: conclusions for these readers only (chi-square, normal CI). "
               "Fixed cases: for these cases only (F = MS(T)/MS(T:R), t CI). As MRMCaov's RRRC, FRRC and RRFC.")
