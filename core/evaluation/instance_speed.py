"""Speed of the instance models, and frame-by-frame analysis of a cine clip.

Why: the first-trimester paper's point is real time (YOLACT 25.4 FPS, Mask R-CNN 11.4 FPS on a P100), and a
clinician scanning live sees a clip, not a still. ``run_cine`` runs an instance predictor on every frame a clip
yields through the io gate and reports per-frame structures and the achieved frames per second;
``measure_fps`` / ``bench_instance_models`` give the FPS figure the ``bench`` command reports (CPU, and GPU
when present). Timings are wall clock and so depend on machine load; they are reported, never asserted.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from core.errors import InputError
from core.io import load_image
from core.models.instance import working_size
from core.models.registry import build_model


@dataclass
class CineFrame:
    """What the model saw in one frame: structure -> best score, the predicted view, the time it took."""

    index: int
    structures: dict
    view: str | None
    ms: float
    instances: object = None


@dataclass
class CineResult:
    frames: list = field(default_factory=list)
    fps: float = float("nan")
    n_source_frames: int = 0

    def structure_presence(self) -> dict:
        """Structure -> share of analysed frames in which it was detected (for a completeness check)."""
        n = max(len(self.frames), 1)
        counts: dict = {}
        for f in self.frames:
            for name in f.structures:
                counts[name] = counts.get(name, 0) + 1
        return {k: v / n for k, v in sorted(counts.items())}

    def to_dict(self) -> dict:
        return {"fps": self.fps, "n_frames": len(self.frames), "n_source_frames": self.n_source_frames,
                "frames": [{"index": f.index, "structures": f.structures, "view": f.view, "ms": f.ms}
                           for f in self.frames],
                "structure_presence": self.structure_presence()}


def run_cine(predictor, source, *, frame_step: int = 1, limits=None, keep_instances: bool = False,
             progress=None) -> CineResult:
    """Run ``predictor`` (an :class:`core.models.instance.InstancePredictor`) on a clip, frame by frame.

    ``source`` is a path or bytes, read through :func:`core.io.load_image` keeping one frame every
    ``frame_step`` (frame ``i`` of the result is source frame ``i * frame_step``), or an already loaded clip
    (anything with ``.frames``; every frame of it is analysed). FPS counts model time only (decoding is the
    io gate's business).
    """
    if int(frame_step) < 1:
        raise InputError(f"frame_step={frame_step}: must be at least 1")
    if hasattr(source, "frames"):
        clip, stride = source, 1
    else:
        clip, stride = load_image(source, limits=limits, frame_step=int(frame_step)), int(frame_step)
    frames = np.asarray(clip.frames)
    result = CineResult(n_source_frames=int(getattr(clip, "n_source_frames", 0) or len(frames)))
    total = 0.0
    for i, frame in enumerate(frames):
        start = time.perf_counter()
        inst = predictor.predict_instances([frame])[0]
        ms = (time.perf_counter() - start) * 1000.0
        total += ms
        best = {name: float(inst.scores[j]) for name, j in inst.top_per_structure().items()}
        result.frames.append(CineFrame(index=i * stride, structures=best, view=predictor.predict_view(inst),
                                       ms=ms, instances=inst if keep_instances else None))
        if progress is not None:
            progress(i + 1, len(frames))
    result.fps = len(result.frames) / (total / 1000.0) if total > 0 else float("nan")
    return result


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
