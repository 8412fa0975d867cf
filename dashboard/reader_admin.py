"""Widgets of the organizer pages: study setup form, reader accounts, study management (edit a draft, open,
close, delete after export, preview cases), progress and results tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import streamlit as st
from sqlalchemy import select

from core.accounts import create_user
from core.errors import InputError
from core.paths import SAMPLE_DATA
from core.reader_study import DESIGNS, OrganizerSession, cases_from_evaluation, cases_from_manifest
from core.reader_study.figures import NOT_DEFINED, fmt
from core.reader_study.schema import StudyReader
from core.store import session_scope
from core.store.users_schema import User
from core.tasks import get_task, list_tasks
from dashboard.components import run_action

DESIGN_TEXT = {"sequential": "Sequential (unaided, then aided on the same case)", "unaided": "Unaided only",
               "aided": "Aided only"}


def add_reader_form(actor: str) -> None:
    with st.expander("Add a reader account"):
        with st.form("add_reader", clear_on_submit=True):
            name = st.text_input("User name", key="new_reader_name")
            password = st.text_input("Initial password (at least 8 characters)", type="password",
                                     key="new_reader_password")
            ok = st.form_submit_button("Create reader")
        if ok:
            try:
                account = create_user(name, password, role="reader", actor=actor)
            except InputError as err:
                st.error(str(err))
            else:
                st.success(f"Reader {account.username} created.")


def _showcase_manifests() -> dict:
    return {p.parent.name: p for p in sorted(SAMPLE_DATA.glob("*/manifest.csv"))}


def _task_label(name: str) -> str:
    try:
        return f"{name} — {get_task(name).title}"
    except (InputError, KeyError, ValueError):        # a generic kind takes its labels from the manifest
        return name


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
        tasks = list_tasks()           # the studies, user tasks (SONODASH_TASKS), then the generic kinds
        task = st.selectbox("Task", tasks, key="setup_task", format_func=_task_label)
        return task, lambda: cases_from_manifest(path, task=task, unit=unit, limit=limit), {"manifest": path}
    names = evaluations["name"].tolist() if not evaluations.empty else []
    name = st.selectbox("Evaluation", names, key="setup_eval")
    task = evaluations.set_index("name").loc[name, "task"] if name else None
    st.caption("Cases are the evaluation's images found on this machine; for a demo evaluation the synthetic "
               "set it was computed on is regenerated first (a few seconds to a minute).")
    return task, lambda: cases_from_evaluation(name, limit=limit), {"evaluation": name}


def choose_model(bundles: pd.DataFrame, task: str | None, *, key: str, current: str | None = None) -> str | None:
    """The AI model of the aided phase, chosen from the registered models of ``task`` (default first)."""
    table = bundles[bundles["task"] == task] if task and not bundles.empty else bundles.iloc[0:0]
    if table.empty:
        st.caption(f"No registered model for task {task}: only the unaided design is possible.")
        return None
    table = table.sort_values("is_default_for_task", ascending=False)
    paths = table["path"].astype(str).tolist()
    labels = {p: f"{n}{' (default)' if d else ''} — {a}" for p, n, d, a in
              zip(paths, table["name"], table["is_default_for_task"], table["arch"].fillna("?"))}
    index = paths.index(current) if current in paths else 0
    return st.selectbox("AI model for the aided phase", paths, index=index, format_func=labels.get, key=key)


def create(org: OrganizerSession, *, name, task, make_cases, source, readers, design, allow_changes, seed,
           bundle_path, questions) -> None:
    try:
        with st.spinner("Collecting the cases…"):
            cases = make_cases()
        sid = org.create_study(name, task=task, cases=cases, readers=readers, design=design, status="draft",
                               allow_changes=allow_changes, seed=None if seed < 0 else int(seed), source=source,
                               bundle_path=bundle_path if design != "unaided" else None, questions=questions)
    except InputError as err:
        st.error(str(err))
        return
    st.success(f"Draft study {name} created with {len(cases)} cases and {len(readers)} readers: preview its cases "
               "and open it below.")
    st.session_state["manage_study"] = sid


def manage(org: OrganizerSession, study: dict, bundles: pd.DataFrame) -> None:
    """Edit (draft only), open, close, reopen or delete one study."""
    sid, status = study["id"], study["status"]
    st.caption(f"Status: **{status}** · design {study['design']} · task {study['task']} · "
               f"model {study['bundle_path'] or 'none'}")
    if status == "draft":
        with st.form(f"edit_{sid}"):
            name = st.text_input("Name", study["name"], key=f"edit_name_{sid}")
            design = st.selectbox("Design", DESIGNS, index=DESIGNS.index(study["design"]), key=f"edit_design_{sid}",
                                  format_func=DESIGN_TEXT.get)
            readers = st.multiselect("Readers", [r.username for r in org.readers()],
                                     default=_assigned(sid), key=f"edit_readers_{sid}")
            model = choose_model(bundles, study["task"], key=f"edit_model_{sid}", current=study["bundle_path"])
            q = dict(study["questions"] or {})
            nav = st.checkbox("Readers may skip, flag and go back", q.get("navigation", False), key=f"edit_nav_{sid}")
            changes = st.checkbox("Readers may change their answers", study["allow_changes"], key=f"edit_chg_{sid}")
            if st.form_submit_button("Save changes"):
                run_action(lambda: org.update_study(sid, name=name, design=design, readers=readers,
                                                    allow_changes=changes,
                                                    bundle_path=model if design != "unaided" else None,
                                                    questions={"navigation": nav}), "Study updated.", rerun=True)
    c1, c2, c3 = st.columns(3)
    if status in ("draft", "closed") and c1.button("Open for reading" if status == "draft" else "Reopen",
                                                   type="primary", key=f"open_{sid}"):
        if study["design"] != "unaided":
            bar = st.progress(0.0, text="Computing the AI output of every case…")
            org.precompute_ai(sid, progress=lambda k, n: bar.progress(k / n, text=f"AI output {k} / {n}"))
        run_action(lambda: org.set_status(sid, "open"), "Study open: its readers can start.", rerun=True)
    if status == "open" and c1.button("Close study", key=f"close_{sid}"):
        run_action(lambda: org.set_status(sid, "closed"), "Study closed: no more answers are accepted.", rerun=True)
    sure = c3.checkbox("I want to delete this study", key=f"sure_{sid}")
    if c2.button("Delete (answers exported first)", disabled=not sure, key=f"delete_{sid}"):
        try:
            path = org.delete_study(sid)
        except InputError as err:
            st.error(str(err))
        else:
            st.success(f"Study deleted; every answer was exported to {path}.")
            st.session_state.pop("manage_study", None)
            st.rerun()


def _assigned(study_id: int) -> list[str]:
    with session_scope(write=False) as session:
        return sorted(session.scalars(select(User.username).join(StudyReader, StudyReader.user_id == User.id)
                                      .where(StudyReader.study_id == int(study_id))))


def preview(org: OrganizerSession, study: dict) -> None:
    """One case as the reader will see it (banner masked), with its truth and any computed AI output."""
    n = st.number_input("Preview case", 1, 100_000, 1, key=f"preview_n_{study['id']}")
    try:
        case = org.preview(study["id"], int(n))
    except InputError as err:
        st.error(str(err))
        return
    cols = st.columns(max(1, len(case.images)) + 1)
    for col, image in zip(cols, case.images):
        col.image(image, caption=f"case {case.number} of {case.n_cases} as the reader sees it", width="stretch")
    with cols[-1]:
        st.write(f"**Truth:** {case.truth}")
        st.write(f"**Case key:** {case.case_key}")
        if case.ai_computed:
            st.write(f"**AI:** {case.ai_label or '—'}"
                     + (f" (probability {case.ai_probability:.3f})" if case.ai_probability is not None else ""))
        else:
            st.write("**AI:** computed when the study opens")
        if case.clinical:
            st.write(", ".join(f"{k} {v:g}" for k, v in case.clinical.items()))


def _fmt_ci(row, key) -> str:
    v, lo, hi = row.get(key), row.get(f"{key}_low"), row.get(f"{key}_high")
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return NOT_DEFINED
    if lo is None or (isinstance(lo, float) and math.isnan(lo)):
        return f"{v:.3f}"
    return f"{v:.3f} ({lo:.3f}–{hi:.3f})"


def readers_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per reader / phase metrics with 95 % CIs, formatted."""
    rows = []
    for r in df.to_dict("records"):
        rows.append({"reader": r["reader"], "phase": r["phase"], "cases": r["n"],
                     **{k: _fmt_ci(r, k) for k in ("sensitivity", "specificity", "accuracy", "auc")},
                     "median s / case": "—" if math.isnan(r["median_seconds"]) else f"{r['median_seconds']:.1f}"})
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
        rows.append({"comparison": titles.get(key, key), "AUC": " vs ".join(fmt(a) for a in res["auc_by_test"]),
                     "difference (95% CI)": f"{fmt(d['estimate'])} ({fmt(d['ci_low'])} to {fmt(d['ci_high'])})",
                     "F": fmt(res["f"]), "df": f"1, {fmt(res['df2'], 2)}", "p": fmt(res["p_value"], 4), "note": ""})
    return pd.DataFrame(rows).fillna("—")


def kappa_table(df: pd.DataFrame) -> pd.DataFrame:
    """Cohen's kappa per reader pair (weighted or not) with its 95 % CI, no raw NaN."""
    if df.empty:
        return df
    out = pd.DataFrame({"phase": df["phase"], "readers": df["reader_a"] + " / " + df["reader_b"]})
    if "weights" in df and df["weights"].notna().any():
        out["weights"] = df["weights"].fillna("none")
    out["kappa (95% CI)"] = [f"{fmt(k)} ({fmt(lo)} to {fmt(hi)})" if np.isfinite(k) else
                             "not defined: every answer in one class"
                             for k, lo, hi in zip(df["kappa"], df.get("ci_low", df["kappa"] * np.nan),
                                                  df.get("ci_high", df["kappa"] * np.nan))]
    out["raw agreement"] = [fmt(a) for a in df["agreement"]]
    out["cases"] = df["n"]
    return out
