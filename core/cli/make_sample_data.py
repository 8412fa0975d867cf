"""Write synthetic ultrasound phantoms (with masks and manifest.csv) for one or all four studies.

Same --seed and --n-patients give byte-identical files. Layout: OUT/<study>/manifest.csv plus the images,
masks and clips it lists; OUT/miscarriage/dicom/ holds a few DICOM copies carrying FAKE identifiers.
"""

from __future__ import annotations

NAME = "make-sample-data"
HELP = "generate synthetic ultrasound phantoms and manifests for the four studies"


def add_arguments(parser) -> None:
    parser.add_argument("--out", required=True, help="output folder (created if missing)")
    # The names come from the generators' registry (core.data.synthetic.STUDIES); an unknown one is refused
    # there with the list, not through argparse choices, so --help does not import numpy.
    parser.add_argument("--study", default="all",
                        help="'all' or one of the synthetic studies (core.data.synthetic.STUDIES; default: all)")
    parser.add_argument("--n-patients", type=int, default=20, help="patients per study (default: 20)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def run(args) -> int:
    from core.data.synthetic import make_sample_data

    manifests = make_sample_data(args.out, study=args.study, n_patients=args.n_patients, seed=args.seed,
                                 progress=not args.no_progress)
    for study, path in manifests.items():
        print(f"{study}: {path}")
    return 0
