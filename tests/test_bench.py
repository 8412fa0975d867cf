"""The benchmark's figures are consistent with what they claim to measure (no wall-clock assertions)."""

import torch

from core.bench import bench_predictor, gflops_per_image
from core.models import load_predictor, save_bundle
from core.models.registry import build_model


def test_gflops_matches_a_hand_count():
    """One 3x3 conv, 1->4 channels, 8x8 output, no bias: 2 * 9 * 4 * 64 FLOPs."""
    conv = torch.nn.Conv2d(1, 4, 3, padding=1, bias=False)
    assert abs(gflops_per_image(conv, torch.zeros(1, 1, 8, 8)) * 1e9 - 2 * 9 * 4 * 64) < 1e-6


def test_bench_row_has_the_contract_keys(tmp_path):
    torch.set_num_threads(1)
    model = build_model("smallcnn", num_classes=2, in_channels=1, width=4)
    meta = {"task": "miscarriage", "class_names": ["a", "b"], "input_size": 32, "normalization": "unit"}
    predictor = load_predictor(save_bundle(tmp_path / "b", model, meta))
    row = bench_predictor("tiny", predictor, size=32, repeats=1, analyze_repeats=1)
    for key in ("name", "input", "predict_overhead_ratio", "gradcam_over_forward", "analyze_ms_median",
                "throughput_ips", "gflops", "achieved_gflops"):
        assert key in row
    assert row["predict_overhead_ratio"] > 0 and row["throughput_ips"] > 0
    assert abs(row["achieved_gflops"] - row["gflops"] * row["throughput_ips"]) <= 0.01 + 1e-3 * row["achieved_gflops"]
