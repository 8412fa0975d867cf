"""Speed of the instance models.

Why: the first-trimester paper's point is real time (YOLACT 25.4 FPS, Mask R-CNN 11.4 FPS on a P100).
``measure_fps`` / ``bench_instance_models`` give the FPS figure the ``bench`` command reports (CPU, and GPU
when present). A clip is analysed frame by frame by :func:`core.pipeline.analyze` like any other input
(each kept frame's model time is its ``ImageResult.ms``).
Timings are wall clock and so depend on machine load; they are reported, never asserted.
"""

from __future__ import annotations

import statistics
import time

import torch

from core.errors import InputError
from core.models.instance import working_size
from core.models.registry import build_model


@torch.inference_mode()
def measure_fps(model, images, *, warmup: int = 1, device: str = "cpu") -> dict:
    """Frames per second of a torchvision detection ``model`` on ``images`` (CxHxW float tensors), batch 1."""
    if not images:
        raise InputError("measure_fps needs at least one image")
    model = model.to(device).eval()
    images = [im.to(device) for im in images]
    for im in images[:max(0, int(warmup))]:
        model([im])
    times = []
    for im in images:
        if device != "cpu":
            torch.cuda.synchronize()
        start = time.perf_counter()
        model([im])
        if device != "cpu":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return {"fps": len(times) / sum(times), "ms_median": median * 1000.0, "n_frames": len(times)}


def bench_instance_models(*, archs=("maskrcnn_lite", "maskrcnn_mobilenet", "maskrcnn"), size: int = 256, n_frames: int = 5,
                          num_classes: int = 17, devices=None, seed: int = 0) -> list[dict]:
    """FPS of each instance architecture on ``n_frames`` random ``size``-pixel frames, per device.

    Random weights: speed does not depend on what the weights learned, except through the number of
    detections reaching the mask head, which random weights make near its maximum (a pessimistic figure).
    """
    devices = list(devices) if devices else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    gen = torch.Generator().manual_seed(seed)
    frames = [torch.rand(3, size, size, generator=gen) for _ in range(int(n_frames))]
    rows = []
    for arch in archs:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = build_model(arch, num_classes=num_classes, in_channels=3, **working_size(size))
        for device in devices:
            stats = measure_fps(model, frames, device=device)
            rows.append({"name": arch, "input": f"3x{size}x{size}", "device": device, **stats})
        model.to("cpu")
    return rows
