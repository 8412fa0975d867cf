"""Widgets of the Train page: manifest choice (showcase, generated set, folder path or zip) and job progress."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from core.errors import InputError
from core.paths import SAMPLE_DATA, sonodash_home

def choose_manifest() -> str | None:
    """A manifest path from one of four sources."""
    source = st.radio("Data", ["showcase", "generated synthetic set", "folder path", "upload zip"],
                      horizontal=True, key="train_source")
    if source == "showcase":
        options = sorted(str(p) for p in SAMPLE_DATA.glob("*/manifest.csv"))
        return st.selectbox("Showcase manifest", options, key="train_showcase") if options else None
    if source == "generated synthetic set":
        options = sorted(str(p) for p in (sonodash_home().parent / "generated").glob("*/manifest.csv")) + \
            sorted(str(p) for p in Path("var/generated").glob("*/manifest.csv"))
        if not options:
            st.info("Generate one with `make sample-data` (200 patients per study into var/generated/).")
            return None
        return st.selectbox("Generated manifest", sorted(set(options)), key="train_generated")
    if source == "folder path":
        path = st.text_input("Path to a manifest.csv (or its folder)", key="train_path")
        if not path:
            return None
        p = Path(path).expanduser()
        p = p / "manifest.csv" if p.is_dir() else p
        if not p.is_file():
            st.error(f"{path}: no manifest.csv there")
            return None
        return str(p)
    upload = st.file_uploader("Zip with manifest.csv and its images", type=["zip"], key="train_zip")
    if upload is None:
        return None
    key = f"train_zip_{upload.file_id}"  # unpack once per upload, not on every rerun
    try:
        if key not in st.session_state:
            from core.uploads import import_zip, new_upload_folder

            st.session_state[key] = str(import_zip(upload.getvalue(), new_upload_folder(Path(upload.name).stem)))
        return st.session_state[key]
    except InputError as err:
        st.error(str(err))
        return None


def progress_view(status: dict) -> None:
    """Fold, epoch, loss, validation metric and time left from the job's events."""
    epochs = [e for e in status["events"] if e.get("event") == "epoch_end"]
    if not epochs:
        loads = [e for e in status["events"] if e.get("event") == "load"]
        if loads:
            done, total = int(loads[-1]["done"]), max(int(loads[-1]["total"]), 1)
            st.progress(min(done / total, 1.0), text=f"Loading images: {done} / {total} rows")
        else:
            st.info("Starting… (loading and decoding the images)")
        return
    last = epochs[-1]
    n_folds, n_epochs = int(last.get("n_folds", 1)), max(int(last.get("epochs", 1)), 1)
    done = (last["fold"] + (last["epoch"] + 1) / n_epochs) / n_folds
    st.progress(min(max(done, 0.0), 1.0))
    cols = st.columns(4)
    cols[0].metric("Fold", f"{last['fold'] + 1} / {n_folds}")
    cols[1].metric("Epoch", f"{last['epoch'] + 1} / {n_epochs}")
    cols[2].metric("Loss", f"{last.get('loss', float('nan')):.4f}")
    value = last.get("value")
    cols[3].metric(str(last.get("monitor", "validation")), "—" if value is None else f"{value:.4f}")
    started = next(e["time"] for e in status["events"] if e.get("event") != "load")   # training, not loading
    elapsed = last["time"] - started
    if 0 < done < 1:
        st.caption(f"about {elapsed * (1 - done) / done / 60:.1f} min left")
    st.line_chart(pd.DataFrame([{"loss": e.get("loss"), "val_loss": e.get("val_loss")} for e in epochs]))
