"""Instance-segmentation training data: manifest rows -> (image tensor, target dict) for torchvision Mask R-CNN.

Why its own module: instance labels come as an instance-label PNG plus an ``instance_classes`` cell
("k:structure;...", DESIGN.md section 4) rather than a class label or a binary mask, and the augmentations
must move the image, every instance mask and every box together. torchvision.transforms.v2 does exactly that
when the target is wrapped in ``tv_tensors`` (one random draw applied to all three), so we only glue.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.ops import masks_to_boxes
from torchvision.transforms import v2

from core.errors import InputError


@dataclass
class InstanceSample:
    """One training image in memory, resized to the working size (masks resized with it)."""

    patient_id: str
    image: np.ndarray            # H x W x 3 uint8
    labels: np.ndarray           # (K,) int64 class ids, 1 = first structure
    masks: np.ndarray            # (K, H, W) bool
    view: str | None = None      # the manifest's label (view category), when given
    name: str = ""


def parse_instance_classes(text, *, structures, where: str) -> dict[int, int]:
    """``"1:cranium;2:heart"`` -> {instance id: class id}; ``where`` names the row for error messages."""
    index = {s: i for i, s in enumerate(structures, start=1)}
    out: dict[int, int] = {}
    if text is None or (isinstance(text, float) and np.isnan(text)) or not str(text).strip():
        return out
    for part in str(text).split(";"):
        part = part.strip()
        if not part:
            continue
        key, sep, name = part.partition(":")
        if not sep or not key.strip().isdigit():
            raise InputError(f"{where}, column instance_classes: {part!r} is not 'k:structure'")
        name = name.strip()
        if name not in index:
            raise InputError(f"{where}, column instance_classes: unknown structure {name!r}; "
                             f"expected one of {', '.join(structures)}")
        k = int(key)
        if k < 1 or k in out:
            raise InputError(f"{where}, column instance_classes: instance id {k} is invalid or repeated")
        out[k] = index[name]
    return out


def read_instances(path: str, classes: dict[int, int], *, shape, where: str):
    """Instance-label PNG -> (labels (K,), masks (K, H, W) bool) for the instances named in ``classes``."""
    label_img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if label_img is None:
        raise InputError(f"{where}, column instances_path: cannot read {path}")
    if label_img.ndim != 2:
        raise InputError(f"{where}, column instances_path: {path} must be a single-channel label image")
    if label_img.shape != tuple(shape):
        raise InputError(f"{where}, column instances_path: {path} is {label_img.shape[1]}x{label_img.shape[0]}, "
                         f"the image is {shape[1]}x{shape[0]}")
    present = {int(v) for v in np.unique(label_img) if v != 0}
    unnamed = sorted(present - set(classes))
    if unnamed:
        raise InputError(f"{where}, column instance_classes: instance {unnamed[0]} in {path} has no structure")
    ids = [k for k in sorted(classes) if k in present]
    masks = np.stack([label_img == k for k in ids]) if ids else np.zeros((0,) + label_img.shape, dtype=bool)
    return np.array([classes[k] for k in ids], dtype=np.int64), masks


def _read_image(path: str) -> np.ndarray:
    """First frame as HxWx3 uint8 through the io gate (it enforces the limits and decodes DICOM/cine)."""
    from core.io import load_image

    return np.asarray(load_image(path).image)


def resize_sample(image: np.ndarray, masks: np.ndarray, *, short_side: int):
    """Shrink so the shorter side is ``short_side`` (never enlarge): area for the image, nearest for masks.

    Why: Mask R-CNN rescales to ``min_size`` internally anyway; doing it once up front keeps augmentation and
    mask targets small on a CPU.
    """
    h, w = image.shape[:2]
    scale = short_side / min(h, w)
    if scale >= 1.0:
        return image, masks
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    masks = np.stack([cv2.resize(m.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0 for m in masks]) \
        if len(masks) else np.zeros((0, size[1], size[0]), dtype=bool)
    return image, masks


def load_samples(df, *, structures, short_side: int = 256, progress=None) -> list[InstanceSample]:
    """Manifest rows -> in-memory samples (rows need image_path, patient_id, instances_path, instance_classes)."""
    for col in ("instances_path", "instance_classes"):
        if col not in df.columns:
            raise InputError(f"manifest: column {col!r} is required for instance tasks")
    samples = []
    rows = list(df.itertuples(index=False))
    for i, row in enumerate(rows):
        r = row._asdict()
        where = f"row {r.get('row', i + 2)}"
        image = _read_image(r["image_path"])
        classes = parse_instance_classes(r["instance_classes"], structures=structures, where=where)
        labels, masks = read_instances(r["instances_path"], classes, shape=image.shape[:2], where=where)
        image, masks = resize_sample(image, masks, short_side=short_side)
        view = r.get("label")
        view = None if view is None or (isinstance(view, float) and np.isnan(view)) else str(view)
        samples.append(InstanceSample(str(r["patient_id"]), image, labels, masks, view, name=str(r["image_path"])))
        if progress is not None:
            progress(i + 1, len(rows))
    return samples


def train_transforms() -> v2.Transform:
    """Flips, a small affine and photometric jitter, drawn once per sample for image, masks and boxes.

    Instances pushed out of the frame are dropped afterwards from their (empty) masks, see :func:`_finish`.
    """
    return v2.Compose([
        v2.RandomHorizontalFlip(p=0.5),
        v2.RandomAffine(degrees=10, translate=(0.06, 0.06), scale=(0.9, 1.1)),
        v2.ColorJitter(brightness=0.2, contrast=0.2),
        v2.ToDtype(torch.float32, scale=True),
        v2.GaussianNoise(mean=0.0, sigma=0.02, clip=True),
    ])


def eval_transforms() -> v2.Transform:
    return v2.ToDtype(torch.float32, scale=True)


class InstanceDataset(torch.utils.data.Dataset):
    """(image float CxHxW in [0, 1], target dict boxes / labels / masks) pairs for Mask R-CNN.

    Random augmentation parameters come from a per-(seed, epoch, index) torch seed inside a forked RNG, so
    runs are reproducible and the global random state is left untouched.
    """

    def __init__(self, samples, *, train: bool, seed: int = 0, in_channels: int = 3):
        self.samples = list(samples)
        self.train = train
        self.seed = int(seed)
        self.epoch = 0
        self.in_channels = in_channels
        self.transforms = train_transforms() if train else eval_transforms()

    def __len__(self) -> int:
        return len(self.samples)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __getitem__(self, idx: int):
        s = self.samples[idx]
        h, w = s.image.shape[:2]
        image = tv_tensors.Image(torch.from_numpy(np.ascontiguousarray(s.image.transpose(2, 0, 1))))
        masks = tv_tensors.Mask(torch.from_numpy(s.masks.astype(np.uint8)))
        boxes = masks_to_boxes(masks) if len(masks) else torch.zeros((0, 4))
        target = {"boxes": tv_tensors.BoundingBoxes(boxes, format="XYXY", canvas_size=(h, w)),
                  "masks": masks, "labels": torch.from_numpy(s.labels)}
        if self.train:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed * 1_000_003 + self.epoch * 10_007 + idx)
                image, target = self.transforms(image, target)
        else:
            image, target = self.transforms(image, target)
        return _finish(image, target, self.in_channels)


def _finish(image, target, in_channels: int):
    """Tight boxes from the (possibly rotated) masks; drop instances that left the frame."""
    masks = target["masks"].as_subclass(torch.Tensor).to(torch.uint8)
    keep = masks.flatten(1).sum(1) > 0 if len(masks) else torch.zeros(0, dtype=torch.bool)
    masks, labels = masks[keep], target["labels"][keep]
    boxes = masks_to_boxes(masks) if len(masks) else torch.zeros((0, 4))
    boxes[:, 2:] += 1.0          # masks_to_boxes is max-inclusive; +1 keeps one-pixel instances non-degenerate
    image = image.as_subclass(torch.Tensor)
    if in_channels == 1:
        image = image.mean(dim=0, keepdim=True)
    return image, {"boxes": boxes.float(), "labels": labels.to(torch.int64), "masks": masks}


class FoldInstances(InstanceDataset):
    """The samples at ``indices`` of a run's sample list, as the trainer's items: ``{"index", "image",
    "target"}``, ``index`` being the position in the whole list (the adapter scores predictions by it)."""

    def __init__(self, samples, indices, *, train: bool, seed: int = 0, in_channels: int = 3):
        self.indices = [int(i) for i in indices]
        super().__init__([samples[i] for i in self.indices], train=train, seed=seed, in_channels=in_channels)

    def __getitem__(self, k: int) -> dict:
        image, target = super().__getitem__(k)
        return {"index": self.indices[k], "image": image, "target": target}


def collate(batch) -> dict:
    """Trainer batch of detector items: lists of images and target dicts (any sizes), and their indices."""
    return {"index": torch.tensor([b["index"] for b in batch], dtype=torch.int64),
            "images": [b["image"] for b in batch], "targets": [b["target"] for b in batch]}
