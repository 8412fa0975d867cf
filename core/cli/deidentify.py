"""Write de-identified copies of DICOM files (PS3.15 Table E.1-1 Basic Profile of the edition in
core/io/annex_e.py, Clean Descriptors, Clean Pixel Data; private tags removed, UIDs remapped consistently;
banner rectangles and everything outside the ultrasound regions zeroed in every frame; BurnedInAnnotation NO
only when the whole image was searched and no text-like mark was found, otherwise YES and a warning).

IN a file: OUT is the output file. IN a folder: every DICOM under it is written to the folder OUT as
<new SOPInstanceUID>.dcm (original names may hold identifiers; a taken name gets a -2, -3 ... suffix, nothing
is overwritten); other files are skipped. --dates shift keeps intervals (Retain Longitudinal Temporal
Information, Modified Dates: every date moved back by a per-patient offset) instead of removing dates. Banner rectangles
per manufacturer/model come from --banners (JSON list of {"manufacturer", "model", "rects": [[top, left,
bottom, right], ...]} as fractions); default: the top 8 % of rows. Exit 2 when any DICOM could not be cleaned.
"""

from __future__ import annotations

import sys

from core.cli._util import print_json, silence_library_logs
from core.errors import InputError

NAME = "deidentify"
HELP = "de-identify DICOM files or a folder of them (Annex E Basic Profile + burned-in banner removal)"


def add_arguments(parser) -> None:
    parser.add_argument("input", metavar="IN", help="DICOM file or folder")
    parser.add_argument("output", metavar="OUT", help="output file (IN a file) or folder (IN a folder)")
    parser.add_argument("--banners", metavar="JSON", help="banner rectangles per manufacturer/model")
    parser.add_argument("--dates", choices=("remove", "shift"), default="remove",
                        help="remove dates (Basic Profile, default) or shift them per patient (Modified Dates)")
    parser.add_argument("--json", action="store_true", help="one JSON object per file per line")


def run(args) -> int:
    silence_library_logs()
    from pathlib import Path

    from core.io import DeidConfig, deidentify_file, deidentify_tree, load_banner_rules

    config = DeidConfig(banner_rules=load_banner_rules(args.banners) if args.banners else None,
                        dates=args.dates)
    src, dst = Path(args.input), Path(args.output)
    if src.is_dir():
        if dst.exists() and not dst.is_dir():
            raise InputError(f"{dst}: IN is a folder, so OUT must be a folder")
        results = deidentify_tree(src, dst, config=config)
    elif src.is_file():
        if dst.is_dir():
            raise InputError(f"{dst}: IN is a file, so OUT must be a file name, not a folder")
        if dst.resolve() == src.resolve():
            raise InputError(f"{dst}: OUT must differ from IN")
        try:
            results = [deidentify_file(src, dst, config=config)]
        except InputError as err:
            results = [{"file": str(src), "ok": False, "error": str(err)}]
    else:
        raise InputError(f"{src}: not found")
    failed = [r for r in results if not r["ok"] and not r.get("skipped")]
    _audit(results, failed, args.dates)
    for row in results:
        if args.json:
            print_json(row)
        elif row["ok"]:
            print(f"{row['file']} -> {row['out']}", flush=True)
            for warning in row.get("warnings") or []:
                print(f"warning: {warning}", file=sys.stderr, flush=True)
        elif row.get("skipped"):
            print(f"skipped {row['file']} (not DICOM)", flush=True)
        else:
            print(f"error: {row['error']}", file=sys.stderr, flush=True)
    if not any(r["ok"] for r in results) and not failed:
        raise InputError(f"{src}: no DICOM file found")
    return 2 if failed else 0


def _audit(results: list, failed: list, dates: str) -> None:
    """One audit row per run (an export of patient data): counts only, no names or paths."""
    from core.audit import record
    from core.io.annex_e import EDITION

    written = sum(1 for r in results if r["ok"])
    record(None, "dicom.deidentify", target="command line",
           detail={"written": written, "refused": len(failed), "edition": EDITION, "dates": dates,
                   "burned_in_warnings": sum(1 for r in results if r.get("warnings"))})
