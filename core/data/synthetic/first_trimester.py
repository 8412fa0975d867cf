"""Synthetic first-trimester (11 to 13+6 weeks) fetal anatomy views with instance masks.

Generative model. Each patient (GA ~ Uniform(11.0, 13.86) weeks) gets one image of each of the 6 view
categories of :data:`core.tasks.FIRST_TRIMESTER_VIEWS`; label = the view category. Each structure of the view
is drawn as one instance with its own shape and echogenicity so that a small Mask R-CNN can tell them apart:

- head (transverse): cranium = bright elliptical ring; choroid_plexus = two bright ovals filling the
  hemispheres ("butterfly", one instance); midline_falx = thin bright line along the long axis.
- neck (mid-sagittal profile): nasal_bone = short, very bright bar at the nose; palate = thick bright
  band under the face; nuchal_translucency = dark (anechoic) band behind the neck, under a bright skin line.
- thorax (transverse): thoracic_circumference = grey ring (the chest wall); heart = dark oval with a
  bright septum, inside the ring.
- abdomen (transverse): abdominal_circumference = grey ring; stomach = anechoic oval inside it.
- extremity: upper_arm -> forearm -> hand in the upper half, thigh -> calf -> foot in the lower half;
  long bones are bright rods (forearm and calf thinner than upper arm and thigh), hand a bright fan-shaped
  blob, foot a grey sole-shaped ellipse; each limb segment is visible with probability 0.9.
- spine (sagittal): spine = a curved band (cubic Bezier) holding two rows of bright vertebral beads.

Everything else (fetal body outline, amniotic fluid, uterine wall) is unlabelled context. The instance PNG
holds 0 = background, k = instance k; ``instance_classes`` maps them ("1:cranium;2:choroid_plexus;...").
Structures are painted in order into the label map and the echo map alike, so the instances are pixel-exact;
an instance that ends up smaller than 20 pixels (clipped by the fan) is dropped and the rest renumbered.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.data.synthetic import phantom as ph
from core.data.synthetic.writer import save_instances, save_png
from core.segmentation.bezier import bezier_curve, bezier_mask
from core.tasks import FIRST_TRIMESTER_VIEWS

STUDY = "first_trimester"
PREFIX = "FT"
COLUMNS = ["image_path", "patient_id", "label", "instances_path", "instance_classes", "ga_weeks"]
SHAPE = (ph.IMAGE_SIZE, ph.IMAGE_SIZE)
MIN_INSTANCE_PX = 20


class _Canvas:
    """Echo map + instance-label map painted together."""

    def __init__(self, rng):
        self.echo = ph.tissue_background(rng, SHAPE, level=0.45)
        self.labels = np.zeros(SHAPE, np.int32)
        self.classes: list[str] = []

    def context(self, mask, echo):
        self.echo[mask] = echo
        self.labels[mask] = 0

    def add(self, mask, echo, structure: str):
        self.echo[mask] = echo
        self.classes.append(structure)
        self.labels[mask] = len(self.classes)


def _rod(p0, p1, width):
    return ph.line_mask(SHAPE, p0, p1, width)


def _head(c, rng, cv, s):
    a, b, ang = 62 * s, 50 * s, float(rng.uniform(-25, 25))
    u = np.array([np.cos(np.radians(ang)), np.sin(np.radians(ang))])
    v = np.array([-u[1], u[0]])
    cv.context(ph.ellipse_mask(SHAPE, c, (a, b), ang), 0.15)
    cv.add(ph.ellipse_mask(SHAPE, c, (a + 3, b + 3), ang, thickness=6), 0.95, "cranium")
    plexus = np.zeros(SHAPE, bool)
    for side in (-1, 1):
        plexus |= ph.ellipse_mask(SHAPE, c + side * v * b * 0.45, (a * 0.55, b * 0.3), ang)
    cv.add(plexus, 0.8, "choroid_plexus")
    cv.add(_rod(c - u * a * 0.9, c + u * a * 0.9, 3) & ~plexus, 0.65, "midline_falx")


def _neck(c, rng, cv, s):
    flip = -1 if rng.random() < 0.5 else 1
    head_c = c + np.array([flip * 10, -20]) * s
    cv.context(ph.ellipse_mask(SHAPE, head_c, (60 * s, 48 * s)), 0.3)
    cv.context(ph.ellipse_mask(SHAPE, c + np.array([-flip * 30, 55]) * s, (45 * s, 40 * s)), 0.3)
    face_x = head_c[0] + flip * 58 * s
    cv.add(_rod((face_x, head_c[1] - 14 * s), (face_x + flip * 8 * s, head_c[1] + 2 * s), 5), 1.0, "nasal_bone")
    cv.add(_rod((face_x - flip * 40 * s, head_c[1] + 22 * s), (face_x - flip * 4 * s, head_c[1] + 20 * s),
                8), 0.75, "palate")
    back = head_c + np.array([-flip * 55, 30]) * s
    nt = ph.ellipse_mask(SHAPE, back, (7 * s, 26 * s), flip * 25)
    cv.context(ph.ellipse_mask(SHAPE, back + np.array([-flip * 9, 0]) * s, (4 * s, 30 * s), flip * 25), 0.85)
    cv.add(nt, 0.03, "nuchal_translucency")


def _trunk(c, rng, cv, s, *, ring_name, inner_name):
    a, b, ang = 58 * s, 50 * s, float(rng.uniform(-20, 20))
    cv.context(ph.ellipse_mask(SHAPE, c, (a, b), ang), 0.42)
    cv.add(ph.ellipse_mask(SHAPE, c, (a + 2, b + 2), ang, thickness=5), 0.7, ring_name)
    off = c + np.array([rng.uniform(-0.3, 0.3) * a, rng.uniform(-0.3, 0.1) * b])
    if inner_name == "heart":
        heart = ph.ellipse_mask(SHAPE, off, (a * 0.35, b * 0.3), ang + 30)
        cv.add(heart, 0.15, "heart")
        cv.echo[heart & (_rod(off - np.array([a * 0.35, 0]), off + np.array([a * 0.35, 0]), 2) |
                         _rod(off - np.array([0, b * 0.3]), off + np.array([0, b * 0.3]), 2))] = 0.6
    else:
        cv.add(ph.ellipse_mask(SHAPE, off, (a * 0.28, b * 0.2), ang + 20), 0.02, "stomach")


def _limb_chain(start, rng, cv, s, names, widths):
    p = np.asarray(start, float)
    heading = float(rng.uniform(-0.5, 0.5))
    for name, width, length in zip(names, widths, (45, 40, 0)):
        if name in ("hand", "foot"):
            d = np.array([np.cos(heading), np.sin(heading)])
            if rng.random() < 0.9:
                if name == "hand":
                    fingers = np.zeros(SHAPE, bool)
                    for f in (-0.5, -0.2, 0.1, 0.4):
                        fd = np.array([np.cos(heading + f), np.sin(heading + f)])
                        fingers |= _rod(p + d * 4, p + fd * 22 * s, 4)
                    cv.add(fingers | ph.ellipse_mask(SHAPE, p + d * 6 * s, (8 * s, 8 * s)), 0.9, "hand")
                else:
                    cv.add(ph.ellipse_mask(SHAPE, p + d * 18 * s, (20 * s, 8 * s), np.degrees(heading)), 0.55,
                           "foot")
            return
        end = p + length * s * np.array([np.cos(heading), np.sin(heading)])
        if rng.random() < 0.9:
            cv.add(_rod(p, end, width), 0.95 if width > 5 else 0.85, name)
        p = end + 3 * np.array([np.cos(heading), np.sin(heading)])
        heading += float(rng.uniform(-0.9, 0.9))


def _extremity(c, rng, cv, s):
    cv.context(ph.ellipse_mask(SHAPE, (c[0] - 95, c[1]), (50, 90)), 0.35)
    _limb_chain((c[0] - 60, c[1] - 55), rng, cv, s, ("upper_arm", "forearm", "hand"), (7, 4, 0))
    _limb_chain((c[0] - 60, c[1] + 30), rng, cv, s, ("thigh", "calf", "foot"), (9, 5, 0))


def _spine(c, rng, cv, s):
    pts = np.array([[-80, 10], [-30, rng.uniform(-25, -5)], [30, rng.uniform(-25, -5)], [80, 15]]) * s + c
    cv.context(bezier_mask(pts + np.array([0, 22]), SHAPE, 50), 0.35)
    band = bezier_mask(pts, SHAPE, 14)
    cv.add(band, 0.3, "spine")
    for p in bezier_curve(pts, 16):
        for dy in (-4, 4):
            cv.echo[ph.ellipse_mask(SHAPE, p + np.array([0, dy]), (3, 2)) & band] = 0.95


VIEW_DRAWERS = {"head": _head, "neck": _neck, "thorax": lambda c, r, cv, s: _trunk(
    c, r, cv, s, ring_name="thoracic_circumference", inner_name="heart"),
    "abdomen": lambda c, r, cv, s: _trunk(c, r, cv, s, ring_name="abdominal_circumference",
                                          inner_name="stomach"),
    "extremity": _extremity, "spine": _spine}


def render_view(rng: np.random.Generator, view: str, ga_weeks: float):
    """RGB image, instance-label map (uint8) and the class of each instance (1-based order)."""
    fan = ph.random_fan(rng)
    cv = _Canvas(rng)
    cv.context(ph.ellipse_mask(SHAPE, fan.center, (140, 90)), 0.04)   # amniotic fluid
    cv.context(ph.line_mask(SHAPE, (0, 238), (255, 232), 10), 0.8)    # uterine wall
    c = np.array(fan.center) + rng.uniform(-8, 8, size=2)
    VIEW_DRAWERS[view](c, rng, cv, float(rng.uniform(0.9, 1.1)))
    fov = fan.mask(SHAPE)
    labels = np.zeros(SHAPE, np.uint8)
    classes = []
    for k, name in enumerate(cv.classes, start=1):
        inst = (cv.labels == k) & fov
        if inst.sum() >= MIN_INSTANCE_PX:
            classes.append(name)
            labels[inst] = len(classes)
    banner = f"SONO-DEMO  NT-SCAN  GA {ph.ga_text(ga_weeks)}  {view.upper()}"
    rgb = ph.finish(cv.echo, rng, fan, banner=banner, depth_mm=80)
    return rgb, labels, classes


def make_patient(out: Path, rng: np.random.Generator, patient_id: str, label: str | None = None) -> list[dict]:
    ga = round(float(rng.uniform(11.0, 13.86)), 2)
    rows = []
    for view in FIRST_TRIMESTER_VIEWS:
        rgb, labels, classes = render_view(rng, view, ga)
        if rng.random() < 0.3 and classes:
            ys, xs = np.nonzero(labels == 1)
            rgb = ph.maybe_calipers(rgb, rng, [(xs.min(), ys.mean()), (xs.max(), ys.mean())], fraction=1.0)
        image_rel, inst_rel = f"images/{patient_id}_{view}.png", f"instances/{patient_id}_{view}.png"
        save_png(out / image_rel, rgb)
        save_instances(out / inst_rel, labels)
        rows.append({"image_path": image_rel, "patient_id": patient_id, "label": view, "instances_path": inst_rel,
                     "instance_classes": ";".join(f"{k}:{n}" for k, n in enumerate(classes, start=1)),
                     "ga_weeks": ga})
    return rows


def assign_labels(n: int, rng: np.random.Generator) -> list[str]:
    """Every patient has all six views; the per-patient label is unused (rows carry the view)."""
    return ["all_views"] * n
