"""Cached resources and tables for the pages (models once per process, tables per content)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.paths import SAMPLE_DATA


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
