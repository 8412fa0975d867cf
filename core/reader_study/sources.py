"""Where a study's cases come from: a dataset manifest, or a stored evaluation whose case ids are resolved to
image files on this machine.

Why resolving an evaluation is its own step: an evaluation stores case ids as the manifest wrote them (usually paths relative to
the manifest), not where the images are now. They are resolved as absolute paths, relative to the manifest
folder recorded in the evaluation, or, for the demo evaluations, in the synthetic set they were computed on,
regenerated on demand (the generator is deterministic). Cases whose image is not found are left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core import store
from core.data.manifest import load_manifest
from core.data.synthetic import make_sample_data
from core.demo import DEMO_SPECS
from core.paths import sonodash_home
from core.reader_study.errors import StudyError

CLINICAL_FIELDS = ("ga_weeks", "crl_mm", "fhr_bpm")
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm"}
MAX_IMAGES_PER_CASE = 4


@dataclass
class CaseSpec:
    """One case before it is frozen into a study."""

    case_key: str
    images: list
    truth: str
    clinical: dict = field(default_factory=dict)


def _clinical(row) -> dict:
    out = {}
    for key in CLINICAL_FIELDS:
        value = row.get(key) if hasattr(row, "get") else None
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            out[key] = float(value)
    return out


def cases_from_manifest(csv_path, *, task: str | None = None, unit: str = "patient", limit: int | None = None,
                        seed: int = 0) -> list[CaseSpec]:
    """Cases from a dataset manifest: one per patient (``unit="patient"``) or per still image (``"image"``).

    Cine clips are left out (a reader study shows still images). ``limit`` keeps a random subset of that many
    cases, drawn with ``seed`` and stratified by nothing (the organizer sees the class counts).
    """
    if unit not in ("patient", "image"):
        raise StudyError(f"unit {unit!r}: choose patient or image")
    df = load_manifest(csv_path, task=task).df
    if "label" not in df.columns:
        raise StudyError(f"{csv_path}: a reader study needs a 'label' column (the ground truth)")
    df = df[[Path(str(p)).suffix.lower() not in VIDEO_SUFFIXES for p in df["image_path"]]]
    cases = []
    if unit == "image":
        for rec in df.to_dict("records"):
            cases.append(CaseSpec(case_key=f"{rec['patient_id']}/{Path(rec['image_path']).name}",
                                  images=[str(rec["image_path"])], truth=str(rec["label"]), clinical=_clinical(rec)))
    else:
        for pid, group in df.groupby("patient_id", sort=True):
            labels = group["label"].astype(str).unique()
            if len(labels) != 1:
                raise StudyError(f"{csv_path}: patient {pid} has several labels ({', '.join(labels)})")
            rec = group.iloc[0].to_dict()
            cases.append(CaseSpec(case_key=str(pid), images=[str(p) for p in group["image_path"]][:MAX_IMAGES_PER_CASE],
                                  truth=str(labels[0]), clinical=_clinical(rec)))
    return _subset(cases, limit, seed)


def _subset(cases: list[CaseSpec], limit: int | None, seed: int) -> list[CaseSpec]:
    if not cases:
        raise StudyError("no cases: the source holds no still images with a label")
    if limit is None or limit >= len(cases):
        return cases
    if limit < 1:
        raise StudyError(f"number of cases {limit}: must be at least 1")
    rng = np.random.default_rng(seed)
    keep = []
    for truth, n in _per_class(cases, int(limit)).items():
        members = [i for i, c in enumerate(cases) if c.truth == truth]
        keep += rng.choice(members, size=n, replace=False).tolist()
    return [cases[i] for i in sorted(keep)]


def _per_class(cases: list[CaseSpec], limit: int) -> dict:
    """How many cases of each truth a ``limit``-case sample takes: proportional to the source (largest
    remainder), and at least one of each class while ``limit`` allows.

    Why stratified: a plain random draw of 3 cases from a set with 30 % positives has no positive a third of
    the time, and a study without positives has no sensitivity to report.
    """
    counts = {t: sum(c.truth == t for c in cases) for t in sorted({c.truth for c in cases})}
    share = {t: limit * n / len(cases) for t, n in counts.items()}
    take = {t: min(counts[t], max(1 if limit >= len(counts) else 0, int(share[t]))) for t in counts}
    by_remainder = sorted(counts, key=lambda t: (share[t] - int(share[t]), counts[t]), reverse=True)
    while sum(take.values()) < limit:
        t = next(t for t in by_remainder if take[t] < counts[t])
        take[t] += 1
        by_remainder.remove(t)
        by_remainder.append(t)
    while sum(take.values()) > limit:             # the at-least-one floor overshot: trim the largest class
        t = max(take, key=lambda k: take[k])
        take[t] -= 1
    return take


def demo_data_root(study: str) -> Path | None:
    """The synthetic set a demo evaluation was computed on, regenerated under ``$SONODASH_HOME/demo-data``.

    Why regenerate: the demo evaluations (``python -m core demo build``) are out-of-fold predictions on
    generated sets of 60-160 patients that are not shipped (only 5 showcase patients per study are). The
    generator is deterministic (same seed, byte-identical files), so the exact images come back on demand.
    """
    spec = next((s for s in DEMO_SPECS if s.study == study), None)
    if spec is None:
        return None
    root = sonodash_home() / "demo-data" / f"{study}-{spec.n_patients}"
    if not (root / study / "manifest.csv").is_file():
        make_sample_data(root, study=study, n_patients=spec.n_patients, seed=0, progress=False)
    return root / study


def _image_roots(meta: dict, task: str | None) -> list[Path]:
    roots = []
    for key in ("manifest", "manifest_path"):
        if meta.get(key):
            roots.append(Path(str(meta[key])).expanduser().parent)
    if meta.get("data_dir"):
        roots.append(Path(str(meta["data_dir"])).expanduser())
    if meta.get("source") == "demo build" and task:
        root = demo_data_root(task)
        if root is not None:
            roots.append(root)
    return roots


def _resolve(case_id: str, roots: list[Path]) -> Path | None:
    """The image file a stored case id names (absolute, or relative to one of ``roots``), or None."""
    text = str(case_id).split("#row")[0]
    path = Path(text).expanduser()
    candidates = [path] if path.is_absolute() else [root / path for root in roots] + [path]
    for candidate in candidates:
        if candidate.is_file() and candidate.suffix.lower() not in VIDEO_SUFFIXES:
            return candidate.resolve()
    return None


def cases_from_evaluation(name: str, *, limit: int | None = None, seed: int = 0) -> list[CaseSpec]:
    """Cases from a stored evaluation whose images are on this machine (one case per image).

    Case ids are resolved as absolute paths, or relative to the evaluation's manifest folder; for the demo
    evaluations the synthetic set they were computed on is regenerated first (:func:`demo_data_root`).
    """
    meta, df = store.load_evaluation(name)
    roots = _image_roots(meta, meta.get("task") or _evaluation_task(name))
    cases, missing = [], 0
    for rec in df.to_dict("records"):
        if rec.get("truth") is None:
            continue
        path = _resolve(rec.get("case_id", ""), roots)
        if path is None:
            missing += 1
            continue
        subgroups = rec.get("subgroups") if isinstance(rec.get("subgroups"), dict) else rec
        cases.append(CaseSpec(case_key=str(rec["case_id"]), images=[str(path)], truth=str(rec["truth"]),
                              clinical=_clinical(subgroups)))
    if not cases:
        raise StudyError(f"evaluation {name}: none of its {missing} cases is an image file on this machine "
                         "(case ids are resolved as absolute paths or relative to the evaluation's manifest)")

    return _subset(cases, limit, seed)


def _evaluation_task(name: str) -> str | None:
    table = store.list_evaluations()
    row = table[table["name"] == name] if not table.empty else table
    return None if row.empty else str(row.iloc[0]["task"])


