"""Show what the input gate sees in each file: kind, size, frames, pixel spacing.

Every file is fully decoded (a truncated body is only found that way). With --json one object per line:
{"file", "ok": true, "kind", "width", "height", "frames", "pixel_spacing_mm"} (+ "calibration": the DICOM's
calibrated regions {x0, y0, x1, y1, sy_mm, sx_mm}, and "warnings" when there are any) or {"file", "ok": false,
"error"}. pixel_spacing_mm is null when the image has no single square-pixel scale (see "calibration"). Exit 0 when every file is readable, 2 when any is not; without --json each bad file is one line on
stderr. DICOM is de-identified on reading, as everywhere in SonoDash.
"""

from __future__ import annotations

import sys

from core.cli._util import print_json, silence_library_logs
from core.errors import InputError

NAME = "inspect"
HELP = "what the input gate sees in image, DICOM and cine files (kind, size, frames, spacing)"


def add_arguments(parser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="image, DICOM or cine files")
    parser.add_argument("--json", action="store_true", help="one JSON object per file per line")
    parser.add_argument("--frame-step", type=int, default=80, help="keep one cine frame in N (default 80)")


def _inspect_one(path: str, frame_step: int) -> dict:
    from core.io import load_image

    try:
        img = load_image(path, frame_step=frame_step)
    except InputError as err:
        return {"file": path, "ok": False, "error": str(err)}
    except Exception as err:  # noqa: BLE001 - one bad file must not stop the others; reported, not raised
        return {"file": path, "ok": False, "error": f"{path}: internal error while reading ({type(err).__name__})"}
    width, height = img.metadata.get("source_size") or (img.width, img.height)  # the file's size, not the copy's
    row = {"file": path, "ok": True, "kind": img.kind, "width": int(width), "height": int(height),
           "frames": int(img.n_source_frames), "pixel_spacing_mm": img.pixel_spacing_mm}
    if img.metadata.get("calibration_regions"):
        row["calibration"] = img.metadata["calibration_regions"]
    if img.metadata.get("warnings"):
        row["warnings"] = list(img.metadata["warnings"])
    return row


def _line(row: dict) -> str:
    spacing = row["pixel_spacing_mm"]
    regions = row.get("calibration") or []
    spacing_text = f"{spacing:.4g} mm/px" if spacing else (
        f"{len(regions)} calibrated region(s), mm per pixel differs by region or axis" if regions
        else "no pixel spacing")
    return (f"{row['file']}: {row['kind']} {row['width']}x{row['height']}, {row['frames']} frame"
            f"{'' if row['frames'] == 1 else 's'}, {spacing_text}")


def run(args) -> int:
    silence_library_logs()

    if args.frame_step < 1:
        raise InputError(f"--frame-step must be >= 1, got {args.frame_step}")
    all_ok = True
    for path in args.files:
        row = _inspect_one(path, args.frame_step)
        all_ok &= row["ok"]
        if args.json:
            print_json(row)
        elif row["ok"]:
            print(_line(row), flush=True)
        else:
            print(f"error: {row['error']}", file=sys.stderr, flush=True)
    return 0 if all_ok else 2
