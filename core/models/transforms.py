"""The preprocessing that travels with a bundle: channels, resize, normalisation.

Why here and not in each page or trainer: a model is only correct with the exact preprocessing it was trained
with. The bundle's json records ``in_channels``, ``input_size``, ``normalization`` (mean/std on the 0..1 scale)
and ``resize_mode``; training and prediction both call :func:`preprocess_batch`, so they cannot drift.

Pixel scale: uint8 is divided by 255, uint16 by 65535; float images are taken as 0..1, unless their maximum
exceeds 1, in which case they are read as 0..255.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from core.errors import InputError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RESIZE_MODES = ("stretch", "center_crop", "letterbox")
# Eval-time "resize to 256, centre-crop 224" of the CNS paper, for any input size.
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
    """HxWxC (C = in_channels), same dtype: RGB -> grey by luminance (cv2), grey replicated when C > 1.

    Same rule as the trainer's :mod:`core.data.datasets` (resize first, then channels, on uint8).
    """
    if arr.ndim == 3 and in_channels == 3:
        return arr
    grey = cv2.cvtColor(np.ascontiguousarray(arr), cv2.COLOR_RGB2GRAY) if arr.ndim == 3 else arr
    grey = grey[:, :, None]
    return grey if in_channels == 1 else np.repeat(grey, in_channels, axis=2)


def _size_hw(input_size) -> tuple[int, int]:
    if isinstance(input_size, (int, np.integer)):
        return int(input_size), int(input_size)
    h, w = input_size
    return int(h), int(w)


def letterbox_geometry(height: int, width: int, size_hw) -> tuple[int, int, int, int]:
    """``(top, left, new_h, new_w)``: where a ``height``×``width`` picture lands inside ``size_hw`` when it is
    scaled to fit with its aspect ratio kept and centred (the rest is zero padding)."""
    h, w = _size_hw(size_hw)
    scale = min(h / height, w / width)
    nh, nw = max(1, min(h, round(height * scale))), max(1, min(w, round(width * scale)))
    return (h - nh) // 2, (w - nw) // 2, nh, nw


def letterbox(arr: np.ndarray, size_hw, *, nearest: bool = False) -> np.ndarray:
    """Scale to fit ``size_hw`` keeping the aspect ratio, centred on zeros.

    Why: real scans come in any shape (HC18 is 800×540, DICOM 1024×768 or 640×480); stretching them to a square
    squashes a head into a different ellipse per scanner, which the network must then learn to undo.
    """
    h, w = _size_hw(size_hw)
    top, left, nh, nw = letterbox_geometry(arr.shape[0], arr.shape[1], (h, w))
    shrink = arr.shape[0] > nh and arr.shape[1] > nw
    interp = cv2.INTER_NEAREST if nearest else (cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    inner = arr if arr.shape[:2] == (nh, nw) else cv2.resize(arr, (nw, nh), interpolation=interp)
    out = np.zeros((h, w) + arr.shape[2:], dtype=arr.dtype)
    out[top:top + nh, left:left + nw] = inner.reshape((nh, nw) + arr.shape[2:])
    return out


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


def resize(arr: np.ndarray, size_hw: tuple[int, int], *, mode: str = "stretch") -> np.ndarray:
    """Resize HxW or HxWx3 to ``size_hw``: plain stretch, letterbox (aspect kept, zero padding), or resize by
    256/224 then centre crop."""
    h, w = size_hw
    if mode == "letterbox":
        return letterbox(arr, (h, w))
    if mode == "center_crop":
        big = (round(h * CENTER_CROP_RATIO), round(w * CENTER_CROP_RATIO))
        arr = resize(arr, big)
        top, left = (big[0] - h) // 2, (big[1] - w) // 2
        return arr[top:top + h, left:left + w]
    if mode != "stretch":
        raise InputError(f"unknown resize_mode {mode!r}; choose one of: {', '.join(RESIZE_MODES)}")
    if arr.shape[:2] == (h, w):
        return arr
    shrink = arr.shape[0] > h and arr.shape[1] > w
    return cv2.resize(arr, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def preprocess_batch(images, *, in_channels: int, input_size, normalization: dict,
                     resize_mode: str = "stretch") -> torch.Tensor:
    """``(N, C, H, W)`` float32 network input from a list of images (arrays or loaded images).

    uint8 pictures (what the io gate delivers) stay uint8 through resize and colour conversion, exactly like
    the trainer's in-memory pictures, and are scaled by 1/255 in one vectorised step; other types go through
    float. The rule is per picture, so a picture's input never depends on what else is in the batch.
    """
    size_hw = _size_hw(input_size)
    batch = np.empty((len(images), size_hw[0], size_hw[1], in_channels), dtype=np.float32)
    scale = np.ones(len(images), dtype=np.float32)
    for i, image in enumerate(images):
        arr = image_array(image, index=i)
        if arr.dtype == np.uint8:
            scale[i] = 1.0 / 255.0
        else:
            arr = to_unit_float(arr, index=i)
        batch[i] = to_channels(resize(arr, size_hw, mode=resize_mode), in_channels)
    x = torch.from_numpy(batch).permute(0, 3, 1, 2)
    x = x.mul_(torch.from_numpy(scale).view(-1, 1, 1, 1))
    mean = torch.tensor(normalization["mean"], dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(normalization["std"], dtype=torch.float32).view(1, -1, 1, 1)
    if torch.any(mean != 0) or torch.any(std != 1):
        x = x.sub_(mean).div_(std)
    return x.contiguous()
