"""python -m core bench: speed of our predict path, Grad-CAM and analyze() against the bare torch forward.

For each demo model and for vgg19 and resnet34 at 224x224: predict-path time / bare forward on the same
batch, Grad-CAM time / forward time, analyze() latency of one 256x256 image (median of 20), batch-32
throughput, GFLOPs per image and achieved GFLOP/s. Runs on the GPU when one is present. Key "instance": frames
per second of the Mask R-CNN variants (maskrcnn_lite, maskrcnn_mobilenet, maskrcnn) at 256 px, batch 1, on the CPU and the GPU.
Key "stats": seconds to read a 10^6-row score CSV, DeLong on 10^6 cases, the whole `stats roc --json` command,
2000 cluster-bootstrap replicates over 3000 patients and the MRMC jackknife at 1000 cases (--stats-only: just these).
"""

from core.cli._util import print_json
from core.errors import InputError

NAME = "bench"
HELP = "speed benchmark (ratios against the bare torch forward)"


def add_arguments(parser):
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--demo-only", action="store_true", help="skip the 224x224 vgg19/resnet34 references")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per figure (median; default 5)")
    parser.add_argument("--no-instance", action="store_true", help="skip the Mask R-CNN FPS figures")
    parser.add_argument("--no-stats", action="store_true", help="skip the statistics figures")
    parser.add_argument("--stats-only", action="store_true", help="only the statistics figures (no models)")


def run(args) -> int:
    import sys

    if args.repeats < 1:
        raise InputError(f"--repeats must be at least 1, got {args.repeats}")
    if args.stats_only:
        from core.bench_stats import bench_stats

        result = {"stats": bench_stats(repeats=max(1, min(3, args.repeats)))}
        if args.json:
            print_json(result)
        else:
            for key, value in result["stats"].items():
                print(f"  {key:>26}: {value}")
        return 0
    from core.bench import run_bench

    result = run_bench(demo_only=args.demo_only, repeats=args.repeats, instance=not args.no_instance,
                       stats=not args.no_stats, progress=lambda name: print(f"benchmarking {name}…", file=sys.stderr))
    if args.json:
        print_json(result)
        return 0
    print(f"device: {result['device']} ({result['threads']} threads)")
    cols = ["name", "input", "predict_overhead_ratio", "gradcam_over_forward", "analyze_ms_median",
            "throughput_ips", "gflops", "achieved_gflops"]
    print("  ".join(f"{c:>22}" for c in cols))
    for row in result["models"]:
        print("  ".join(f"{str(row[c]):>22}" for c in cols))
    if result.get("instance"):
        print("instance segmentation (batch 1):")
        for row in result["instance"]:
            print(f"  {row['name']:>20} {row['input']:>10} {row['device']:>5}  {row['fps']:.2f} FPS  "
                  f"median {row['ms_median']:.0f} ms over {row['n_frames']} frames")
    if result.get("stats"):
        print("statistics:")
        for key, value in result["stats"].items():
            print(f"  {key:>26}: {value}")
    return 0
