"""Train a segmentation network within a wall-clock budget and score it on the manifest's test split.

Examples:
  python -m core bench-real --manifest hc18/manifest.csv --task segmentation --budget-min 20 --json
  python -m core bench-real --manifest masks.csv --task segmentation --postprocess ellipse --input-size 160x240

Prints {"dice", "hd95_mm", "hc_abs_err_mm": {"mean", "sd", "loa": [lo, hi], ...}, "train_s", "n_test", ...}:
mean Dice and HD95 (mm) over the test cases at the scans' own size; the head-circumference error of the
mask's fitted ellipse against the manifest's hc_mm column (else the reference mask's ellipse): mean and SD of
the absolute error and the Bland-Altman 95 % limits of agreement of the signed error (predicted - reference).
The split: the manifest's split column; rows without one are assigned patient-disjoint and seeded (20 % test,
10 % of the rest validation). train_s: loading the pictures + fitting, which the budget bounds (an epoch is cut
at the budget, then validated); train_total_s adds the trainer's own scoring and bundle writing; train_cpu_s
is the CPU time the process got (on a shared machine far less than train_s x cores). The run folder (--out,
default $SONODASH_HOME/runs/bench-real-...) keeps the per-case table that the Evaluations page plots.
"""

from __future__ import annotations

NAME = "bench-real"
HELP = "train within a time budget on real scans; Dice, HD95 and HC error (Bland-Altman) on the test split"


def add_arguments(parser) -> None:
    from core.cli.train import _input_size, _positive_int

    parser.add_argument("--manifest", required=True, help="dataset manifest CSV with mask_path (DESIGN.md 4)")
    parser.add_argument("--task", default="segmentation", help="a segmentation task (default: segmentation)")
    parser.add_argument("--budget-min", type=float, default=20.0, help="training wall-clock budget in minutes")
    parser.add_argument("--arch", default=None, help="architecture (default: the task's)")
    parser.add_argument("--input-size", type=_input_size, default=None,
                        help="network input size in pixels: one side, or HEIGHTxWIDTH (e.g. 160x240 for 800x540 scans)")
    parser.add_argument("--batch-size", type=_positive_int, default=None, help="batch size")
    parser.add_argument("--epochs", type=_positive_int, default=None, help="maximum epochs (default: the budget)")
    parser.add_argument("--postprocess", default=None, choices=("none", "largest", "fill", "ellipse"),
                        help="mask post-processing (default: the task's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, initialisation and augmentation")
    parser.add_argument("--out", default=None, help="run folder")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    import os

    import torch

    from core.cli._util import existing_file, print_json
    from core.segmentation.real_bench import run_bench
    from core.training.callbacks import TqdmProgress

    existing_file(args.manifest, "manifest")
    torch.set_num_threads(max(os.cpu_count() or 1, 1))
    result = run_bench(args.manifest, task=args.task, budget_min=args.budget_min, arch=args.arch,
                       input_size=args.input_size, batch_size=args.batch_size, epochs=args.epochs,
                       postprocess=args.postprocess, seed=args.seed, out=args.out,
                       progress=TqdmProgress(disable=args.quiet))
    if args.json:
        print_json(result)
    else:
        hc = result.get("hc_abs_err_mm") or {}
        fmt = lambda v: "n/a" if v is None else f"{v:.4g}"   # noqa: E731
        print(f"dice {fmt(result['dice'])}  hd95 {fmt(result['hd95_mm'])} mm  HC |error| {fmt(hc.get('mean'))} "
              f"± {fmt(hc.get('sd'))} mm, limits of agreement {[fmt(v) for v in hc.get('loa', [])]}  "
              f"train {result['train_s']:.0f} s  n_test {result['n_test']}\nrun: {result['run_dir']}")
    return 0
