"""Cached resources and tables for the pages.

Models are loaded once per process (``st.cache_resource``; read-only after load, shared by every session),
tables are cached by content (``st.cache_data`` with a short TTL so new runs and evaluations show up).
First start: :func:`bootstrap` registers the demo bundles and evaluations in an empty store.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.paths import SAMPLE_DATA


def bootstrap() -> list[str]:
    """Once per server process and store: demo bundles and evaluations into an empty store."""
    from core.store import db_url

    return _bootstrap_store(db_url())


@st.cache_resource(show_spinner="Preparing the demo models and evaluations…")
def _bootstrap_store(url: str) -> list[str]:
    from core.demo import register_demo_assets

    return register_demo_assets()


@st.cache_resource(show_spinner="Loading the model…", max_entries=8)
def predictor(bundle_path: str):
    """A model bundle loaded once per process and shared (read-only) by every session."""
    from core.models import load_predictor

    return load_predictor(bundle_path)


@st.cache_data(show_spinner=False)
def sample_data_overview() -> pd.DataFrame:
    """One row per study folder in sample_data/: patients, images and where the manifest is."""
    rows = []
    for manifest in sorted(SAMPLE_DATA.glob("*/manifest.csv")):
        df = pd.read_csv(manifest)
        rows.append({
            "study": manifest.parent.name,
            "patients": df["patient_id"].nunique() if "patient_id" in df else None,
            "images": len(df),
            "labels": ", ".join(sorted(map(str, df["label"].dropna().unique()))) if "label" in df else "",
            "manifest": str(manifest.relative_to(SAMPLE_DATA.parent)),
        })
    return pd.DataFrame(rows)


@st.cache_data(show_spinner=False)
def showcase(study: str) -> pd.DataFrame:
    """The showcase manifest of ``study`` with absolute image paths (empty when there is none)."""
    path = SAMPLE_DATA / study / "manifest.csv"
    if not path.is_file():
        return pd.DataFrame()
    df = pd.read_csv(path)
    df["image_path"] = [str((path.parent / p).resolve()) for p in df["image_path"]]
    return df


# The store tables are cached per store URL: a process that switches stores (SONODASH_HOME / SONODASH_DB_URL,
# as tests do) must never be shown the other store's rows.
def bundles(task: str | None = None) -> pd.DataFrame:
    from core.store import db_url

    return _bundles(db_url(), task)


def evaluations(task: str | None = None) -> pd.DataFrame:
    from core.store import db_url

    return _evaluations(db_url(), task)


def evaluation(name: str):
    """(meta, per-case DataFrame) of a stored evaluation."""
    from core.store import db_url

    return _evaluation(db_url(), name)


@st.cache_data(ttl=5, show_spinner=False)
def _bundles(url: str, task: str | None) -> pd.DataFrame:
    from core import store

    return store.list_bundles(task)


@st.cache_data(ttl=5, show_spinner=False)
def _evaluations(url: str, task: str | None) -> pd.DataFrame:
    from core import store

    return store.list_evaluations(task)


@st.cache_data(ttl=30, show_spinner=False)
def _evaluation(url: str, name: str):
    from core import store

    return store.load_evaluation(name)


def clear_tables() -> None:
    """After a write (new default model, saved case): show it at once."""
    _bundles.clear()
    _evaluations.clear()
    _evaluation.clear()
