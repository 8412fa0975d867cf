"""Benchmark the segmenters on a synthetic (or your own) labelled set: Dice and IoU mean ± SD, parameter
count and milliseconds per image for the level set and every segmentation bundle given or found.

Examples:
  python -m core bench-seg --n-patients 20
  python -m core bench-seg --bundle unet=runs/unet/bundle --bundle fcn=runs/fcn/bundle --json
  python -m core bench-seg --manifest my_data/manifest.csv      # image_path + mask_path columns
"""

from __future__ import annotations

from core.cli._util import existing_file, print_json
from core.errors import InputError
from core.paths import SAMPLE_DATA

NAME = "bench-seg"
HELP = "segmentation benchmark: Dice/IoU ± SD, parameters and ms/image, level set vs networks"


def add_arguments(parser) -> None:
    parser.add_argument("--n-patients", type=int, default=20, help="synthetic miscarriage patients (default 20)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the synthetic set (default 1)")
    parser.add_argument("--manifest", help="use this manifest (image_path, mask_path) instead of synthetic data")
    parser.add_argument("--bundle", action="append", default=[], metavar="NAME=PATH",
                        help="a segmentation model bundle to compare (repeatable)")
    parser.add_argument("--no-find", action="store_true",
                        help="do not add the segmentation bundles found in sample_data/models")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the networks (default 1)")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")


def _parse_bundles(items):
    from pathlib import Path

    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise InputError(f"--bundle {item}: expected NAME=PATH")
        if not Path(path).is_dir():
            raise InputError(f"--bundle {item}: {path} is not a model-bundle directory")
        out[name] = Path(path)
    return out


def _cases(manifest_path):
    from core.data.manifest import load_manifest
    from core.io import load_image
    from core.segmentation.inference import check_same_size, mask_from_pixels

    manifest = load_manifest(manifest_path)
    df = manifest.df
    if "mask_path" not in df.columns:
        raise InputError(f"{manifest_path}: column mask_path is required for a segmentation benchmark")
    cases = []
    for _, row in df.iterrows():
        if not isinstance(row["mask_path"], str) or not row["mask_path"]:
            continue
        image = load_image(row["image_path"]).image
        truth = mask_from_pixels(load_image(row["mask_path"]).image)
        check_same_size(truth, image.shape, name=f"{manifest_path}, row {row.get('row', '?')}, column mask_path")
        cases.append((image, truth))
    if not cases:
        raise InputError(f"{manifest_path}: no rows with a mask_path")
    return cases


def run(args) -> int:
    import sys
    import tempfile

    from tqdm import tqdm

    from core.segmentation.bench import bench, find_segmentation_bundles, format_table, make_segmenters

    if args.n_patients < 1:
        raise InputError(f"--n-patients {args.n_patients}: must be at least 1")
    if args.threads < 1:
        raise InputError(f"--threads {args.threads}: must be at least 1")
    bundles = {} if args.no_find else find_segmentation_bundles(SAMPLE_DATA / "models")
    bundles.update(_parse_bundles(args.bundle))
    if bundles:
        import torch

        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="sonodash-bench-seg-") as tmp:
        if args.manifest:
            manifest = existing_file(args.manifest, "manifest")
        else:
            from core.data.synthetic import REFERENCE_STUDY, make_sample_data

            manifest = make_sample_data(tmp, study=REFERENCE_STUDY, n_patients=args.n_patients,
                                        seed=args.seed)[REFERENCE_STUDY]
        cases = _cases(manifest)
    segmenters = make_segmenters(bundles)
    with tqdm(total=len(cases) * len(segmenters), desc="bench-seg", file=sys.stderr,
              disable=None) as bar:
        rows = bench(cases, segmenters, progress=lambda done, total: bar.update(1))
    shape = cases[0][0].shape
    result = {"n_images": len(cases), "image_size": [int(shape[1]), int(shape[0])],
              "source": str(args.manifest) if args.manifest else f"synthetic miscarriage, "
              f"{args.n_patients} patients, seed {args.seed}", "models": rows}
    if args.json:
        print_json(result)
    else:
        print(f"{result['n_images']} images ({shape[1]}x{shape[0]}), {result['source']}")
        print(format_table(rows))
    return 0
