"""Out-of-distribution warning: does this image look like what the model was trained on?

Why: a CNN gives a confident probability for a holiday photo or for noise. The clinician must be told when
an image is unlike the training data, so the number is not trusted blindly.

How: the model's own feature embedding (the global-average-pooled output of its Grad-CAM layer) is compared
with the embeddings of the training images by a diagonal Mahalanobis distance, and so are a few image
statistics (brightness, contrast, colourfulness, edge density) that separate ultrasound from photos. Both
are calibrated on the training images: an image whose distance exceeds the 99th percentile of the training
distances (times a margin) gets the warning. The calibration is a few hundred floats stored in the bundle's
json under ``"ood"``, so it travels with the weights.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from core.errors import InputError
from core.models import load_predictor, read_meta, write_meta
from core.models.instance import to_model_input
from core.models.registry import cam_target_layer

_EPS = 1e-6
MARGIN = 1.25


def image_statistics(image: np.ndarray) -> np.ndarray:
    """[mean, std, colourfulness, edge density] of an RGB/gray uint8 image, all on a 0..1 scale."""
    arr = np.asarray(image)
    rgb = arr if arr.ndim == 3 else np.repeat(arr[:, :, None], 3, axis=2)
    rgb = rgb[:, :, :3].astype(np.float32) / (255.0 if arr.dtype == np.uint8 else 1.0)
    gray = rgb.mean(axis=2)
    colour = np.abs(rgb - gray[:, :, None]).mean()
    edges = np.abs(np.diff(gray, axis=0)).mean() + np.abs(np.diff(gray, axis=1)).mean()
    return np.array([gray.mean(), gray.std(), colour, edges], dtype=np.float64)


def embed(predictor, images) -> np.ndarray:
    """``(n, d)`` embeddings: the pooled activations of the architecture's Grad-CAM layer (an instance
    predictor: of its backbone's feature pyramid, :func:`_embed_instances`)."""
    if hasattr(predictor, "predict_instances"):
        return _embed_instances(predictor, images)

    model = predictor.model
    members = getattr(model, "members", None)
    net = members[0] if members is not None else model
    layer = cam_target_layer(net, predictor.meta.architecture)
    if layer is None:
        raise InputError(f"architecture {predictor.meta.architecture!r} has no feature layer for the OOD score")
    captured = []
    handle = layer.register_forward_hook(lambda _m, _i, out: captured.append(out.detach()))
    try:
        with torch.inference_mode():
            x = predictor.preprocess(images).to(predictor.device)
            net(x)
    finally:
        handle.remove()
    feats = captured[-1].float()
    return feats.mean(dim=(2, 3)).cpu().numpy().astype(np.float64)


def _embed_instances(predictor, images) -> np.ndarray:
    """Mask R-CNN: every feature-pyramid level of the backbone, globally average-pooled and concatenated.

    Why the backbone: it is what every detection is computed from, and it sees the whole image (the heads
    only see proposals, and an unlike image may give none). The model's own transform resizes and
    normalises exactly as at prediction time; images go one at a time because a batch is zero-padded to its
    largest image, and the padding would enter the pooled means.
    """
    model = predictor.model
    rows = []
    with torch.inference_mode():
        for im in images:
            t = to_model_input(getattr(im, "image", im), in_channels=predictor.in_channels)
            batch, _ = model.transform([t])
            feats = model.backbone(batch.tensors)
            rows.append(torch.cat([f.float().mean(dim=(2, 3))[0] for f in feats.values()]).cpu().numpy())
    return np.stack(rows).astype(np.float64)


def check_image(predictor, image) -> dict | None:
    """:func:`ood_scores` of one image with the bundle's own calibration, None when the bundle has none."""
    calibration = getattr(getattr(predictor, "meta", None), "ood", None)
    return ood_scores(predictor, image, calibration) if calibration else None


def calibrate_bundle(bundle_dir, images) -> dict:
    """Fit the calibration on a bundle's training ``images`` and write it into its model.json (``"ood"``).

    Only the json is rewritten (:func:`core.models.write_meta`, atomic: a reader never sees half a
    model.json); the weights are not touched, so a shipped bundle can be annotated without retraining.
    """
    calibration = fit_ood(load_predictor(bundle_dir), images)
    write_meta(bundle_dir, replace(read_meta(bundle_dir), ood=calibration))
    return calibration


def _fit_part(values: np.ndarray) -> dict:
    mean = values.mean(axis=0)
    std = values.std(axis=0) + _EPS + 0.05 * (np.abs(mean).mean() + _EPS)
    dist = _distance(values, mean, std)
    return {"mean": mean.tolist(), "std": std.tolist(), "threshold": float(np.quantile(dist, 0.99) * MARGIN)}


def _distance(values: np.ndarray, mean, std) -> np.ndarray:
    z = (np.asarray(values) - np.asarray(mean)) / np.asarray(std)
    return np.sqrt((z ** 2).mean(axis=-1))


def fit_ood(predictor, images, *, batch_size: int = 32) -> dict:
    """Calibration of both scores on training ``images`` (arrays or LoadedImage); store it in meta["ood"]."""
    images = list(images)
    if len(images) < 5:
        raise InputError(f"the OOD calibration needs at least 5 training images, got {len(images)}")
    emb = np.concatenate([embed(predictor, images[i:i + batch_size]) for i in range(0, len(images), batch_size)])
    stats = np.stack([image_statistics(getattr(im, "image", im)) for im in images])
    return {"embedding": _fit_part(emb), "image": _fit_part(stats), "n_train": len(images)}


def ood_scores(predictor, image, calibration: dict, *, tensor=None) -> dict:
    """Distances of one image relative to their thresholds (> 1 = unlike the training data).

    ``tensor``: the image already preprocessed for the network (``(1, C, H, W)``), so the analysis does not
    preprocess it again; the image statistics are always taken on ``image`` itself.
    """
    emb = embed(predictor, [image] if tensor is None else tensor)[0]
    part = calibration["embedding"]
    e = float(_distance(emb, part["mean"], part["std"]) / part["threshold"])
    part = calibration["image"]
    s = float(_distance(image_statistics(getattr(image, "image", image)), part["mean"], part["std"]) / part["threshold"])
    return {"embedding": e, "image": s, "score": max(e, s), "out_of_distribution": max(e, s) > 1.0}
