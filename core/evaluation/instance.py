"""Instance-segmentation metrics exactly as the first-trimester paper defines them.

Why written here and not taken from a library: the paper's per-structure table is not COCO evaluation. For each
image and each structure it looks only at the *highest-confidence* detection of that structure (confidence
>= 0.3) and counts:

* structure present, top detection overlaps a ground-truth instance with IoU >= 0.5 -> TP
* structure detected but absent, or its top detection has IoU < 0.5               -> FP (and FN if present)
* structure present and not detected                                               -> FN
* structure absent and not detected                                                -> TN

and reports accuracy, recall, precision and F1 from these counts. The AP columns are VOC-style all-point
interpolated average precision at IoU 0.5 over the detections above the same confidence threshold (boxes and
masks), and mAP is their mean over the structures that occur in the ground truth. torchmetrics is not a
dependency and its COCO 101-point AP is not the paper's number anyway.

``protocol="coco"`` gives the COCO number instead (what pycocotools' ``COCOeval`` reports as AP at IoU 0.5,
``stats[1]``): per image and class the detections (at most 100, by descending score) are matched greedily to
the *unmatched* ground truth of highest IoU >= 0.5 (the paper's VOC match compares a detection only with its
best ground truth and calls it FP when that one is taken, so two overlapping objects can score 0.5 where COCO
gives 1.0), and precision is interpolated at 101 recall points. ``evaluate_instances`` reports both
(``coco_mask_map50``, ``coco_box_map50`` and per-structure ``coco_mask_ap50``, ``coco_box_ap50``).

Inputs: ``truths`` is one dict (or object) per image with ``labels`` (K,) class ids (1 = first structure) and
``masks`` (K, H, W) bool; optional ``boxes`` (K, 4) x0, y0, x1, y1 (else the tight box of each mask).
``predictions`` is one object/dict per image with ``boxes``, ``scores``, ``labels`` and ``masks`` (N, H, W)
bool (:class:`core.models.instance.Instances` fits).

>>> import numpy as np
>>> average_precision(np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3]))
0.8333333333333333
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from core.errors import InputError

SCORE_THRESHOLD = 0.3
IOU_THRESHOLD = 0.5
TABLE_COLUMNS = ("TP", "FP", "FN", "TN", "accuracy", "recall", "precision", "f1")


def _get(obj, key):
    value = obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)
    return None if value is None else np.asarray(value)


def boxes_from_masks(masks: np.ndarray) -> np.ndarray:
    """Tight boxes (x0, y0, x1, y1) of (K, H, W) masks, x1/y1 one past the last pixel (a 1-pixel mask has area 1).

    The trainer builds its box targets the same way, so predicted and true boxes share one convention.
    """
    masks = np.asarray(masks, dtype=bool)
    out = np.zeros((masks.shape[0], 4), dtype=np.float32)
    for i, m in enumerate(masks):
        ys, xs = np.nonzero(m)
        if ys.size:
            out[i] = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    return out


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 4) x (M, 4) -> (N, M) intersection over union of x0, y0, x1, y1 boxes."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(axis=1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def mask_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, H, W) x (M, H, W) bool -> (N, M) pixel intersection over union."""
    a = np.asarray(a, dtype=bool)
    b = np.asarray(b, dtype=bool)
    if a.shape[1:] != b.shape[1:] and a.shape[0] and b.shape[0]:
        raise InputError(f"mask sizes differ: prediction {a.shape[1:]} vs ground truth {b.shape[1:]}")
    fa = a.reshape(a.shape[0], -1).astype(np.float64)
    fb = b.reshape(b.shape[0], -1).astype(np.float64)
    inter = fa @ fb.T
    union = fa.sum(1)[:, None] + fb.sum(1)[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def _truth_arrays(truth, iou_type):
    labels = _get(truth, "labels")
    labels = np.zeros(0, dtype=np.int64) if labels is None else labels.astype(np.int64).reshape(-1)
    if iou_type == "mask":
        return labels, _get(truth, "masks")
    boxes = _get(truth, "boxes")
    return labels, boxes_from_masks(_get(truth, "masks")) if boxes is None else boxes


def _pred_arrays(pred, iou_type, score_threshold):
    scores = _get(pred, "scores")
    scores = np.zeros(0) if scores is None else scores.astype(np.float64).reshape(-1)
    keep = scores >= score_threshold
    labels = _get(pred, "labels").astype(np.int64).reshape(-1)[keep]
    geom = _get(pred, "masks" if iou_type == "mask" else "boxes")
    return scores[keep], labels, geom[keep]


def _iou(pred_geom, truth_geom, iou_type):
    return mask_iou(pred_geom, truth_geom) if iou_type == "mask" else box_iou(pred_geom, truth_geom)


def _check(truths, predictions, iou_type):
    if iou_type not in ("mask", "box"):
        raise InputError(f"iou_type={iou_type!r}: expected 'mask' or 'box'")
    if len(truths) != len(predictions):
        raise InputError(f"{len(truths)} ground-truth images but {len(predictions)} predictions")


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den > 0 else float("nan")


def structure_counts(truths, predictions, *, structures, iou_type: str = "mask",
                     score_threshold: float = SCORE_THRESHOLD, iou_threshold: float = IOU_THRESHOLD) -> pd.DataFrame:
    """Per-structure TP / FP / FN / TN with the paper's highest-confidence-detection rule (see module doc)."""
    _check(truths, predictions, iou_type)
    counts = np.zeros((len(structures), 4), dtype=np.int64)   # TP FP FN TN
    for truth, pred in zip(truths, predictions):
        t_labels, t_geom = _truth_arrays(truth, iou_type)
        scores, p_labels, p_geom = _pred_arrays(pred, iou_type, score_threshold)
        for k in range(1, len(structures) + 1):
            present = bool((t_labels == k).any())
            mine = np.flatnonzero(p_labels == k)
            if mine.size == 0:
                counts[k - 1, 2 if present else 3] += 1
                continue
            top = mine[np.argmax(scores[mine])]
            if not present:
                counts[k - 1, 1] += 1
                continue
            best = _iou(p_geom[top:top + 1], t_geom[t_labels == k], iou_type).max()
            if best >= iou_threshold:
                counts[k - 1, 0] += 1
            else:
                counts[k - 1, 1] += 1
                counts[k - 1, 2] += 1
    return pd.DataFrame(counts, index=pd.Index(list(structures), name="structure"), columns=["TP", "FP", "FN", "TN"])


def structure_table(truths, predictions, *, structures, iou_type: str = "mask",
                    score_threshold: float = SCORE_THRESHOLD, iou_threshold: float = IOU_THRESHOLD) -> pd.DataFrame:
    """The paper's per-structure table: TP, FP, FN, TN, accuracy, recall, precision, F1.

    accuracy = (TP+TN)/(TP+FP+FN+TN), recall = TP/(TP+FN), precision = TP/(TP+FP), F1 = 2TP/(2TP+FP+FN)
    (the harmonic mean of precision and recall, still defined when nothing was detected). An undefined ratio
    (zero denominator) is NaN with one warning naming the structures.
    """
    table = structure_counts(truths, predictions, structures=structures, iou_type=iou_type,
                             score_threshold=score_threshold, iou_threshold=iou_threshold)
    tp, fp, fn, tn = (table[c].to_numpy(dtype=float) for c in ("TP", "FP", "FN", "TN"))
    table["accuracy"] = [_ratio(a + d, a + b + c + d) for a, b, c, d in zip(tp, fp, fn, tn)]
    table["recall"] = [_ratio(a, a + c) for a, c in zip(tp, fn)]
    table["precision"] = [_ratio(a, a + b) for a, b in zip(tp, fp)]
    table["f1"] = [_ratio(2 * a, 2 * a + b + c) for a, b, c in zip(tp, fp, fn)]
    undefined = table.index[table[["recall", "precision", "f1"]].isna().any(axis=1)].tolist()
    if undefined:
        warnings.warn(f"recall/precision/F1 undefined (zero denominator) for: {', '.join(undefined)}; set to NaN",
                      RuntimeWarning, stacklevel=2)
    return table


def average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """VOC all-point interpolated AP: area under the precision envelope, summed where recall changes.

    ``recall`` / ``precision`` are the cumulative values after each detection in descending-score order.
    """
    r = np.concatenate([[0.0], np.asarray(recall, dtype=float), [1.0]])
    p = np.concatenate([[0.0], np.asarray(precision, dtype=float), [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    steps = np.flatnonzero(r[1:] != r[:-1])
    return float(np.sum((r[steps + 1] - r[steps]) * p[steps + 1]))


def class_average_precision(truths, predictions, *, class_id: int, iou_type: str = "mask",
                            score_threshold: float = SCORE_THRESHOLD, iou_threshold: float = IOU_THRESHOLD) -> float:
    """AP at ``iou_threshold`` for one class over all images (NaN if the class never occurs in the truth).

    Matching as in PASCAL VOC: detections in descending confidence; each one is compared with the truth
    instance of its class it overlaps most; TP if that IoU reaches the threshold and the instance is not yet
    taken, otherwise FP (a duplicate is an FP).
    """
    _check(truths, predictions, iou_type)
    records, n_truth = [], 0
    for img, (truth, pred) in enumerate(zip(truths, predictions)):
        t_labels, t_geom = _truth_arrays(truth, iou_type)
        scores, p_labels, p_geom = _pred_arrays(pred, iou_type, score_threshold)
        gt = t_geom[t_labels == class_id] if t_labels.size else t_geom[:0]
        n_truth += int((t_labels == class_id).sum())
        mine = np.flatnonzero(p_labels == class_id)
        ious = _iou(p_geom[mine], gt, iou_type) if mine.size and len(gt) else np.zeros((mine.size, 0))
        records.extend((float(scores[j]), img, ious[i]) for i, j in enumerate(mine))
    if n_truth == 0:
        return float("nan")
    records.sort(key=lambda r: -r[0])
    taken: set = set()
    hits = np.zeros(len(records))
    for i, (_, img, ious) in enumerate(records):
        if ious.size:
            j = int(np.argmax(ious))
            if ious[j] >= iou_threshold and (img, j) not in taken:
                taken.add((img, j))
                hits[i] = 1
    tp = np.cumsum(hits)
    if not len(records):
        return 0.0
    return average_precision(tp / n_truth, tp / np.arange(1, len(records) + 1))


COCO_RECALLS = np.linspace(0.0, 1.0, 101)
COCO_MAX_DETS = 100
PROTOCOLS = ("paper", "coco")


def coco_class_average_precision(truths, predictions, *, class_id: int, iou_type: str = "mask",
                                 score_threshold: float = SCORE_THRESHOLD, iou_threshold: float = IOU_THRESHOLD,
                                 max_dets: int = COCO_MAX_DETS) -> float:
    """COCO AP at one IoU threshold for one class (pycocotools ``COCOeval.evaluateImg`` + ``accumulate``,
    area range "all", no crowd regions); NaN if the class never occurs in the truth.

    Per image the class's detections are sorted by score (stable) and cut to ``max_dets``; each takes the
    not-yet-matched ground truth of highest IoU (>= the threshold; on equal IoU the later one, as pycocotools).
    All images' detections are then ranked by score (stable, in image order) and precision is read at
    the 101 recall points 0, 0.01, ..., 1 from the precision envelope (0 past the last recall reached).
    """
    _check(truths, predictions, iou_type)
    scores_all, hits_all, n_truth = [], [], 0
    thr = min(iou_threshold, 1 - 1e-10)
    for truth, pred in zip(truths, predictions):
        t_labels, t_geom = _truth_arrays(truth, iou_type)
        scores, p_labels, p_geom = _pred_arrays(pred, iou_type, score_threshold)
        gt = t_geom[t_labels == class_id] if t_labels.size else t_geom[:0]
        n_gt = int((t_labels == class_id).sum())
        n_truth += n_gt
        mine = np.flatnonzero(p_labels == class_id)
        mine = mine[np.argsort(-scores[mine], kind="mergesort")][:max_dets]
        ious = _iou(p_geom[mine], gt, iou_type) if mine.size and n_gt else np.zeros((mine.size, n_gt))
        matched = np.zeros(n_gt, dtype=bool)
        for d in range(mine.size):
            best, m = thr, -1
            for g in range(n_gt):
                if matched[g] or ious[d, g] < best:
                    continue
                best, m = ious[d, g], g
            if m >= 0:
                matched[m] = True
            hits_all.append(m >= 0)
            scores_all.append(scores[mine[d]])
    if n_truth == 0:
        return float("nan")
    if not scores_all:
        return 0.0
    order = np.argsort(-np.asarray(scores_all), kind="mergesort")
    tp = np.cumsum(np.asarray(hits_all, dtype=float)[order])
    fp = np.cumsum(1.0 - np.asarray(hits_all, dtype=float)[order])
    recall = tp / n_truth
    precision = tp / (tp + fp + np.spacing(1))
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    idx = np.searchsorted(recall, COCO_RECALLS, side="left")
    q = np.where(idx < precision.size, precision[np.minimum(idx, precision.size - 1)], 0.0)
    return float(q.mean())


def per_class_ap(truths, predictions, *, structures, iou_type: str = "mask",
                 score_threshold: float = SCORE_THRESHOLD, iou_threshold: float = IOU_THRESHOLD,
                 protocol: str = "paper") -> dict:
    """Structure name -> AP@``iou_threshold`` (NaN for structures absent from the ground truth), by the paper's
    VOC protocol or (``protocol="coco"``) COCO's."""
    if protocol not in PROTOCOLS:
        raise InputError(f"protocol={protocol!r}: expected one of {', '.join(PROTOCOLS)}")
    ap = class_average_precision if protocol == "paper" else coco_class_average_precision
    return {name: ap(truths, predictions, class_id=k, iou_type=iou_type, score_threshold=score_threshold,
                     iou_threshold=iou_threshold)
            for k, name in enumerate(structures, start=1)}


def mean_ap(ap_by_class: dict) -> float:
    """Mean AP over the classes whose AP is defined (NaN if none is)."""
    values = np.array([v for v in ap_by_class.values() if np.isfinite(v)], dtype=float)
    return float(values.mean()) if values.size else float("nan")


def true_view(labels, structures, views) -> str | None:
    """The view of an image from its ground-truth structures (the view owning most of them; ties: first)."""
    owner = {s: view for view, group in views.items() for s in group}
    tally = {view: 0 for view in views}
    for k in np.asarray(labels, dtype=np.int64).reshape(-1):
        if 0 < k <= len(structures) and structures[k - 1] in owner:
            tally[owner[structures[k - 1]]] += 1
    best = max(tally, key=tally.get) if tally else None
    return best if best is not None and tally[best] > 0 else None


def view_accuracy(true_views, predicted_views) -> float:
    """Share of images whose predicted view category equals the true one (no prediction counts as wrong)."""
    true_views, predicted_views = list(true_views), list(predicted_views)
    if len(true_views) != len(predicted_views):
        raise InputError(f"{len(true_views)} true views but {len(predicted_views)} predicted views")
    pairs = [(t, p) for t, p in zip(true_views, predicted_views) if t is not None]
    if not pairs:
        return float("nan")
    return float(np.mean([t == p for t, p in pairs]))


def evaluate_instances(truths, predictions, *, structures, views=None, true_views=None, predicted_views=None,
                       score_threshold: float = SCORE_THRESHOLD, iou_threshold: float = IOU_THRESHOLD) -> dict:
    """Everything one test set gives: mask_map50, box_map50, view_accuracy and the per-structure table.

    ``per_structure`` has the mask-IoU TP/FP/FN/TN table plus ``mask_ap50`` and ``box_ap50`` columns (the
    paper's protocol) and ``coco_mask_ap50`` / ``coco_box_ap50`` (COCO's); ``coco_mask_map50`` and
    ``coco_box_map50`` are the COCO means beside the paper's ``mask_map50`` / ``box_map50``.
    """
    options = dict(structures=structures, score_threshold=score_threshold, iou_threshold=iou_threshold)
    mask_ap = per_class_ap(truths, predictions, iou_type="mask", **options)
    box_ap = per_class_ap(truths, predictions, iou_type="box", **options)
    coco_mask = per_class_ap(truths, predictions, iou_type="mask", protocol="coco", **options)
    coco_box = per_class_ap(truths, predictions, iou_type="box", protocol="coco", **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # undefined ratios are NaN in the table by design
        table = structure_table(truths, predictions, iou_type="mask", **options)
    table["mask_ap50"] = [mask_ap[s] for s in table.index]
    table["box_ap50"] = [box_ap[s] for s in table.index]
    table["coco_mask_ap50"] = [coco_mask[s] for s in table.index]
    table["coco_box_ap50"] = [coco_box[s] for s in table.index]
    out = {"mask_map50": mean_ap(mask_ap), "box_map50": mean_ap(box_ap), "per_structure": table,
           "coco_mask_map50": mean_ap(coco_mask), "coco_box_map50": mean_ap(coco_box), "n_images": len(truths)}
    if views:
        if true_views is None:
            true_views = [true_view(_truth_arrays(t, "box")[0], structures, views) for t in truths]
        if predicted_views is None:
            from core.models.instance import predict_view

            predicted_views = [predict_view(_as_instances(p, structures), views) for p in predictions]
        out["view_accuracy"] = view_accuracy(true_views, predicted_views)
    return out


def _as_instances(pred, structures):
    from core.models.instance import Instances

    if isinstance(pred, Instances):
        return pred
    labels = _get(pred, "labels").astype(np.int64)
    names = [structures[k - 1] if 0 < k <= len(structures) else f"class_{k}" for k in labels]
    return Instances(boxes=_get(pred, "boxes"), scores=_get(pred, "scores"), labels=labels,
                     masks=_get(pred, "masks"), names=names)


def summarize_runs(run_metrics, *, keys=("mask_map50", "box_map50", "view_accuracy")) -> dict:
    """Mean and sample SD (ddof=1; 0 for one run) of scalar metrics over repeated runs: ``key``, ``key_sd``."""
    out = {}
    for key in keys:
        values = np.array([m[key] for m in run_metrics if key in m and m[key] is not None], dtype=float)
        values = values[np.isfinite(values)]
        out[key] = float(values.mean()) if values.size else float("nan")
        out[f"{key}_sd"] = float(values.std(ddof=1)) if values.size > 1 else (0.0 if values.size else float("nan"))
    return out


def summarize_tables(tables) -> pd.DataFrame:
    """Per-structure tables of several runs -> mean of every column (counts summed would double-count images)."""
    tables = [t for t in tables if t is not None and len(t)]
    if not tables:
        return pd.DataFrame(columns=list(TABLE_COLUMNS))
    stacked = pd.concat(tables, keys=range(len(tables)), names=["run", "structure"])
    return stacked.groupby(level="structure", sort=False).mean()
