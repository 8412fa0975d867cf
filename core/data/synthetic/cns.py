"""Synthetic fetal central-nervous-system sections (the cns study): normal planes and four anomalies.

Generative model. Labels cycle through normal, anencephaly, encephalocele, holoprosencephaly, rachischisis
(equal shares, shuffled by the seed); GA ~ Uniform(11, 38) weeks, so all three trimesters (<= 12, 13-28,
> 28 weeks) occur. One patient = one examination: several still images and one cine clip.

Sections (echogenicity maps; then :mod:`phantom` adds fan, speckle, attenuation, banner and calipers):

- head (transverse): bright elliptical skull ring (OFD/BPD ~ 1.25), grey brain, bright midline echo.
  * ``thalamic``: two grey thalami beside the midline, dark cavum septi pellucidi (CSP) in front;
  * ``lateral_ventricle``: CSP plus a dark ventricular atrium holding a bright choroid plexus;
  * ``cerebellar``: CSP plus the dumbbell-shaped cerebellum and the dark cisterna magna behind it.
- ``spinal_longitudinal``: two rows of bright ossification centres converging at the sacrum, skin line above.
- anomalies, each visually distinct:
  * anencephaly: no skull vault -- heterogeneous tissue over two bulging orbits ("frog eyes"), no ring;
  * encephalocele: a gap in the occipital skull with a round sac of brain and fluid bulging through it;
  * holoprosencephaly: no midline, fused central thalami, one crescent-shaped monoventricle;
  * rachischisis: the two rows of the spine splay apart over a long segment with a break in the skin line;
    its head planes show the lemon-shaped skull and banana-shaped cerebellum of the Chiari II malformation.

Normal patients get the 4 standard planes, anomalous ones 3 characteristic sections; every patient also gets
one cine clip of ``CLIP_FRAMES`` = 96 frames (H.264 MP4): the probe drifts and tilts slowly over the same
section and the speckle is redrawn each frame. The input gate keeps one frame every 80, so each clip yields
2 frames. No masks (classification task).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.data.synthetic import phantom as ph
from core.data.synthetic.writer import save_png, write_clip

STUDY = "cns"
PREFIX = "CN"
LABELS = ("normal", "anencephaly", "encephalocele", "holoprosencephaly", "rachischisis")
COLUMNS = ["image_path", "patient_id", "label", "ga_weeks", "plane"]
CLIP_FRAMES = 96
NORMAL_PLANES = ("thalamic", "lateral_ventricle", "cerebellar", "spinal_longitudinal")
PLANES = {
    "normal": NORMAL_PLANES,
    "anencephaly": ("coronal_face", "sagittal_head", "coronal_face"),
    "encephalocele": ("thalamic", "cerebellar", "sagittal_head"),
    "holoprosencephaly": ("thalamic", "lateral_ventricle", "coronal_face"),
    "rachischisis": ("spinal_longitudinal", "spinal_longitudinal", "cerebellar"),
}
SHAPE = (ph.IMAGE_SIZE, ph.IMAGE_SIZE)


def assign_labels(n: int, rng: np.random.Generator) -> list[str]:
    return [str(x) for x in rng.permutation(np.array([LABELS[i % len(LABELS)] for i in range(n)]))]


def _frame(center, angle):
    """Local head frame: unit vectors along the long (front-back) axis and across it."""
    u = np.array([np.cos(angle), np.sin(angle)])
    return np.asarray(center, float), u, np.array([-u[1], u[0]])


def _head(rng, echo, center, a, b, angle, *, skull=True, lemon=False, gap=False):
    c, u, v = _frame(center, angle)
    deg = np.degrees(angle)
    brain = ph.ellipse_mask(SHAPE, c, (a, b), deg)
    echo[brain] = 0.22 + 0.04 * ph.smooth_noise(rng, SHAPE, 5.0)[brain]
    if skull:
        ring = ph.ellipse_mask(SHAPE, c, (a + 3, b + 3), deg, thickness=5)
        if lemon:  # frontal bones scalloped inwards
            for s in (-1, 1):
                ring &= ~ph.ellipse_mask(SHAPE, c + u * a * 0.75 + s * v * b * 1.05, (a * 0.3, b * 0.25), deg)
                ring |= ph.ellipse_mask(SHAPE, c + u * a * 0.55 + s * v * b * 0.78, (a * 0.22, 3), deg + s * 35,
                                        thickness=4) & ~brain
        if gap:
            ring &= ~ph.ellipse_mask(SHAPE, c - u * (a + 2), (8, b * 0.35), deg)
        echo[ring] = 0.95
    return c, u, v


def _midline(echo, c, u, a, *, cavum=True):
    echo[ph.line_mask(SHAPE, c - u * a * 0.9, c + u * a * 0.9, 2)] = 0.7
    if cavum:
        echo[ph.ellipse_mask(SHAPE, c + u * a * 0.45, (a * 0.12, 4), np.degrees(np.arctan2(u[1], u[0])))] = 0.05


def _head_plane(rng, plane, label, a, b, angle, center):
    echo = ph.tissue_background(rng, SHAPE, level=0.35)
    echo[ph.ellipse_mask(SHAPE, center, (a + 25, b + 25), np.degrees(angle))] = 0.06  # amniotic fluid
    deg = np.degrees(angle)
    c, u, v = _head(rng, echo, center, a, b, angle, lemon=label == "rachischisis",
                    gap=label == "encephalocele")
    if label == "holoprosencephaly":
        echo[ph.ellipse_mask(SHAPE, c + u * a * 0.25, (a * 0.45, b * 0.7), deg) &
             ~ph.ellipse_mask(SHAPE, c - u * a * 0.05, (a * 0.45, b * 0.6), deg)] = 0.03
        echo[ph.ellipse_mask(SHAPE, c - u * a * 0.1, (a * 0.28, b * 0.3), deg)] = 0.42
        return echo
    _midline(echo, c, u, a)
    if plane == "thalamic":
        for s in (-1, 1):
            echo[ph.ellipse_mask(SHAPE, c + s * v * b * 0.22, (a * 0.2, b * 0.16), deg)] = 0.42
    elif plane == "lateral_ventricle":
        atrium = ph.ellipse_mask(SHAPE, c - u * a * 0.45 + v * b * 0.45, (a * 0.3, b * 0.18), deg + 15)
        echo[atrium] = 0.04
        echo[ph.ellipse_mask(SHAPE, c - u * a * 0.45 + v * b * 0.45, (a * 0.2, b * 0.11), deg + 15)] = 0.85
    elif plane == "cerebellar":
        back = c - u * a * 0.5
        if label == "rachischisis":  # banana sign, obliterated cisterna magna
            echo[ph.ellipse_mask(SHAPE, back, (b * 0.2, b * 0.45), deg, thickness=5)
                 & ph.ellipse_mask(SHAPE, back - u * b * 0.2, (b * 0.25, b * 0.6), deg)] = 0.65
        else:
            echo[ph.ellipse_mask(SHAPE, c - u * a * 0.82, (a * 0.12, b * 0.3), deg)] = 0.03
            for s in (-1, 1):
                echo[ph.ellipse_mask(SHAPE, back + s * v * b * 0.2, (a * 0.16, b * 0.17), deg)] = 0.5
            echo[ph.line_mask(SHAPE, back - v * b * 0.1, back + v * b * 0.1, 5)] = 0.55
    if label == "encephalocele":
        sac_c = c - u * (a + b * 0.4)
        sac = ph.ellipse_mask(SHAPE, sac_c, (b * 0.42, b * 0.42)) & ~ph.ellipse_mask(SHAPE, c, (a + 3, b + 3), deg)
        echo[sac] = 0.1 + 0.2 * (ph.smooth_noise(rng, SHAPE, 4.0)[sac] > 0)
        echo[ph.ellipse_mask(SHAPE, sac_c, (b * 0.42, b * 0.42), thickness=2) & sac] = 0.6
    return echo


def _face_plane(rng, label, a, b, angle, center):
    """Coronal face / sagittal head: orbits below, vault above (absent in anencephaly)."""
    echo = ph.tissue_background(rng, SHAPE, level=0.35)
    c, u, v = _frame(center, angle)
    echo[ph.ellipse_mask(SHAPE, c, (a + 25, b + 25), np.degrees(angle))] = 0.06
    face = ph.ellipse_mask(SHAPE, c + v * b * 0.35, (a * 0.75, b * 0.5), np.degrees(angle))
    echo[face] = 0.4
    for s in (-1, 1):
        orbit_r = b * (0.22 if label == "anencephaly" else 0.14)
        echo[ph.ellipse_mask(SHAPE, c + s * u * a * 0.3 + v * b * 0.1, (orbit_r, orbit_r), thickness=3)] = 0.9
    if label == "anencephaly":
        blob = ph.polar_shape_mask(SHAPE, c - v * b * 0.2, lambda t: b * 0.35 * (1 + 0.2 * np.cos(5 * t + 1)))
        echo[blob] = 0.3 + 0.3 * (ph.smooth_noise(rng, SHAPE, 2.5)[blob] > 0.3)
    else:
        vault = ph.ellipse_mask(SHAPE, c - v * b * 0.25, (a * 0.95, b * 0.9), np.degrees(angle))
        echo[vault & ~face] = 0.22
        echo[ph.ellipse_mask(SHAPE, c - v * b * 0.25, (a * 0.95 + 3, b * 0.9 + 3), np.degrees(angle),
                             thickness=5) & ~face] = 0.95
        if label == "holoprosencephaly":  # single median orbit region: proboscis-like midline mass
            echo[ph.ellipse_mask(SHAPE, c + v * b * 0.55, (6, 10), np.degrees(angle))] = 0.85
    return echo


def _spine_plane(rng, label, a, b, angle, center):
    echo = ph.tissue_background(rng, SHAPE, level=0.38)
    c, u, v = _frame(center, angle)
    n = 14
    open_from, open_to = (int(rng.integers(4, 7)), int(rng.integers(9, 12))) if label == "rachischisis" else (n, n)
    for i in range(n):
        t = (i / (n - 1) - 0.5) * 2
        taper = 1.0 - 0.5 * max(0.0, t) ** 2
        spread = 2.2 if open_from <= i <= open_to else 1.0
        base = c + u * t * a * 1.1 + v * 0.08 * a * t**2
        for s in (-1, 1):
            p = base + s * v * b * 0.16 * taper * spread
            echo[ph.ellipse_mask(SHAPE, p, (4, 3), np.degrees(angle))] = 0.95
    skin_y = -b * 0.55
    for i in range(20):
        t0, t1 = (i / 20 - 0.5) * 2.4, ((i + 1) / 20 - 0.5) * 2.4
        mid = (i + 0.5) / 20 * (n - 1)
        if open_from - 1 <= mid <= open_to + 1:
            continue
        echo[ph.line_mask(SHAPE, c + u * t0 * a + v * skin_y, c + u * t1 * a + v * skin_y, 3)] = 0.8
    if label == "rachischisis":
        mid_t = ((open_from + open_to) / 2 / (n - 1) - 0.5) * 2
        sac = ph.ellipse_mask(SHAPE, c + u * mid_t * a * 1.1 + v * (skin_y - b * 0.2), (b * 0.35, b * 0.25),
                              np.degrees(angle))
        echo[sac] = 0.05
    return echo


def section(rng: np.random.Generator, label: str, plane: str, geometry: dict) -> np.ndarray:
    """Echogenicity map of one section; ``geometry`` holds center, a, b and angle."""
    args = (geometry["a"], geometry["b"], geometry["angle"], geometry["center"])
    if plane.startswith("spinal"):
        return _spine_plane(rng, label, *args)
    if plane in ("coronal_face", "sagittal_head") or label == "anencephaly":
        return _face_plane(rng, label, *args)
    return _head_plane(rng, plane, label, *args)


def _geometry(rng, fan) -> dict:
    b = float(rng.uniform(50, 68))
    return {"a": b * float(rng.uniform(1.15, 1.3)), "b": b, "angle": float(rng.uniform(-0.4, 0.4)),
            "center": (fan.center[0] + rng.uniform(-8, 8), fan.center[1] + rng.uniform(-10, 5))}


def make_patient(out: Path, rng: np.random.Generator, patient_id: str, label: str) -> list[dict]:
    ga = round(float(rng.uniform(11.0, 38.0)), 2)
    banner = f"SONO-DEMO  C5-1  GA {ph.ga_text(ga)}  NEURO"
    rows = []
    for i, plane in enumerate(PLANES[label]):
        fan = ph.random_fan(rng)
        geo = _geometry(rng, fan)
        rgb = ph.finish(section(rng, label, plane, geo), rng, fan, banner=banner, depth_mm=120,
                        caliper_points=[np.array(geo["center"]) + s * np.array([geo["b"], 0]) for s in (-1, 1)])
        rel = f"images/{patient_id}_{i}_{plane}.png"
        save_png(out / rel, rgb)
        rows.append({"image_path": rel, "patient_id": patient_id, "label": label, "ga_weeks": ga, "plane": plane})
    plane = PLANES[label][0]
    rel = f"clips/{patient_id}_{plane}.mp4"
    write_clip(out / rel, cine_frames(rng, label, plane, banner))
    rows.append({"image_path": rel, "patient_id": patient_id, "label": label, "ga_weeks": ga, "plane": plane})
    return rows


def cine_frames(rng: np.random.Generator, label: str, plane: str, banner: str, n: int = CLIP_FRAMES):
    """The probe drifts and tilts slowly over one section; speckle is new in every frame."""
    import cv2

    fan = ph.random_fan(rng)
    echo = section(rng, label, plane, _geometry(rng, fan))
    phase = rng.uniform(0, 2 * np.pi, size=3)
    for k in range(n):
        s = 2 * np.pi * k / n
        m = cv2.getRotationMatrix2D(fan.center, 4.0 * np.sin(s + phase[0]), 1.0)
        m[:, 2] += (6.0 * np.sin(s + phase[1]), 4.0 * np.sin(2 * s + phase[2]))
        moved = cv2.warpAffine(echo, m, (SHAPE[1], SHAPE[0]), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        yield ph.burn_banner(ph.to_rgb(ph.render(moved, rng, fan, attenuation=1.0, gain=1.0)), banner,
                             ruler_depth_mm=120)
