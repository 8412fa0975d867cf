"""Patient-level data splits: k-fold, leave-one-patient-out, repeated random, holdout.

Why patient level: the two planes of one sac, or the frames of one clip, are nearly the same picture; if one
lands in training and the other in test the score measures memory, not skill. Every scheme here assigns whole
patients, stratified by the patient's label where the class counts allow, seeded so a run can be repeated and
resumed with exactly the same assignment (the assignment is also saved in the run folder).

>>> s = make_splits(["a", "b", "c", "d", "e", "f"], labels=[0, 0, 0, 1, 1, 1], cv="kfold:3", seed=0)
>>> len(s), sorted(s[0].test + s[0].val + s[0].train) == ["a", "b", "c", "d", "e", "f"]
(3, True)
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np

from core.errors import InputError

_COUNT_RE = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class Split:
    """One train / validation / test assignment of patient ids."""

    name: str
    train: tuple
    val: tuple
    test: tuple

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "Split":
        return cls(name=str(d["name"]), train=tuple(d["train"]), val=tuple(d["val"]), test=tuple(d["test"]))

    def part_of(self) -> dict:
        """patient id -> "train" | "val" | "test"."""
        out = {p: "train" for p in self.train}
        out.update({p: "val" for p in self.val})
        out.update({p: "test" for p in self.test})
        return out


def parse_cv(spec: str) -> tuple[str, int]:
    """``"kfold:5"`` -> ``("kfold", 5)``; ``"lopo"`` -> ``("lopo", 0)``. Raises InputError on anything else.

    The schemes and their syntax come from :data:`CV_SCHEMES` (:func:`list_cv_schemes`).
    """
    name, sep, count = str(spec).strip().partition(":")
    scheme = CV_SCHEMES.get(name)
    takes_count = scheme is not None and scheme.min_n is not None
    if scheme is None or bool(sep) != takes_count or (takes_count and not _COUNT_RE.fullmatch(count)):
        *head, last = list_cv_schemes()
        raise InputError(f"--cv {spec!r}: expected {', '.join(head)} or {last}")
    n = int(count) if takes_count else 0
    if takes_count and n < scheme.min_n:
        raise InputError(f"--cv {spec}: {scheme.syntax.partition(':')[2]} must be at least {scheme.min_n}")
    return name, n


def _can_stratify(labels: np.ndarray, n_parts: int) -> bool:
    counts = Counter(labels.tolist())
    return len(counts) > 1 and min(counts.values()) >= n_parts


def _split_off(ids: np.ndarray, labels: np.ndarray, fraction: float, rng: np.random.Generator):
    """Take ``fraction`` of the patients (at least one, never all), stratified by label when possible.

    Why by hand and not sklearn's train_test_split: it refuses small classes outright, while here a rare class
    with one patient must simply go to one side; the per-class rounding keeps proportions otherwise.
    """
    n = len(ids)
    if n < 2:
        raise InputError(f"cannot split {n} patient(s) into two parts; the manifest needs more patients")
    take = min(max(int(round(n * fraction)), 1), n - 1)
    picked: list[int] = []
    if _can_stratify(labels, 2):
        classes = sorted(set(labels.tolist()), key=str)
        # Largest-remainder allocation of `take` across classes so totals add up exactly.
        sizes = {c: int((labels == c).sum()) for c in classes}
        exact = {c: sizes[c] * take / n for c in classes}
        alloc = {c: int(np.floor(exact[c])) for c in classes}
        for c in sorted(classes, key=lambda c: exact[c] - alloc[c], reverse=True)[: take - sum(alloc.values())]:
            alloc[c] += 1
        for c in classes:
            idx = np.flatnonzero(labels == c)
            picked.extend(rng.permutation(idx)[: alloc[c]].tolist())
    else:
        picked = rng.permutation(n)[:take].tolist()
    mask = np.zeros(n, dtype=bool)
    mask[picked] = True
    return ids[mask], labels[mask], ids[~mask], labels[~mask]


def _kfold(ids, labels, k, seed) -> list[Split]:
    from sklearn.model_selection import KFold, StratifiedKFold

    if len(ids) < k:
        raise InputError(f"--cv kfold:{k} needs at least {k} patients; the manifest has {len(ids)}")
    if _can_stratify(labels, k):
        folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(ids, labels)
    else:
        folds = KFold(n_splits=k, shuffle=True, random_state=seed).split(ids)
    tests = [ids[test_idx] for _, test_idx in folds]
    rng = np.random.default_rng(seed)
    splits = []
    for i in range(k):
        test = tests[i]
        if k >= 3:
            # The paper's protocol: per fold 1/K test, the next fold 1/K validation, the rest training.
            val = tests[(i + 1) % k]
            train = np.concatenate([tests[j] for j in range(k) if j not in (i, (i + 1) % k)])
        else:
            rest = np.concatenate([tests[j] for j in range(k) if j != i])
            rest_labels = labels[np.isin(ids, rest)]
            rest = ids[np.isin(ids, rest)]
            val, _, train, _ = _split_off(rest, rest_labels, 0.2, rng)
        splits.append(Split(f"fold{i}", tuple(train.tolist()), tuple(val.tolist()), tuple(test.tolist())))
    return splits


def _lopo(ids, labels, seed, val_fraction=0.1) -> list[Split]:
    if len(ids) < 3:
        raise InputError(f"--cv lopo needs at least 3 patients; the manifest has {len(ids)}")
    splits = []
    for i, pid in enumerate(ids):
        keep = np.arange(len(ids)) != i
        rng = np.random.default_rng([seed, i])
        val, _, train, _ = _split_off(ids[keep], labels[keep], val_fraction, rng)
        splits.append(Split(f"fold{i}", tuple(train.tolist()), tuple(val.tolist()), (pid,)))
    return splits


def _repeated(ids, labels, n, seed, test_fraction=0.05) -> list[Split]:
    if len(ids) < 3:
        raise InputError(f"--cv repeated:{n} needs at least 3 patients; the manifest has {len(ids)}")
    test, _, rest, rest_labels = _split_off(ids, labels, test_fraction, np.random.default_rng([seed, 10_000]))
    splits = []
    for i in range(n):
        val, _, train, _ = _split_off(rest, rest_labels, 0.2, np.random.default_rng([seed, i]))
        splits.append(Split(f"run{i}", tuple(train.tolist()), tuple(val.tolist()), tuple(test.tolist())))
    return splits


def _holdout(ids, labels, seed, fractions) -> list[Split]:
    if len(ids) < 3:
        raise InputError(f"--cv holdout needs at least 3 patients; the manifest has {len(ids)}")
    f_train, f_val, f_test = (float(x) for x in fractions)
    rng = np.random.default_rng(seed)
    test, _, rest, rest_labels = _split_off(ids, labels, f_test / (f_train + f_val + f_test), rng)
    val, _, train, _ = _split_off(rest, rest_labels, f_val / (f_train + f_val), rng)
    return [Split("holdout", tuple(train.tolist()), tuple(val.tolist()), tuple(test.tolist()))]


def fixed_split(patient_ids: Sequence, split_values: Sequence) -> Split:
    """The manifest's own ``split`` column (train / val / test per row), checked for patients split across parts."""
    parts: dict[str, set] = {}
    for pid, value in zip(patient_ids, split_values):
        v = str(value).strip().lower()
        v = {"validation": "val", "valid": "val", "training": "train", "testing": "test"}.get(v, v)
        if v not in ("train", "val", "test"):
            raise InputError(f"split column: value {value!r} for patient {pid!r}; expected train, val or test")
        parts.setdefault(str(pid), set()).add(v)
    mixed = [p for p, s in parts.items() if len(s) > 1]
    if mixed:
        raise InputError(f"split column: patient {mixed[0]!r} has rows in {sorted(parts[mixed[0]])}; "
                         "a patient must be in one part only")
    by = {k: tuple(sorted(p for p, s in parts.items() if k in s)) for k in ("train", "val", "test")}
    if not by["train"]:
        raise InputError("split column: no patient is marked train")
    if not by["test"]:
        raise InputError("split column: no patient is marked test")
    return Split("holdout", by["train"], by["val"], by["test"])


# Smallest data a scheme can score, per scheme: (patients, patients of the rarest class). Why these numbers:
# holdout keeps 20 % for test and 20 % for validation, so 10 patients give 2 test and 2 validation patients,
# and 3 of the rarest class put one in each part (a test part without a positive has no AUC). Stratified
# k-fold needs K of every class for every fold's test (and the next fold's validation) to hold each class;
# leave-one-patient-out needs 2 of a class so that it is still in training when one is left out; repeated
# random splits keep a fixed 5 % test part, which holds one patient of each class from about 20 per class.
CV_MINIMUMS = {"holdout": (10, 3), "lopo": (4, 2), "repeated": (30, 3)}


def cv_minimums(cv: str, *, n_classes: int = 0) -> tuple[int, int]:
    """``(minimum patients, minimum patients of the rarest class)`` for scheme ``cv``; 0 = no class minimum.

    ``n_classes`` 0 (segmentation, instance tasks) keeps only the splitting minimum of the scheme.
    """
    scheme, k = parse_cv(cv)
    if n_classes < 2:
        return (max(k, 3) if scheme == "kfold" else 3), 0
    if scheme == "kfold":
        return k * n_classes, k
    patients, per_class = CV_MINIMUMS[scheme]
    if scheme == "repeated":
        patients = max(patients, 20 * n_classes - 10)
    return max(patients, per_class * n_classes), per_class


def patients_per_class(df) -> dict:
    """label -> number of patients with at least one image of that label (image-level labels count a patient
    once for every label among its images)."""
    if "label" not in df.columns:
        return {}
    sub = df[df["label"].astype(str) != ""]
    return {str(k): int(v) for k, v in sub.groupby(sub["label"].astype(str))["patient_id"].nunique().items()}


def check_cv_feasible(class_patients: dict | None, n_patients: int, cv: str) -> None:
    """Refuse (InputError) data too small for ``cv``, naming the counts and the minimum.

    ``class_patients``: label -> patients with that label (:func:`patients_per_class`), or None / {} for
    tasks without labels. Why before training: a run on too few patients or positives ends with NaN or a
    chance-level AUC after minutes of work, and worse, gets registered as a model.
    """
    counts = Counter(class_patients or {})
    min_patients, min_class = cv_minimums(cv, n_classes=len(counts))
    if n_patients < min_patients:
        raise InputError(f"--cv {cv} needs at least {min_patients} patients"
                         + (f" ({min_class} of each of {len(counts)} classes)" if min_class else "")
                         + f"; the manifest has {n_patients}")
    if min_class:
        rare, n_rare = min(counts.items(), key=lambda kv: (kv[1], kv[0]))
        if n_rare < min_class:
            shown = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            raise InputError(f"--cv {cv} needs at least {min_class} patients of each class; the manifest has "
                             f"{n_rare} of {rare!r} (patients per class: {shown})")


@dataclass(frozen=True)
class CvScheme:
    """One cross-validation scheme of :data:`CV_SCHEMES`.

    ``syntax``: how ``--cv`` names it ("kfold:K"); ``min_n``: the smallest count after the colon, None for a
    scheme that takes none; ``examples``: concrete choices a page offers; ``split(ids, labels, n, seed,
    fractions) -> list[Split]`` on sorted ids.
    """

    name: str
    syntax: str
    min_n: int | None
    examples: tuple
    split: Callable


#: Every scheme ``--cv`` accepts, in the order offered (the one list: parsing, messages and choices read it).
CV_SCHEMES = {s.name: s for s in (
    CvScheme("kfold", "kfold:K", 2, ("kfold:5", "kfold:10"), lambda ids, lab, n, seed, fr: _kfold(ids, lab, n, seed)),
    CvScheme("lopo", "lopo", None, ("lopo",), lambda ids, lab, n, seed, fr: _lopo(ids, lab, seed)),
    CvScheme("holdout", "holdout", None, ("holdout",), lambda ids, lab, n, seed, fr: _holdout(ids, lab, seed, fr)),
    CvScheme("repeated", "repeated:N", 1, ("repeated:5",),
             lambda ids, lab, n, seed, fr: _repeated(ids, lab, n, seed)),
)}
SCHEMES = tuple(CV_SCHEMES)


def list_cv_schemes() -> list[str]:
    """The ``--cv`` syntaxes: ``["kfold:K", "lopo", "holdout", "repeated:N"]``."""
    return [s.syntax for s in CV_SCHEMES.values()]


def cv_choices() -> list[str]:
    """Concrete ``--cv`` values to offer in a choice box, holdout first (the default of generic tasks)."""
    examples = [e for s in CV_SCHEMES.values() for e in s.examples]
    return sorted(examples, key=lambda e: e != "holdout")


def make_splits(patient_ids: Sequence, *, labels: Sequence | None = None, cv: str = "holdout", seed: int = 0,
                fractions: Sequence[float] = (0.6, 0.2, 0.2)) -> list[Split]:
    """Patient-level splits for the scheme named by ``cv`` (see :func:`parse_cv`).

    ``patient_ids`` are unique patient ids; ``labels`` their patient-level labels (used for stratification
    only; ``None`` for segmentation). Order of the input does not matter: ids are sorted first, so the same
    set of patients and seed always gives the same splits.
    """
    scheme, n = parse_cv(cv)
    ids = [str(p) for p in patient_ids]
    if len(set(ids)) != len(ids):
        raise InputError("make_splits: patient ids must be unique")
    lab = ["" for _ in ids] if labels is None else [str(x) for x in labels]
    order = np.argsort(np.asarray(ids, dtype=object).astype(str), kind="stable")
    ids_a = np.asarray(ids, dtype=object)[order]
    lab_a = np.asarray(lab, dtype=object)[order]
    return CV_SCHEMES[scheme].split(ids_a, lab_a, n, seed, fractions)


def patient_labels(df, *, positive: str | None = None):
    """One label per patient: the positive label if any of the patient's images has it, else the most common.

    Why: a patient is a miscarriage case if either plane says so; for multi-class tasks the most common image
    label stands for the patient (ties broken by name so the result never depends on row order).
    """
    out = {}
    for pid, group in df.groupby("patient_id", sort=True):
        values = [str(v) for v in group["label"].tolist()]
        if positive is not None and positive in values:
            out[str(pid)] = positive
        else:
            counts = Counter(values)
            out[str(pid)] = sorted(counts, key=lambda v: (-counts[v], v))[0]
    return out
