"""Train a network on a manifest with a study's recipe and protocol (patient-level cross-validation).

Examples:
  python -m core train --task miscarriage --manifest data/manifest.csv --arch resnet18 --cv kfold:5 --json
  python -m core train --task segmentation --manifest masks.csv --arch unet --out var/runs/seg1
  python -m core train ... --out var/runs/seg1 --resume        # continue a killed run

On a CPU-only machine the defaults are 128 px inputs and at most 12 epochs (the papers' 224-256 px and up to
500 epochs take days there); --input-size and --epochs override. The run folder holds the fold assignment,
per-fold bundles, out-of-fold predictions and the final (ensemble) bundle. --json prints
{"run_dir", "bundle", "metrics"}: "auc" (out-of-fold; patient level, or image level when a patient's images
carry different labels, see "level"; multi-class: macro one-vs-rest) with "auc_ci" for classification, "dice" (mean over
held-out cases) for segmentation, "mask_map50" for instance tasks.
Refused before training (exit 2): data too small for --cv (the message gives the counts and the minimum).
A finished run whose held-out metric is NaN or whose AUC 95 % CI contains 0.5 gets metrics "flag" = "not better
than chance" and a warning on stderr.
Multi-process / multi-GPU: torchrun --nproc_per_node N -m core train ...
"""

from __future__ import annotations

NAME = "train"
HELP = "train a model with a study's recipe and patient-level cross-validation"


def _positive_int(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _input_size(text: str):
    """``--input-size 160`` (square) or ``--input-size 160x240`` (height x width, for non-square scans)."""
    import argparse

    from core.errors import InputError
    from core.models.transforms import parse_input_size

    try:
        return parse_input_size(text)
    except InputError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_arguments(parser) -> None:
    parser.add_argument("--task", required=True, help="study (miscarriage, preterm, cns, cns4, first_trimester) or "
                        "generic kind (classification, segmentation, instance)")
    parser.add_argument("--manifest", required=True, help="dataset manifest CSV (DESIGN.md section 4)")
    parser.add_argument("--arch", default=None, help="architecture (default: the task's); fcn and deeplabv3 are "
                        "short for fcn_resnet50 and deeplabv3_resnet50")
    parser.add_argument("--cv", default=None, help="kfold:K | lopo | holdout | repeated:N (default: the task's)")
    parser.add_argument("--epochs", type=_positive_int, default=None, help="maximum epochs per fold")
    parser.add_argument("--out", default=None, help="run folder (default: $SONODASH_HOME/runs/TASK-ARCH-TIME)")
    parser.add_argument("--resume", action="store_true", help="continue the killed run in --out")
    parser.add_argument("--json", action="store_true", help="print one JSON object with run_dir, bundle, metrics")
    parser.add_argument("--seed", type=int, default=0, help="seed of splits, initialisation and augmentation")
    parser.add_argument("--input-size", type=_input_size, default=None,
                        help="network input size in pixels: one side, or HEIGHTxWIDTH (e.g. 160x240)")
    parser.add_argument("--batch-size", type=_positive_int, default=None, help="batch size")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    import os
    import sys

    import torch

    from core.cli._util import existing_file, print_json
    from core.data.splits import parse_cv
    from core.training import train
    from core.training.callbacks import TqdmProgress

    existing_file(args.manifest, "manifest")
    if args.cv is not None:
        parse_cv(args.cv)
    torch.set_num_threads(max(os.cpu_count() or 1, 1))
    progress = TqdmProgress(disable=args.quiet)
    result = train(args.task, args.manifest, arch=args.arch, cv=args.cv, epochs=args.epochs, out=args.out,
                   resume=args.resume, progress=progress, seed=args.seed, input_size=args.input_size,
                   batch_size=args.batch_size)
    from core.training import distributed

    if not distributed.is_main():
        return 0
    flag = result["metrics"].get("flag")
    if flag:    # stderr, so that --json stdout stays one valid JSON object
        print(f"warning: {flag}: {result['metrics'].get('flag_reason')}; the bundle is flagged and is not a "
              f"usable model", file=sys.stderr)
    if args.json:
        print_json(result)
    else:
        metrics = result["metrics"]
        shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float))
        print(f"run: {result['run_dir']}\nbundle: {result['bundle']}\nmetrics: {shown}")
    return 0
