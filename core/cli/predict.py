"""Class probabilities for one patient's images from a model bundle, with the CRL/FHR rules when GA is given.

Per image (cine: per kept frame) and per patient (mean over images), with the uncertainty (ensemble spread
or test-time augmentation); ``--cam METHOD`` adds Grad-CAM-family heat maps with the ROAD faithfulness
score, ``--out DIR`` writes the overlays and analysis.json. The work is done by
core.pipeline.analyze, the same call the dashboard makes, so the command line and the page agree.
JSON: {"probability", "predicted_class", "probabilities", "class_names", "images": [{"file", "probability",
"probabilities", ...}], "rules", "uncertainty", ...}; "probability" is the positive class's (binary models)
or the top class's (multi-class models).
An instance-segmentation bundle (kind "instance", e.g. first_trimester) goes through the same call: each image
(cine: each kept frame) gets "detections" [{"structure", "score", "box", "area_px"}], "view", "checklist"
({"view", "expected", "found", "missing", "complete"}) and "ood"; "decision_withheld" is true when an image
looks unlike the bundle's training data (its model.json calibration), and "probability" is null.
"""

from __future__ import annotations

from core.cli._util import _clean, existing_file, print_json
from core.errors import InputError
from core.explain.methods import canonical_cam_method, list_cam_methods

NAME = "predict"
HELP = "class probabilities per image and per patient from a model bundle (+ CRL/FHR rules)"


def add_arguments(parser) -> None:
    parser.add_argument("--model", required=True, metavar="BUNDLE", help="model bundle directory")
    parser.add_argument("--image", required=True, nargs="+", metavar="FILE", help="one patient's images/clips")
    parser.add_argument("--ga-weeks", type=float, default=None, help="gestational age in weeks (enables rules)")
    parser.add_argument("--crl-mm", type=float, default=None, help="crown-rump length in mm")
    parser.add_argument("--fhr-bpm", type=float, default=None, help="fetal heart rate in beats per minute")
    parser.add_argument("--cam", default=None, metavar="METHOD",
                        help=f"explanation: {', '.join(list_cam_methods())}")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="write overlay PNGs (original | heat map | overlay) and analysis.json here")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def predict_patient(args) -> dict:
    """The JSON result of ``predict`` for parsed ``args`` (shared with commands that extend it)."""
    from core.io import probe

    for f in args.image:  # header-only gate checks first: a refused file costs no model load (seconds)
        probe(existing_file(f, "image"), name=str(f))
    from core.models.bundle import read_meta
    from core.pipeline import Clinical, analyze

    meta = read_meta(args.model)
    if meta.kind not in ("classification", "multitask", "instance"):
        raise InputError(f"{args.model}: a {meta.kind} bundle gives no class probabilities; "
                         f"use 'segment' for masks")
    if args.ga_weeks is None and (args.crl_mm is not None or args.fhr_bpm is not None):
        raise InputError("--crl-mm/--fhr-bpm need --ga-weeks: the rule thresholds depend on gestational age")
    files = [str(existing_file(f, "image")) for f in args.image]
    clinical = Clinical(ga_weeks=args.ga_weeks, crl_mm=args.crl_mm, fhr_bpm=args.fhr_bpm)
    cam = getattr(args, "cam", None)
    if cam is not None:
        canonical_cam_method(cam)  # an unknown method is the user's error, before any work
        if meta.kind == "instance":
            raise InputError("--cam: an instance-segmentation bundle draws masks, it has no class heat maps")
    analysis = analyze(files, clinical, model=args.model, cam=cam, faithfulness=cam is not None)
    out = analysis.to_dict()
    out["class_names"] = list(analysis.class_names)
    if getattr(args, "out", None):
        out["files"] = write_outputs(analysis, out, args.out)
    return out


def write_outputs(analysis, result: dict, folder) -> list[str]:
    """Overlay PNGs per image (and frame) plus analysis.json in ``folder``; returns the written paths."""
    import json
    from pathlib import Path

    from core.case_report import png_bytes
    from core.explain.overlay import triptych

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for i, r in enumerate(analysis.images):
        stem = f"{i:02d}-{Path(r.name).stem[:60]}" + (f"-frame{r.frame}" if r.kind == "video" else "")
        if r.cam is not None:
            (out / f"{stem}-overlay.png").write_bytes(png_bytes(r.overlay))
            (out / f"{stem}-triptych.png").write_bytes(png_bytes(triptych(r.image, r.cam)))
            written += [str(out / f"{stem}-overlay.png"), str(out / f"{stem}-triptych.png")]
    (out / "analysis.json").write_text(json.dumps(_clean(result), indent=2), encoding="utf-8")
    written.append(str(out / "analysis.json"))
    return written


def _print_instances(result: dict) -> None:
    for img in result["images"]:
        frame = f" frame {img['frame']}" if img.get("kind") == "video" else ""
        check = img.get("checklist") or {}
        found = ", ".join(f"{d['structure']} {d['score']:.2f}" for d in img["detections"]) or "nothing"
        view = "withheld (unlike the training data)" if (img.get("ood") or {}).get("out_of_distribution") \
            else (img.get("view") or "none")
        print(f"  {img['file']}{frame}: view {view}; completeness {len(check.get('found') or {})}/"
              f"{len(check.get('expected') or [])}; found {found}")


def _print_text(result: dict) -> None:
    if result["images"] and "detections" in result["images"][0]:
        _print_instances(result)
        for warning in result.get("warnings") or []:
            print(f"warning: {warning}")
        print("research software, not a medical device")
        return
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
