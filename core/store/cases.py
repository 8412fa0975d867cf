"""Cases a clinician saves from the Analyze page: AI output, their decision, corrections, note; no identifier.

Why no identifier column: the store is shared by everyone who uses the dashboard and may be copied for
research; what identifies a patient stays in the hospital's own systems. ``case_key`` is a pseudonym the
clinician chooses (or the showcase patient's synthetic id) -- the page says not to type a name or hospital
number, and neither into the note.

Why files next to the row: a corrected mask is what the next model learns from. Each saved image is written
as a PNG (the input gate's de-identified pixels -- a PNG carries no DICOM header) with its final mask (the
clinician's correction, or the AI mask when uncorrected) and, for comparison, the AI mask, under
``$SONODASH_HOME/cases/<id>/``; the row keeps the paths relative to that folder. A failed save leaves
neither a row nor files behind. Saving and overriding are audit events (``core.audit.record``).
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
from sqlalchemy import select

from core.corrections import measure_caliper
from core.errors import InputError
from core.paths import sonodash_home
from core.store import audit
from core.store._values import plain
from core.store.engine import session_scope
from core.store.errors import NotFoundError, StoreError
from core.store.schema import SavedCase

CASE_COLUMNS = ["id", "study", "case_key", "bundle_id", "bundle_name", "probability", "decision", "override",
                "clinician_decision", "actor", "note", "rules", "ai_output", "images", "calipers", "created"]
MAX_NOTE = 5000
MAX_IMAGES = 64
MAX_CALIPERS = 50


def cases_root() -> Path:
    """``$SONODASH_HOME/cases`` (mode 0700): one folder per saved case."""
    root = sonodash_home() / "cases"
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    return root


def _text(value, field: str, limit: int = 200) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise StoreError(f"saved case: {field} must be text, got {type(value).__name__}")
    if len(value) > limit or any(ord(ch) < 32 for ch in value):
        raise StoreError(f"saved case: {field} must be one line of at most {limit} characters")
    return value


def _check_image(i: int, item: dict) -> dict:
    where = f"saved case: image {i + 1}"
    image = np.asarray(item.get("image"))
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise StoreError(f"{where}: expected an RGB uint8 image, got {image.dtype} {image.shape}")
    for key in ("mask", "ai_mask"):
        m = item.get(key)
        if m is not None and np.asarray(m).shape != image.shape[:2]:
            raise StoreError(f"{where}: {key} {np.asarray(m).shape} does not match the image {image.shape[:2]}")
    return {"name": Path(str(item.get("name") or f"image-{i + 1}")).name[:200], "frame": int(item.get("frame") or 0),
            "corrected": bool(item.get("corrected")), "pixel_spacing_mm": plain(item.get("pixel_spacing_mm")),
            "biometry": plain(item.get("biometry")), "vertices": plain(item.get("vertices")),
            "label": _text(item.get("label"), f"image {i + 1} label")}


def _write_png(path: Path, array: np.ndarray) -> None:
    import cv2

    arr = np.asarray(array)
    arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR) if arr.ndim == 3 else arr.astype(np.uint8) * 255
    if not cv2.imwrite(str(path), arr):
        raise StoreError(f"saved case: cannot write {path.name}")


def save_case(*, study: str, probability: float | None = None, decision: str | None = None,
              override: str | None = None, note: str = "", bundle_id: int | None = None,
              bundle_name: str | None = None, rules: dict | None = None, case_key: str | None = None,
              actor: str | None = None, clinician_decision: str | None = None, ai_output: dict | None = None,
              images: list | None = None, calipers: list | None = None) -> int:
    """Keep one analysis outcome with the clinician's corrections; returns its id.

    ``decision`` is the AI's decision (None when it was withheld), ``clinician_decision`` the clinician's;
    ``override`` is kept for old callers (the clinician's decision where it differs from the AI's).
    ``images``: dicts with ``image`` (RGB uint8), ``mask`` (final bool mask or None), ``ai_mask``, ``name``,
    ``frame``, ``corrected``, ``pixel_spacing_mm``, ``biometry``, ``vertices`` and ``label`` (a per-image
    clinician label, e.g. the view category of an instance study). ``calipers``: dicts as in
    :mod:`core.corrections` (validated and measured here with each image's spacing).
    """
    if not study or not isinstance(study, str):
        raise StoreError("saved case: 'study' is required")
    if probability is not None:
        probability = float(probability)
        if not math.isfinite(probability) or not 0.0 <= probability <= 1.0:
            raise StoreError(f"saved case: probability {probability!r} is not in [0, 1]")
    note = str(note or "")
    if len(note) > MAX_NOTE:
        raise StoreError(f"saved case: note has {len(note)} characters, limit {MAX_NOTE}")
    case_key, actor = _text(case_key, "case key"), _text(actor, "actor", 100)
    clinician_decision = _text(clinician_decision, "clinician decision")
    if override is None and clinician_decision is not None and clinician_decision != decision:
        override = clinician_decision
    images = list(images or [])
    if len(images) > MAX_IMAGES:
        raise StoreError(f"saved case: {len(images)} images, limit {MAX_IMAGES}")
    records = [_check_image(i, item) for i, item in enumerate(images)]
    calipers = list(calipers or [])
    if len(calipers) > MAX_CALIPERS:
        raise StoreError(f"saved case: {len(calipers)} calipers, limit {MAX_CALIPERS}")
    measured = []
    for c in calipers:
        index = int(c.get("image", 0)) if isinstance(c, dict) else 0
        if not 0 <= index < max(1, len(records)):
            raise StoreError(f"saved case: caliper on image {index + 1}, but the case has {len(records)} image(s)")
        spacing = records[index]["pixel_spacing_mm"] if records else None
        try:
            measured.append({"image": index, **measure_caliper(c, spacing)})
        except InputError as err:
            raise StoreError(f"saved case: {err}") from None
    folder = None
    try:
        with session_scope() as session:
            row = SavedCase(study=study, probability=probability, decision=decision, override=override, note=note,
                            bundle_id=bundle_id, bundle_name=bundle_name, rules=plain(rules) if rules else None,
                            case_key=case_key, actor=actor, clinician_decision=clinician_decision,
                            ai_output=plain(ai_output) if ai_output else None, calipers=measured or None)
            session.add(row)
            session.flush()
            if images:
                folder = cases_root() / str(row.id)
                shutil.rmtree(folder, ignore_errors=True)      # a folder left by a rolled-back id
                folder.mkdir(mode=0o700)
                for i, (item, rec) in enumerate(zip(images, records)):
                    rec["image_path"] = f"image-{i}.png"
                    _write_png(folder / rec["image_path"], item["image"])
                    for key in ("mask", "ai_mask"):
                        if item.get(key) is not None:
                            rec[f"{key}_path"] = f"{key.replace('_', '-')}-{i}.png"
                            _write_png(folder / rec[f"{key}_path"], np.asarray(item[key]).astype(bool))
                row.images = records
            case_id = row.id
    except BaseException:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    _audit(actor, case_id, study=study, decision=decision, clinician_decision=clinician_decision,
           corrected=sum(r["corrected"] for r in records), calipers=len(measured))
    return case_id


def _audit(actor, case_id: int, *, study, decision, clinician_decision, corrected: int, calipers: int) -> None:
    """One audit row for the save, one more for an override."""
    detail = {"study": study, "corrected_masks": corrected, "calipers": calipers}
    audit.record(actor, "case.save", target=f"case:{case_id}", detail=detail)
    if clinician_decision is not None and clinician_decision != decision:
        audit.record(actor, "case.override", target=f"case:{case_id}",
                     detail={"ai_decision": decision, "clinician_decision": clinician_decision})


def _row(r: SavedCase) -> dict:
    return {col: getattr(r, col) for col in CASE_COLUMNS}


def list_cases(study: str | None = None):
    """Saved cases (optionally of one study), newest first, as a pandas DataFrame (one row per case)."""
    import pandas as pd

    query = select(SavedCase).order_by(SavedCase.id.desc())
    if study is not None:
        query = query.where(SavedCase.study == study)
    with session_scope(write=False) as session:
        rows = [_row(r) for r in session.scalars(query)]
    return pd.DataFrame(rows, columns=CASE_COLUMNS)


def get_case(case_id: int) -> dict:
    """One saved case with absolute file paths (``image_file``, ``mask_file``, ``ai_mask_file``) per image."""
    with session_scope(write=False) as session:
        row = session.get(SavedCase, int(case_id))
        if row is None:
            raise NotFoundError(f"saved case #{case_id} does not exist")
        case = _row(row)
    folder = cases_root() / str(case["id"])
    for rec in case["images"] or []:
        for key in ("image", "mask", "ai_mask"):
            rel = rec.get(f"{key}_path")
            rec[f"{key}_file"] = str(folder / rel) if rel else None
    return case
