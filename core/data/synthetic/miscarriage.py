"""Synthetic early-pregnancy gestational sacs (the miscarriage study).

Generative model (one patient = one examination, two images: sagittal and transverse plane of one sac):

Outcome. Exactly ``round(0.3 * n)`` of the ``n`` generated patients miscarry (30 %, shuffled by the seed);
the rest are live births.

Clinical values (what the CRL/FHR rules see). GA ~ Uniform(6.0, 8.9) weeks, week = floor(GA). With the
DeVilbiss thresholds T_crl = 6.0 / 8.5 / 10.9 mm and T_fhr = 122 / 123 / 158 bpm for weeks 6 / 7 / 8, and a
shared "embryonic vitality" factor v ~ N(0, 1) that makes small embryos also tend to have slow hearts
(z_crl, z_fhr = 0.75 v + 0.66 e, e ~ N(0, 1) independent):

    crl_mm  = T_crl(week) * exp(m_crl + 0.35 (GA - week - 0.45) + 0.30 z_crl),  m_crl = +0.12 live, -0.15 miscarriage
    fhr_bpm = T_fhr(week) + m_fhr + 15 z_fhr,                                   m_fhr = +15 live,   -2 miscarriage

so in expectation "CRL low" has sensitivity ~0.67 / specificity ~0.66, "FHR low" ~0.55 / ~0.84 and the
paper's rule "CRL+HR" (both low) ~0.45 / ~0.89: a binary-rule AUC of (sens + spec) / 2 ~ 0.67 (paper:
0.687). Check on generated data: ``python -m core.data.synthetic.rule_check --n-patients 300``.

Image cues (what a CNN can see, none of them decisive alone). Each cue is c ~ N(d * y, 1) with y = 1 for a
miscarriage, drawn independently per patient and shared by both planes:

- irregular sac outline: radius r(theta) = r0 (1 + A sum_k a_k cos(k theta + phi_k)), k = 2..7,
  A = 0.045 exp(0.45 c_irr), d = 1.1;
- thin, dull decidual rim: thickness 7 exp(-0.28 c_rim) px, brightness 0.85 - 0.09 c_rim, d = 1.1;
- echogenic debris inside the sac: density 0.03 + 0.03 max(c_debris, 0), d = 0.8;
- yolk sac: present with probability 0.93 (live) / 0.55 (miscarriage); an enlarged yolk sac (6-7 mm) in
  a third of the miscarriages that have one;
- sac small for dates: mean sac diameter MSD = (GA days - 30) exp(-0.10 c_size) mm, d = 1.0 (visible only
  through pixel_spacing_mm, because the sonographer zooms to the sac: the sac spans 75-115 px).
Combined, the cues separate the classes with d' ~ 2: an oracle that reads the image cues exactly reaches a
patient AUC of ~0.93 (simulated; the size cue is not in it; 0.956 and 0.913 on the draws of seeds 0 and 1).
Measured: resnet18 from scratch (the CPU defaults: 128 px, 12 epochs, cosine, final weights, the sac's square),
5-fold CV on 200 patients (120 training patients per fold), reaches an out-of-fold patient AUC of 0.826 (seed 0)
and 0.776 (seed 1). The whole-picture model reads the rim and the debris (within-class correlation of its score
with those cues ~0.5-0.6) and the yolk sac a little, but not the outline's irregularity (~0), the strongest
single cue: a few pixels of departure from an ellipse, which a from-scratch CNN on this little data misses.

The embryo (an echogenic ellipse CRL / pixel_spacing long in the sagittal plane, its cross-section in the
transverse plane) and the yolk sac lie inside the sac. Mask = the gestational sac, filled (the anechoic
cavity with everything inside it). Calipers (on ~30 % of the images) mark the ends of the long sac axis.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.data.synthetic import phantom as ph
from core.data.synthetic.writer import save_mask, save_png

STUDY = "miscarriage"
PREFIX = "MC"
MISCARRIAGE_FRACTION = 0.3
COLUMNS = ["image_path", "patient_id", "label", "mask_path", "plane", "ga_weeks", "crl_mm", "fhr_bpm",
           "pixel_spacing_mm"]
PLANES = ("sagittal", "transverse")
T_CRL = {6: 6.0, 7: 8.5, 8: 10.9}
T_FHR = {6: 122.0, 7: 123.0, 8: 158.0}
RHO = 0.75
CRL_SHIFT = {False: 0.12, True: -0.15}
FHR_SHIFT = {False: 15.0, True: -2.0}
CUE_SHIFT = {"irr": 1.1, "rim": 1.1, "debris": 0.8, "size": 1.0}


def assign_labels(n: int, rng: np.random.Generator) -> list[str]:
    k = int(round(MISCARRIAGE_FRACTION * n))
    labels = np.array(["miscarriage"] * k + ["live_birth"] * (n - k))
    return [str(x) for x in rng.permutation(labels)]


def clinical_values(rng: np.random.Generator, miscarriage: bool) -> dict:
    """GA, CRL and FHR of one patient (module docstring, "Clinical values")."""
    ga = float(rng.uniform(6.0, 8.9))
    week = int(np.floor(ga))
    v = rng.standard_normal()
    z_crl = RHO * v + np.sqrt(1 - RHO**2) * rng.standard_normal()
    z_fhr = RHO * v + np.sqrt(1 - RHO**2) * rng.standard_normal()
    crl = T_CRL[week] * np.exp(CRL_SHIFT[miscarriage] + 0.35 * (ga - week - 0.45) + 0.30 * z_crl)
    fhr = T_FHR[week] + FHR_SHIFT[miscarriage] + 15.0 * z_fhr
    return {"ga_weeks": round(ga, 2), "crl_mm": round(float(crl), 1), "fhr_bpm": round(float(fhr), 0)}


def image_cues(rng: np.random.Generator, miscarriage: bool, ga_weeks: float) -> dict:
    """Patient-level image appearance (module docstring, "Image cues")."""
    y = 1.0 if miscarriage else 0.0
    c = {name: float(rng.normal(d * y, 1.0)) for name, d in CUE_SHIFT.items()}
    yolk = rng.random() < (0.55 if miscarriage else 0.93)
    big_yolk = bool(miscarriage and yolk and rng.random() < 1 / 3)
    msd_mm = max(6.0, (ga_weeks * 7 - 30) * np.exp(-0.10 * c["size"]))
    return {
        "irregularity": 0.045 * np.exp(0.45 * c["irr"]),
        "rim_px": float(np.clip(7.0 * np.exp(-0.28 * c["rim"]), 1.5, 14)),
        "rim_echo": float(np.clip(0.85 - 0.09 * c["rim"], 0.45, 1.0)),
        "debris": 0.03 + 0.03 * max(c["debris"], 0.0),
        "yolk_mm": (float(rng.uniform(6.0, 7.0)) if big_yolk else float(rng.uniform(3.0, 5.0))) if yolk else 0.0,
        "msd_mm": float(msd_mm),
        "harmonics": [(k, float(rng.normal(0, 1)) / k**0.5, float(rng.uniform(0, 2 * np.pi))) for k in range(2, 8)],
    }


def _sac_radius(cues: dict, r0: float, aspect: float, angle: float):
    amp = cues["irregularity"]
    harmonics = cues["harmonics"]

    def radius(theta):
        t = theta - angle
        ell = r0 / np.sqrt((np.cos(t) / np.sqrt(aspect)) ** 2 + (np.sin(t) * np.sqrt(aspect)) ** 2)
        bumps = sum(a * np.cos(k * theta + phi) for k, a, phi in harmonics)
        return ell * (1.0 + amp * bumps)

    return radius


def render_plane(rng: np.random.Generator, patient: dict, plane: str) -> tuple[np.ndarray, np.ndarray]:
    """One RGB image and its filled sac mask for ``plane``."""
    shape = (ph.IMAGE_SIZE, ph.IMAGE_SIZE)
    cues, spacing = patient["cues"], patient["pixel_spacing_mm"]
    fan = ph.random_fan(rng)
    cx, cy = fan.center[0] + rng.uniform(-15, 15), fan.center[1] + rng.uniform(-20, 5)
    r0 = cues["msd_mm"] / spacing / 2
    aspect = float(rng.uniform(1.3, 1.6) if plane == "sagittal" else rng.uniform(1.0, 1.25))
    angle = float(rng.uniform(-0.45, 0.45))
    radius = _sac_radius(cues, r0, aspect, angle)
    sac = ph.polar_shape_mask(shape, (cx, cy), radius)
    rim_px = cues["rim_px"]
    outer = ph.polar_shape_mask(shape, (cx, cy), lambda t: radius(t) + rim_px)

    echo = ph.tissue_background(rng, shape, level=0.42)
    echo[outer] = cues["rim_echo"] * (1 + 0.1 * ph.smooth_noise(rng, shape, 3.0)[outer])
    debris = cues["debris"] * (1 + 2.0 * np.clip(ph.smooth_noise(rng, shape, 4.0), 0, None))
    echo[sac] = debris[sac]

    theta_emb = angle + rng.uniform(-0.6, 0.6)
    wall = np.array([np.cos(theta_emb), np.sin(theta_emb)])
    crl_px = patient["crl_mm"] / spacing
    emb_len = crl_px / 2 if plane == "sagittal" else crl_px / 5
    emb_c = np.array([cx, cy]) + wall * max(0.0, radius(theta_emb) - 0.45 * crl_px / 2 - 4)
    embryo = ph.ellipse_mask(shape, emb_c, (emb_len, max(2.0, crl_px / 5)), np.degrees(theta_emb) + 90) & sac
    echo[embryo] = 0.7
    if cues["yolk_mm"] > 0:
        y_r = cues["yolk_mm"] / spacing / 2
        y_c = np.array([cx, cy]) - wall * max(0.0, radius(theta_emb + np.pi) - y_r - 6)
        ring = ph.ellipse_mask(shape, y_c, (y_r, y_r), thickness=2) & sac
        echo[ring] = 0.95

    ext = [radius(angle), radius(angle + np.pi)]
    calipers = [(cx + ext[0] * np.cos(angle), cy + ext[0] * np.sin(angle)),
                (cx - ext[1] * np.cos(angle), cy - ext[1] * np.sin(angle))]
    banner = f"SONO-DEMO  TV 7.5MHz  GA {ph.ga_text(patient['ga_weeks'])}  {plane[:4].upper()}"
    rgb = ph.finish(echo, rng, fan, banner=banner, depth_mm=ph.IMAGE_SIZE * spacing, caliper_points=calipers)
    return rgb, sac & fan.mask(shape)


def make_patient(out: Path, rng: np.random.Generator, patient_id: str, label: str) -> list[dict]:
    """Draws one patient, writes its two images and masks under ``out``, returns its manifest rows."""
    miscarriage = label == "miscarriage"
    clinical = clinical_values(rng, miscarriage)
    cues = image_cues(rng, miscarriage, clinical["ga_weeks"])
    spacing = round(cues["msd_mm"] / float(rng.uniform(75, 115)), 4)
    patient = {**clinical, "cues": cues, "pixel_spacing_mm": spacing}
    rows = []
    for plane in PLANES:
        rgb, mask = render_plane(rng, patient, plane)
        image_rel, mask_rel = f"images/{patient_id}_{plane}.png", f"masks/{patient_id}_{plane}.png"
        save_png(out / image_rel, rgb)
        save_mask(out / mask_rel, mask)
        rows.append({"image_path": image_rel, "patient_id": patient_id, "label": label, "mask_path": mask_rel,
                     "plane": plane, **clinical, "pixel_spacing_mm": spacing})
    return rows
