"""COCO-protocol AP@0.5 (``protocol="coco"``) against pycocotools' COCOeval on generated detections, beside the
paper's VOC protocol (the two-object case where they differ)."""

import contextlib
import io

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from core.errors import InputError
from core.evaluation.instance import boxes_from_masks, evaluate_instances, per_class_ap

STRUCTURES = ["cranium", "stomach", "heart"]
H = W = 48


def _rect(y0, x0, y1, x1):
    m = np.zeros((H, W), dtype=bool)
    m[y0:y1, x0:x1] = True
    return m


def _scene(rng, n_images=12):
    """Random rectangles as truth; detections = jittered copies, misses, duplicates and false alarms."""
    truths, preds = [], []
    for _ in range(n_images):
        labels, masks = [], []
        for _ in range(rng.integers(0, 4)):
            y0, x0 = rng.integers(0, 30, 2)
            h, w = rng.integers(6, 18, 2)
            labels.append(int(rng.integers(1, 4)))
            masks.append(_rect(y0, x0, min(H, y0 + h), min(W, x0 + w)))
        t_masks = np.array(masks).reshape(-1, H, W)
        truths.append({"labels": np.array(labels, dtype=np.int64), "masks": t_masks})
        p_labels, p_masks, p_scores = [], [], []
        for lab, m in zip(labels, t_masks):
            for _ in range(rng.integers(0, 3)):                     # 0 = missed, 2 = a duplicate
                ys, xs = np.nonzero(m)
                dy, dx = rng.integers(-4, 5, 2)
                p_masks.append(_rect(max(0, ys.min() + dy), max(0, xs.min() + dx), min(H, ys.max() + 1 + dy),
                                     min(W, xs.max() + 1 + dx)))
                p_labels.append(lab if rng.random() > 0.15 else int(rng.integers(1, 4)))
                p_scores.append(float(np.round(rng.random(), 2)))       # rounded: score ties
        for _ in range(rng.integers(0, 2)):                             # false alarms
            y0, x0 = rng.integers(0, 36, 2)
            p_masks.append(_rect(y0, x0, y0 + 10, x0 + 10))
            p_labels.append(int(rng.integers(1, 4)))
            p_scores.append(float(np.round(rng.random(), 2)))
        pm = np.array(p_masks).reshape(-1, H, W)
        preds.append({"labels": np.array(p_labels, dtype=np.int64), "masks": pm, "scores": np.array(p_scores),
                      "boxes": boxes_from_masks(pm)})
    return truths, preds


def _pycocotools(truths, preds, iou_type, score_threshold):
    """AP@0.5 per category from COCOeval (area range all, maxDets 100)."""
    images, anns, dets = [], [], []
    for i, (t, p) in enumerate(zip(truths, preds)):
        images.append({"id": i, "height": H, "width": W})
        for lab, m in zip(t["labels"], t["masks"]):
            x0, y0, x1, y1 = boxes_from_masks(m[None])[0]
            rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": int(lab), "iscrowd": 0,
                         "area": float(m.sum()) if iou_type == "segm" else float((x1 - x0) * (y1 - y0)),
                         "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)], "segmentation": rle})
        for lab, m, s, b in zip(p["labels"], p["masks"], p["scores"], p["boxes"]):
            if s < score_threshold:
                continue
            rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
            dets.append({"image_id": i, "category_id": int(lab), "score": float(s), "segmentation": rle,
                         "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]})
    gt = COCO()
    gt.dataset = {"images": images, "annotations": anns,
                  "categories": [{"id": k, "name": n} for k, n in enumerate(STRUCTURES, start=1)]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        dt = gt.loadRes(dets) if dets else COCO()
        ev = COCOeval(gt, dt, iou_type)
        ev.evaluate()
        ev.accumulate()
    precision = ev.eval["precision"][0, :, :, 0, -1]     # IoU 0.5, all recalls, categories, area all, 100 dets
    out = {}
    for k, name in enumerate(STRUCTURES):
        col = precision[:, k]
        out[name] = float(np.mean(col)) if (col > -1).any() else float("nan")
    return out


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("iou_type, coco_type", [("mask", "segm"), ("box", "bbox")])
def test_coco_protocol_matches_pycocotools(seed, iou_type, coco_type):
    truths, preds = _scene(np.random.default_rng(seed))
    ours = per_class_ap(truths, preds, structures=STRUCTURES, iou_type=iou_type, protocol="coco", score_threshold=0.0)
    ref = _pycocotools(truths, preds, coco_type, 0.0)
    for name in STRUCTURES:
        if np.isnan(ref[name]):
            assert np.isnan(ours[name])
        else:
            assert ours[name] == pytest.approx(ref[name], abs=1e-12), name


def _pycocotools_single(truths, preds, coco_type="segm"):
    global STRUCTURES
    saved, STRUCTURES = STRUCTURES, ["x"]
    try:
        return _pycocotools(truths, preds, coco_type, 0.3)["x"]
    finally:
        STRUCTURES = saved


@pytest.mark.parametrize("iou_type, coco_type", [("mask", "segm"), ("box", "bbox")])
def test_paper_and_coco_differ_when_best_truth_is_taken(iou_type, coco_type):
    """The issue's two-object case: two overlapping instances (IoU 9/11) and two detections both on the first.
    The second detection's best truth is taken: VOC (the paper) counts an FP and gives AP 0.5; COCO moves on
    to the other instance (IoU 0.82 >= 0.5), a TP, AP 1.0 (pycocotools agrees)."""
    a, b = _rect(0, 0, 20, 10), _rect(0, 1, 20, 11)
    truths = [{"labels": np.array([1, 1]), "masks": np.array([a, b])}]
    dets = np.array([a, a])
    preds = [{"labels": np.array([1, 1]), "scores": np.array([0.9, 0.8]), "masks": dets,
              "boxes": boxes_from_masks(dets)}]
    paper = per_class_ap(truths, preds, structures=["x"], iou_type=iou_type)["x"]
    coco = per_class_ap(truths, preds, structures=["x"], iou_type=iou_type, protocol="coco")["x"]
    assert paper == pytest.approx(0.5)
    assert coco == pytest.approx(1.0)
    assert _pycocotools_single(truths, preds, coco_type) == pytest.approx(1.0)


def test_evaluate_instances_reports_both_protocols():
    truths, preds = _scene(np.random.default_rng(5))
    r = evaluate_instances(truths, preds, structures=STRUCTURES)
    assert {"mask_map50", "coco_mask_map50", "box_map50", "coco_box_map50"} <= set(r)
    assert {"coco_mask_ap50", "coco_box_ap50", "mask_ap50"} <= set(r["per_structure"].columns)
    assert r["coco_mask_map50"] == pytest.approx(np.nanmean(r["per_structure"]["coco_mask_ap50"]))
    with pytest.raises(InputError, match="protocol"):
        per_class_ap(truths, preds, structures=STRUCTURES, protocol="voc2012")
