"""Widgets of the organizer pages: study setup form, reader accounts, progress and results tables."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from core.accounts import create_user
from core.errors import InputError
from core.paths import SAMPLE_DATA
from core.reader_study import DESIGNS, OrganizerSession, cases_from_evaluation, cases_from_manifest

DESIGN_TEXT = {"sequential": "Sequential (unaided, then aided on the same case)", "unaided": "Unaided only",
               "aided": "Aided only"}


def add_reader_form() -> None:
    with st.expander("Add a reader account"):
        with st.form("add_reader", clear_on_submit=True):
            name = st.text_input("User name", key="new_reader_name")
            password = st.text_input("Initial password (at least 8 characters)", type="password",
                                     key="new_reader_password")
            ok = st.form_submit_button("Create reader")
        if ok:
            try:
                account = create_user(name, password, role="reader")
            except InputError as err:
                st.error(str(err))
            else:
                st.success(f"Reader {account.username} created.")


def _showcase_manifests() -> dict:
    return {p.parent.name: p for p in sorted(SAMPLE_DATA.glob("*/manifest.csv"))}


def choose_cases(evaluations: pd.DataFrame):
    """Source widgets -> (task, cases, source description)."""
    source = st.radio("Cases from", ["Showcase manifest", "Manifest file", "Stored evaluation"], horizontal=True,
                      key="setup_source")
    unit = st.radio("One case per", ["image", "patient"], horizontal=True, key="setup_unit")
    n_cases = st.number_input("Number of cases (0 = all)", 0, 10_000, 10, key="setup_n")
    limit = int(n_cases) or None
    if source == "Showcase manifest":
        manifests = _showcase_manifests()
        task = st.selectbox("Study", list(manifests), key="setup_showcase")
        path = manifests.get(task)
        return task, lambda: cases_from_manifest(path, task=task, unit=unit, limit=limit), {"manifest": str(path)}
    if source == "Manifest file":
        path = st.text_input("Manifest CSV path", key="setup_manifest")
        task = st.text_input("Task (study name or a user task)", "miscarriage", key="setup_task")
        return task, lambda: cases_from_manifest(path, task=task, unit=unit, limit=limit), {"manifest": path}
    names = evaluations["name"].tolist() if not evaluations.empty else []
    name = st.selectbox("Evaluation", names, key="setup_eval")
    task = evaluations.set_index("name").loc[name, "task"] if name else None
    return task, lambda: cases_from_evaluation(name, limit=limit), {"evaluation": name}


def create(org: OrganizerSession, *, name, task, make_cases, source, readers, design, allow_changes, seed) -> None:
    try:
        cases = make_cases()
        sid = org.create_study(name, task=task, cases=cases, readers=readers, design=design,
                               allow_changes=allow_changes, seed=None if seed < 0 else int(seed), source=source)
        if design != "unaided":
            bar = st.progress(0.0, text="Computing the AI output of every case…")
            org.precompute_ai(sid, progress=lambda k, n: bar.progress(k / n, text=f"AI output {k} / {n}"))
    except InputError as err:
        st.error(str(err))
        return
    st.success(f"Study {name} created with {len(cases)} cases and {len(readers)} readers.")


def _fmt_ci(row, key) -> str:
    v, lo, hi = row.get(key), row.get(f"{key}_low"), row.get(f"{key}_high")
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if lo is None or (isinstance(lo, float) and math.isnan(lo)):
        return f"{v:.3f}"
    return f"{v:.3f} ({lo:.3f}–{hi:.3f})"


def readers_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per reader / phase metrics with 95 % CIs, formatted."""
    rows = []
    for r in df.to_dict("records"):
        rows.append({"reader": r["reader"], "phase": r["phase"], "cases": r["n"],
                     **{k: _fmt_ci(r, k) for k in ("sensitivity", "specificity", "accuracy", "auc")},
                     "median s / case": None if math.isnan(r["median_seconds"]) else round(r["median_seconds"], 1)})
    return pd.DataFrame(rows)


def mrmc_table(mrmc: dict) -> pd.DataFrame:
    titles = {"aided_vs_unaided": "Aided vs unaided", "unaided_vs_ai": "Readers (unaided) vs AI",
              "aided_vs_ai": "Readers (aided) vs AI"}
    rows = []
    for key, res in mrmc.items():
        if "error" in res:
            rows.append({"comparison": titles.get(key, key), "note": res["error"]})
            continue
        d = res["differences"][0]
        rows.append({"comparison": titles.get(key, key), "AUC": " vs ".join(f"{a:.3f}" for a in res["auc_by_test"]),
                     "difference (95% CI)": f"{d['estimate']:+.3f} ({d['ci_low']:+.3f} to {d['ci_high']:+.3f})",
                     "F": round(res["f"], 3), "df": f"1, {res['df2']:.2f}", "p": round(res["p_value"], 4),
                     "note": ""})
    return pd.DataFrame(rows)
