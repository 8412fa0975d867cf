"""A local PACS for demos, and PACS queries from the command line.

``python -m core pacs serve [--port 8042] [--load DIR] [--storage DIR]`` starts Orthanc with DICOMweb on
127.0.0.1 (Debian packages orthanc + orthanc-dicomweb), stores the DICOM files under DIR (default: the
showcase's sample_data/miscarriage/dicom) and runs until interrupted; set
``SONODASH_DICOMWEB_URL=http://127.0.0.1:PORT/dicom-web`` for the dashboard.
``python -m core pacs search [--patient-id ID] [--date YYYYMMDD[-YYYYMMDD]] [--accession A] [--json]`` lists
matching studies of the configured PACS (``SONODASH_DICOMWEB_URL``).
"""

from __future__ import annotations

import time
from pathlib import Path

from core.cli._util import print_json
from core.errors import InputError

NAME = "pacs"
HELP = "local demo PACS (Orthanc + DICOMweb) and PACS study search"


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="pacs_command", metavar="ACTION", required=True)
    serve = sub.add_parser("serve", help="start a local Orthanc with DICOMweb on 127.0.0.1")
    serve.add_argument("--port", type=int, default=8042)
    serve.add_argument("--load", default=None, help="folder of DICOM files to store (default: the showcase DICOMs)")
    serve.add_argument("--storage", default=None, help="Orthanc storage folder (default: temporary)")
    search = sub.add_parser("search", help="QIDO-RS study search on SONODASH_DICOMWEB_URL")
    search.add_argument("--patient-id", default=None)
    search.add_argument("--date", default=None)
    search.add_argument("--accession", default=None)
    search.add_argument("--json", action="store_true")


def run(args) -> int:
    if args.pacs_command == "search":
        from dataclasses import asdict

        from core.pacs import search_studies

        studies, truncated = search_studies(None, patient_id=args.patient_id, study_date=args.date,
                                            accession=args.accession)
        for s in studies:
            print_json(asdict(s)) if args.json else print(f"{s.study_uid}  {s.label}")
        return 0
    from core.data.synthetic import REFERENCE_STUDY
    from core.pacs.orthanc import LocalOrthanc

    sample = Path(__file__).resolve().parents[2] / "sample_data" / REFERENCE_STUDY / "dicom"
    folder = Path(args.load) if args.load else sample
    files = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
    if not files:
        raise InputError(f"{folder}: no files to load")
    if not 1 <= args.port <= 65535:
        raise InputError(f"--port must be 1-65535, got {args.port}")
    import signal

    def _stop(signum, frame):  # a terminated demo stops its Orthanc too (it runs in its own session)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    server = LocalOrthanc(port=args.port, storage=args.storage)
    server.start()
    try:
        server.upload(files)
        print(f"Orthanc with DICOMweb on {server.url} ({len(files)} file(s) from {folder}); Ctrl-C stops it.")
        print(f"  SONODASH_DICOMWEB_URL={server.url} make run", flush=True)
        while server.proc is not None and server.proc.poll() is None:
            time.sleep(1)
        return 1
    finally:
        server.stop()
