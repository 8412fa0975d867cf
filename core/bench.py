"""Speed benchmark: our paths measured against the bare library calls they wrap (issue 6).

Why ratios: absolute milliseconds depend on the machine; the ratio "our predict path / the bare torchvision
forward on the same batch" shows what our code adds (preprocessing, softmax, batching), and "Grad-CAM /
forward" what an explanation costs. GFLOPs per image (torch's FlopCounterMode) times images per second
gives the achieved GFLOP/s, to read against the machine's peak. Each figure is a median of repeats after
a warm-up.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from core.timing import median_seconds

BATCH = 8
THROUGHPUT_BATCH = 32


def _median_seconds(fn, *, repeats: int, warmup: int = 2) -> float:
    return median_seconds(fn, repeats=repeats, warmup=warmup)


def _images(n: int, size: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8) for _ in range(n)]


def gflops_per_image(model: torch.nn.Module, x: torch.Tensor) -> float:
    """Forward FLOPs of one image, counted by torch (multiply-add = 2 FLOPs), in GFLOPs."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(x[:1])
    return counter.get_total_flops() / 1e9


def bench_predictor(name: str, predictor, *, size: int, repeats: int = 5, analyze_repeats: int = 20) -> dict:
    """All figures of one model: predict overhead, Grad-CAM cost, analyze() latency, throughput, GFLOPs."""
    from core.explain.cam import compute_cams
    from core.pipeline import analyze

    images = _images(BATCH, size)
    x = predictor.preprocess(images).to(predictor.device)
    model = predictor.model

    def bare():
        with torch.inference_mode():
            model(x)

    forward = _median_seconds(bare, repeats=repeats)
    ours = _median_seconds(lambda: predictor.predict_proba(images), repeats=repeats)
    arch = predictor.meta.architecture
    net = model.members[0] if hasattr(model, "members") else model
    x1 = x[:1]

    def one_forward():
        with torch.inference_mode():
            net(x1)

    forward1 = _median_seconds(one_forward, repeats=repeats)
    cam = _median_seconds(lambda: compute_cams(net, x1, arch=arch, method="gradcam", target_class=0),
                          repeats=repeats)
    one = _images(1, 256, seed=1)
    latency = _median_seconds(lambda: analyze(one, model=predictor, cam="gradcam"), repeats=analyze_repeats,
                              warmup=2)
    batch = _images(THROUGHPUT_BATCH, size, seed=2)
    per_batch = _median_seconds(lambda: predictor.predict_proba(batch), repeats=max(2, repeats // 2))
    gflops = gflops_per_image(model, x)
    ips = THROUGHPUT_BATCH / per_batch
    return {"name": name, "input": f"{BATCH}x{predictor.meta.in_channels}x{size}x{size}",
            "predict_overhead_ratio": round(ours / forward, 3), "gradcam_over_forward": round(cam / forward1, 3),
            "analyze_ms_median": round(latency * 1000, 1), "throughput_ips": round(ips, 1),
            "gflops": round(gflops, 6), "achieved_gflops": round(gflops * ips, 2),
            "forward_ms": round(forward * 1000, 2), "predict_ms": round(ours * 1000, 2)}


def showcase_first_result(predictor, study: str, *, repeats: int = 5) -> dict | None:
    """Median time to the first result the Analyze page draws for the study's first showcase patient
    (its images from sample_data, its manifest's GA/CRL/FHR and spacing, the task's default segmenter,
    Grad-CAM, no ROAD score: the page computes that on request), and its ratio to the bare forward pass of
    the same images (issue 15 item 9). None when the study has no showcase."""
    import pandas as pd

    from core.paths import SAMPLE_DATA
    from core.pipeline import analyze
    from core.tasks import get_task

    manifest = SAMPLE_DATA / study / "manifest.csv"
    if not manifest.is_file():
        return None
    df = pd.read_csv(manifest)
    rows = df[df["patient_id"] == df["patient_id"].iloc[0]]
    paths = [str(manifest.parent / p) for p in rows["image_path"]]
    first = rows.iloc[0]
    clinical = {k: float(first[k]) for k in ("ga_weeks", "crl_mm", "fhr_bpm") if k in rows and pd.notna(first[k])}
    spacing = float(first["pixel_spacing_mm"]) if "pixel_spacing_mm" in rows else None
    task = get_task(study)
    latency = _median_seconds(lambda: analyze(paths, clinical, model=predictor, segmenter=task.default_segmenter,
                                              cam="gradcam", spacing_mm=spacing, rules=task.uses_rules),
                              repeats=repeats, warmup=1)
    from core.io import load_image

    x = predictor.preprocess([load_image(p).image for p in paths]).to(predictor.device)

    def bare():
        with torch.inference_mode():
            predictor.model(x)

    forward = _median_seconds(bare, repeats=repeats)
    return {"first_result_ms_median": round(latency * 1000, 1), "first_result_images": len(paths),
            "first_result_over_forward": round(latency / forward, 1)}


def _reference_predictor(arch: str, folder: Path):
    """A randomly initialised study network saved as a bundle and loaded through the normal path."""
    from core.data.synthetic import REFERENCE_STUDY
    from core.models import load_predictor, save_bundle
    from core.models.registry import build_model
    from core.tasks import get_task

    task = get_task(REFERENCE_STUDY)
    torch.manual_seed(0)
    model = build_model(arch, num_classes=len(task.labels), in_channels=task.recipe.in_channels)
    meta = {"task": task.name, "class_names": list(task.labels), "input_size": 224,
            "normalization": task.recipe.normalization, "name": f"{arch} (random init)"}
    return load_predictor(save_bundle(folder / arch, model, meta))


def run_bench(*, demo_only: bool = False, references=("vgg19", "resnet34"), repeats: int = 5,
              analyze_repeats: int = 20, instance: bool = True, instance_size: int = 256, progress=None,
              stats: bool = True) -> dict:
    """The benchmark of every demo bundle and the reference architectures at 224x224, plus (``instance``)
    the frames per second of both Mask R-CNN backbones at ``instance_size`` on the CPU and, when present,
    the GPU (the first-trimester paper's real-time figure: YOLACT 25.4, Mask R-CNN 11.4 FPS on a P100)."""
    from core.demo import DEMO_SPECS, demo_bundle
    from core.models import load_predictor

    torch.set_num_threads(os.cpu_count() or 1)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    rows = []
    jobs = [(f"demo:{s.study}", demo_bundle(s.study)) for s in DEMO_SPECS if demo_bundle(s.study) is not None]
    with tempfile.TemporaryDirectory() as tmp:
        for name, bundle in jobs:
            predictor = load_predictor(bundle)
            if not getattr(predictor, "has_classes", False):     # segmentation-only and instance bundles
                continue
            if progress:
                progress(name)
            row = bench_predictor(name, predictor, size=predictor.meta.input_hw[0], repeats=repeats,
                                  analyze_repeats=analyze_repeats)
            row.update(showcase_first_result(predictor, name.split(":", 1)[1], repeats=repeats) or {})
            rows.append(row)
        if not demo_only:
            for arch in references:
                if progress:
                    progress(arch)
                predictor = _reference_predictor(arch, Path(tmp))
                rows.append(bench_predictor(arch, predictor, size=224, repeats=repeats,
                                            analyze_repeats=max(3, analyze_repeats // 4)))
    result = {"device": device if device == "cpu" else torch.cuda.get_device_name(0),
              "threads": torch.get_num_threads(), "models": rows}
    if instance:
        result["instance"] = _instance_rows(size=instance_size, n_frames=max(3, repeats), progress=progress)
    if stats:   # issue 21: 10^6-row CSV read, DeLong, `stats roc --json`, cluster bootstrap, MRMC jackknife
        from core.bench_stats import bench_stats

        if progress:
            progress("statistics")
        result["stats"] = bench_stats(repeats=max(1, min(3, repeats)))
    return result


def _instance_rows(*, size: int, n_frames: int, progress=None) -> list[dict]:
    """FPS rows {name, input, device, fps, ms_median, n_frames} of the three Mask R-CNN variants (batch 1)."""
    from core.evaluation.instance_speed import bench_instance_models

    rows = []
    for arch in ("maskrcnn_lite", "maskrcnn_mobilenet", "maskrcnn"):
        if progress:
            progress(arch)
        rows += bench_instance_models(archs=(arch,), size=size, n_frames=n_frames)
    return [{**row, "fps": round(row["fps"], 3), "ms_median": round(row["ms_median"], 1)} for row in rows]
