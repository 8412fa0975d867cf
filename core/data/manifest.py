"""Dataset manifests: the CSV in which users bring their own data (DESIGN.md section 4).

Why validate everything up front: a training run that dies on row 7,312 after an hour, or silently drops the
rows it cannot read, is worse than no run. :func:`load_manifest` checks every row against the files on disk
and the task, collects *all* problems, and raises one :class:`ManifestError` whose message names each row
(its CSV line number; the header is line 1) and column -- so a user fixes the file once, not once per error.
Nothing is ever dropped silently; extra columns are kept as metadata (usable as subgroups).

>>> m = load_manifest("sample_data/miscarriage/manifest.csv", task="miscarriage")  # doctest: +SKIP
>>> m.labels, len(m.df)                                                            # doctest: +SKIP
(('live_birth', 'miscarriage'), 10)
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from core.errors import InputError
from core.tasks import Task, get_task

NUMERIC_COLUMNS = ("ga_weeks", "crl_mm", "fhr_bpm", "pixel_spacing_mm")
PATH_COLUMNS = ("image_path", "mask_path", "instances_path")
SPLITS = ("train", "val", "test")
REQUIRED_BY_KIND = {
    None: ("image_path", "patient_id"),
    "classification": ("image_path", "patient_id", "label"),
    "segmentation": ("image_path", "patient_id", "mask_path"),
    "multitask": ("image_path", "patient_id", "label", "mask_path"),
    "instance": ("image_path", "patient_id", "instances_path", "instance_classes"),
}


@dataclass(frozen=True)
class Problem:
    """One defect of a manifest: CSV line number (header = 1), column, what is wrong."""

    row: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column}: {self.message}"


NUMERIC_RANGES = {"ga_weeks": (0.0, 45.0), "crl_mm": (0.0, 200.0), "fhr_bpm": (0.0, 400.0),
                  "pixel_spacing_mm": (0.0, 10.0)}


def parse_number(line: int, col: str, text: str, problems: list) -> float:
    """Optional numeric cell -> float (NaN when empty); a problem when not a finite number in range."""
    if not text:
        return math.nan
    try:
        value = float(text)
    except ValueError:
        problems.append(Problem(line, col, f"{text!r} is not a number"))
        return math.nan
    lo, hi = NUMERIC_RANGES[col]
    if not math.isfinite(value) or not lo < value <= hi:
        problems.append(Problem(line, col, f"{text} is outside the plausible range ({lo:g}, {hi:g}]"))
        return math.nan
    return value


def check_instance_classes(line: int, text: str, known: tuple, problems: list, *, required: bool):
    """``"k:structure;..."`` -> {k: structure}, or None (after recording the problem) when malformed."""
    if not text:
        return None if required else {}
    ids: dict[int, str] = {}
    for part in [p.strip() for p in text.split(";")]:
        key, sep, name = part.partition(":")
        if not part or not sep or not key.strip().isdigit() or int(key) < 1 or not name.strip():
            problems.append(Problem(line, "instance_classes", f"malformed entry {part!r} (expected "
                                                              f"'k:structure;...' with k = 1, 2, ...)"))
            return None
        k, name = int(key), name.strip()
        if k in ids:
            problems.append(Problem(line, "instance_classes", f"instance {k} is listed twice"))
            return None
        if known and name not in known:
            problems.append(Problem(line, "instance_classes", f"unknown structure {name!r} (expected one of: "
                                                              f"{', '.join(known)})"))
            return None
        ids[k] = name
    return ids


class FileChecker:
    """Existence, readability and size checks of the files a manifest names (paths relative to ``root``)."""

    def __init__(self, root: Path):
        self.root = root
        self.sizes: dict[str, tuple[int, int]] = {}
        self.first_row: dict[str, int] = {}

    def resolve(self, rel: str) -> str:
        p = Path(rel).expanduser()
        return os.path.normpath(str(p if p.is_absolute() else self.root / p))

    def image(self, line: int, rel: str, problems: list) -> str:
        from core.io import probe

        path = self.resolve(rel)
        if path in self.first_row:
            problems.append(Problem(line, "image_path", f"{rel} is listed again (first in row "
                                                        f"{self.first_row[path]})"))
            return path
        self.first_row[path] = line
        if not os.path.isfile(path):
            problems.append(Problem(line, "image_path", f"file not found: {rel}"))
            return path
        try:
            info = probe(path)
        except InputError as err:
            problems.append(Problem(line, "image_path", f"unreadable: {getattr(err, 'problem', str(err))}"))
            return path
        self.sizes[path] = (int(info["width"]), int(info["height"]))
        return path

    def _open(self, line: int, col: str, rel: str, problems: list):
        from PIL import Image, UnidentifiedImageError

        path = self.resolve(rel)
        if not os.path.isfile(path):
            problems.append(Problem(line, col, f"file not found: {rel}"))
            return path, None
        try:
            return path, Image.open(path)
        except (UnidentifiedImageError, OSError, ValueError) as err:
            problems.append(Problem(line, col, f"unreadable image {rel} ({type(err).__name__})"))
            return path, None

    def mask(self, line: int, col: str, rel: str, image_rel: str | None, problems: list) -> str:
        """A mask / instance PNG must exist, open, and have the size of its image."""
        path, img = self._open(line, col, rel, problems)
        if img is None:
            return path
        with img:
            size = img.size
        expected = self.sizes.get(self.resolve(image_rel)) if image_rel else None
        if expected and tuple(size) != expected:
            problems.append(Problem(line, col, f"{rel} is {size[0]}x{size[1]} but the image is "
                                               f"{expected[0]}x{expected[1]}"))
        return path

    def instance_ids(self, line: int, rel: str, ids: dict, problems: list) -> None:
        """Every instance in the PNG has a class, and every listed instance is in the PNG."""
        import numpy as np

        path, img = self._open(line, "instances_path", rel, problems)
        if img is None:
            return
        try:
            with img:
                present = {int(v) for v in np.unique(np.asarray(img))} - {0}
        except (OSError, ValueError) as err:
            problems.append(Problem(line, "instances_path", f"cannot decode {rel} ({type(err).__name__})"))
            return
        if present - set(ids):
            problems.append(Problem(line, "instance_classes", f"instances {sorted(present - set(ids))} of "
                                                              f"{rel} have no class"))
        if set(ids) - present:
            problems.append(Problem(line, "instance_classes", f"instances {sorted(set(ids) - present)} are "
                                                              f"listed but absent from {rel}"))


def patient_conflicts(rows: list[dict], columns: list[str]) -> list[Problem]:
    """Patient-level values (GA, CRL, FHR, split, outcome) must agree across a patient's rows."""
    problems, first = [], {}
    for row in rows:
        pid = row.get("patient_id")
        if not pid:
            continue
        for col in columns:
            value = row.get(col)
            if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
                continue
            key = (pid, col)
            if key not in first:
                first[key] = (row["row"], value)
                continue
            ref_line, ref = first[key]
            same = math.isclose(value, ref, rel_tol=0, abs_tol=1e-6) if isinstance(value, float) else value == ref
            if not same:
                problems.append(Problem(row["row"], col, f"{_show(value)} conflicts with {_show(ref)} in row "
                                                         f"{ref_line} for the same patient_id"))
    return problems


def _show(value) -> str:
    return f"{value:g}" if isinstance(value, float) else repr(value)


class ManifestError(InputError):
    """Every problem of a manifest in one message: ``"<file>: N problems; row R, column C: ...; ..."``.

    ``problems`` keeps them as :class:`Problem` (row, column, message) for tables in the dashboard.
    """

    def __init__(self, name: str, problems: list[Problem]):
        self.name = name
        self.problems = list(problems)
        n = len(self.problems)
        head = f"{name}: {n} problem{'s' if n != 1 else ''}"
        super().__init__("; ".join([head] + [str(p) for p in self.problems]))


@dataclass
class Manifest:
    """A validated manifest. ``df`` has absolute paths, float numeric columns and a ``row`` column."""

    df: pd.DataFrame
    root: Path
    labels: tuple = ()
    path: Path | None = None
    task: Task | None = None
    structures: tuple = ()
    columns: tuple = field(default_factory=tuple)

    def __len__(self) -> int:
        return len(self.df)

    @property
    def mixed_label_patients(self) -> list[str]:
        """Patients whose images carry more than one label (their patient-level result is not reported)."""
        if "label" not in self.df:
            return []
        n = self.df[self.df["label"].astype(str) != ""].groupby("patient_id")["label"].nunique()
        return sorted(str(p) for p in n[n > 1].index)

    @property
    def patients(self) -> list[str]:
        """Patient ids in order of first appearance."""
        return list(dict.fromkeys(self.df["patient_id"]))


def _resolve_task(task) -> Task | None:
    if task is None or isinstance(task, Task):
        return task
    return get_task(str(task))


def _fixed_labels(task: Task | None) -> tuple:
    """Label set fixed by a study (empty for generic tasks, whose labels come from the manifest)."""
    return tuple(task.labels) if task is not None and task.labels else ()


def _read_records(csv_path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and (line number, cells) of every non-blank record, from a UTF-8 CSV."""
    name = csv_path.name
    if not csv_path.is_file():
        raise InputError(f"{csv_path}: manifest not found")
    try:
        text = csv_path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(f"{name}: not UTF-8 text (byte {err.start}); save the manifest as UTF-8 CSV") from None
    except OSError as err:
        raise InputError(f"{name}: cannot read ({err.strerror})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    records, start = [], 1
    try:
        for cells in reader:
            if any(c.strip() for c in cells):
                records.append((start, [c.strip() for c in cells]))
            start = reader.line_num + 1
    except csv.Error as err:
        raise InputError(f"{name}: row {reader.line_num}: not valid CSV ({err})") from None
    if not records or records[0][0] != 1:
        raise InputError(f"{name}: the first line must be the header row (image_path,patient_id,...)")
    header = records[0][1]
    return header, records[1:]


def load_manifest(csv_path, *, task=None) -> Manifest:
    """Reads and validates ``csv_path``; raises :class:`ManifestError` listing every problem.

    ``task``: a task name or :class:`~core.tasks.Task` (decides the required columns and, for the studies,
    the label set and instance structures); ``None`` checks only what the manifest itself contains.
    Paths are relative to the CSV's folder (absolute paths are accepted).
    """
    csv_path = Path(csv_path)
    task = _resolve_task(task)
    header, records = _read_records(csv_path)
    root = csv_path.resolve().parent
    problems: list[Problem] = []

    seen_cols = set()
    for col in header:
        if not col:
            problems.append(Problem(1, "(empty)", "a header cell is empty"))
        elif col in seen_cols:
            problems.append(Problem(1, col, "column appears twice in the header"))
        seen_cols.add(col)
    kind = task.kind if task is not None else None
    required = REQUIRED_BY_KIND[kind]
    for col in required:
        if col not in seen_cols:
            why = f" (task {task.name} needs {', '.join(required)})" if task is not None else ""
            problems.append(Problem(1, col, f"required column missing{why}"))
    if not records:
        problems.append(Problem(2, "(all)", "the manifest has a header but no data rows"))

    fixed = _fixed_labels(task)
    # Image-level labels (DESIGN.md section 6): a classification manifest may label one patient's images
    # differently (standard planes); splits stay patient-grouped. A multitask label is the patient's outcome.
    labels_patient_level = kind == "multitask"
    known_structures = tuple(task.structures) if task is not None and task.structures else ()
    files = FileChecker(root)
    rows: list[dict] = []
    for line, cells in records:
        if len(cells) != len(header):
            problems.append(Problem(line, "(all)", f"{len(cells)} fields, but the header has {len(header)}"))
            continue
        row = dict(zip(header, cells))
        out = {"row": line, **row}
        for col in required:
            if col in row and not row[col]:
                problems.append(Problem(line, col, "empty (required)"))
        if row.get("image_path"):
            out["image_path"] = files.image(line, row["image_path"], problems)
        for col in ("mask_path", "instances_path"):
            if row.get(col):
                out[col] = files.mask(line, col, row[col], row.get("image_path"), problems)
        if row.get("label") and fixed and row["label"] not in fixed:
            problems.append(Problem(line, "label", f"unknown label {row['label']!r} (expected one of: "
                                                   f"{', '.join(fixed)})"))
        for col in NUMERIC_COLUMNS:
            if col in row:
                out[col] = parse_number(line, col, row[col], problems)
        if row.get("split") and row["split"].lower() not in SPLITS:
            problems.append(Problem(line, "split", f"{row['split']!r} is not one of {', '.join(SPLITS)}"))
        elif row.get("split"):
            out["split"] = row["split"].lower()
        if row.get("instance_classes") is not None and "instance_classes" in header:
            ids = check_instance_classes(line, row["instance_classes"], known_structures, problems,
                                         required="instance_classes" in required)
            if ids is not None and row.get("instances_path"):
                files.instance_ids(line, row["instances_path"], ids, problems)
        rows.append(out)

    # Pixel spacing is per image (zoom and depth change between a patient's scans: HC18), not patient metadata.
    patient_cols = [c for c in NUMERIC_COLUMNS if c != "pixel_spacing_mm"] + ["split"] + \
        (["label"] if labels_patient_level else [])
    problems += patient_conflicts(rows, [c for c in patient_cols if c in seen_cols])
    if problems:
        problems.sort(key=lambda p: (p.row, header.index(p.column) if p.column in header else len(header)))
        raise ManifestError(csv_path.name, problems)
    return _build(csv_path, root, header, rows, task, fixed)


def _build(csv_path, root, header, rows, task, fixed) -> Manifest:
    df = pd.DataFrame(rows, columns=["row"] + [c for c in header if c != "row"])
    for col in NUMERIC_COLUMNS:
        if col in df:
            df[col] = df[col].astype(float)
    df["row"] = df["row"].astype(int)
    for col in ("mask_path", "instances_path"):  # optional files left empty: None, never "" posing as a path
        if col in df:
            df[col] = df[col].astype(object).where(df[col] != "", None)
    for col in header:  # extra metadata columns that hold only numbers become float (subgroups, biometry)
        if col not in NUMERIC_COLUMNS and col not in REQUIRED_BY_KIND["instance"] + ("label", "mask_path", "plane",
                                                                                        "split", "row"):
            values = df[col].replace("", math.nan)
            numeric = pd.to_numeric(values, errors="coerce")
            if values.notna().any() and numeric.notna().sum() == values.notna().sum():
                df[col] = numeric.astype(float)
    if "label" in df:
        found = tuple(sorted({x for x in df["label"] if x}))
    else:
        found = ()
    labels = fixed or found
    structures = ()
    if task is not None and task.kind == "instance":
        structures = tuple(task.structures) or tuple(sorted({
            part.split(":", 1)[1].strip() for value in df["instance_classes"] for part in value.split(";")
            if ":" in part}))
        if not task.structures:
            task = get_task(task.name, structures=structures)
    elif task is not None and not task.labels and found:
        task = get_task(task.name, labels=found)
    return Manifest(df=df.reset_index(drop=True), root=root, labels=tuple(labels), path=csv_path.resolve(),
                    task=task, structures=structures, columns=tuple(header))

