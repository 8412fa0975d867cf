"""A loaded bundle, ready to predict: the one inference path shared by CLI, pipeline, pages and benchmark.

Why a thin object: preprocessing, class names and thresholds come from the bundle's json, so callers hand in
raw images (arrays or ``core.io.LoadedImage``) and never rebuild preprocessing. The path from images to
probabilities is: :func:`core.models.transforms.preprocess_batch` (one numpy buffer, one tensor) -> forward
under ``torch.inference_mode`` -> softmax, batched; nothing else, so it costs little more than the bare
forward (issue 6 measures the ratio). A torch tensor ``(N, C, H, W)`` is taken as already preprocessed.

>>> p = load_predictor("sample_data/models/miscarriage")          # doctest: +SKIP
>>> p.predict_proba([image]).shape                                 # doctest: +SKIP
(1, 2)
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.errors import InputError
from core.models.bundle import META_FILE, WEIGHTS_FILE, BundleError, load_bundle, read_meta
from core.models.ensemble import ModelEnsemble
from core.models.instance import load_instance_predictor
from core.models.meta import BundleMeta
from core.models.transforms import bundle_preprocessing, image_array, preprocess_batch, restore_size
from core.segmentation.roi import roi_box
from core.tasks import positive_index


@dataclass
class Prediction:
    """Both outputs of one pass: class probabilities (n, C) or None; masks at original size or None."""

    probabilities: np.ndarray | None
    masks: list | None


def _default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


_ROI_CACHE_SIZE = 256


class Predictor:
    """A bundle's model in eval mode with its own preprocessing. Read-only after construction, apart from a
    thread-safe memo of region-of-interest boxes."""

    def __init__(self, model, meta: BundleMeta, *, device=None, batch_size: int = 32):
        self.device = torch.device(device) if device is not None else _default_device()
        self.model = model.to(self.device).eval()
        self.meta = meta
        self.kind = meta.kind
        self.class_names = list(meta.class_names)
        self.batch_size = int(batch_size)
        self.threshold = meta.threshold
        self.mask_threshold = meta.mask_threshold
        self.roi = meta.roi      # "sac": the model was trained on the sac's square (roi.py)
        self._roi_cache: dict = {}
        self._roi_lock = threading.Lock()

    # ------------------------------------------------------------------------------------------- info
    @property
    def has_classes(self) -> bool:
        return self.kind in ("classification", "multitask")

    @property
    def has_masks(self) -> bool:
        return self.kind in ("segmentation", "multitask")

    @property
    def positive_index(self) -> int | None:
        """Index of the positive class of a binary model (:func:`core.tasks.positive_index` of the class names
        and meta ``positive_label``); None unless there are two classes."""
        return positive_index(self.class_names, self.meta.positive_label)

    # ------------------------------------------------------------------------------------- the path
    def roi_boxes(self, images) -> list:
        """Per image, the ``(x0, y0, x1, y1)`` box the network sees (the whole picture unless roi is "sac").

        Boxes are remembered by pixel content: one analysis asks for the same picture's box several times
        (probability, Grad-CAM, out-of-distribution check) and each ask would run the level set again.
        """
        boxes = []
        for i, im in enumerate(images):
            arr = np.ascontiguousarray(image_array(im, index=i))
            key = (arr.shape, arr.dtype.str, hashlib.blake2b(arr.tobytes(), digest_size=16).digest())
            with self._roi_lock:
                box = self._roi_cache.get(key)
            if box is None:
                box = roi_box(arr, self.roi)
                with self._roi_lock:
                    if len(self._roi_cache) >= _ROI_CACHE_SIZE:
                        self._roi_cache.pop(next(iter(self._roi_cache)))
                    self._roi_cache[key] = box
            boxes.append(box)
        return boxes

    def preprocess(self, images) -> torch.Tensor:
        """The network input ``(N, C, H, W)`` for ``images``, exactly as the bundle was trained: the kernel of
        :mod:`core.models.transforms` with the bundle's recorded preprocessing, cropped to the sac's square
        first when the bundle's roi is "sac"."""
        if isinstance(images, torch.Tensor):
            return images
        images = list(images)
        boxes = None
        if self.roi != "image":      # each image's pixels read once, for its box and for its input
            images = [image_array(im, index=i) for i, im in enumerate(images)]
            boxes = self.roi_boxes(images)
        return preprocess_batch(images, boxes=boxes, **bundle_preprocessing(self.meta))

    def _chunks(self, images):
        if isinstance(images, torch.Tensor):
            for start in range(0, images.shape[0], self.batch_size):
                yield images[start:start + self.batch_size]
        else:
            images = list(images)
            if not images:
                raise InputError("no images to predict")
            for start in range(0, len(images), self.batch_size):
                yield images[start:start + self.batch_size]

    def _forward(self, chunk):
        x = self.preprocess(chunk).to(self.device, non_blocking=True)
        return self.model(x)

    def _class_proba(self, out) -> torch.Tensor:
        logits = out["class_logits"] if isinstance(out, dict) else out
        if logits.shape[1] == 1:
            p = torch.sigmoid(logits)
            return torch.cat([1 - p, p], dim=1)
        return torch.softmax(logits, dim=1)

    def _mask_proba(self, out) -> torch.Tensor:
        logits = out["mask_logits"] if isinstance(out, dict) else out
        if logits.shape[1] == 1:
            return torch.sigmoid(logits[:, 0])
        return 1 - torch.softmax(logits, dim=1)[:, 0]

    def _masks_at(self, prob: torch.Tensor, sizes) -> list:
        prob = prob.float().cpu().numpy()
        masks = []
        mode = self.meta.resize_mode
        for p, (h, w) in zip(prob, sizes):
            if p.shape != (h, w) or mode == "letterbox":
                p = restore_size(p, h, w, mode=mode)
            masks.append(p > self.mask_threshold)
        return masks

    def _require(self, what: str):
        ok = self.has_classes if what == "classes" else self.has_masks
        if not ok:
            need = "a classification or multitask" if what == "classes" else "a segmentation or multitask"
            raise InputError(f"this bundle is a {self.kind} model ({self.meta.architecture}); "
                             f"{'class probabilities' if what == 'classes' else 'masks'} need {need} bundle")
        if what == "masks" and self.meta.resize_mode not in ("stretch", "letterbox"):
            raise InputError("masks need a bundle with resize_mode 'stretch' or 'letterbox' to map back to the "
                             "original size")

    @staticmethod
    def _sizes(chunk) -> list:
        if isinstance(chunk, torch.Tensor):
            return [tuple(chunk.shape[-2:])] * chunk.shape[0]
        return [image_array(im, index=i).shape[:2] for i, im in enumerate(chunk)]

    def predict(self, images, *, sizes=None) -> Prediction:
        """Class probabilities and/or masks (whatever the bundle's kind gives) from one forward pass.

        ``sizes``: the pictures' ``(height, width)`` when ``images`` is the already preprocessed tensor, so the
        masks come back at the pictures' size (the analysis preprocesses once for masks and probabilities).
        """
        probs, masks, done = [], [], 0
        with torch.inference_mode():
            for chunk in self._chunks(images):
                out = self._forward(chunk)
                if self.has_classes:
                    probs.append(self._class_proba(out).float().cpu())
                if self.has_masks:
                    at = self._sizes(chunk) if sizes is None else list(sizes)[done:done + len(chunk)]
                    masks += self._masks_at(self._mask_proba(out), at)
                done += len(chunk)
        return Prediction(torch.cat(probs).numpy() if probs else None, masks if self.has_masks else None)

    def predict_proba(self, images) -> np.ndarray:
        """Softmax class probabilities ``(n, num_classes)`` (the class head of a multitask model)."""
        self._require("classes")
        with torch.inference_mode():
            parts = [self._class_proba(self._forward(chunk)).float().cpu() for chunk in self._chunks(images)]
        return torch.cat(parts).numpy()

    def predict_mask(self, images) -> list:
        """One bool mask per image, at that image's original height and width."""
        self._require("masks")
        masks = []
        with torch.inference_mode():
            for chunk in self._chunks(images):
                masks += self._masks_at(self._mask_proba(self._forward(chunk)), self._sizes(chunk))
        return masks

    def predict_member_proba(self, images) -> np.ndarray:
        """Per-member class probabilities ``(members, n, num_classes)``; one member for a single model.

        The spread over the first axis is the ensemble's uncertainty.
        """
        self._require("classes")
        members = list(self.model.members) if isinstance(self.model, ModelEnsemble) else [self.model]
        parts = []
        with torch.inference_mode():
            for chunk in self._chunks(images):
                x = self.preprocess(chunk).to(self.device, non_blocking=True)
                parts.append(torch.stack([self._class_proba(m(x)).float().cpu() for m in members], dim=0))
        return torch.cat(parts, dim=1).numpy()


_CACHE: dict = {}
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 8


def load_predictor(bundle_dir, *, device=None, batch_size: int = 32) -> Predictor:
    """The :class:`Predictor` of a bundle directory, cached by path, file times and device.

    A bundle whose model.json says ``kind: instance`` (Mask R-CNN) is handed to
    :func:`core.models.instance.load_instance_predictor`: it detects structures instead of returning class
    probabilities, so it has its own predictor; one entry point keeps the dashboard's model cache uniform.
    """
    d = Path(bundle_dir).resolve()
    dev = torch.device(device) if device is not None else _default_device()
    try:
        stamp = tuple((d / f).stat().st_mtime_ns for f in (META_FILE, WEIGHTS_FILE))
    except OSError:
        stamp = None  # load_bundle names the missing file
    key = (str(d), stamp, str(dev), int(batch_size))
    with _CACHE_LOCK:
        if stamp is not None and key in _CACHE:
            return _CACHE[key]
    if _is_instance_bundle(d):
        predictor = load_instance_predictor(d)      # CPU; Mask R-CNN takes a list of any-size images
    else:
        model, meta = load_bundle(d, device=dev)
        predictor = Predictor(model, meta, device=dev, batch_size=batch_size)
    with _CACHE_LOCK:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = predictor
    return predictor


def _is_instance_bundle(directory: Path) -> bool:
    """True when the bundle's model.json declares an instance-segmentation model (unreadable json: False,
    so :func:`load_bundle` reports the problem with its own message)."""
    try:
        return read_meta(directory).kind == "instance"
    except (BundleError, OSError):
        return False
