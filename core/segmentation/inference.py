"""One entry point for "segment this image": the level set or a trained network bundle, plus its scores.

Why here and not in the command: the dashboard's analysis, ``segment`` and ``bench-seg`` all need "mask from
model name", "biometry of the mask" and "scores against a ground truth", and must agree on them.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from core.errors import InputError
from core.preprocess.normalize import as_array
from core.segmentation.biometry import measure
from core.segmentation.levelset import LevelSetParams, segment_levelset
from core.segmentation.metrics import segmentation_scores
from core.segmentation.postprocess import postprocess

LEVELSET = "levelset"


class MaskSizeError(InputError):
    """A ground-truth mask whose size differs from its image."""


def load_segmenter(model: str, *, params: LevelSetParams = LevelSetParams(), roi=None):
    """A callable ``image -> bool HxW mask`` for ``"levelset"`` or a model-bundle directory."""
    if str(model) == LEVELSET:
        return lambda image: segment_levelset(image, roi=roi, params=params).mask
    path = Path(model)
    if not path.is_dir():
        raise InputError(f"--model {model}: neither 'levelset' nor a model-bundle directory")
    if roi is not None:
        raise InputError("--roi applies to the level set only; networks segment the whole image")
    from core.models import load_predictor  # torch: only network segmenters pay for it, never the level set

    predictor = load_predictor(path)
    if not getattr(predictor, "has_masks", hasattr(predictor, "predict_mask")):
        raise InputError(f"--model {model}: this bundle is not a segmentation model")

    mode = predictor.meta.postprocess or "none"     # the task's step, recorded in the bundle

    def _predict(image):
        return postprocess(predictor.predict_mask([image])[0], mode)

    _predict.predictor = predictor
    return _predict


def mask_from_pixels(pixels, *, name: str = "mask") -> np.ndarray:
    """Boolean mask from mask-image pixels (non-zero in any channel = structure)."""
    arr = np.asarray(as_array(pixels))
    return (arr.max(axis=2) if arr.ndim == 3 else arr) > 0


def check_same_size(mask: np.ndarray, image_shape, *, name: str = "mask") -> None:
    if mask.shape != tuple(image_shape[:2]):
        raise MaskSizeError(f"{name}: mask is {mask.shape[1]}x{mask.shape[0]} pixels but the image is "
                            f"{image_shape[1]}x{image_shape[0]}")


def report(mask: np.ndarray, *, truth: np.ndarray | None = None, spacing_mm: float | None = None) -> dict:
    """Biometry of ``mask`` and, with ``truth``, the overlap scores; undefined values are NaN and the
    warnings that explain them are listed under ``"warnings"``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bio = measure(mask, spacing_mm=spacing_mm)
        out = {"area_px": bio.area_px, "area_mm2": bio.area_mm2, "circumference_mm": bio.circumference_mm,
               "mean_diameter_mm": bio.mean_diameter_mm, "circumference_px": bio.circumference_px,
               "mean_diameter_px": bio.mean_diameter_px, "bpd_mm": bio.bpd_mm, "ofd_mm": bio.ofd_mm,
               "pixel_spacing_mm": spacing_mm}
        if truth is not None:
            scores = segmentation_scores(truth, mask, spacing=spacing_mm)
            out.update(scores)
    notes = sorted({str(w.message) for w in caught})
    if notes:
        out["warnings"] = notes
    return out
