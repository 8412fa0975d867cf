"""Segment one image with the level set or a trained network; report area, ellipse circumference and mean
diameter (mm when the pixel spacing is known) and, given a ground-truth mask, Dice, IoU, precision, recall.

Examples:
  python -m core segment --model levelset --image sac.png --spacing-mm 0.1 --json
  python -m core segment --model runs/unet/bundle --image cervix.png --mask cervix_mask.png --out pred.png
"""

from __future__ import annotations

import math

from core.cli._util import existing_file, print_json
from core.errors import InputError

NAME = "segment"
HELP = "segment one image (level set or network bundle); biometry and, with --mask, Dice/IoU"

_PRINT_ORDER = ("area_px", "area_mm2", "circumference_mm", "mean_diameter_mm", "dice", "iou", "precision",
                "recall", "hd95_mm", "msd_mm")


def add_arguments(parser) -> None:
    parser.add_argument("--model", required=True, help="'levelset' or a segmentation model-bundle directory")
    parser.add_argument("--image", required=True, help="image file (PNG, JPEG, BMP, TIFF, DICOM, cine)")
    parser.add_argument("--mask", help="ground-truth mask PNG of the same size (non-zero = structure)")
    parser.add_argument("--spacing-mm", type=float, help="mm per pixel (overrides the DICOM pixel spacing)")
    parser.add_argument("--out", help="write the predicted mask here as a PNG (0/255)")
    parser.add_argument("--overlay", help="write the image with the mask's contour drawn on it (PNG)")
    parser.add_argument("--roi", help="level set only: region of interest x0,y0,x1,y1 in pixels (default: fan)")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")


def _parse_roi(text):
    if text is None:
        return None

    parts = text.split(",")
    if len(parts) != 4:
        raise InputError(f"--roi {text}: expected x0,y0,x1,y1")
    try:
        return tuple(float(p) for p in parts)
    except ValueError:
        raise InputError(f"--roi {text}: expected four numbers x0,y0,x1,y1") from None


def _write_png(path, pixels, flag):
    from pathlib import Path

    import cv2

    p = Path(path)
    if p.suffix.lower() != ".png":
        raise InputError(f"{flag} {path}: the file name must end in .png")
    p.parent.mkdir(parents=True, exist_ok=True)
    if pixels.ndim == 3:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(p), pixels):
        raise InputError(f"{flag} {path}: cannot write the file")


def run(args) -> int:
    import numpy as np

    from core.io import load_image
    from core.preprocess.fan import check_box
    from core.segmentation.inference import check_same_size, load_segmenter, mask_from_pixels, report
    from core.segmentation.levelset import draw_contours

    if args.spacing_mm is not None and not (math.isfinite(args.spacing_mm) and args.spacing_mm > 0):
        raise InputError(f"--spacing-mm {args.spacing_mm}: must be a positive number of mm per pixel")
    loaded = load_image(existing_file(args.image, "image"))
    image = loaded.image
    roi = _parse_roi(args.roi)
    if roi is not None:
        roi = check_box(roi, image.shape)
    truth = None
    if args.mask:
        truth = mask_from_pixels(load_image(existing_file(args.mask, "mask")).image)
        check_same_size(truth, image.shape, name=args.mask)
    segment = load_segmenter(args.model, roi=roi)
    mask = np.asarray(segment(loaded), dtype=bool)
    if mask.shape != image.shape[:2]:
        raise RuntimeError(f"the model returned a {mask.shape} mask for a {image.shape[:2]} image")
    spacing = args.spacing_mm if args.spacing_mm is not None else loaded.pixel_spacing_mm
    outside = False
    if args.spacing_mm is None and loaded.metadata.get("calibration_regions") and mask.any():
        from core.io.calibration import spacing_for_mask  # the ultrasound region holding the structure decides

        pair = spacing_for_mask(loaded, mask)
        outside = pair is None
        spacing = None if pair is None else (pair[0] if math.isclose(pair[0], pair[1]) else tuple(pair))
    out = report(mask, truth=truth, spacing_mm=spacing)
    if outside:
        out.setdefault("warnings", []).append("the structure is not inside one calibrated ultrasound region, "
                                              "so it has no mm values")
    if args.out:
        _write_png(args.out, mask.astype(np.uint8) * 255, "--out")
    if args.overlay:
        _write_png(args.overlay, draw_contours(image, mask), "--overlay")
    out = {"image": str(args.image), "model": str(args.model), **out}
    if args.json:
        print_json(out)
    else:
        for key in _PRINT_ORDER:
            if key in out:
                value = out[key]
                shown = "n/a" if value is None or (isinstance(value, float) and not math.isfinite(value)) else (
                    f"{value:.4g}" if isinstance(value, float) else value)
                print(f"{key}: {shown}")
        for note in out.get("warnings", []):
            print(f"note: {note}")
    return 0
