"""The Models page's pieces: the model card drawn from :func:`core.training.card.model_card`, the default
choice (a flagged model asks for a confirmation first), the bundle download and deletion.

Why dialogs for "Make default" on a flagged model and for "Delete": both change what every other user sees;
the question names the reason (the flag) or the consequence (the evaluations that stay) before it happens.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import streamlit as st

from core import store
from core.training.card import model_card
from dashboard.auth import current_user
from dashboard.resources import clear_tables

EVALUATIONS_PAGE = Path(__file__).resolve().parent.parent / "pages" / "evaluations.py"


def _actor() -> str | None:
    user = current_user()
    return user.username if user else None


def _fmt(x) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    return f"{x:.3f}" if isinstance(x, float) else str(x)


def _pairs(d: dict) -> pd.DataFrame:
    """A key / value table (st.table: static HTML, readable by the real-browser tests)."""
    return pd.DataFrame([{"item": k.replace("_", " "), "value": _fmt(v) if not isinstance(v, dict) else
                          ", ".join(f"{a}: {b}" for a, b in v.items())} for k, v in d.items()])


@st.dialog("Make a flagged model the default?")
def _confirm_default(entry: dict) -> None:
    st.warning(f"**{entry['name']}** is flagged **{entry['flag']}**: {entry['flag_reason']}.")
    st.write(f"Every page that analyses {entry['task']} images would use it. Make it the default anyway?")
    c1, c2 = st.columns(2)
    if c1.button("Make default anyway", type="primary", key="models_default_confirm"):
        store.set_default_bundle(entry["task"], int(entry["id"]), confirm=True, actor=_actor())
        clear_tables()
        st.rerun()
    if c2.button("Cancel", key="models_default_cancel"):
        st.rerun()


@st.dialog("Delete this model?")
def _confirm_delete(entry: dict, n_evaluations: int) -> None:
    st.write(f"**#{entry['id']} {entry['name']}** leaves the model list and stops being a default. "
             f"Its {n_evaluations} stored evaluation(s) stay, marked as of a deleted model.")
    c1, c2 = st.columns(2)
    if c1.button("Delete", type="primary", key="models_delete_confirm"):
        done = store.delete_bundle(int(entry["id"]), actor=_actor())
        st.session_state["models_gen"] = st.session_state.get("models_gen", 0) + 1   # the card list changed
        st.query_params.pop("model", None)
        st.session_state["models_deleted"] = done
        clear_tables()
        st.rerun()
    if c2.button("Cancel", key="models_delete_cancel"):
        st.rerun()


def actions(entry: dict, card: dict) -> None:
    """Make default / download / delete."""
    c1, c2, c3 = st.columns(3)
    if entry["is_default_for_task"]:
        c1.success(f"Default model for {entry['task']}.")
    elif c1.button(f"Make default for {entry['task']}", key="models_default"):
        if entry.get("flag"):
            _confirm_default(entry)
        else:
            store.set_default_bundle(entry["task"], int(entry["id"]), actor=_actor())
            clear_tables()
            st.rerun()
    folder = Path(entry["path"])
    if (folder / "model.json").is_file():
        bundle_id = int(entry["id"])       # zipped only when clicked (a bundle is tens of MB)
        c2.download_button("Download bundle (zip)", lambda: store.bundle_zip(bundle_id),
                           file_name=f"{folder.name}-{bundle_id}.zip", mime="application/zip", on_click="ignore",
                           key="models_download")
    if c3.button("Delete model", key="models_delete"):
        _confirm_delete(entry, len(card["evaluations"]))


def draw_card(entry: dict) -> None:
    """The model card as a page: every section of :func:`core.training.card.model_card`."""
    card = model_card(entry)
    st.header(card["title"])
    if card["flag"]:
        st.error(f"Flagged: **{card['flag']}** — {card['flag_reason']}", icon=":material/warning:")
    st.info(card["disclaimer"], icon=":material/info:")
    actions(entry, card)
    st.subheader("Intended use")
    st.write(card["intended_use"])
    t = card["task"]
    st.subheader("Task and labels")
    st.write(f"`{t['name']}` — {t['title']}; a {t['kind']} task. Labels: "
             + (", ".join(f"**{x}**" if x == t["positive_label"] else x for x in t["labels"]) or "none (masks)")
             + (f"; positive class **{t['positive_label']}**." if t["positive_label"] else "."))
    st.subheader("Held-out metrics")
    rows = [{"metric": r["metric"], "value": _fmt(r["value"]), "95 % CI": "—" if r["ci_low"] is None else
             f"{r['ci_low']:.3f} – {r['ci_high']:.3f}", "level": r["level"]} for r in card["metrics"]]
    if rows:
        st.table(pd.DataFrame(rows), hide_index=True)
    else:
        st.caption("No held-out metrics recorded.")
    for name in card["evaluations"][:5]:
        st.page_link(st.Page(EVALUATIONS_PAGE, url_path="evaluations"), label=f"Stored evaluation: {name}",
                     icon=":material/monitoring:", query_params={"evaluation": name})
    if not card["evaluations"]:
        st.caption("No stored evaluation of this model.")
    st.markdown("**Calibration** — " + (", ".join(f"{k.upper() if k == 'ece' else k.capitalize()} {_fmt(v)}"
                                                   for k, v in card["calibration"].items())
                                         + " (held-out, positive class)" if card["calibration"] else "not recorded"))
    left, right = st.columns(2)
    with left:
        st.subheader("Training data")
        data = dict(card["training_data"])
        balance = data.pop("class_balance", None)
        st.table(_pairs(data), hide_index=True)
        if balance:
            st.caption("Class balance (images): " + ", ".join(f"{k} {v}" for k, v in balance.items()))
    with right:
        st.subheader("Model")
        st.table(_pairs(card["model"]), hide_index=True)
    st.subheader("Known limitations")
    st.markdown("\n".join(f"- {x}" for x in card["limitations"]))
    with st.expander("Recipe"):
        st.table(_pairs(card["recipe"]), hide_index=True)
    st.caption("Package versions: " + (", ".join(f"{k} {v}" for k, v in card["versions"].items()) or "not recorded"))
