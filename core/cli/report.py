"""Write the report of a stored evaluation: FILE.csv (one row per case) or FILE.html (self-contained page with
a summary table, metrics with 95% CIs, the CRL/FHR rules where stored, and an interactive ROC curve that
works offline). Every number is recomputed from the stored per-case predictions.
"""

from __future__ import annotations

from core.cli._util import print_json

NAME = "report"
HELP = "write a stored evaluation as a per-case CSV or a self-contained HTML report"


def add_arguments(parser) -> None:
    parser.add_argument("name", metavar="EVAL_NAME", help="name of a stored evaluation")
    parser.add_argument("--out", required=True, metavar="FILE", help="FILE.html or FILE.csv")
    parser.add_argument("--json", action="store_true", help='print {"name", "out", "format"}')


def run(args) -> int:
    from core.store.report import write_report

    out = write_report(args.name, args.out)
    if args.json:
        print_json({"name": args.name, "out": str(out), "format": out.suffix.lower().lstrip(".")})
    else:
        print(out)
    return 0
