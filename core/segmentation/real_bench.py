"""Benchmark a segmentation recipe on real scans: train within a wall-clock budget, score the test split.

Why a benchmark of its own: the synthetic phantoms say nothing about real ultrasound (speckle, acoustic
shadows, any image size, anisotropic pixels). ``bench-real`` trains with the ordinary trainer
(:func:`core.training.train`, stopped by a deadline), then scores the held-out test split through the public
inference path (the bundle's predictor, the task's post-processing, :mod:`core.segmentation.biometry`) at the
scans' own resolution: Dice, HD95 in mm, and the head-circumference error with Bland-Altman limits.

Split: the manifest's ``split`` column when it marks a test part; patients without a split are assigned with
:func:`assign_split` (patient-disjoint, seeded: 20 % test; 10 % of the rest validation). A manifest that has
train and test but no validation patients gets 10 % of its train patients (seeded) as validation, because
the trainer keeps the best-on-validation weights.

Stored per case (``bench_real_cases.csv`` in the run folder, next to ``bench_real.json``): the page's
Bland-Altman plot recomputes everything from those rows (DESIGN.md section 3).
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from core.data.datasets import case_name, read_mask
from core.data.manifest import load_manifest
from core.data.splits import fixed_split
from core.errors import InputError
from core.evaluation.bland_altman import bland_altman
from core.io import load_image
from core.models import load_predictor
from core.models.meta import BundleMeta
from core.paths import sonodash_home
from core.segmentation.biometry import measure
from core.segmentation.metrics import dice, hausdorff95
from core.segmentation.postprocess import check_mode
from core.segmentation.postprocess import postprocess as apply_post
from core.tasks import get_task
from core.training import train

CASES_FILE = "bench_real_cases.csv"
SUMMARY_FILE = "bench_real.json"
REFERENCE_HC_COLUMNS = ("hc_mm", "head_circumference_mm")


def assign_split(df: pd.DataFrame, *, seed: int = 0, test_fraction: float = 0.2,
                 val_fraction: float = 0.1) -> pd.Series:
    """A train / val / test value per row, patient-disjoint and seeded; existing ``split`` values are kept.

    Patients without a split: ``test_fraction`` of them (at least one) go to test. Then, when no patient is in
    val, ``val_fraction`` of the train patients (at least one) go to val.
    """
    pid = df["patient_id"].astype(str)
    split = (df["split"].astype("string").str.strip().str.lower() if "split" in df.columns
             else pd.Series(pd.NA, index=df.index, dtype="string"))
    split = split.replace({"validation": "val", "valid": "val", "training": "train", "testing": "test", "": pd.NA})
    rng = np.random.default_rng(seed)
    free = sorted(set(pid[split.isna()]))
    if free:
        order = [free[i] for i in rng.permutation(len(free))]
        n_test = max(1, int(round(test_fraction * len(order)))) if not (split == "test").any() else 0
        test = set(order[:n_test])
        split = split.where(split.notna(), pid.map(lambda p: "test" if p in test else "train"))
    if not (split == "val").any():
        train = sorted(set(pid[split == "train"]))
        if len(train) < 2:
            raise InputError("bench-real: fewer than two training patients; nothing left for validation")
        order = [train[i] for i in rng.permutation(len(train))]
        val = set(order[:max(1, int(round(val_fraction * len(order))))])
        split = split.where(~pid.isin(val), "val")
    fixed_split(pid, split)              # the same checks as training: one part per patient, train and test
    return split.astype(str)


def _spacing(row, loaded):
    """(sy, sx) mm per pixel: the manifest's pixel_spacing_mm, else the file's own (DICOM), else None."""
    value = row.get("pixel_spacing_mm") if hasattr(row, "get") else None
    if value is not None and not (isinstance(value, float) and math.isnan(value)):
        s = float(value)
        return (s, s)
    own = getattr(loaded, "pixel_spacing_mm", None)
    if own is None:
        return None
    if isinstance(own, (tuple, list)):
        return float(own[0]), float(own[1])
    return float(own), float(own)


def evaluate_cases(bundle, df: pd.DataFrame, *, postprocess: str | None = None, batch: int = 8,
                   progress=None) -> pd.DataFrame:
    """Per test row: dice, hd95_mm, hc_pred_mm, hc_ref_mm (manifest ``hc_mm`` if given, else the reference
    mask's ellipse), bpd/ofd, spacing. Masks are scored at the scan's own size."""
    predictor = load_predictor(bundle)
    mode = check_mode(postprocess or predictor.meta.postprocess or "none")
    ref_col = next((c for c in REFERENCE_HC_COLUMNS if c in df.columns), None)
    root = Path(df.attrs.get("root", "."))
    rows = []
    records = list(df.iterrows())
    for start in range(0, len(records), batch):
        chunk = records[start:start + batch]
        loaded = [load_image(str(r["image_path"])) for _, r in chunk]
        masks = predictor.predict_mask([im.image for im in loaded])
        for (_, r), im, raw in zip(chunk, loaded, masks):
            pred = apply_post(raw, mode)
            truth = read_mask(str(r["mask_path"]), row=r.get("row"))
            if truth.shape != pred.shape:
                raise InputError(f"row {r.get('row')}: mask is {truth.shape[1]}x{truth.shape[0]}, image is "
                                 f"{pred.shape[1]}x{pred.shape[0]}")
            sp = _spacing(r, im)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                hd = hausdorff95(truth, pred, spacing=sp) if sp is not None else math.nan
                d = dice(truth, pred, zero_division=1.0)
            bio = measure(pred, spacing_mm=sp)
            ref_mask = measure(truth, spacing_mm=sp).circumference_mm
            ref = float(r[ref_col]) if ref_col is not None and pd.notna(r[ref_col]) else ref_mask
            rows.append({"case": case_name(str(r["image_path"]), root), "patient_id": str(r["patient_id"]),
                         "dice": d, "hd95_mm": hd,
                         "hc_pred_mm": bio.circumference_mm, "hc_ref_mm": ref, "hc_ref_mask_mm": ref_mask,
                         "bpd_mm": bio.bpd_mm, "ofd_mm": bio.ofd_mm,
                         "spacing_y_mm": sp[0] if sp else None, "spacing_x_mm": sp[1] if sp else None})
        if progress is not None:
            progress({"event": "evaluate", "done": min(start + batch, len(records)), "total": len(records)})
    return pd.DataFrame(rows)


def summarize(cases: pd.DataFrame) -> dict:
    """The public figures from per-case rows: mean Dice, mean HD95 (mm), HC absolute error (mean, SD) and
    the Bland-Altman limits of the signed HC error (predicted - reference)."""
    out = {"dice": float(cases["dice"].mean()) if len(cases) else None,
           "dice_sd": float(cases["dice"].std(ddof=1)) if len(cases) > 1 else None,
           "hd95_mm": None, "hc_abs_err_mm": None, "n_test": int(len(cases))}
    hd = pd.to_numeric(cases["hd95_mm"], errors="coerce").dropna() if "hd95_mm" in cases.columns \
        else pd.Series([], dtype=float)
    if len(hd):
        out["hd95_mm"] = float(hd.mean())
        out["hd95_mm_median"] = float(hd.median())
    pair = cases[["hc_pred_mm", "hc_ref_mm"]].apply(pd.to_numeric, errors="coerce").dropna() if len(cases) \
        else pd.DataFrame()
    out["n_hc"] = int(len(pair))
    out["n_no_prediction"] = int(len(cases) - len(pair))
    if len(pair) >= 1:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ba = bland_altman(pair["hc_pred_mm"].to_numpy(), pair["hc_ref_mm"].to_numpy())
        err = np.abs(ba.diffs)
        out["hc_abs_err_mm"] = {"mean": float(err.mean()), "sd": float(err.std(ddof=1)) if len(err) > 1 else None,
                                "loa": [ba.loa[0], ba.loa[1]], "bias": ba.mean_diff, "sd_diff": ba.sd_diff,
                                "loa_ci": [list(ba.loa_lower_ci), list(ba.loa_upper_ci)], "n": ba.n}
    if "hc_ref_mask_mm" in cases.columns and len(cases):
        # How far the reference masks' own ellipses sit from the reference HC (a mask-drawing convention,
        # e.g. outlines filled with their thickness): a floor under the HC error no network can go below.
        gap = (pd.to_numeric(cases["hc_ref_mask_mm"], errors="coerce") - pd.to_numeric(cases["hc_ref_mm"],
                                                                                    errors="coerce")).dropna()
        out["hc_ref_mask_offset_mm"] = float(gap.mean()) if len(gap) else None
    return out


def run_bench(manifest, *, task: str = "segmentation", budget_min: float | None = 20.0, arch: str | None = None,
              input_size: int | None = None, batch_size: int | None = None, epochs: int | None = None,
              postprocess: str | None = None, seed: int = 0, out=None, progress=None) -> dict:
    """Train within ``budget_min`` minutes (data loading included; evaluation not) and score the test split."""
    t = get_task(task)
    if t.kind != "segmentation":
        raise InputError(f"bench-real: --task {task} is a {t.kind} task; it benchmarks segmentation")
    if postprocess is not None:
        check_mode(postprocess)
    if budget_min is not None and not (math.isfinite(budget_min) and budget_min > 0):
        raise InputError(f"--budget-min {budget_min}: must be a positive number of minutes")
    man = load_manifest(manifest, task=t.name)
    man.df = man.df.copy()
    man.df["split"] = assign_split(man.df, seed=seed).to_numpy()
    if out is None:
        out = sonodash_home() / "runs" / f"bench-real-{t.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    started, cpu0 = time.time(), time.process_time()
    deadline = started + budget_min * 60.0 if budget_min is not None else None
    n_epochs = epochs or (10_000 if deadline is not None else None)
    fit_end = {}

    def _listen(event):
        if event.get("event") == "fold_end":        # the fit stopped (its last validation included)
            fit_end.update(wall=time.time(), cpu=time.process_time())
        if progress is not None:
            progress(event)

    result = train(t, man, arch=arch, cv="holdout", epochs=n_epochs, out=out, progress=_listen, seed=seed,
                   input_size=input_size, batch_size=batch_size, deadline=deadline)
    # train_s: loading + fitting (what the budget bounds); train_total_s adds the trainer's own held-out scoring
    # and bundle writing.
    train_total_s = time.time() - started
    train_s = fit_end.get("wall", time.time()) - started
    train_cpu_s = fit_end.get("cpu", time.process_time()) - cpu0
    test = man.df[man.df["split"] == "test"]
    test.attrs["root"] = str(man.root)
    t0 = time.time()
    cases = evaluate_cases(result["bundle"], test, postprocess=postprocess, progress=progress)
    run_dir = Path(result["run_dir"])
    fold = json.loads((run_dir / "folds" / "0" / "result.json").read_text())
    # train_cpu_s: CPU seconds this process got while training (all threads). On a shared machine it tells how
    # much of the wall-clock budget was computing; the load average says how many others wanted the cores.
    summary = {**summarize(cases), "train_s": train_s, "train_total_s": train_total_s, "train_cpu_s": train_cpu_s,
               "load_avg_1min": _load_average(), "eval_s": time.time() - t0,
               "run_dir": str(run_dir), "bundle": result["bundle"], "budget_min": budget_min,
               "epochs_run": fold.get("epochs_run"), "best_epoch": fold.get("best_epoch"),
               "n_train": fold.get("n_train"), "n_val": fold.get("n_val"),
               "n_patients": {k: int(man.df.loc[man.df["split"] == k, "patient_id"].astype(str).nunique())
                              for k in ("train", "val", "test")},
               "postprocess": postprocess or BundleMeta.from_json(
                   (Path(result["bundle"]) / "model.json").read_text(encoding="utf-8")).postprocess or "none",
               "seed": seed, "manifest": str(manifest)}
    cases.to_csv(run_dir / CASES_FILE, index=False)
    (run_dir / SUMMARY_FILE).write_text(json.dumps(_plain(summary), indent=1), encoding="utf-8")
    return summary


def _load_average() -> float | None:
    try:
        return float(os.getloadavg()[0])
    except (OSError, AttributeError):
        return None


def _plain(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return _plain(value.item())
    return value


def list_bench_runs(root=None) -> list[Path]:
    """Run folders holding a bench-real result (newest first), under ``root`` (default SONODASH_HOME/runs)."""
    base = Path(root) if root is not None else sonodash_home() / "runs"
    if not base.is_dir():
        return []
    found = [p.parent for p in base.glob(f"*/{CASES_FILE}") if (p.parent / SUMMARY_FILE).is_file()]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def load_bench_run(run_dir) -> tuple[dict, pd.DataFrame]:
    """(settings and figures as stored, per-case rows); the figures are recomputed from the rows."""
    run_dir = Path(run_dir)
    try:
        stored = json.loads((run_dir / SUMMARY_FILE).read_text(encoding="utf-8"))
        cases = pd.read_csv(run_dir / CASES_FILE)
    except (OSError, ValueError) as err:
        raise InputError(f"{run_dir}: not a readable bench-real run ({err})") from None
    missing = [c for c in ("dice", "hc_pred_mm", "hc_ref_mm") if c not in cases.columns]
    if missing:
        raise InputError(f"{run_dir / CASES_FILE}: missing column(s) {', '.join(missing)}")
    return {**stored, **summarize(cases)}, cases
