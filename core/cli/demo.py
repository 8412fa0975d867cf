"""python -m core demo build: rebuild sample_data/models (demo bundles + evaluations) reproducibly.

Trains the small demo models on freshly generated synthetic sets (fixed seeds) and writes, per study,
sample_data/models/<study>/bundle/ and evaluation.csv. ``demo register`` puts them into the store (the
dashboard does that by itself on first start).
"""

from core.cli._util import print_json

NAME = "demo"
HELP = "build or register the demo models and evaluations"


def add_arguments(parser):
    sub = parser.add_subparsers(dest="demo_command", metavar="ACTION", required=True)
    build = sub.add_parser("build", help="train the demo models into sample_data/models")
    build.add_argument("--data-dir", default="var/demo-data", help="where the synthetic training sets go")
    build.add_argument("--study", action="append", help="only this study (repeatable)")
    build.add_argument("--fresh-data", action="store_true",
                       help="regenerate the synthetic sets even when DATA_DIR already holds them")
    build.add_argument("--json", action="store_true")
    reg = sub.add_parser("register", help="register the demo bundles and evaluations in the store")
    reg.add_argument("--force", action="store_true", help="even when the store already has bundles")
    reg.add_argument("--json", action="store_true")


def run(args) -> int:
    from pathlib import Path

    from core.demo import register_demo_assets
    from core.demo_build import build_demo

    if args.demo_command == "build":
        result = build_demo(data_dir=Path(args.data_dir), studies=args.study, fresh_data=args.fresh_data)
    else:
        result = {"registered": register_demo_assets(force=args.force)}
    if args.json:
        print_json(result)
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0
