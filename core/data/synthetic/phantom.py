"""Shared ultrasound image formation for the synthetic phantoms.

Why: every study's phantom is "a map of mean echogenicity, seen through an ultrasound machine". The machine
part is written once here so that all four studies have the same artefacts the real pipeline must cope with:

1. Field of view: a curvilinear-probe sector (fan) whose apex lies above the image; outside the fan is black.
2. Point-spread function: the echogenicity map is blurred by a small Gaussian (axial sharper than lateral).
3. Speckle: fully developed speckle is multiplicative. The envelope of a complex Gaussian field smoothed to
   the speckle grain size is Rayleigh distributed (``speckle="rayleigh"``); ``"gamma"`` draws the intensity
   from a Gamma(k, 1/k) law instead (partially developed speckle). Both have mean 1.
4. Depth attenuation: intensity decays as exp(-a * depth), a drawn per image; time-gain compensation is
   deliberately imperfect so the far field stays darker.
5. Log compression to 8 bits, then grey to RGB.
6. Burned-in text: a banner at the top (``cv2.putText``) with fake text such as "SONO-DEMO  GA 7w2d", and a
   depth ruler on the right edge -- the "non-fetal regions and text" that preprocessing crops away.
7. Calipers: yellow or green "+" crosses at measurement end points on a fraction of the images -- what the
   preterm study removes by Telea inpainting.

Masks are never derived from the rendered pixels: each study draws its structures as boolean masks first
and builds the echogenicity map from them, so the masks are pixel-exact by construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

IMAGE_SIZE = 256
BANNER_PX = 14
YELLOW = (255, 255, 0)
GREEN = (0, 255, 0)


@dataclass(frozen=True)
class Fan:
    """Sector geometry in pixel units: apex (may lie above the image), inner/outer radius, half angle."""

    apex_x: float
    apex_y: float
    r_inner: float
    r_outer: float
    half_angle: float  # radians

    def mask(self, shape=(IMAGE_SIZE, IMAGE_SIZE)) -> np.ndarray:
        return _fan_mask(self, tuple(shape)).copy()

    def depth(self, shape=(IMAGE_SIZE, IMAGE_SIZE)) -> np.ndarray:
        """Depth below the skin line, 0..1 over the fan."""
        return _fan_depth(self, tuple(shape)).copy()

    @property
    def center(self) -> tuple[float, float]:
        """A point in the middle of the field of view (x, y)."""
        return self.apex_x, self.apex_y + 0.5 * (self.r_inner + self.r_outer)


@lru_cache(maxsize=8)  # a cine clip renders ~100 frames through one fan
def _fan_mask(fan: Fan, shape) -> np.ndarray:
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    dx, dy = xx - fan.apex_x, yy - fan.apex_y
    ang = np.arctan2(dx, dy)  # 0 = straight down
    r = np.hypot(dx, dy)
    return (r >= fan.r_inner) & (r <= fan.r_outer) & (np.abs(ang) <= fan.half_angle)


@lru_cache(maxsize=8)
def _fan_depth(fan: Fan, shape) -> np.ndarray:
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    r = np.hypot(xx - fan.apex_x, yy - fan.apex_y)
    return np.clip((r - fan.r_inner) / (fan.r_outer - fan.r_inner), 0.0, 1.0)


def random_fan(rng: np.random.Generator, size: int = IMAGE_SIZE) -> Fan:
    """A sector that starts just below the banner and fills most of the image."""
    apex_y = float(rng.uniform(-40, -20))
    r_inner = BANNER_PX + 4 - apex_y
    return Fan(apex_x=size / 2 + float(rng.uniform(-6, 6)), apex_y=apex_y, r_inner=r_inner,
               r_outer=size + 30 - apex_y, half_angle=float(np.deg2rad(rng.uniform(34, 42))))


def smooth_noise(rng: np.random.Generator, shape, sigma: float) -> np.ndarray:
    """Zero-mean, unit-SD Gaussian noise smoothed to correlation length ``sigma`` (pixels)."""
    field = cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), sigma)
    return (field - field.mean()) / (field.std() + 1e-6)


def tissue_background(rng: np.random.Generator, shape=(IMAGE_SIZE, IMAGE_SIZE), *, level: float = 0.45,
                      contrast: float = 0.12) -> np.ndarray:
    """Soft-tissue echogenicity: a mean level with slow blotches and faint horizontal layers."""
    blotch = smooth_noise(rng, shape, 12.0)
    layers = smooth_noise(rng, (shape[0], 1), 3.0) * np.ones((1, shape[1]), np.float32)
    return np.clip(level + contrast * blotch + 0.5 * contrast * layers, 0.05, 1.0).astype(np.float32)


def speckle_field(rng: np.random.Generator, shape, *, kind: str = "rayleigh", grain: float = 1.0,
                  gamma_k: float = 4.0) -> np.ndarray:
    """Multiplicative speckle with mean 1 (see module docstring, step 3)."""
    if kind == "gamma":
        g = rng.gamma(gamma_k, 1.0 / gamma_k, size=shape).astype(np.float32)
        return cv2.GaussianBlur(g, (0, 0), sigmaX=0.8 * grain, sigmaY=0.5 * grain)
    re = cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), sigmaX=1.4 * grain,
                          sigmaY=0.7 * grain)
    im = cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), sigmaX=1.4 * grain,
                          sigmaY=0.7 * grain)
    env = np.sqrt(re * re + im * im)
    return env / (env.mean() + 1e-6)


def render(echo: np.ndarray, rng: np.random.Generator, fan: Fan, *, speckle: str | None = None,
           attenuation: float | None = None, gain: float | None = None) -> np.ndarray:
    """Echogenicity map (H x W float, ~0..1) -> 8-bit grey B-mode image (H x W uint8), steps 1-5."""
    shape = echo.shape
    speckle = speckle or ("rayleigh" if rng.random() < 0.7 else "gamma")
    attenuation = float(rng.uniform(0.6, 1.6)) if attenuation is None else attenuation
    gain = float(rng.uniform(0.9, 1.15)) if gain is None else gain
    blurred = cv2.GaussianBlur(echo.astype(np.float32), (0, 0), sigmaX=1.1, sigmaY=0.7)
    inten = blurred * speckle_field(rng, shape, kind=speckle)
    inten *= np.exp(-attenuation * fan.depth(shape)) * gain
    inten += 0.015 * np.abs(rng.standard_normal(shape)).astype(np.float32)  # electronic noise floor
    dyn = 40.0
    img = np.log1p(dyn * np.clip(inten, 0, None)) / np.log1p(dyn)
    img = np.where(fan.mask(shape), img, 0.0)
    return np.clip(img * 255.0, 0, 255).astype(np.uint8)


def to_rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[:, :, None], 3, axis=2)


def burn_banner(rgb: np.ndarray, text: str, *, ruler_depth_mm: float | None = None) -> np.ndarray:
    """Step 6: a text banner across the top and (optionally) a depth ruler with ticks on the right edge."""
    out = rgb.copy()
    out[:BANNER_PX] = 0
    cv2.putText(out, text, (3, BANNER_PX - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.33, (235, 235, 235), 1, cv2.LINE_8)
    if ruler_depth_mm:
        h, w = out.shape[:2]
        x = w - 4
        n_ticks = int(max(2, min(12, ruler_depth_mm // 10)))
        for i in range(n_ticks + 1):
            y = BANNER_PX + 4 + int(i * (h - BANNER_PX - 8) / n_ticks)
            cv2.line(out, (x - (3 if i % 5 else 5), y), (x, y), (200, 200, 200), 1, cv2.LINE_8)
    return out


def draw_calipers(rgb: np.ndarray, points, color) -> np.ndarray:
    """Step 7: a "+" cross (arm 4 px) in ``color`` at each (x, y) point."""
    out = rgb.copy()
    for x, y in points:
        x, y = int(round(x)), int(round(y))
        cv2.line(out, (x - 4, y), (x + 4, y), color, 1, cv2.LINE_8)
        cv2.line(out, (x, y - 4), (x, y + 4), color, 1, cv2.LINE_8)
    return out


def maybe_calipers(rgb: np.ndarray, rng: np.random.Generator, points, *, fraction: float = 0.3) -> np.ndarray:
    """Calipers on about ``fraction`` of the images, yellow or green at random."""
    if rng.random() >= fraction:
        return rgb
    return draw_calipers(rgb, points, YELLOW if rng.random() < 0.5 else GREEN)


def ga_text(ga_weeks: float) -> str:
    """Gestational age as the machines print it: 7w2d."""
    days = int(round(ga_weeks * 7))
    return f"{days // 7}w{days % 7}d"


def polar_shape_mask(shape, center, radius_fn, *, n: int = 180) -> np.ndarray:
    """Filled mask of the star-shaped region r <= radius_fn(theta) around ``center`` (x, y)."""
    theta = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = radius_fn(theta)
    pts = np.stack([center[0] + r * np.cos(theta), center[1] + r * np.sin(theta)], axis=1)
    return polygon_mask(shape, pts)


def polygon_mask(shape, points) -> np.ndarray:
    canvas = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(canvas, [np.round(np.asarray(points)).astype(np.int32).reshape(-1, 1, 2)], 1, cv2.LINE_8)
    return canvas.astype(bool)


def ellipse_mask(shape, center, axes, angle_deg: float = 0.0, *, thickness: int = -1) -> np.ndarray:
    """Filled (thickness -1) or outlined ellipse; center (x, y) and semi-axes (a, b) in pixels."""
    canvas = np.zeros(shape[:2], np.uint8)
    cv2.ellipse(canvas, (int(round(center[0])), int(round(center[1]))),
                (max(1, int(round(axes[0]))), max(1, int(round(axes[1])))), float(angle_deg), 0, 360, 1,
                thickness, cv2.LINE_8)
    return canvas.astype(bool)


def line_mask(shape, p0, p1, thickness: int) -> np.ndarray:
    canvas = np.zeros(shape[:2], np.uint8)
    cv2.line(canvas, (int(round(p0[0])), int(round(p0[1]))), (int(round(p1[0])), int(round(p1[1]))), 1,
             max(1, int(thickness)), cv2.LINE_8)
    return canvas.astype(bool)


def finish(echo: np.ndarray, rng: np.random.Generator, fan: Fan, *, banner: str, depth_mm: float,
           caliper_points=(), caliper_fraction: float = 0.3) -> np.ndarray:
    """Echogenicity map -> final RGB image with banner, ruler and (sometimes) calipers."""
    rgb = to_rgb(render(echo, rng, fan))
    rgb = burn_banner(rgb, banner, ruler_depth_mm=depth_mm)
    if len(caliper_points):
        rgb = maybe_calipers(rgb, rng, caliper_points, fraction=caliper_fraction)
    return rgb
