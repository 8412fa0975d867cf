"""Benchmark of segmenters on one labelled set: Dice/IoU mean +- SD, parameter count, ms per image.

Why a library function: ``bench-seg`` prints it, and the dashboard or a notebook can show the same table
without re-implementing the loop. Every segmenter sees the same images, one image per call (the way the
dashboard calls it), timed after one warm-up call: wall-clock (``ms_per_image``) and CPU time of this process
(``cpu_ms_per_image``, all threads; on a shared machine the CPU figure is the one that compares).
"""

from __future__ import annotations

import math
import time
import warnings
from pathlib import Path

import numpy as np

from core.errors import InputError
from core.models.meta import BundleMeta
from core.segmentation.inference import LEVELSET, load_segmenter
from core.segmentation.metrics import dice, iou
from core.tasks import get_task


def bundle_parameter_count(bundle_dir) -> int | None:
    """Number of weights in a bundle's model (None if the bundle cannot say)."""
    from core.models import load_bundle  # torch: only when a network is measured

    model, _ = load_bundle(Path(bundle_dir))
    params = getattr(model, "parameters", None)
    return int(sum(p.numel() for p in params())) if params else None


def find_segmentation_bundles(root) -> dict:
    """``{name: dir}`` of the bundles under ``root`` whose model.json says they segment."""
    found = {}
    for meta_path in sorted(Path(root).glob("*/model.json")):
        try:
            meta = BundleMeta.from_json(meta_path.read_text(encoding="utf-8"), where=str(meta_path))
        except (OSError, ValueError):          # unreadable, or a BundleError: not a usable bundle
            continue
        kind = meta.kind
        if "kind" not in meta.given and meta.task:   # very old bundles: the kind of their task
            try:
                kind = get_task(meta.task).kind
            except (InputError, KeyError, ValueError, TypeError):
                kind = None
        if kind in ("segmentation", "multitask"):
            found[meta_path.parent.name] = meta_path.parent
    return found


def _summary(name, scores_d, scores_i, times, params) -> dict:
    d = np.asarray(scores_d, dtype=float)
    j = np.asarray(scores_i, dtype=float)
    sd = (lambda a: float(np.nanstd(a, ddof=1)) if np.count_nonzero(~np.isnan(a)) > 1 else math.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN, which is what we report
        return {"name": name, "n": int(d.size), "params": params,
                "dice_mean": float(np.nanmean(d)) if d.size else math.nan, "dice_sd": sd(d),
                "iou_mean": float(np.nanmean(j)) if j.size else math.nan, "iou_sd": sd(j),
                "ms_per_image": float(1000 * np.median(times)) if times else math.nan}


def bench(cases, segmenters: dict, *, progress=None) -> list[dict]:
    """Score each of ``segmenters`` ({name: (callable image -> mask, params)}) on ``cases`` [(image, truth)].

    ``progress(done, total)`` is called after every image.
    """
    rows = []
    total = len(cases) * len(segmenters)
    done = 0
    for name, (segment, params) in segmenters.items():
        if cases:
            segment(cases[0][0])  # warm-up: lazy imports, caches, first-call allocations
        dices, ious, times, cpu = [], [], [], []
        for image, truth in cases:
            t0, c0 = time.perf_counter(), time.process_time()
            mask = np.asarray(segment(image), dtype=bool)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # empty-vs-empty cases are NaN and left out of the means
                dices.append(dice(truth, mask))
                ious.append(iou(truth, mask))
            done += 1
            if progress:
                progress(done, total)
        rows.append(_summary(name, dices, ious, times, params))
        rows[-1]["cpu_ms_per_image"] = float(1000 * np.median(cpu)) if cpu else math.nan
    return rows


def make_segmenters(bundles: dict) -> dict:
    """The level set plus one entry per bundle ({name: dir})."""
    out = {LEVELSET: (load_segmenter(LEVELSET), 0)}
    for name, path in bundles.items():
        out[name] = (load_segmenter(str(path)), bundle_parameter_count(path))
    return out


def format_table(rows: list[dict]) -> str:
    """Plain-text table of :func:`bench` rows."""
    head = f"{'model':<22}{'params':>12}{'Dice':>18}{'IoU':>18}{'ms/image':>11}{'CPU ms':>9}{'n':>6}"
    lines = [head, "-" * len(head)]

    def pm(m, s):
        return "n/a" if not math.isfinite(m) else f"{m:.3f} ± {s:.3f}" if math.isfinite(s) else f"{m:.3f}"

    for r in rows:
        params = "n/a" if r["params"] is None else f"{r['params']:,}"
        ms = "n/a" if not math.isfinite(r["ms_per_image"]) else f"{r['ms_per_image']:.1f}"
        cpu = r.get("cpu_ms_per_image", math.nan)
        cpu = "n/a" if not math.isfinite(cpu) else f"{cpu:.1f}"
        lines.append(f"{r['name']:<22}{params:>12}{pm(r['dice_mean'], r['dice_sd']):>18}"
                     f"{pm(r['iou_mean'], r['iou_sd']):>18}{ms:>11}{cpu:>9}{r['n']:>6}")
    return "\n".join(lines)
