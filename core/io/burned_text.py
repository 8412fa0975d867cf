"""Burned-in text check without OCR: is there anything text-like left anywhere in a frame?

Why: BurnedInAnnotation = NO is a promise to every receiver that no identifying text is left in the pixels.
Blanking a fixed banner is not enough to make that promise (scanners also print names, dates and IDs in
corners and beside the image), so de-identification only writes NO after the *whole* frame was checked and
nothing text-like was found; otherwise it keeps YES and says where the text-like marks are.

How (OCR-free, a few milliseconds per frame): scanner text is drawn in a flat, bright (or dark) colour with
sharp edges on a darker background, in glyphs of similar height lined up on a row. So: (1) the frame's
grey level (brightest channel, so yellow or green text counts) at a bounded working size; (2) a white and a
black top-hat (opening with a glyph-sized element) keeps thin high-contrast strokes and drops the smooth fan
and large structures; (3) stroke components of glyph size; (4) glyphs joined horizontally into lines; a line
of at least ``min_glyphs`` glyphs of similar height on one baseline, wider than it is tall, (5) printed on a plain field
(the black frame or a label box: most of the background around the glyphs within a few grey levels), is text. Speckle gives small
blobs too, but not a row of similarly sized, aligned, flat-coloured ones on a plain field (5); a false
alarm only costs a YES. Known limit: text printed straight over speckle (not on a plain field) is not
reliably found; scanners print identifiers on the frame or in label boxes, which is what this checks.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class TextParams:
    """Tuning of :func:`find_text`; sizes in pixels of the working copy."""

    working_size: int = 2048      # longest side analysed (larger frames are downscaled first)
    contrast: int = 70            # top-hat level (0..255) a stroke must reach
    min_glyph_h: int = 5          # glyph height range
    max_glyph_h: int = 48
    max_glyph_w: int = 60
    min_glyphs: int = 4           # glyphs on one baseline
    max_height_cv: float = 0.3    # spread of glyph heights within a line (coefficient of variation)
    min_flatness: float = 0.3     # share of a glyph's pixels within 25 % of its brightest value
    min_plain_background: float = 0.7  # share of the line's background within 20 levels of its median


def _grey(frame: np.ndarray) -> np.ndarray:
    """uint8 grey: brightest channel of colour frames, min-max scaled for other depths."""
    arr = np.asarray(frame)
    if arr.ndim == 3:
        arr = arr.max(axis=2)
    if arr.dtype != np.uint8:
        data = arr.astype(np.float32)
        lo, hi = float(np.nanmin(data)), float(np.nanmax(data))
        arr = np.zeros(data.shape, np.uint8) if not hi > lo else \
            np.clip((np.nan_to_num(data, nan=lo) - lo) * (255.0 / (hi - lo)), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(arr)


def _glyphs(strokes: np.ndarray, grey: np.ndarray, p: TextParams) -> list[tuple[int, int, int, int]]:
    n, labels, stats, _ = cv2.connectedComponentsWithStats(strokes, connectivity=8)
    out = []
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[i])
        if not (p.min_glyph_h <= h <= p.max_glyph_h and 1 <= w <= p.max_glyph_w and area >= 4):
            continue
        if area > 0.95 * w * h and w > 2 and h > 2:
            continue  # a solid block (a marker or a bright structure), not a stroke
        values = grey[y:y + h, x:x + w][labels[y:y + h, x:x + w] == i].astype(np.int32)
        peak = int(values.max())
        if peak and (np.abs(values - peak) <= 0.25 * peak).mean() >= p.min_flatness:
            out.append((x, y, w, h))
    return out


def _plain_background(grey: np.ndarray, strokes: np.ndarray, box, p: TextParams) -> bool:
    """Text is printed on a plain field (the black frame, a label box); speckle "lines" sit on texture."""
    x0, y0, x1, y1 = box
    y0, x0 = max(0, y0 - 2), max(0, x0 - 2)
    patch = grey[y0:y1 + 2, x0:x1 + 2].astype(np.int32)
    near = cv2.dilate(strokes[y0:y1 + 2, x0:x1 + 2], np.ones((3, 3), np.uint8)) > 0
    background = patch[~near]
    if background.size < 8:
        return False
    return float((np.abs(background - np.median(background)) <= 20).mean()) >= p.min_plain_background


def _lines(glyphs, shape, p: TextParams) -> list[tuple[int, int, int, int]]:
    """Join glyphs that sit side by side into lines; keep lines that look like text."""
    if len(glyphs) < p.min_glyphs:
        return []
    heights = np.array([g[3] for g in glyphs], dtype=np.float32)
    gap = max(3, int(round(float(np.median(heights)) * 1.2)))
    canvas = np.zeros(shape, np.uint8)
    for x, y, w, h in glyphs:
        canvas[y + h // 2, x:x + w] = 1  # each glyph as its mid-line, so lines above each other stay apart
    joined = cv2.dilate(canvas, np.ones((max(1, gap // 2) | 1, 2 * gap + 1), np.uint8))
    n, labels = cv2.connectedComponents(joined, connectivity=8)
    members: dict[int, list] = {}
    for g in glyphs:
        x, y, w, h = g
        members.setdefault(int(labels[y + h // 2, x]), []).append(g)
    lines = []
    for group in members.values():
        if len(group) < p.min_glyphs:
            continue
        bottoms = np.array([g[1] + g[3] for g in group], dtype=np.float32)
        med_h = float(np.median([g[3] for g in group]))
        # Printed glyphs share a baseline (to a pixel or so); speckle blobs scatter up and down.
        group = [g for g, b in zip(group, bottoms) if abs(b - np.median(bottoms)) <= max(1.0, 0.15 * med_h)]
        if len(group) < p.min_glyphs:
            continue
        hs = np.array([g[3] for g in group], dtype=np.float32)
        x0 = min(g[0] for g in group)
        y0 = min(g[1] for g in group)
        x1 = max(g[0] + g[2] for g in group)
        y1 = max(g[1] + g[3] for g in group)
        if hs.std() / hs.mean() <= p.max_height_cv and (x1 - x0) >= 2 * (y1 - y0):
            lines.append((x0, y0, x1, y1))
    return lines


def find_text(frame: np.ndarray, *, params: TextParams = TextParams()) -> list[tuple[int, int, int, int]]:
    """Boxes ``(x0, y0, x1, y1)`` (in ``frame``'s pixels) of text-like lines; empty when none is found."""
    grey = _grey(frame)
    h, w = grey.shape
    scale = min(1.0, params.working_size / max(h, w))
    if scale < 1.0:
        grey = cv2.resize(grey, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (9, 9))
    white = cv2.morphologyEx(grey, cv2.MORPH_TOPHAT, k)
    black = cv2.morphologyEx(grey, cv2.MORPH_BLACKHAT, k)
    boxes = []
    for hat, source in ((white, grey), (black, 255 - grey)):
        strokes = (hat >= params.contrast).astype(np.uint8)
        if not strokes.any():
            continue
        boxes += [b for b in _lines(_glyphs(strokes, source, params), grey.shape, params)
                  if _plain_background(source, strokes, b, params)]
    boxes = _merge(boxes)
    if scale < 1.0:
        boxes = [tuple(int(round(v / scale)) for v in b) for b in boxes]
    return boxes


def _merge(boxes: list) -> list:
    """One box per line: the white and the black top-hat often find the same line (the gaps between bright
    strokes are dark strokes), so overlapping boxes are united."""
    out: list = []
    for box in sorted(boxes):
        for i, other in enumerate(out):
            if box[0] <= other[2] and other[0] <= box[2] and box[1] <= other[3] and other[1] <= box[3]:
                out[i] = (min(box[0], other[0]), min(box[1], other[1]), max(box[2], other[2]),
                          max(box[3], other[3]))
                break
        else:
            out.append(tuple(box))
    return out
