"""The preprocessing kernel: how a picture becomes network input, in training and in prediction alike.

Why one module: a model is only correct with the exact preprocessing it was trained with. The training datasets
(:func:`core.data.datasets.load_pictures`, then the evaluation transform of :mod:`core.data.augment`) and the
:class:`core.models.predictor.Predictor` (through :func:`preprocess_batch`) call the same functions here:

- the ROI crop (:func:`fit_picture` crops to the box of :func:`core.segmentation.roi.roi_box`);
- the resize rule (:func:`resize`): "stretch" (INTER_AREA when shrinking, else linear), "letterbox" (aspect
  kept, zero padding, :func:`letterbox_geometry`), "center_crop" (scale by ``crop_ratio``, then torchvision's
  centre crop, the one the training's evaluation transform ``v2.CenterCrop`` makes);
- the channel rule (:func:`to_channels`): RGB -> grey by luminance (cv2), grey replicated;
- the normalisation (:func:`normalization_stats`, the one place the ImageNet statistics are written).

Training keeps the uint8 result of :func:`fit_picture` in memory and its transform scales it by 1/255 and
normalises with :func:`normalization_stats`; :func:`preprocess_batch` does both in one vectorised step.
tests/test_preprocess_kernel.py feeds one picture through both paths for every normalisation and resize mode.
A bundle's json records ``in_channels``, ``input_size``, ``normalization`` (mean/std on the 0..1 scale),
``resize_mode``, ``roi`` and its ``recipe`` (``crop_ratio``, ``resize``); :func:`bundle_preprocessing` reads
them back.

It lives in core.models, not core.preprocess: the ROI box comes from the level set (core.segmentation), which
itself sits on core.preprocess. core.data imports this module; nothing here imports core.data.

Pixel scale: uint8 is divided by 255, uint16 by 65535; float images are taken as 0..1, unless their maximum
exceeds 1, in which case they are read as 0..255.
"""

from __future__ import annotations

from collections.abc import Mapping

import cv2
import numpy as np
import torch
from torchvision.transforms.v2 import functional as tvf

from core.errors import InputError
from core.segmentation.roi import crop_to_box

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RESIZE_MODES = ("stretch", "center_crop", "letterbox")
FIT_MODES = ("stretch", "letterbox")        # how a picture is scaled to a size (center_crop scales, then crops)
# Eval-time "resize to 256, centre-crop 224" of the CNS paper, for any input size (bundles without a recipe).
CENTER_CROP_RATIO = 256 / 224


def normalization_stats(name: str, *, in_channels: int) -> dict:
    """``{"mean": [...], "std": [...]}`` per channel for "unit" (identity) or "imagenet".

    A grey network trained with ImageNet statistics uses the channel averages (mean 0.449, std 0.226).
    """
    if name == "unit":
        return {"mean": [0.0] * in_channels, "std": [1.0] * in_channels}
    if name == "imagenet":
        if in_channels == 3:
            return {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}
        return {"mean": [float(np.mean(IMAGENET_MEAN))] * in_channels,
                "std": [float(np.mean(IMAGENET_STD))] * in_channels}
    raise InputError(f"unknown normalization {name!r}; choose unit or imagenet")


def is_identity(stats: dict) -> bool:
    """True for mean 0 / std 1 on every channel ("unit"): no arithmetic needed after the 1/255 scaling."""
    return all(m == 0 for m in stats["mean"]) and all(s == 1 for s in stats["std"])


def base_size(input_size, crop_ratio: float = 1.0):
    """Size a picture is scaled to before a centre (or, in training, random) crop of ``input_size``:
    ``input_size`` × ``crop_ratio`` (a task's ``Recipe.crop_ratio``; 1 for recipes that do not crop); one side
    for a square size, ``(height, width)`` for a pair."""
    if not crop_ratio >= 1.0:
        raise InputError(f"crop_ratio {crop_ratio!r}: must be >= 1 (the picture is cropped, never padded)")
    if isinstance(input_size, (int, np.integer)):
        return int(round(input_size * crop_ratio))
    return tuple(int(round(side * crop_ratio)) for side in as_hw(input_size))


def image_array(image, *, index: int = 0) -> np.ndarray:
    """An HxW or HxWx3 array from an array or anything with ``.image`` (core.io.LoadedImage)."""
    arr = getattr(image, "image", image)
    if isinstance(arr, torch.Tensor):
        arr = arr.detach().cpu().numpy()
    if not isinstance(arr, np.ndarray):
        raise InputError(f"image {index}: expected an array or a loaded image, got {type(image).__name__}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, :3]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)) or min(arr.shape[:2]) < 1:
        raise InputError(f"image {index}: expected HxW or HxWx3 pixels, got shape {tuple(arr.shape)}")
    return arr


def to_unit_float(arr: np.ndarray, *, index: int = 0) -> np.ndarray:
    """float32 pixels on the 0..1 scale (see the module docstring for the rule)."""
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) * (1.0 / 255.0)
    if arr.dtype == np.uint16:
        return arr.astype(np.float32) * (1.0 / 65535.0)
    if arr.dtype == np.bool_:
        return arr.astype(np.float32)
    if not np.issubdtype(arr.dtype, np.number):
        raise InputError(f"image {index}: unsupported pixel type {arr.dtype}")
    out = arr.astype(np.float32, copy=False)
    if not np.isfinite(out).all():
        raise InputError(f"image {index}: pixels contain NaN or infinity")
    if out.size and out.max() > 1.0:
        out = out * (1.0 / 255.0)
    return out


def to_channels(arr: np.ndarray, in_channels: int) -> np.ndarray:
    """HxWxC (C = in_channels), same dtype: RGB -> grey by luminance (cv2), grey replicated when C > 1."""
    if arr.ndim == 3 and in_channels == 3:
        return arr
    grey = cv2.cvtColor(np.ascontiguousarray(arr), cv2.COLOR_RGB2GRAY) if arr.ndim == 3 else arr
    grey = grey[:, :, None]
    return grey if in_channels == 1 else np.repeat(grey, in_channels, axis=2)


def as_hw(input_size) -> tuple[int, int]:
    """``(height, width)`` of an input size given as one side (square) or as a pair."""
    if isinstance(input_size, (int, np.integer)):
        return int(input_size), int(input_size)
    h, w = input_size
    return int(h), int(w)


def parse_input_size(text) -> int | tuple[int, int]:
    """An input size from the command line or a form: ``"160"`` (square) or ``"160x240"`` (height x width).

    Why a pair: real scans are rarely square (HC18 is 800x540); a letterboxed square input wastes a third of
    its pixels on padding, while a matching aspect spends them all on the picture.

    >>> parse_input_size("160"), parse_input_size("160x240")
    (160, (160, 240))
    """
    parts = str(text).strip().lower().replace("\u00d7", "x").split("x")
    try:
        sides = [int(p) for p in parts]
    except ValueError:
        sides = []
    if len(sides) not in (1, 2) or min(sides) < 1:
        raise InputError(f"input size {text!r}: expected a positive number of pixels or HEIGHTxWIDTH, e.g. 160x240")
    return sides[0] if len(sides) == 1 else (sides[0], sides[1])


def letterbox_geometry(height: int, width: int, size_hw) -> tuple[int, int, int, int]:
    """``(top, left, new_h, new_w)``: where a ``height``×``width`` picture lands inside ``size_hw`` when it is
    scaled to fit with its aspect ratio kept and centred (the rest is zero padding)."""
    h, w = as_hw(size_hw)
    scale = min(h / height, w / width)
    nh, nw = max(1, min(h, round(height * scale))), max(1, min(w, round(width * scale)))
    return (h - nh) // 2, (w - nw) // 2, nh, nw


def _interpolation(src_hw, dst_hw, nearest: bool) -> int:
    """The resize rule: nearest for masks, INTER_AREA when both sides shrink (no aliasing), else linear."""
    if nearest:
        return cv2.INTER_NEAREST
    return cv2.INTER_AREA if src_hw[0] > dst_hw[0] and src_hw[1] > dst_hw[1] else cv2.INTER_LINEAR


def letterbox(arr: np.ndarray, size_hw, *, nearest: bool = False) -> np.ndarray:
    """Scale to fit ``size_hw`` keeping the aspect ratio, centred on zeros.

    Why: real scans come in any shape (HC18 is 800×540, DICOM 1024×768 or 640×480); stretching them to a square
    squashes a head into a different ellipse per scanner, which the network must then learn to undo.
    """
    h, w = as_hw(size_hw)
    top, left, nh, nw = letterbox_geometry(arr.shape[0], arr.shape[1], (h, w))
    interp = _interpolation(arr.shape[:2], (nh, nw), nearest)
    inner = arr if arr.shape[:2] == (nh, nw) else cv2.resize(arr, (nw, nh), interpolation=interp)
    out = np.zeros((h, w) + arr.shape[2:], dtype=arr.dtype)
    out[top:top + nh, left:left + nw] = inner.reshape((nh, nw) + arr.shape[2:])
    return out


def center_crop(arr: np.ndarray, size_hw) -> np.ndarray:
    """The centre ``size_hw`` of an HxW or HxWxC picture, by torchvision's centre crop (the rounding of the
    training's evaluation ``v2.CenterCrop``, so an odd margin lands on the same pixel in both paths)."""
    h, w = as_hw(size_hw)
    t = torch.from_numpy(np.ascontiguousarray(arr))
    t = t if t.ndim == 2 else t.movedim(-1, 0)
    out = tvf.center_crop(t, [h, w])
    return (out if out.ndim == 2 else out.movedim(0, -1)).numpy()


def restore_size(prob: np.ndarray, height: int, width: int, *, mode: str = "stretch") -> np.ndarray:
    """A network-resolution map (e.g. mask probabilities) back at the picture's ``height``×``width``: the
    inverse of :func:`resize` for "stretch" and "letterbox" (the padding is cut away first)."""
    prob = np.asarray(prob, dtype=np.float32)
    if mode == "letterbox":
        top, left, nh, nw = letterbox_geometry(height, width, prob.shape[:2])
        prob = prob[top:top + nh, left:left + nw]
    elif mode != "stretch":
        raise InputError(f"resize_mode {mode!r} cannot be mapped back to the picture; use stretch or letterbox")
    if prob.shape[:2] == (height, width):
        return prob
    return cv2.resize(prob, (width, height), interpolation=cv2.INTER_LINEAR)


def resize(arr: np.ndarray, size_hw, *, mode: str = "stretch", nearest: bool = False,
           crop_ratio: float = CENTER_CROP_RATIO, fit: str = "stretch") -> np.ndarray:
    """Resize HxW or HxWxC to ``size_hw``: plain stretch, letterbox (aspect kept, zero padding), or
    "center_crop": scaled by ``crop_ratio`` (stretched, or letterboxed when ``fit`` is "letterbox"), then the
    centre crop. ``nearest``: for masks (labels are never blended)."""
    h, w = as_hw(size_hw)
    if mode == "letterbox":
        return letterbox(arr, (h, w), nearest=nearest)
    if mode == "center_crop":
        if fit not in FIT_MODES:
            raise InputError(f"center_crop scales by {fit!r}; choose one of: {', '.join(FIT_MODES)}")
        big = (base_size(h, crop_ratio), base_size(w, crop_ratio))
        return center_crop(resize(arr, big, mode=fit, nearest=nearest), (h, w))
    if mode != "stretch":
        raise InputError(f"unknown resize_mode {mode!r}; choose one of: {', '.join(RESIZE_MODES)}")
    if arr.shape[:2] == (h, w):
        return arr
    return cv2.resize(arr, (w, h), interpolation=_interpolation(arr.shape[:2], (h, w), nearest))


def fit_picture(arr: np.ndarray, size_hw, *, in_channels: int, box=None, mode: str = "stretch",
                crop_ratio: float = CENTER_CROP_RATIO, fit: str = "stretch") -> np.ndarray:
    """One picture's pixels at the network size, HxWxC, same dtype: cropped to ``box`` (the region of interest,
    :func:`core.segmentation.roi.roi_box`; None = the whole picture), resized (:func:`resize`), channels
    converted (:func:`to_channels`). The training datasets store this (uint8); prediction scales it."""
    if box is not None:
        arr = crop_to_box(arr, box)
    return to_channels(resize(arr, size_hw, mode=mode, crop_ratio=crop_ratio, fit=fit), in_channels)


def bundle_preprocessing(meta) -> dict:
    """The keyword arguments of :func:`preprocess_batch` a bundle's json records (see the module docstring).

    ``normalization`` may be the stats or their name; a "center_crop" bundle crops by its recipe's
    ``crop_ratio`` after its recipe's ``resize`` (stretch or letterbox), as its training did.
    """
    get = meta.get if isinstance(meta, Mapping) else (lambda key: getattr(meta, key, None))  # dict or BundleMeta
    in_channels = int(get("in_channels"))
    norm = get("normalization") or "unit"
    norm = norm.to_json() if hasattr(norm, "to_json") else norm
    recipe = get("recipe")
    recipe = recipe if isinstance(recipe, Mapping) else {}
    ratio = recipe.get("crop_ratio") or 1.0
    fit = recipe.get("resize") or "stretch"
    return {"in_channels": in_channels, "input_size": get("input_size"),
            "normalization": normalization_stats(norm, in_channels=in_channels) if isinstance(norm, str) else norm,
            "resize_mode": get("resize_mode") or "stretch",
            "crop_ratio": float(ratio) if ratio > 1 else CENTER_CROP_RATIO,
            "fit": fit if fit in FIT_MODES else "stretch"}


def preprocess_batch(images, *, in_channels: int, input_size, normalization: dict, resize_mode: str = "stretch",
                     crop_ratio: float = CENTER_CROP_RATIO, fit: str = "stretch", boxes=None) -> torch.Tensor:
    """``(N, C, H, W)`` float32 network input from a list of images (arrays or loaded images).

    ``boxes``: per image the region of interest to crop first (None = whole pictures). uint8 pictures (what
    the io gate delivers) stay uint8 through :func:`fit_picture`, exactly like the trainer's in-memory
    pictures, and are scaled by 1/255 in one vectorised step; other types go through float. The rule is per
    picture, so a picture's input never depends on what else is in the batch.
    """
    size_hw = as_hw(input_size)
    batch = np.empty((len(images), size_hw[0], size_hw[1], in_channels), dtype=np.float32)
    scale = np.ones(len(images), dtype=np.float32)
    for i, image in enumerate(images):
        arr = image_array(image, index=i)
        if arr.dtype == np.uint8:
            scale[i] = 1.0 / 255.0
        else:
            arr = to_unit_float(arr, index=i)
        batch[i] = fit_picture(arr, size_hw, in_channels=in_channels, box=None if boxes is None else boxes[i],
                               mode=resize_mode, crop_ratio=crop_ratio, fit=fit)
    x = torch.from_numpy(batch).permute(0, 3, 1, 2)
    x = x.mul_(torch.from_numpy(scale).view(-1, 1, 1, 1))
    if not is_identity(normalization):
        mean = torch.tensor(normalization["mean"], dtype=torch.float32).view(1, -1, 1, 1)
        std = torch.tensor(normalization["std"], dtype=torch.float32).view(1, -1, 1, 1)
        x = x.sub_(mean).div_(std)
    return x.contiguous()
