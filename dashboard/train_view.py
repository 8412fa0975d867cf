"""Widgets of the Train page: manifest choice (showcase, generated set, folder path or zip), the choices derived
from it (task, architecture, CV scheme), the check before training, and job progress.

Why the choices come from the data: the task is what the manifest's labels and columns fit
(:func:`core.training.preflight.suggest_tasks`), the architectures are the registry's networks of the task's
kind, the CV scheme starts at the task's protocol. The check (:func:`core.training.preflight.preflight`) is
the one ``train()`` runs, so the page refuses exactly what training would refuse, before anything starts.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pandas as pd
import streamlit as st

from core.data.manifest import ManifestError
from core.data.splits import cv_choices
from core.errors import InputError
from core.models.registry import list_models
from core.paths import SAMPLE_DATA, sonodash_home
from core.tasks import get_task
from core.training.preflight import ALLOWED_KINDS, preflight, suggest_tasks
from core.uploads import import_zip, new_upload_folder

CV_CHOICES = tuple(cv_choices())
MAX_PROBLEMS_SHOWN = 200

def choose_manifest() -> str | None:
    """A manifest path from one of four sources."""
    source = st.radio("Data", ["showcase", "generated synthetic set", "folder path", "upload zip"],
                      horizontal=True, key="train_source")
    if source == "showcase":
        options = sorted((str(p) for p in SAMPLE_DATA.glob("*/manifest.csv")), key=lambda m: (not _trainable(m), m))
        return st.selectbox("Showcase manifest", options, key="train_showcase",
                            help="Showcase sets are a few patients each; those too small for their study's "
                                 "protocol are listed last") if options else None
    if source == "generated synthetic set":
        options = [str(p) for folder in (sonodash_home() / "generated", sonodash_home().parent / "generated",
                                         Path("var/generated")) for p in folder.glob("*/manifest.csv")]
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


def choose_task(manifest: str) -> str:
    """The task, from what the manifest fits (best match first)."""
    options = suggest_tasks(manifest) or ["classification"]
    return st.selectbox("Task (from the manifest)", options, key=f"train_task_{abs(hash(manifest))}",
                        format_func=lambda n: f"{n} — {get_task(n).title}",
                        help="The studies whose labels the manifest fits, then the generic kinds its columns allow")


def choose_arch(task_name: str, column) -> str:
    """An architecture of the registry whose kind the task can train; the task's default preselected."""
    task = get_task(task_name)
    options = [m for kind in ALLOWED_KINDS[task.kind] for m in list_models(kind)]
    default = task.default_arch if task.default_arch in options else options[0]
    return column.selectbox("Architecture", options, index=options.index(default), key=f"train_arch_{task_name}")


def choose_cv(task_name: str, column) -> str:
    """CV schemes with the task's protocol preselected."""
    protocol = get_task(task_name).protocol.cv
    options = list(dict.fromkeys([protocol, *CV_CHOICES]))
    return column.selectbox("Cross-validation", options, index=0, key=f"train_cv_{task_name}",
                            format_func=lambda cv: f"{cv} (the task's protocol)" if cv == protocol else cv)


@st.cache_data(show_spinner="Checking the manifest…", max_entries=32)
def _check(manifest: str, mtime: float, task: str, arch: str, cv: str) -> dict:
    try:
        r = preflight(task, manifest, arch=arch, cv=cv)
    except ManifestError as err:
        return {"ok": False, "problems": [(p.row, p.column, p.message) for p in err.problems], "error": err.name}
    except InputError as err:
        return {"ok": False, "problems": [], "error": str(err)}
    return {"ok": True, "n_patients": r["n_patients"], "n_images": r["n_images"],
            "patients_per_class": r["patients_per_class"], "mixed": r["mixed_label_patients"]}


def _trainable(manifest: str) -> bool:
    """Whether a manifest passes the checks with the choices the page would preselect for it, so the page
    opens on data it can train instead of on a refusal (most showcase sets are smaller than their protocol)."""
    task = (suggest_tasks(manifest) or ["classification"])[0]
    t = get_task(task)
    return _check(manifest, os.path.getmtime(manifest), task, t.default_arch, t.protocol.cv)["ok"]


def check(manifest: str, task: str, arch: str, cv: str) -> bool:
    """Validate before training; draws the problems (a row / column / problem table) or the data summary."""
    result = _check(manifest, os.path.getmtime(manifest), task, arch, cv)
    if result.get("problems"):
        n = len(result["problems"])
        st.error(f"{result['error']}: {n} problem{'s' if n != 1 else ''} — fix the manifest and reload.")
        table = pd.DataFrame(result["problems"][:MAX_PROBLEMS_SHOWN], columns=["row", "column", "problem"])
        st.table(table, hide_index=True)
        if n > MAX_PROBLEMS_SHOWN:
            st.caption(f"… and {n - MAX_PROBLEMS_SHOWN} more (`python -m core train` lists them all).")
        return False
    if not result["ok"]:
        st.error(result["error"])
        return False
    classes = ", ".join(f"{k}: {v}" for k, v in result["patients_per_class"].items())
    mixed = f" · {result['mixed']} patients with image-level labels" if result["mixed"] else ""
    st.success(f"Manifest OK: {result['n_patients']} patients, {result['n_images']} images"
               + (f" · patients per class {classes}" if classes else "") + mixed)
    return True


def show_result(result: dict) -> None:
    """A finished job: the held-out numbers as a table, the flag as a warning."""
    registered = result.get("registered") or {}
    metrics = result.get("metrics") or {}
    if registered.get("flag"):
        st.warning(f"Registered flagged **{registered['flag']}**: {registered.get('flag_reason')}. It cannot be "
                   f"made the default without a confirmation (Models page).", icon=":material/warning:")
    else:
        st.success(f"Finished: registered as model #{registered.get('bundle_id')}.")
    rows = [{"metric": k, "value": _fmt(v)} for k, v in metrics.items() if isinstance(v, (int, float)) and
            not isinstance(v, bool)]
    if metrics.get("auc_ci"):
        lo, hi = (_fmt(x) for x in metrics["auc_ci"])
        rows.append({"metric": "auc 95 % CI", "value": "undefined" if "—" in (lo, hi) else f"{lo} – {hi}"})
    if rows:
        st.table(pd.DataFrame(rows), hide_index=True)


def _fmt(x) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    return f"{x:.4f}" if isinstance(x, float) else str(x)
