"""Class probabilities for one patient's images from a model bundle, with the CRL/FHR rules when GA is given.

Per image (cine: per kept frame) and per patient (mean over images). The work is done by
core.pipeline.analyze, the same call the dashboard makes, so the command line and the page agree.
JSON: {"probability", "predicted_class", "probabilities", "class_names", "images": [{"file", "probability",
"probabilities", ...}], "rules", "uncertainty", ...}; "probability" is the positive class's (binary models)
or the top class's (multi-class models).
"""

from __future__ import annotations

from core.cli._util import existing_file, print_json
from core.errors import InputError

NAME = "predict"
HELP = "class probabilities per image and per patient from a model bundle (+ CRL/FHR rules)"


def add_arguments(parser) -> None:
    parser.add_argument("--model", required=True, metavar="BUNDLE", help="model bundle directory")
    parser.add_argument("--image", required=True, nargs="+", metavar="FILE", help="one patient's images/clips")
    parser.add_argument("--ga-weeks", type=float, default=None, help="gestational age in weeks (enables rules)")
    parser.add_argument("--crl-mm", type=float, default=None, help="crown-rump length in mm")
    parser.add_argument("--fhr-bpm", type=float, default=None, help="fetal heart rate in beats per minute")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def predict_patient(args) -> dict:
    """The JSON result of ``predict`` for parsed ``args`` (shared with commands that extend it)."""
    from core.models.bundle import read_meta
    from core.pipeline import Clinical, analyze

    meta = read_meta(args.model)
    if meta.get("kind") not in ("classification", "multitask"):
        raise InputError(f"{args.model}: a {meta.get('kind')} bundle gives no class probabilities; "
                         f"use 'segment' for masks")
    if args.ga_weeks is None and (args.crl_mm is not None or args.fhr_bpm is not None):
        raise InputError("--crl-mm/--fhr-bpm need --ga-weeks: the rule thresholds depend on gestational age")
    files = [str(existing_file(f, "image")) for f in args.image]
    clinical = Clinical(ga_weeks=args.ga_weeks, crl_mm=args.crl_mm, fhr_bpm=args.fhr_bpm)
    analysis = analyze(files, clinical, model=args.model, cam=getattr(args, "cam", None))
    out = analysis.to_dict()
    out["class_names"] = list(analysis.class_names)
    return out


def _print_text(result: dict) -> None:
    print(f"patient: {result['predicted_class']} (probability {result['probability']:.3f}, "
          f"aggregation {result['aggregation']})")
    for img in result["images"]:
        frame = f" frame {img['frame']}" if img.get("kind") == "video" else ""
        print(f"  {img['file']}{frame}: {img['probability']:.3f}")
    rules = result.get("rules")
    if rules:
        print("rules: " + ", ".join(f"{k}={v}" for k, v in rules.items()))
    for warning in result.get("warnings") or []:
        print(f"warning: {warning}")
    print("research software, not a medical device")


def run(args) -> int:
    result = predict_patient(args)
    if args.json:
        print_json(result)
    else:
        _print_text(result)
    return 0
