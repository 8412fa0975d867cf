"""Training datasets: the manifest's pictures decoded once, resized, kept in memory, augmented per sample.

Why in memory: a study has hundreds to a few thousand pictures; decoding a 768×1024 JPEG each epoch costs more
than the network on a small CPU, while the resized uint8 copies (128–256 px) take a few megabytes. Pictures
come through the io gate (:func:`core.io.load_image`), so limits, DICOM and cine handling are the gate's; a
cine clip becomes one sample per kept frame (one every ``frame_step`` frames), all with the clip's label and
patient.

Each sample's augmentation is seeded by (run seed, epoch, sample index) (:func:`core.data.augment.apply_seeded`),
so a run is repeatable and a resumed run continues with the same random draws.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch

from core.data.augment import apply_seeded
from core.errors import InputError
from core.io import load_image
from core.models.transforms import as_hw, fit_picture, resize
from core.segmentation.roi import check_roi, crop_to_box, roi_box

META_EXCLUDE = {"image_path", "mask_path", "instances_path", "instance_classes", "row"}


@dataclass
class Pictures:
    """Decoded samples: ``images`` (N, C, H, W) uint8, ``masks`` (N, H, W) uint8 coverage (0..255) or None,
    ``records`` with one row per sample (case, patient_id, row, frame, label, mask_path, height, width +
    manifest metadata)."""

    images: np.ndarray
    masks: np.ndarray | None
    records: pd.DataFrame


def read_mask(path: str, *, row=None) -> np.ndarray:
    """A mask file as a bool HxW array (non-zero in any channel = structure), through the io gate."""
    try:
        loaded = load_image(path)
    except InputError as err:
        raise InputError(f"row {row}, column mask_path: {err}") from None
    return np.asarray(loaded.frames[0]).max(axis=-1) > 0


def case_name(path: str, root) -> str:
    """The case id shown in tables: the image path relative to the manifest folder (no patient identifiers)."""
    try:
        return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return Path(path).name


def load_pictures(df: pd.DataFrame, *, root, size, in_channels: int, with_masks: bool = False,
                  frame_step: int = 80, progress: Callable | None = None, roi: str = "image",
                  resize_mode: str = "stretch") -> Pictures:
    """Decode every manifest row (through the io gate), crop to the ``roi`` (:mod:`core.segmentation.roi`),
    resize to ``size`` (one side, or ``(height, width)``; ``resize_mode`` "stretch" or "letterbox") and convert
    the channels, by the preprocessing kernel the predictor calls too (:func:`core.models.transforms.fit_picture`),
    and stack."""
    check_roi(roi)
    size_hw = as_hw(size)
    images, masks, records = [], [], []
    meta_cols = [c for c in df.columns if c not in META_EXCLUDE]
    for i, (_, r) in enumerate(df.iterrows()):
        row = r.get("row", i + 2)
        try:
            loaded = load_image(str(r["image_path"]), frame_step=frame_step)
        except InputError as err:
            raise InputError(f"row {row}, column image_path: {err}") from None
        frames = np.asarray(loaded.frames)
        mask = None
        if with_masks:
            mask = read_mask(str(r["mask_path"]), row=row)
            if mask.shape != frames.shape[1:3]:
                raise InputError(f"row {row}, column mask_path: mask is {mask.shape[1]}x{mask.shape[0]} but the "
                                 f"image is {frames.shape[2]}x{frames.shape[1]}; they must be the same size")
            frames = frames[:1]          # a mask belongs to one picture: the first frame of a clip
        base = case_name(str(r["image_path"]), root)
        for f, frame in enumerate(frames):
            box = roi_box(frame, roi)
            picture = fit_picture(frame, size_hw, in_channels=in_channels, box=box, mode=resize_mode)
            images.append(np.ascontiguousarray(picture.transpose(2, 0, 1)))          # HxWxC -> CxHxW
            if mask is not None:
                # Coverage, not nearest: a mask shrunk 5x by nearest-neighbour keeps one corner pixel of each block
                # (cv2 samples at floor(i * scale)), which shifts the outline by ~2 source pixels and quantises
                # it to whole pixels; the fraction of each input pixel inside the structure (the images' own
                # area rule) is an unbiased soft target, so the 0.5 contour lands on the edge to sub-pixel.
                masks.append(resize(crop_to_box(mask.astype(np.uint8) * 255, box), size_hw, mode=resize_mode))
            rec = {k: r[k] for k in meta_cols}
            rec.update(case=base if len(frames) == 1 else f"{base}#frame{f * frame_step}", row=row, frame=f,
                       image_path=str(r["image_path"]), height=int(frame.shape[0]), width=int(frame.shape[1]))
            if with_masks:
                rec["mask_path"] = str(r["mask_path"])
            records.append(rec)
        if progress is not None:
            progress({"event": "load", "done": i + 1, "total": len(df)})
    if not images:
        raise InputError("the manifest has no images")
    recs = pd.DataFrame.from_records(records)
    recs["patient_id"] = recs["patient_id"].astype(str)
    return Pictures(np.stack(images), np.stack(masks) if masks else None, recs)


class SampleDataset(torch.utils.data.Dataset):
    """Samples ``indices`` of :class:`Pictures` through ``transform``; yields dicts of tensors.

    ``targets``: class index per sample (classification, multitask) or None.
    """

    def __init__(self, pictures: Pictures, indices, *, transform, targets=None, seed: int = 0):
        self.pictures = pictures
        self.indices = np.asarray(indices, dtype=np.int64)
        self.transform = transform
        self.targets = None if targets is None else np.asarray(targets, dtype=np.int64)
        self.seed = int(seed)
        self.epoch = 0
        self.generator: torch.Generator | None = None   # the train sampler's; reseeded per epoch


    def set_epoch(self, epoch: int) -> None:
        """New augmentation draws each epoch, the same draws for the same epoch on every run."""
        self.epoch = int(epoch)
        if self.generator is not None:
            self.generator.manual_seed(self.seed * 1_000_003 + self.epoch)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict:
        idx = int(self.indices[i])
        image = torch.from_numpy(self.pictures.images[idx])
        mask = None if self.pictures.masks is None else torch.from_numpy(self.pictures.masks[idx])
        seed = (self.seed * 1_000_003 + self.epoch * 100_003 + idx) % (2**62)
        x, m = apply_seeded(self.transform, seed, image, mask)
        item = {"image": x, "index": idx}
        if m is not None:
            item["mask"] = m.float() / 255.0          # coverage in [0, 1]: a soft target at the outline
        if self.targets is not None:
            item["target"] = int(self.targets[idx])
        return item
