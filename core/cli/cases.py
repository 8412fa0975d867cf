"""Saved clinician cases: list them, or export them as a training manifest (image, corrected mask, label).

  python -m core cases list [--study STUDY] [--json]
  python -m core cases export --out DIR [--study STUDY] [--zip] [--json]
      # DIR/manifest.csv (+ images/, masks/) that `python -m core train --manifest DIR/manifest.csv` reads;
      # --json prints {"manifest", "zip", "n_cases", "n_images", "n_corrected", "skipped"}
"""

from __future__ import annotations

NAME = "cases"
HELP = "list saved clinician cases or export them as a dataset manifest"


def add_arguments(parser) -> None:
    parser.add_argument("action", choices=["list", "export"], help="list the saved cases or export them")
    parser.add_argument("--out", default=None, help="export: a new or empty folder")
    parser.add_argument("--study", default=None, help="only the cases of this study")
    parser.add_argument("--zip", action="store_true", help="export: one zip file in --out instead of a folder")
    parser.add_argument("--json", action="store_true", help="print JSON")


def run(args) -> int:
    from core.cli._util import print_json
    from core.errors import InputError

    if args.action == "list":
        from core import store

        table = store.list_cases(study=args.study)
        cols = ["id", "created", "study", "case_key", "decision", "clinician_decision", "actor"]
        if args.json:
            for rec in table[cols].to_dict("records"):
                rec["created"] = rec["created"].isoformat() if rec["created"] is not None else None
                print_json(rec)
        else:
            print(table[cols].to_string(index=False) if len(table) else "no saved cases")
        return 0
    if not args.out:
        raise InputError("cases export needs --out DIR")
    from core.cases_export import export_cases

    result = export_cases(args.out, study=args.study, as_zip=args.zip)
    if args.json:
        print_json(result)
    else:
        print(f"{result['n_images']} image(s) of {result['n_cases']} case(s) -> {result['zip'] or result['manifest']}")
    return 0
