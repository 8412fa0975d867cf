"""A tiny user-made dataset (PNG/JPEG, gray/RGB, odd sizes, same-size masks) + the dataset loader on it.

Other training tests import :func:`make_user_dataset` from here.
"""

from pathlib import Path

import cv2
import numpy as np
import pytest


def make_user_dataset(folder: Path, *, n_patients: int = 6, seed: int = 0, labels=("live_birth", "miscarriage"),
                      size=(40, 52)) -> Path:
    """Pictures as a user would have them: a bright disc (big for one class, small for the other) on noise,
    PNG and JPEG, grayscale and RGB, odd sizes; mask PNGs of the same size; a hand-written CSV."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    lines = ["image_path,patient_id,label,mask_path,plane,ga_weeks"]
    for p in range(n_patients):
        lab = p % len(labels)
        for j, plane in enumerate(("sagittal", "transverse")):
            h, w = size[0] + 3 * p, size[1] + 2 * j
            img = (rng.random((h, w)) * 50).astype(np.uint8)
            mask = np.zeros((h, w), np.uint8)
            r = max(3, int(min(h, w) * (0.18 if lab else 0.32)))
            cv2.circle(mask, (w // 2 + int(rng.integers(-3, 4)), h // 2 + int(rng.integers(-3, 4))), r, 255, -1)
            img[mask > 0] = 210
            ext = "jpg" if (p + j) % 3 == 0 else "png"
            pic = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR) if j == 1 else img
            cv2.imwrite(str(folder / f"pt{p}_{plane}.{ext}"), pic)
            cv2.imwrite(str(folder / f"pt{p}_{plane}_mask.png"), mask)
            lines.append(f"pt{p}_{plane}.{ext},patient{p},{labels[lab]},pt{p}_{plane}_mask.png,{plane},{6 + p % 3}.5")
    csv = folder / "manifest.csv"
    csv.write_text("\n".join(lines) + "\n")
    return csv


def test_load_pictures_on_user_dataset(tmp_path):
    from core.data.datasets import load_pictures
    from core.data.manifest import load_manifest

    csv = make_user_dataset(tmp_path / "d", n_patients=3)
    man = load_manifest(csv)
    pics = load_pictures(man.df, root=man.root, size=16, in_channels=1, with_masks=True)
    assert pics.images.shape == (6, 1, 16, 16) and pics.images.dtype == np.uint8
    assert pics.masks.shape == (6, 16, 16) and pics.masks.dtype == np.uint8 and pics.masks.max() == 255
    # Masks are coverage (soft targets): the shrunk mask keeps the structure's area fraction, not a nearest
    # sample of it.
    src = cv2.imread(str(tmp_path / "d" / "pt0_sagittal_mask.png"), cv2.IMREAD_GRAYSCALE) > 0
    assert pics.masks[0].mean() / 255 == pytest.approx(src.mean(), abs=0.01)
    assert list(pics.records["case"])[0] == "pt0_sagittal.jpg"
    assert {"plane", "ga_weeks", "patient_id", "height", "width"} <= set(pics.records.columns)
    rgb = load_pictures(man.df, root=man.root, size=16, in_channels=3)
    assert rgb.images.shape == (6, 3, 16, 16) and rgb.masks is None
