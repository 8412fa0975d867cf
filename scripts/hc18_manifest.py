"""Build a SonoDash manifest from a local copy of the HC18 training set (fetches nothing).

Why a script: HC18 (Radboud UMC, Zenodo 10.5281/zenodo.1327317) ships images, ellipse *outlines* and a CSV of
pixel sizes and head circumferences; SonoDash manifests want filled masks and one row per image. This writes
filled masks (the outline's inside, scipy's hole filling) next to a manifest, outside the repository.

Expected layout under --root (the official archive, or a copy whose masks are already filled)::

    training_set/NNN_HC.png                 (also NNN_2HC.png, NNN_3HC.png: more images of woman NNN)
    training_set/NNN_HC_Annotation.png      the expert's ellipse outline      -- or --
    training_set/**/NNN_HC_Mask.png         a filled mask (subfolders allowed)
    training_set_pixel_size_and_HC.csv      filename, pixel size(mm), head circumference (mm)

Patient: the leading number NNN (several images of one pregnancy share it), so the split is patient-disjoint.
Split: seeded, by patient: 20 % test, 10 % of the remaining patients validation, the rest train.

Reference masks (``--reference``): HC18's head circumference is the ellipse the expert placed; the outline
image draws that ellipse with a line a few pixels wide, and a filled outline (or a copy's ready-filled mask)
includes the whole line, so its own ellipse sits outside the CSV's by about half the line width (measured on
the public safwankdb copy: 1.39 px radially, SD 0.03 px, i.e. +1.25 mm of HC). ``centreline`` (default)
writes each mask as the filled ellipse fitted to it, shrunk by that offset, which is estimated on the *train*
split only (median of fitted minus CSV radius in pixels); test rows never inform it. ``as-given`` writes the
filled masks unchanged. The estimate and the residual per split are printed.

    python scripts/hc18_manifest.py --root /data/hc18 --out /data/hc18/sonodash --seed 0
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

NAME = re.compile(r"^(\d+)_(\d*)HC\.png$", re.IGNORECASE)


def _filled(path: Path) -> np.ndarray:
    import cv2
    from scipy import ndimage

    pix = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if pix is None:
        raise SystemExit(f"error: {path}: cannot read")
    return ndimage.binary_fill_holes(pix > 127)


def _fitted(mask: np.ndarray):
    """OpenCV's ellipse of the mask's largest contour: ((cx, cy), (d1, d2), angle), or None."""
    import cv2

    from core.segmentation.biometry import largest_contour

    contour = largest_contour(mask)
    return None if contour is None or len(contour) < 5 else cv2.fitEllipse(contour.astype(np.float32))


def _radius_px(circumference_px: float) -> float:
    return circumference_px / (2 * np.pi)


def outline_offset_px(df) -> float:
    """Median radial distance (pixels) between the masks' measured ellipses and the CSV's HC on train rows."""
    train = df[df["split"] == "train"]
    gaps = (train["hc_mask_px"] - train["hc_mm"] / train["pixel_spacing_mm"]) / (2 * np.pi)
    return float(np.median(gaps.dropna()))


def build(root: Path, out: Path, *, seed: int = 0, reference: str = "centreline") -> Path:
    import cv2
    import pandas as pd

    from core.segmentation.biometry import measure
    from core.segmentation.postprocess import draw_ellipse
    from core.segmentation.real_bench import assign_split

    if reference not in ("centreline", "as-given"):
        raise SystemExit(f"error: --reference {reference!r}; choose centreline or as-given")

    table = root / "training_set_pixel_size_and_HC.csv"
    if not table.is_file():
        raise SystemExit(f"error: {table}: not found (see the layout in this script's docstring)")
    with table.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        next(reader)
        info = {r[0].strip(): (float(r[1]), float(r[2])) for r in reader if len(r) >= 3}
    images = {p.name: p for p in (root / "training_set").rglob("*HC.png") if NAME.match(p.name)}
    if not images:
        raise SystemExit(f"error: {root / 'training_set'}: no NNN_HC.png images")
    masks_dir = out / "masks"
    masks_dir.mkdir(parents=True, exist_ok=True)
    rows, skipped = [], 0
    for name in sorted(images):
        if name not in info:
            skipped += 1
            continue
        img = images[name]
        stem = img.name[:-4]
        ready = img.with_name(f"{stem}_Mask.png")
        outline = img.with_name(f"{stem}_Annotation.png")
        target = masks_dir / f"{stem}_mask.png"
        if ready.is_file():
            mask = cv2.imread(str(ready), cv2.IMREAD_GRAYSCALE) > 127
        elif outline.is_file():
            mask = _filled(outline)
        else:
            skipped += 1
            continue
        cv2.imwrite(str(target), mask.astype(np.uint8) * 255)
        spacing, hc = info[name]
        rows.append({"image_path": str(img.resolve()), "mask_path": str(target.resolve()),
                     "patient_id": f"hc18-{NAME.match(name).group(1)}", "pixel_spacing_mm": spacing, "hc_mm": hc,
                     "hc_mask_px": measure(mask).circumference_px, "_ellipse": _fitted(mask),
                     "_shape": mask.shape})
    df = pd.DataFrame(rows)
    df["split"] = assign_split(df, seed=seed).to_numpy()
    if reference == "centreline":
        offset = outline_offset_px(df)
        print(f"outline offset (train split): {offset:.3f} px radially; masks redrawn as centre-line ellipses")
        for i, r in df.iterrows():
            if r["_ellipse"] is None:
                continue
            (cx, cy), (d1, d2), angle = r["_ellipse"]
            mask = draw_ellipse(r["_shape"], (cx, cy), (d1 - 2 * offset, d2 - 2 * offset), angle)
            cv2.imwrite(str(r["mask_path"]), mask.astype(np.uint8) * 255)
            df.at[i, "hc_mask_px"] = measure(mask).circumference_px
    gap_mm = df["hc_mask_px"] * df["pixel_spacing_mm"] - df["hc_mm"]
    for part in ("train", "val", "test"):
        g = gap_mm[df["split"] == part]
        print(f"  reference mask HC - CSV HC, {part}: mean {g.mean():+.3f} mm, SD {g.std():.3f} mm")
    df = df.drop(columns=["hc_mask_px", "_ellipse", "_shape"])
    manifest = out / "manifest.csv"
    df.to_csv(manifest, index=False)
    parts = {k: (int((df["split"] == k).sum()), int(df.loc[df["split"] == k, "patient_id"].nunique()))
             for k in ("train", "val", "test")}
    print(f"{manifest}: {len(df)} images ({skipped} skipped); images/patients " +
          ", ".join(f"{k} {n}/{p}" for k, (n, p) in parts.items()))
    return manifest


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True, type=Path, help="folder holding training_set/ and the CSV")
    ap.add_argument("--out", required=True, type=Path, help="where the masks and manifest.csv go")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reference", choices=("centreline", "as-given"), default="centreline",
                    help="masks as the outline's centre-line ellipse (default; see the docstring) or unchanged")
    args = ap.parse_args(argv)
    build(args.root, args.out, seed=args.seed, reference=args.reference)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
