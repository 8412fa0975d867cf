"""Synthetic ultrasound phantoms for the four studies, with pixel-exact masks and manifests.

Why: every feature must be demonstrable and testable without patient data. ``make_sample_data`` writes
``OUT/<study>/manifest.csv`` plus the images, masks and clips it lists (DESIGN.md section 4 format), and for
the miscarriage study a few DICOM copies with FAKE identifiers under ``OUT/miscarriage/dicom/`` (not listed
in the manifest; see :mod:`core.data.synthetic.dicom`).

Determinism: patient ``i`` of study ``s`` is drawn from ``np.random.default_rng([seed, s, 1, i])`` and the
label assignment from ``default_rng([seed, s, 0])``, so the same seed gives byte-identical files (see
:mod:`core.data.synthetic.writer` for the encoders). The generative model of each study is documented in
its module docstring.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from core.data.synthetic.dicom import write_us_dicom
from core.data.synthetic.writer import write_manifest
from core.errors import InputError

STUDIES = ("miscarriage", "preterm", "cns", "first_trimester")
_STUDY_IDS = {name: i + 1 for i, name in enumerate(STUDIES)}
DEFAULT_N_PATIENTS = 20
DICOM_PATIENTS = 2   # miscarriage patients also exported as DICOM (both planes)
# The study whose sample data the PACS loader, the segmentation bench and the reference benchmark use: its
# first DICOM_PATIENTS patients are also written as DICOM, and its images carry gestational-sac masks.
REFERENCE_STUDY = "miscarriage"


def _module(study: str):
    return importlib.import_module(f"core.data.synthetic.{study}")


def _studies(study: str) -> list[str]:
    if study == "all":
        return list(STUDIES)
    if study not in STUDIES:
        raise InputError(f"unknown study {study!r}; choose all or one of: {', '.join(STUDIES)}")
    return [study]


def make_sample_data(out_dir, study: str = "all", n_patients: int = DEFAULT_N_PATIENTS, seed: int = 0, *,
                     progress: bool = True) -> dict[str, Path]:
    """Generates ``n_patients`` synthetic patients per study under ``out_dir``; returns {study: manifest path}.

    Files of an earlier run with the same names are overwritten; generate into a fresh folder when the
    number of patients shrinks, or stale files from the larger run stay next to the new manifest.
    """
    import numpy as np
    from tqdm import tqdm

    names = _studies(study)
    if int(n_patients) != n_patients or n_patients < 1:
        raise InputError(f"--n-patients must be a positive integer, got {n_patients}")
    if int(seed) != seed or seed < 0:
        raise InputError(f"--seed must be a non-negative integer, got {seed}")
    n_patients, seed = int(n_patients), int(seed)
    out_dir = Path(out_dir)

    manifests = {}
    with tqdm(total=n_patients * len(names), desc="sample data", unit="patient", disable=not progress) as bar:
        for name in names:
            mod, sid = _module(name), _STUDY_IDS[name]
            labels = mod.assign_labels(n_patients, np.random.default_rng([seed, sid, 0]))
            rows = []
            bar.set_postfix_str(name)
            for i, label in enumerate(labels):
                pid = f"{mod.PREFIX}{i + 1:04d}"
                rows += mod.make_patient(out_dir / name, np.random.default_rng([seed, sid, 1, i]), pid, label)
                bar.update(1)
            manifests[name] = write_manifest(out_dir / name / "manifest.csv", mod.COLUMNS, rows)
            if name == REFERENCE_STUDY:
                _write_dicoms(out_dir / name, rows, seed)
    return manifests


def _write_dicoms(study_dir: Path, rows: list[dict], seed: int) -> None:
    """DICOM copies (fake identifiers) of the first ``DICOM_PATIENTS`` patients' images."""
    import cv2

    patients = list(dict.fromkeys(r["patient_id"] for r in rows))[:DICOM_PATIENTS]
    for number, pid in enumerate(patients, start=1):
        for instance, row in enumerate((r for r in rows if r["patient_id"] == pid), start=1):
            rgb = cv2.cvtColor(cv2.imread(str(study_dir / row["image_path"]), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            write_us_dicom(study_dir / "dicom" / f"{pid}_{row['plane']}.dcm", rgb,
                           pixel_spacing_mm=row["pixel_spacing_mm"], seed=seed, patient_number=number,
                           instance=instance, description=f"synthetic gestational sac, {row['plane']}")
