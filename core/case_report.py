"""A one-page HTML report of one analysed case (images embedded, no identifiers, works offline).

Why HTML: it prints to PDF from any browser, needs no extra dependency, and opens on machines without
SonoDash. It carries what the clinician saw: the images (named by file name, never a server path) with
contour and heat map, the clinical values and pixel spacing actually used, the CNN result with its
uncertainty and per-class probabilities, the segmentation's measurements, the rule panel (only where the
study uses the rules), whether the decision was withheld as out of distribution, files that could not be
read, the clinician's decision and note, and the research-use disclaimer.
"""

from __future__ import annotations

import base64
import html
from datetime import datetime, timezone

import cv2
import numpy as np

DISCLAIMER = ("Research software, not a medical device. Predictions must not be used for clinical decisions "
              "without independent confirmation.")


def png_bytes(rgb: np.ndarray) -> bytes:
    """RGB uint8 -> PNG bytes (for downloads and the report)."""
    ok, buf = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("could not encode the image as PNG")
    return buf.tobytes()


def contour_image(result) -> np.ndarray:
    """The image with the segmentation contour drawn (or the image itself without a mask)."""
    if result.mask is None:
        return result.image
    from core.segmentation.levelset import draw_contours

    return draw_contours(result.image, result.mask)


def _img(rgb: np.ndarray, caption: str) -> str:
    data = base64.b64encode(png_bytes(rgb)).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return html.escape(str(value))


def case_report_html(analysis, *, study: str, decision: str | None = None, note: str = "",
                     clinical: dict | None = None) -> str:
    """The report as a self-contained HTML page."""
    withheld = bool(getattr(analysis, "decision_withheld", False))
    rows = [("Study", study), ("Model", (analysis.model or {}).get("name") or (analysis.model or {}).get("architecture")),
            ("CNN probability", analysis.probability), ("Operating threshold", analysis.threshold),
            ("CNN decision", "withheld: " + analysis.ood["reason"] if withheld else analysis.predicted_class),
            ("Uncertainty (SD)", (analysis.uncertainty or {}).get("sd")),
            ("Clinician decision", decision or ("—" if withheld else analysis.predicted_class))]
    if analysis.probabilities and len(analysis.probabilities) > 2:
        for name, p in sorted(analysis.probabilities.items(), key=lambda kv: -kv[1]):
            rows.append((f"P({name})", p))
    used = dict(getattr(analysis, "clinical", None) or clinical or {})
    for key in ("ga_weeks", "crl_mm", "fhr_bpm", "pixel_spacing_mm"):
        if key in used and (used[key] is not None or analysis.rules is not None):
            rows.append((f"used: {key.replace('_', ' ')}", used[key]))
    for key, value in (analysis.rules or {}).items():
        rows.append((f"rule: {key.replace('_', ' ')}", value))
    for r in analysis.images:
        b = r.biometry or {}
        for key in ("length_mm", "area_mm2", "circumference_mm", "mean_diameter_mm"):
            if b.get(key) is not None:
                rows.append((f"{r.name}: {key.replace('_mm2', ' (mm²)').replace('_mm', ' (mm)')}", b[key]))
    table = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{_fmt(v)}</td></tr>" for k, v in rows)
    figures = []
    for r in analysis.images:
        label = f"{r.name} (frame {r.frame})" if r.kind == "video" else r.name
        figures.append(_img(contour_image(r), f"{label}: segmentation"))
        if r.overlay is not None:
            figures.append(_img(r.overlay, f"{label}: {analysis.cam_method} overlay"))
    warnings = "".join(f"<li>{html.escape(w)}</li>" for w in list(analysis.warnings)
                       + [e["error"] for e in getattr(analysis, "errors", None) or []])
    return _page(table, note, "".join(figures), warnings)


def instance_report_html(results, *, study: str, decision: str | None = None, note: str = "",
                         model_name: str | None = None, figures=None) -> str:
    """The report of an instance (first-trimester) analysis: per image the AI's view category and
    completeness -- or, for an image unlike the training data, "withheld" with its out-of-distribution
    score -- the clinician's decision and note, and ``figures`` (``[(caption, RGB overlay)]``, drawn by the
    page as the clinician saw them)."""
    rows = [("Study", study), ("Model", model_name)]
    for r in results:
        label = f"{r.name} (frame {r.frame})" if r.frame else r.name
        ood = getattr(r, "ood", None) or {}
        checklist = r.checklist or {}
        if ood.get("out_of_distribution"):
            rows.append((f"{label}: AI view", f"withheld: unlike the model's training data "
                                             f"(out-of-distribution score {ood['score']:.1f}; above 1 = unusual)"))
        else:
            rows.append((f"{label}: AI view", checklist.get("view") or "none detected"))
            rows.append((f"{label}: completeness", f"{len(checklist.get('found') or {})}/"
                                                  f"{len(checklist.get('expected') or [])}"))
        rows.append((f"{label}: detections", len(r.instances)))
        if ood:
            rows.append((f"{label}: out-of-distribution score", float(ood["score"])))
    rows.append(("Clinician decision", decision))
    table = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{_fmt(v)}</td></tr>" for k, v in rows)
    images = "".join(_img(rgb, caption) for caption, rgb in (figures or []))
    return _page(table, note, images, "")


def _page(table: str, note: str, figures: str, warnings: str) -> str:
    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>SonoDash case report</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:60em}}table{{border-collapse:collapse}}
th,td{{border:1px solid #ccc;padding:4px 8px;text-align:left}}figure{{display:inline-block;margin:8px}}
img{{max-width:28em}}.disclaimer{{color:#a00}}</style></head><body>
<h1>SonoDash case report</h1><p class="disclaimer">{html.escape(DISCLAIMER)}</p>
<table>{table}</table>{'<h2>Warnings</h2><ul>' + warnings + '</ul>' if warnings else ''}
<h2>Note</h2><p>{html.escape(note) or '—'}</p><h2>Images</h2>{figures}
<p><small>Created {created}.</small></p></body></html>"""
