"""Producing a stored evaluation: a model bundle run over a manifest, case by case, into the store.

Why it lives with the store: it is the one writer of model evaluations (the ``evaluate`` command and the
dashboard's evaluation page both call :func:`evaluate_bundle`), and what it writes is exactly the per-case
table the store keeps. Images go through the io gate, probabilities through the bundle's own predictor (its
preprocessing travels with the weights), the CRL/FHR rules through :mod:`core.rules`; statistics are then
recomputed from the stored rows (:mod:`core.store.summary`), never from what is in memory.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import numpy as np

from core.data.manifest import load_manifest
from core.errors import InputError
from core.io import load_image
from core.models.predictor import load_predictor
from core.rules import DEFAULT_RULE_TABLE, apply_rules_frame
from core.store.evaluations import load_evaluation, save_evaluation
from core.store.summary import headline, summarize
from core.tasks import get_task

NOT_SUBGROUPS = {"image_path", "mask_path", "instances_path", "instance_classes", "label", "patient_id"}
FRAME_BATCH = 32


def manifest_fingerprint(df, root) -> str:
    """A short hash of which images, patients and labels were evaluated (not of the pixels)."""
    cols = [c for c in ("image_path", "patient_id", "label") if c in df.columns]
    table = df[cols].astype(str).copy()
    if "image_path" in table:
        table["image_path"] = [_case_id(p, root) for p in table["image_path"]]
    return hashlib.sha256(table.to_csv(index=False).encode()).hexdigest()[:16]


def _case_id(path: str, root) -> str:
    try:
        rel = os.path.relpath(path, root)
    except ValueError:  # another drive on Windows
        rel = path
    return Path(rel).as_posix()


def _predict_rows(predictor, df, *, frame_step: int) -> np.ndarray:
    """Per manifest row, the class probabilities (a clip: the mean over its kept frames), batched by frame."""
    from tqdm import tqdm

    n_classes = len(predictor.class_names)
    sums = np.zeros((len(df), n_classes))
    counts = np.zeros(len(df))
    batch, owners = [], []

    def flush():
        if batch:
            proba = np.asarray(predictor.predict_proba(batch), dtype=float)
            np.add.at(sums, owners, proba)
            np.add.at(counts, owners, 1)
            batch.clear()
            owners.clear()

    with tqdm(total=len(df), desc="evaluate", unit="image", file=sys.stderr, disable=None) as bar:
        for i, (path, row) in enumerate(zip(df["image_path"], df["row"])):
            try:
                loaded = load_image(str(path), frame_step=frame_step)
            except InputError as err:
                raise InputError(f"row {row}, column image_path: {err}") from None
            for frame in loaded.frames:
                batch.append(frame)
                owners.append(i)
            if len(batch) >= FRAME_BATCH:
                flush()
            bar.update(1)
        flush()
    return sums / counts[:, None]


def _rule_columns(df, table):
    if "ga_weeks" not in df or not ({"crl_mm", "fhr_bpm"} & set(df.columns)):
        return None
    flags = apply_rules_frame(df, table=table)
    return flags.rename(columns={"applicable": "rule_applicable"})


def evaluate_bundle(bundle, manifest_csv, *, name: str, replace: bool = False, rule_table=None) -> dict:
    """Run ``bundle`` over every image of ``manifest_csv``, store the cases as evaluation ``name``, and return
    ``{"name", "evaluation_id", "n_cases", "n_patients", "metrics", "image_metrics"}`` (metrics at patient
    level, recomputed from the stored cases)."""
    import pandas as pd

    predictor = load_predictor(bundle)
    if not predictor.has_classes:
        raise InputError(f"{bundle}: a {predictor.kind} bundle has no class probabilities to evaluate; "
                         f"use the segment command for masks")
    names = list(predictor.class_names)
    task = get_task(str(predictor.meta.task or "classification"), labels=names)
    manifest = load_manifest(manifest_csv, task=task)
    df = manifest.df
    if "label" not in df:
        raise InputError(f"{manifest_csv}: column label is required to evaluate a classifier")
    unknown = sorted(set(df["label"].dropna().astype(str)) - set(names))
    if unknown:
        raise InputError(f"{manifest_csv}: label {unknown[0]!r} is not a class of the bundle ({', '.join(names)})")
    proba = _predict_rows(predictor, df, frame_step=int(task.protocol.frame_step))
    table = rule_table or DEFAULT_RULE_TABLE
    cases = pd.DataFrame({
        "case_id": [_case_id(p, manifest.root) for p in df["image_path"]],
        "patient_id": df["patient_id"].astype(str),
        "truth": df["label"].astype(str),
        "scores": list(proba),
    })
    if len(names) == 2:
        cases["score"] = proba[:, predictor.positive_index]
    dup = cases["case_id"].duplicated(keep=False)
    cases.loc[dup, "case_id"] = cases.loc[dup, "case_id"] + "#row" + df.loc[dup, "row"].astype(str)
    rules = _rule_columns(df, table)
    if rules is not None:
        cases = pd.concat([cases, rules.reset_index(drop=True)], axis=1)
    for col in df.columns:
        if col not in NOT_SUBGROUPS and col not in cases:
            cases[col] = df[col].to_numpy()
    meta = {"class_names": names, "positive_label": names[predictor.positive_index] if len(names) == 2 else None,
            "aggregation": task.protocol.aggregation, "threshold": float(predictor.threshold),
            "source": "evaluate", "manifest": str(manifest.path), "arch": predictor.meta.architecture}
    eid = save_evaluation(name, task=task.name, bundle_path=bundle, cases=cases, meta=meta, replace=replace,
                          rule_table=table.to_dict() if rules is not None else None,
                          manifest_fingerprint=manifest_fingerprint(df, manifest.root))
    stored_meta, stored = load_evaluation(name)
    return {"name": name, "evaluation_id": eid, "n_cases": int(len(stored)),
            "n_patients": int(stored["patient_id"].nunique()),
            "metrics": headline(summarize(stored_meta, stored, level="patient")),
            "image_metrics": headline(summarize(stored_meta, stored, level="image"))}
