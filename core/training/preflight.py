"""Checks before a training run: the manifest for the task, the architecture for its kind, the data for the CV
scheme; and the training-data summary a model card shows.

Why a module of its own: the Train page must refuse exactly what ``train()`` would refuse, for the same reason,
before any image is decoded (:func:`preflight`), and both must describe the data the same way
(:func:`training_data`).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

from core.data.manifest import load_manifest
from core.data.splits import check_cv_feasible, parse_cv, patient_labels, patients_per_class
from core.errors import InputError
from core.models.registry import model_kind
from core.paths import SAMPLE_DATA, sonodash_home
from core.tasks import GENERIC_KINDS, get_task, list_tasks

ARCH_ALIASES = {"fcn": "fcn_resnet50", "deeplabv3": "deeplabv3_resnet50", "deeplab": "deeplabv3_resnet50"}
# Which network kinds a task kind can train (a multitask task may train either of its heads alone).
ALLOWED_KINDS = {"classification": ("classification",), "segmentation": ("segmentation", "multitask"),
                 "multitask": ("segmentation", "multitask", "classification"), "instance": ("instance",)}


def resolve(task_name, manifest, arch):
    base = get_task(task_name) if isinstance(task_name, str) else task_name
    man = manifest if hasattr(manifest, "df") else load_manifest(manifest, task=base.name)
    task = base
    if base.name in ("classification",) and "label" in man.df.columns:
        task = get_task(base.name, labels=man.df["label"].astype(str).tolist())
    if base.kind == "instance" and not base.structures:
        task = replace(base, structures=instance_structures(man.df))
    arch = ARCH_ALIASES.get(arch or task.default_arch, arch or task.default_arch)
    kind = model_kind(arch)
    allowed = ALLOWED_KINDS
    if kind not in allowed[task.kind]:
        raise InputError(f"--arch {arch} is a {kind} network; task {task.name} ({task.kind}) needs one of: "
                         f"{', '.join(allowed[task.kind])}")
    needs = {"classification": ["label"], "segmentation": ["mask_path"], "multitask": ["label", "mask_path"],
             "instance": ["instances_path"]}[kind]     # an image may have no instances (empty classes)
    for col in needs:
        if col not in man.df.columns or man.df[col].isna().any():
            raise InputError(f"manifest {man.root}: column {col} is required for a {kind} network ({arch})")
    return task, man, arch, kind


def instance_structures(df) -> tuple:
    """The structures a generic instance task learns: those named in the manifest's ``instance_classes``
    cells, sorted (as the generic classification task sorts its labels), so class ids never depend on row
    order."""
    if "instance_classes" not in df.columns:
        raise InputError("manifest: column instance_classes is required for instance tasks")
    names = {part.partition(":")[2].strip() for cell in df["instance_classes"].dropna()
             for part in str(cell).split(";") if ":" in part} - {""}
    if not names:
        raise InputError("manifest: column instance_classes names no structure")
    return tuple(sorted(names))


def fingerprint(df: pd.DataFrame) -> str:
    cols = [c for c in ("image_path", "patient_id", "label", "mask_path", "instances_path", "instance_classes")
            if c in df.columns]
    h = hashlib.sha256(df[cols].astype(str).to_csv(index=False).encode()).hexdigest()
    return h[:16]


def stratification_labels(man, task, kind) -> dict | None:
    """patient id -> the label that stratifies the split (None for segmentation)."""
    df = man.df
    if kind in ("segmentation", "instance") or "label" not in df.columns:   # instance labels: per-image views
        return None
    return patient_labels(df.assign(patient_id=df["patient_id"].astype(str)), positive=task.positive_label)


def class_patients(man, kind: str) -> dict:
    """label -> patients with that label, for the classes a held-out set must contain ({} without labels)."""
    if kind in ("segmentation", "instance"):
        return {}
    return patients_per_class(man.df)


def fixed_split_given(df, scheme: str) -> bool:
    return scheme == "holdout" and "split" in df.columns and df["split"].notna().all() and \
        (df["split"].astype(str) != "").all()


def preflight(task, manifest, *, arch=None, cv=None) -> dict:
    """Everything that can refuse a run before any image is decoded or any network built.

    Validates the manifest for the task (:class:`~core.data.manifest.ManifestError` lists every problem by row
    and column), the architecture against the task's kind, and the data size against the CV scheme's minimum
    (:func:`core.data.splits.check_cv_feasible`). Returns the resolved ``task``, ``arch``, ``kind``, ``cv``
    and the counts shown before training (``n_patients``, ``n_images``, ``patients_per_class``).
    Why one function: the Train page and ``train()`` must refuse the same data for the same reason.
    """
    base = get_task(task) if isinstance(task, str) else task
    resolved, man, arch, kind = resolve(base, manifest, arch)
    cv = cv or resolved.protocol.cv
    scheme, _ = parse_cv(cv)
    per_class = class_patients(man, kind)
    n_patients = int(man.df["patient_id"].astype(str).nunique())
    if not fixed_split_given(man.df, scheme):
        check_cv_feasible(per_class, n_patients, cv)
    return {"task": resolved, "manifest": man, "arch": arch, "kind": kind, "cv": cv, "n_patients": n_patients,
            "n_images": int(len(man.df)), "patients_per_class": dict(sorted(per_class.items())),
            "mixed_label_patients": len(man.mixed_label_patients)}


def training_data(man, kind: str, started: str | None = None) -> dict:
    """What a model card says about the data a model learnt from: counts, class balance, fingerprint, date.

    No identifiers: the manifest's file name only (not its folder), counts, the label histogram.
    """
    df = man.df
    out = {"fingerprint": fingerprint(df), "n_patients": int(df["patient_id"].astype(str).nunique()),
           "n_images": int(len(df)), "manifest": Path(str(getattr(man, "path", "") or "manifest.csv")).name,
           "date": started or time.strftime("%Y-%m-%dT%H:%M:%S")}
    if kind != "segmentation" and "label" in df.columns:
        out["class_balance"] = {str(k): int(v) for k, v in df["label"].astype(str).value_counts().sort_index().items()}
        out["mixed_label_patients"] = len(man.mixed_label_patients)
    root = Path(man.root).resolve()
    synthetic_homes = [SAMPLE_DATA, sonodash_home().parent / "generated", sonodash_home() / "generated",
                       Path("var/generated")]
    out["synthetic"] = any(_is_within(root, Path(h)) for h in synthetic_homes)
    return out


def _is_within(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder.resolve())
        return True
    except (ValueError, OSError):
        return False


def suggest_tasks(csv_path) -> list[str]:
    """Tasks a manifest can train, best match first: the studies whose label set (instance tasks: structures)
    the manifest's labels fit -- the same set before a superset --, then the generic kinds its columns allow.

    Why from the data: a page that offers every task for every manifest lets a user train the CNS images as a
    miscarriage model; the columns (label, mask_path, instances_path) and the labels decide what fits.
    Reads only the CSV (no image is opened); an unreadable CSV gives [] and the validation reports why.
    """
    try:
        df = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, UnicodeDecodeError):
        return []
    cols = set(df.columns)
    labels = {v.strip() for v in df["label"]} - {""} if "label" in cols else set()
    structures = set()
    if "instance_classes" in cols:
        structures = {part.split(":", 1)[1].strip() for value in df["instance_classes"] for part in value.split(";")
                      if ":" in part}
    has = {"classification": bool(labels), "segmentation": "mask_path" in cols,
           "multitask": bool(labels) and "mask_path" in cols, "instance": "instances_path" in cols}
    exact, subset = [], []
    for name in list_tasks():
        if name in GENERIC_KINDS:
            continue
        task = get_task(name)
        if not has.get(task.kind):
            continue
        mine, theirs = (structures, set(task.structures)) if task.kind == "instance" else (labels, set(task.labels))
        if mine and mine == theirs:
            exact.append(name)
        elif mine and theirs and mine < theirs:
            subset.append(name)
    generic = [k for k in GENERIC_KINDS if has[k]]
    return exact + subset + generic
