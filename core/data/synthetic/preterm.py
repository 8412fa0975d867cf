"""Synthetic transvaginal cervix images (the preterm study).

Generative model (one patient = one image at the mid-trimester scan, GA ~ Uniform(18, 24) weeks):

Outcome. ``round(0.1 * n)`` patients (at least one when n >= 2) deliver preterm, the rest at term (~10 %,
as the paper's 35/354), shuffled by the seed.

Cervix. An expert would mark 4 control points along the endocervical canal, internal os (P0) to external
os (P3); the mask is the cubic Bezier curve through them drawn ``thickness`` wide
(:func:`core.segmentation.bezier.bezier_mask`), exactly as for real annotations.

- cervical length (curve length) ~ N(37, 6) mm at term, N(27, 7) mm preterm (clipped to 12-55 mm);
- mucosa thickness ~ N(5.5, 0.8) mm at term, N(4.4, 0.9) mm preterm (clipped to 2.5-8 mm);
- funnelling (a wedge of amniotic fluid opening the internal os) with probability 0.35 preterm, 0.05 term;
- the canal bends by a random fraction (-0.25..0.25) of its chord and lies at -20..20 degrees.
The classes overlap on purpose (short term cervices exist), so the task is learnable but noisy.

Image. Cervical stroma (mid grey) around an echogenic mucosa band (the mask) with a thin dark canal line in
its middle; dark amniotic fluid above the internal os. Calipers on ~40 % of the images at the two ends of the
measured length (the study's reason for Telea inpainting). Extra manifest column: cervical_length_mm.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.data.synthetic import phantom as ph
from core.data.synthetic.writer import save_mask, save_png
from core.segmentation.bezier import bezier_curve, bezier_mask

STUDY = "preterm"
PREFIX = "PT"
PRETERM_FRACTION = 0.1
COLUMNS = ["image_path", "patient_id", "label", "mask_path", "ga_weeks", "pixel_spacing_mm",
           "cervical_length_mm"]


def assign_labels(n: int, rng: np.random.Generator) -> list[str]:
    k = int(round(PRETERM_FRACTION * n))
    if n >= 2:
        k = max(k, 1)
    return [str(x) for x in rng.permutation(np.array(["preterm"] * k + ["term"] * (n - k)))]


def control_points(rng: np.random.Generator, center, length_px: float) -> np.ndarray:
    """4 control points of a canal whose curve is ``length_px`` long, centred on ``center`` (x, y)."""
    a = float(rng.uniform(-0.35, 0.35)) + (np.pi if rng.random() < 0.5 else 0.0)
    bend1, bend2 = rng.uniform(-0.25, 0.25, size=2)
    d = np.array([np.cos(a), np.sin(a)])
    n = np.array([-d[1], d[0]])
    unit = np.array([-0.5 * d, -d / 6 + bend1 * n, d / 6 + bend2 * n, 0.5 * d])
    curve_len = float(np.sum(np.linalg.norm(np.diff(bezier_curve(unit, 200), axis=0), axis=1)))
    return np.asarray(center) + unit * (length_px / curve_len)


def make_patient(out: Path, rng: np.random.Generator, patient_id: str, label: str) -> list[dict]:
    preterm = label == "preterm"
    shape = (ph.IMAGE_SIZE, ph.IMAGE_SIZE)
    ga = round(float(rng.uniform(18.0, 24.0)), 2)
    length_mm = float(np.clip(rng.normal(27, 7) if preterm else rng.normal(37, 6), 12, 55))
    thick_mm = float(np.clip(rng.normal(4.4, 0.9) if preterm else rng.normal(5.5, 0.8), 2.5, 8))
    funnel = rng.random() < (0.35 if preterm else 0.05)
    spacing = round(float(rng.uniform(0.19, 0.24)), 4)
    fan = ph.random_fan(rng)
    center = (fan.center[0] + rng.uniform(-10, 10), fan.center[1] + rng.uniform(-15, 10))
    pts = control_points(rng, center, length_mm / spacing)
    thick_px = max(3, int(round(thick_mm / spacing)))
    mask = bezier_mask(pts, shape, thick_px) & fan.mask(shape)

    echo = ph.tissue_background(rng, shape, level=0.45, contrast=0.10)
    stroma = bezier_mask(pts, shape, thick_px * 3)
    echo[stroma] = 0.33 + 0.05 * ph.smooth_noise(rng, shape, 6.0)[stroma]
    echo[mask] = 0.85 + 0.08 * ph.smooth_noise(rng, shape, 2.0)[mask]
    canal = bezier_mask(pts, shape, 2)
    echo[canal] = 0.2
    os_dir = (pts[0] - pts[1]) / (np.linalg.norm(pts[0] - pts[1]) + 1e-6)
    fluid_c = pts[0] + os_dir * (thick_px * 2.5 + 25)
    echo[ph.ellipse_mask(shape, fluid_c, (45, 28), np.degrees(np.arctan2(os_dir[1], os_dir[0])) + 90)] = 0.04
    if funnel:
        wedge = ph.polygon_mask(shape, [pts[0] + os_dir * 30 + np.array([-os_dir[1], os_dir[0]]) * s
                                        for s in (-thick_px, thick_px)] + [pts[0] - os_dir * thick_px * 1.5])
        echo[wedge & ~mask] = 0.05

    banner = f"SONO-DEMO  TV-CX 9MHz  GA {ph.ga_text(ga)}"
    rgb = ph.finish(echo, rng, fan, banner=banner, depth_mm=ph.IMAGE_SIZE * spacing,
                    caliper_points=[pts[0], pts[3]], caliper_fraction=0.4)
    image_rel, mask_rel = f"images/{patient_id}.png", f"masks/{patient_id}.png"
    save_png(out / image_rel, rgb)
    save_mask(out / mask_rel, mask)
    return [{"image_path": image_rel, "patient_id": patient_id, "label": label, "mask_path": mask_rel,
             "ga_weeks": ga, "pixel_spacing_mm": spacing, "cervical_length_mm": round(length_mm, 1)}]
