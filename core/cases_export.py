"""Saved cases -> a dataset manifest (DESIGN.md section 4) that ``python -m core train`` accepts.

Why: a clinician's corrections are worth most as training data for the next model. One row per saved image:
``image_path`` (the de-identified PNG kept with the case), ``patient_id`` (the case's pseudonymous key, or
``case-<id>``), ``label`` (the clinician's decision -- per image where they gave one, e.g. an instance study's view --;
the AI's only where the clinician confirmed it),
``mask_path`` (the corrected mask, or the AI's mask where none was corrected), ``pixel_spacing_mm``, and
metadata columns (case_id, study, frame, corrected, ai_decision) that training keeps as subgroups.
Paths are relative to the manifest, so the folder (or the zip) can be moved as a whole. The target must be
a new or empty folder: an export never overwrites anything.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from core import audit, store
from core.errors import InputError
from core.store.cases import get_case
from core.uploads import private_tempdir

MANIFEST_COLUMNS = ["image_path", "patient_id", "label", "mask_path", "pixel_spacing_mm", "case_id", "study",
                    "frame", "corrected", "ai_decision"]


def _target(out) -> Path:
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"{out}: exists and is not an empty folder (an export never overwrites)")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _spacing(value):
    if isinstance(value, (list, tuple)):
        return value[0] if len(set(value)) == 1 else None  # the manifest column holds one number
    return value


def export_cases(out, *, study: str | None = None, case_ids=None, as_zip: bool = False,
                 actor: str | None = None) -> dict:
    """Write ``manifest.csv`` + ``images/`` + ``masks/`` into ``out`` (or ``out`` + ``.zip`` with ``as_zip``).

    Returns ``{"manifest", "zip", "n_cases", "n_images", "n_corrected", "skipped"}``; a case without saved
    images is skipped (listed by id). Raises InputError when nothing can be exported.
    """
    table = store.list_cases(study=study)
    ids = [int(i) for i in table["id"]] if case_ids is None else [int(i) for i in case_ids]
    if not ids:
        raise InputError("no saved cases to export" + (f" for study {study!r}" if study else ""))
    out = _target(out)
    work = out if not as_zip else out / "dataset"
    (work / "images").mkdir(parents=True, exist_ok=True)
    (work / "masks").mkdir(exist_ok=True)
    rows, skipped, n_cases = [], [], 0
    for case_id in sorted(ids):
        case = get_case(case_id)
        images = [r for r in case["images"] or [] if r.get("image_file") and Path(r["image_file"]).is_file()]
        if not images:
            skipped.append(case_id)
            continue
        n_cases += 1
        label = case["clinician_decision"] or (case["decision"] if not (case["ai_output"] or {}).get(
            "decision_withheld") else None)
        for k, rec in enumerate(images):
            stem = f"case{case_id:05d}-{k}"
            image_rel = f"images/{stem}.png"
            shutil.copyfile(rec["image_file"], work / image_rel)
            mask_rel = ""
            if rec.get("mask_file") and Path(rec["mask_file"]).is_file():
                mask_rel = f"masks/{stem}.png"
                shutil.copyfile(rec["mask_file"], work / mask_rel)
            rows.append({"image_path": image_rel, "patient_id": case["case_key"] or f"case-{case_id}",
                         "label": rec.get("label") or label or "", "mask_path": mask_rel,
                         "pixel_spacing_mm": _spacing(rec.get("pixel_spacing_mm")) or "", "case_id": case_id,
                         "study": case["study"], "frame": rec.get("frame", 0),
                         "corrected": int(bool(rec.get("corrected"))), "ai_decision": case["decision"] or ""})
    if not rows:
        shutil.rmtree(work if as_zip else out / "images", ignore_errors=True)
        shutil.rmtree(out / "masks", ignore_errors=True)
        raise InputError("none of the chosen saved cases has a saved image to export")
    columns = [c for c in MANIFEST_COLUMNS if c != "mask_path" or any(r["mask_path"] for r in rows)]
    manifest = work / "manifest.csv"
    with open(manifest, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    result = {"manifest": str(manifest), "zip": None, "n_cases": n_cases, "n_images": len(rows),
              "n_corrected": sum(r["corrected"] for r in rows), "skipped": skipped}
    if as_zip:
        archive = shutil.make_archive(str(out / "sonodash-cases"), "zip", root_dir=work)
        shutil.rmtree(work)
        result.update(zip=archive, manifest="manifest.csv")
    _audit(actor, study, result)
    return result


def export_zip_bytes(*, study: str | None = None, case_ids=None,
                     actor: str | None = None) -> tuple[bytes, dict]:
    """The export as zip bytes (for a download button), built in a private temporary folder."""
    with private_tempdir("cases-export-") as tmp:
        result = export_cases(Path(tmp) / "export", study=study, case_ids=case_ids, as_zip=True, actor=actor)
        return Path(result["zip"]).read_bytes(), result


def _audit(actor, study, result: dict) -> None:
    audit.record(actor, "cases.export", target=study or "all studies",
                 detail={"n_cases": result["n_cases"], "n_images": result["n_images"]})
