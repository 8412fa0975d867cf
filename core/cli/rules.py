"""Apply the CRL / FHR miscarriage rules (DeVilbiss thresholds by default) to one pregnancy.

A value at or below the week's threshold is low (FHR) or small (CRL); the week is the completed week,
floor(GA). Outside the table's weeks the rules are not applicable; a missing value gives null.

  python -m core rules --ga-weeks 6.4 --crl-mm 5.2 --fhr-bpm 118 --json
  {"applicable": true, "crl_low": true, "fhr_low": true, "both_low": true}
"""

from __future__ import annotations

from core.cli._util import existing_file, print_json
from core.errors import InputError
from core.rules import CRL_KEY, DEFAULT_RULE_TABLE, FHR_KEY, RuleTable, apply_rules, completed_week

NAME = "rules"
HELP = "CRL/FHR rule flags for a gestational age (research use only)"


def add_arguments(parser) -> None:
    parser.add_argument("--ga-weeks", required=True, type=float, metavar="W",
                        help="gestational age in decimal weeks (e.g. 6.43)")
    parser.add_argument("--crl-mm", type=float, default=None, metavar="C", help="crown-rump length in mm")
    parser.add_argument("--fhr-bpm", type=float, default=None, metavar="F", help="fetal heart rate in bpm")
    parser.add_argument("--table", default=None, metavar="JSON",
                        help="rule table JSON file ({\"weeks\": {\"6\": {\"fhr_low_max_bpm\": 122, "
                             "\"crl_small_max_mm\": 6.0}, ...}}); default: DeVilbiss")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _word(flag, yes: str, no: str) -> str:
    return "unknown (no value)" if flag is None else (yes if flag else no)


def run(args) -> int:
    table = DEFAULT_RULE_TABLE
    if args.table:
        path = existing_file(args.table, "rule table")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise InputError(f"{path}: cannot read the rule table ({err})") from None
        try:
            table = RuleTable.from_json(text)
        except InputError as err:
            raise InputError(f"{path}: {err}") from None
    result = apply_rules(args.ga_weeks, crl_mm=args.crl_mm, fhr_bpm=args.fhr_bpm, table=table)
    if args.json:
        print_json(result)
        return 0
    week = completed_week(args.ga_weeks)
    if not result["applicable"]:
        weeks = ", ".join(str(w) for w in table.weeks)
        print(f"GA {args.ga_weeks:g} weeks (completed week {week}): rules not applicable "
              f"(table '{table.name}' covers weeks {weeks})")
        return 0
    row = table.row(week)
    print(f"GA {args.ga_weeks:g} weeks -> completed week {week} (table '{table.name}')")
    if args.crl_mm is not None and row[CRL_KEY] is not None:
        print(f"  CRL {args.crl_mm:g} mm vs <= {row[CRL_KEY]:g} mm: {_word(result['crl_low'], 'SMALL', 'normal')}")
    else:
        print(f"  CRL: {_word(result['crl_low'], 'SMALL', 'normal')}")
    if args.fhr_bpm is not None and row[FHR_KEY] is not None:
        print(f"  FHR {args.fhr_bpm:g} bpm vs <= {row[FHR_KEY]:g} bpm: {_word(result['fhr_low'], 'LOW', 'normal')}")
    else:
        print(f"  FHR: {_word(result['fhr_low'], 'LOW', 'normal')}")
    print(f"  CRL+HR (both low): {_word(result['both_low'], 'YES', 'no')}")
    print("Research software, not a medical device.")
    return 0
