"""Augmentation recipes of the studies, for image + mask pairs.

Why torchvision.transforms.v2 with tv_tensors: an image and its mask (tv_tensors.Image, tv_tensors.Mask)
pass through one Compose call, so every random parameter (angle, shift, flip, crop) is drawn once and applied
to both; intensity transforms (contrast, brightness, noise) touch only the image and geometric ones warp the
mask with nearest-neighbour interpolation.

Fill modes (``affine_fill`` recipe): the paper fills the blank area an affine leaves behind with a mode drawn at
random from constant / nearest / reflect / wrap. v2's affine only fills with a constant, so
:class:`RandomBorderPad` first pads the picture by half its size on every side with the drawn numpy border
mode (``edge`` = nearest, ``reflect``, ``wrap``, ``constant``), the affine and perspective warps then run on
the padded picture (whose corners are the padding, not black), and a centre crop cuts back to the input size.

Reproducibility: v2 draws from torch's default generator, so :func:`apply_seeded` runs a transform inside
``torch.random.fork_rng`` seeded per (run seed, epoch, sample): the same sample in the same epoch always gets
the same augmentation (a resumed run sees what the killed one would have), and global random state outside
the call is untouched.

>>> t = build_transform("segmentation", train=False, input_size=8)
>>> import torch; x, m = t(torch.zeros(1, 8, 8, dtype=torch.uint8), torch.zeros(8, 8, dtype=torch.uint8))
>>> x.dtype, tuple(x.shape), tuple(m.shape)
(torch.float32, (1, 8, 8), (8, 8))
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from core.errors import InputError
from core.models.transforms import as_hw, base_size, is_identity, normalization_stats
from core.tasks import CROP_AUGMENTS

__all__ = ["CROP_RECIPES", "FILL_MODES", "RECIPES", "PairTransform", "RandomBorderPad", "apply_seeded",
           "base_size", "build_transform"]     # base_size: the kernel's, re-exported for the trainer

FILL_MODES = {"constant": "constant", "nearest": "edge", "reflect": "reflect", "wrap": "wrap"}
# Recipe names say what they do (a task's Recipe.augment picks one; no study is named here):
#   affine_fill   rotation ±40°, scale ±20 %, shift < 20 %, projective warp, flips; blank areas filled with a
#                 random border mode (the miscarriage paper's recipe)
#   crop_jitter   random resized crop, rotation ±15°, contrast, brightness, noise (the preterm paper's)
#   crop_flip     random crop of the input size from a picture Recipe.crop_ratio larger + horizontal flip;
#                 evaluation: the centre crop (the CNS paper's 256 -> 224)
RECIPES = ("affine_fill", "crop_jitter", "crop_flip", "segmentation", "basic", "none")
CROP_RECIPES = CROP_AUGMENTS        # the task checks crop_ratio > 1 against the same list


class RandomBorderPad(v2.Transform):
    """Pad every side by ``fraction`` of the size with a numpy border mode drawn at random (one per call).

    Image and mask get the same mode, so a reflected sac in the image has its reflected mask.
    """

    def __init__(self, *, fraction: float = 0.5, modes=tuple(FILL_MODES)):
        super().__init__()
        unknown = [m for m in modes if m not in FILL_MODES]
        if unknown:
            raise InputError(f"fill mode {unknown[0]!r}; choose from {', '.join(FILL_MODES)}")
        self.fraction = float(fraction)
        self.modes = tuple(modes)

    def make_params(self, flat_inputs):
        return {"mode": self.modes[int(torch.randint(len(self.modes), (1,)))]}

    def transform(self, inpt, params):
        if not isinstance(inpt, (tv_tensors.Image, tv_tensors.Mask)):
            return inpt
        h, w = inpt.shape[-2:]
        ph, pw = int(round(h * self.fraction)), int(round(w * self.fraction))
        arr = inpt.detach().cpu().numpy()
        pad = [(0, 0)] * (arr.ndim - 2) + [(ph, ph), (pw, pw)]
        mode = FILL_MODES[params["mode"]]
        if mode == "reflect" and (ph >= h or pw >= w):
            mode = "symmetric"          # numpy's reflect needs pad < size; symmetric does not
        padded = np.pad(arr, pad, mode=mode)
        return tv_tensors.wrap(torch.from_numpy(np.ascontiguousarray(padded)), like=inpt)


def _normalize(normalization: str, in_channels: int) -> list:
    """The kernel's statistics (:func:`core.models.transforms.normalization_stats`, what the predictor uses)."""
    stats = normalization_stats(normalization, in_channels=in_channels)
    return [] if is_identity(stats) else [v2.Normalize(stats["mean"], stats["std"])]


def _geometry(recipe: str, input_size: tuple[int, int], train: bool) -> list:
    """Geometric transforms (applied to image and mask alike), on the uint8 picture."""
    if recipe in CROP_RECIPES:
        return [v2.RandomCrop(input_size), v2.RandomHorizontalFlip()] if train else [v2.CenterCrop(input_size)]
    if not train or recipe == "none":
        return []
    if recipe == "affine_fill":
        return [
            RandomBorderPad(fraction=0.5),
            v2.RandomAffine(degrees=40, translate=(0.2, 0.2), scale=(0.8, 1.2)),
            v2.RandomPerspective(distortion_scale=0.3, p=0.5),     # the paper's "projective" transform
            v2.RandomHorizontalFlip(), v2.RandomVerticalFlip(),
            v2.CenterCrop(input_size),
        ]
    if recipe == "crop_jitter":
        return [v2.RandomResizedCrop(input_size, scale=(0.75, 1.0), ratio=(0.9, 1.1), antialias=True),
                v2.RandomAffine(degrees=15)]
    if recipe == "segmentation":
        return [v2.RandomHorizontalFlip(), v2.RandomVerticalFlip(),
                v2.RandomAffine(degrees=10, translate=(0.05, 0.05), scale=(0.9, 1.1))]
    if recipe == "basic":
        return [v2.RandomHorizontalFlip(), v2.RandomAffine(degrees=10, translate=(0.05, 0.05), scale=(0.9, 1.1))]
    raise InputError(f"augmentation recipe {recipe!r}; choose one of {', '.join(RECIPES)}")


def _intensity(recipe: str, train: bool) -> list:
    """Intensity transforms on the float image in [0, 1]; masks pass through untouched."""
    if not train:
        return []
    if recipe == "crop_jitter":
        return [v2.ColorJitter(brightness=0.25, contrast=0.25), v2.GaussianNoise(sigma=0.03)]
    if recipe == "segmentation":
        return [v2.ColorJitter(brightness=0.2, contrast=0.2)]
    return []


class PairTransform:
    """Callable ``(image CxHxW uint8, mask HxW or None) -> (float image, uint8 mask or None)``."""

    def __init__(self, recipe: str, *, train: bool, input_size, normalization: str = "unit",
                 in_channels: int = 1):
        if recipe not in RECIPES:
            raise InputError(f"augmentation recipe {recipe!r}; choose one of {', '.join(RECIPES)}")
        self.recipe, self.train, self.input_size = recipe, bool(train), as_hw(input_size)
        self.geometry = v2.Compose(_geometry(recipe, self.input_size, self.train) or [v2.Identity()])
        self.pixels = v2.Compose([v2.ToDtype(torch.float32, scale=True), *_intensity(recipe, self.train),
                                  *_normalize(normalization, in_channels)])

    def __call__(self, image: torch.Tensor, mask: torch.Tensor | None = None):
        img = tv_tensors.Image(image)
        if mask is None:
            out_img = self.geometry(img)
            out_mask = None
        else:
            out_img, out_mask = self.geometry(img, tv_tensors.Mask(mask))
        out_img = self.pixels(out_img)
        size = tuple(out_img.shape[-2:])
        if size != self.input_size:
            # Pictures that reach a transform at another size (eval of a non-crop recipe) are resized here.
            out_img = v2.functional.resize(out_img, list(self.input_size), antialias=True)
            if out_mask is not None:
                out_mask = v2.functional.resize(out_mask, list(self.input_size),
                                                interpolation=v2.InterpolationMode.NEAREST)
        out_img = out_img.as_subclass(torch.Tensor)
        out_mask = None if out_mask is None else out_mask.as_subclass(torch.Tensor)
        return out_img, out_mask


def build_transform(recipe: str, *, train: bool, input_size, normalization: str = "unit",
                    in_channels: int = 1) -> Callable:
    """The study's transform for training (random) or evaluation (deterministic)."""
    return PairTransform(recipe, train=train, input_size=input_size, normalization=normalization,
                         in_channels=in_channels)


def apply_seeded(transform: Callable, seed: int, image, mask=None):
    """Run ``transform`` with torch's generator seeded by ``seed`` without touching the caller's state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed) % (2**63 - 1))
        return transform(image, mask)
