"""Evaluate a model bundle on a manifest and keep the per-case predictions in the store.

Every image of the manifest goes through the io gate and the bundle's predictor; clips count as one case
(mean over the kept frames); where the manifest has ga_weeks with crl_mm / fhr_bpm the CRL/FHR rules are
applied too. The evaluation is stored under NAME; the printed metrics are recomputed from the stored cases
at patient level (images of a patient combined by the task's aggregation, mean by default).

--json prints {"name", "evaluation_id", "n_cases", "n_patients", "metrics": {"auc", "auc_ci", ...},
"image_metrics": {...}}.
"""

from __future__ import annotations

from core.cli._util import existing_file, print_json
from core.errors import InputError
from core.rules import RuleTable

NAME = "evaluate"
HELP = "evaluate a model bundle on a manifest and store the per-case predictions"


def add_arguments(parser) -> None:
    parser.add_argument("--model", required=True, metavar="BUNDLE", help="model bundle directory")
    parser.add_argument("--manifest", required=True, metavar="CSV", help="dataset manifest (DESIGN.md section 4)")
    parser.add_argument("--name", required=True, help="name of the stored evaluation (unique)")
    parser.add_argument("--replace", action="store_true", help="overwrite a stored evaluation of the same name")
    parser.add_argument("--rule-table", metavar="JSON", help="CRL/FHR rule table as a JSON file (default: "
                        "the miscarriage study's)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _fmt(value) -> str:
    return "n/a" if value is None or value != value else f"{value:.3f}"


def run(args) -> int:
    from pathlib import Path

    from core.store.runner import evaluate_bundle

    if not Path(args.model).is_dir():
        raise InputError(f"{args.model}: model bundle folder not found")
    existing_file(args.manifest, "manifest")
    table = None
    if args.rule_table:
        path = existing_file(args.rule_table, "rule table")
        try:
            table = RuleTable.from_json(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            raise InputError(f"{path}: not UTF-8 text") from None
    result = evaluate_bundle(args.model, args.manifest, name=args.name, replace=args.replace, rule_table=table)
    if args.json:
        print_json(result)
        return 0
    m = result["metrics"]
    lo, hi = (m.get("auc_ci") or [None, None])[:2]
    print(f"evaluation {result['name']!r} (id {result['evaluation_id']}): {result['n_cases']} cases, "
          f"{result['n_patients']} patients")
    print(f"patient-level AUC {_fmt(m.get('auc'))} (95% CI {_fmt(lo)}-{_fmt(hi)})")
    for key in ("accuracy", "sensitivity", "specificity", "ppv", "npv"):
        if key in m:
            print(f"  {key:<12} {_fmt(m[key])}")
    return 0
