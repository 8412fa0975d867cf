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


def build(root: Path, out: Path, *, seed: int = 0) -> Path:
    import cv2
    import pandas as pd

    from core.segmentation.real_bench import assign_split

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
                     "patient_id": f"hc18-{NAME.match(name).group(1)}", "pixel_spacing_mm": spacing, "hc_mm": hc})
    df = pd.DataFrame(rows)
    df["split"] = assign_split(df, seed=seed).to_numpy()
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
    args = ap.parse_args(argv)
    build(args.root, args.out, seed=args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
