"""Training jobs in a separate worker process, observable and cancellable through files.

Why files and a process: a Streamlit script thread must never train (it reruns on every click, and a crash
would take the page with it). The worker writes ``progress.jsonl`` (one JSON event per line, appended),
``result.json`` when it finishes and ``error.txt`` when it fails, in ``$SONODASH_HOME/jobs/<id>/``; any page,
in any browser session, can follow or cancel a job by its id. When the run ends the worker registers the
bundle and its out-of-fold evaluation in the store, so it appears on the other pages.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import time
import uuid
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from core import store
from core.demo_build import patient_table
from core.errors import InputError
from core.models.meta import BundleMeta
from core.paths import sonodash_home


@dataclass(frozen=True)
class JobSpec:
    task: str
    manifest: str
    arch: str
    cv: str = "holdout"
    epochs: int = 5
    input_size: int | None = None
    seed: int = 0
    actor: str | None = None      # who started it (the audit trail names them at registration)


def jobs_dir() -> Path:
    path = sonodash_home() / "jobs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _append(path: Path, event: dict) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(event, default=str) + "\n")


def _register(result: dict, spec: JobSpec, job_id: str) -> dict:
    """Put the finished run's bundle and out-of-fold predictions into the store."""
    import pandas as pd

    bundle = Path(result["bundle"])
    meta = BundleMeta.from_json((bundle / "model.json").read_text(encoding="utf-8"), where=str(bundle))
    meta = replace(meta, name=meta.name or f"{spec.task}-{spec.arch}-{job_id}")
    bundle_id = store.register_bundle(bundle, meta, actor=spec.actor)
    registered = {"bundle_id": bundle_id, "flag": meta.metrics.get("flag"),
                  "flag_reason": meta.metrics.get("flag_reason")}
    oof_path = Path(result["run_dir"]) / "oof_predictions.csv"
    if oof_path.is_file() and meta.class_names:
        oof = pd.read_csv(oof_path)
        table = patient_table(oof, list(meta.class_names), meta.positive_label)
        prob_cols = [c for c in table.columns if c.startswith("p_")]
        if prob_cols:
            table["scores"] = table[prob_cols].to_numpy().tolist()
            table = table.drop(columns=prob_cols)
        name = f"run-{spec.task}-{spec.arch}-{job_id}"
        store.save_evaluation(name, task=spec.task, cases=table, bundle_path=bundle,
                              meta={"class_names": list(meta.class_names), "positive_label": meta.positive_label,
                                    "cv": spec.cv, "source": "dashboard training",
                                    # "image" when a patient's images carry different labels (DESIGN.md 6)
                                    "label_level": meta.metrics.get("level")})
        registered["evaluation"] = name
    return registered


def _worker(job_dir: str, spec: dict) -> None:
    """Entry point of the worker process (spawned: a fresh interpreter, no Streamlit state)."""
    folder = Path(job_dir)
    progress_file = folder / "progress.jsonl"
    job = JobSpec(**spec)
    try:
        from core.training import train   # torch: imported in the spawned worker, not by the dashboard

        def progress(event: dict) -> None:
            if event.get("event") == "load" and event["done"] % 50 and event["done"] != event["total"]:
                return                         # one line per 50 rows read is enough to show the loading
            if event.get("event") != "batch":  # per-batch events would grow the file without telling more
                _append(progress_file, {"time": time.time(), **event})

        result = train(job.task, job.manifest, arch=job.arch, cv=job.cv, epochs=job.epochs,
                       out=folder / "run", progress=progress, seed=job.seed, input_size=job.input_size)
        result = {k: (str(v) if isinstance(v, Path) else v) for k, v in result.items()}
        result["registered"] = _register(result, job, folder.name)
        (folder / "result.json").write_text(json.dumps(result, default=str), encoding="utf-8")
    except InputError as err:
        (folder / "error.txt").write_text(str(err), encoding="utf-8")
    except Exception as err:  # noqa: BLE001 - the worker reports every failure to the page, then exits
        (folder / "error.txt").write_text(f"internal error: {type(err).__name__}: {err}", encoding="utf-8")


def start_job(spec: JobSpec) -> str:
    """Start a training job in a new process; returns its id."""
    job_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    folder = jobs_dir() / job_id
    folder.mkdir()
    (folder / "spec.json").write_text(json.dumps(asdict(spec)), encoding="utf-8")
    ctx = mp.get_context("spawn")
    proc = ctx.Process(target=_worker, args=(str(folder), asdict(spec)), daemon=False, name=f"sonodash-job-{job_id}")
    proc.start()
    (folder / "pid").write_text(str(proc.pid), encoding="utf-8")
    return job_id


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a finished child of this process is a zombie until reaped
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def job_status(job_id: str) -> dict:
    """{"id", "state": running|finished|failed|cancelled, "events": [...], "result", "error", "spec"}."""
    folder = jobs_dir() / job_id
    if not (folder / "spec.json").is_file():
        raise InputError(f"no training job {job_id!r}")
    events = []
    if (folder / "progress.jsonl").is_file():
        for line in (folder / "progress.jsonl").read_text(encoding="utf-8").splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:  # a line being written right now
                break
    status = {"id": job_id, "spec": json.loads((folder / "spec.json").read_text(encoding="utf-8")),
              "events": events, "result": None, "error": None}
    if (folder / "result.json").is_file():
        status.update(state="finished", result=json.loads((folder / "result.json").read_text(encoding="utf-8")))
    elif (folder / "error.txt").is_file():
        status.update(state="failed", error=(folder / "error.txt").read_text(encoding="utf-8"))
    elif (folder / "cancelled").is_file():
        status.update(state="cancelled")
    else:
        pid = int((folder / "pid").read_text()) if (folder / "pid").is_file() else None
        alive = pid is not None and _alive(pid)
        status.update(state="running" if alive else "failed",
                      error=None if alive else "the worker process ended without a result")
    return status


def cancel_job(job_id: str) -> None:
    """Stop a running job (SIGTERM to the worker process)."""
    folder = jobs_dir() / job_id
    (folder / "cancelled").write_text("cancelled", encoding="utf-8")
    pid_file = folder / "pid"
    if pid_file.is_file():
        try:
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
        except (OSError, ValueError):
            pass


def list_jobs() -> list[str]:
    """Job ids, newest first."""
    return sorted((p.name for p in jobs_dir().iterdir() if (p / "spec.json").is_file()), reverse=True)
