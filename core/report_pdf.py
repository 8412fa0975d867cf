"""A PDF case report beside the HTML one (:mod:`core.case_report`), built with fpdf2.

Why a PDF as well: a PDF is what gets attached to a record or printed for a case conference, and it must
hold exactly what the clinician saw. It reuses the HTML report's content functions (the contour drawing,
PNG encoding and research-use statement) and prints the figures with the same rounding as the Analyze page
(probabilities to 3 decimals, millimetres to 1), so the two can be compared line by line. Contents: the
CNN result with its uncertainty, the clinician's decision (and whether it overrides the model) and note,
the clinical values used, the rule panel where the study uses the rules, the segmentation measurements,
each image with its contour and its heat map, the model card summary and the research-use statement on
every page. No identifiers: images are named by their (upload or de-identified) file names only.
"""

from __future__ import annotations

import io
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from core.case_report import DISCLAIMER, contour_image, png_bytes
from core.models.meta import BundleMeta

_FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/usr/local/share/fonts")


def _label(name) -> str:
    return str(name).replace("_", " ")


def _f(value, digits: int = 3, unit: str = "") -> str:
    return "—" if value is None else f"{value:.{digits}f}{unit}"


def summary_rows(analysis, *, task=None, decision: str | None = None,
                 model_name: str | None = None) -> list[tuple[str, str]]:
    """The model's answer and the clinician's, formatted as on the Analyze page."""
    model = analysis.model or {}
    withheld = bool(getattr(analysis, "decision_withheld", False))
    name = model.get("name") or (model_name or None)
    arch = model.get("architecture")
    shown = f"{name} ({arch})" if name and arch else (name or arch or "no classifier")
    rows = [("Study", _label(getattr(task, "name", None) or analysis.task or "—")), ("Model", str(shown))]
    if analysis.probability is not None:
        label = f"P({_label(analysis.positive_label)})" if analysis.positive_label else "P(decided class)"
        unc = analysis.uncertainty or {}
        spread = "—"
        if unc:
            spread = f"{unc['sd']:.3f} (SD, {unc.get('method')}, n={unc.get('n')})"
            if unc.get("interval"):
                spread += f", range {unc['interval'][0]:.3f}–{unc['interval'][1]:.3f}"
        binary = task.is_binary if task is not None else analysis.positive_label is not None
        rows += [(label, f"{analysis.probability:.3f}"), ("Uncertainty", spread),
                 ("Threshold", f"{analysis.threshold:.2f}" if binary else "highest probability"),
                 ("CNN decision", ("withheld: " + str((analysis.ood or {}).get("reason", "out of distribution")))
                  if withheld else _label(analysis.predicted_class))]
    chosen = decision or (None if withheld else analysis.predicted_class)
    rows.append(("Clinician decision", _label(chosen) if chosen else "—"))
    if chosen and analysis.predicted_class and not withheld:
        rows.append(("Overrides the CNN", "yes" if chosen != analysis.predicted_class else "no"))
    return rows


def clinical_rows(analysis) -> list[tuple[str, str]]:
    c = getattr(analysis, "clinical", None) or {}
    rows = []
    if c.get("ga_weeks") is not None:
        days = int(round(c["ga_weeks"] * 7))
        rows.append(("GA", f"{days // 7}w{days % 7}d"))
    if analysis.rules is not None:
        rows += [("CRL", _f(c.get("crl_mm"), 1, " mm")), ("FHR", _f(c.get("fhr_bpm"), 0, " bpm"))]
    spacing = c.get("pixel_spacing_mm")
    rows.append(("Pixel spacing", f"{spacing} mm" if spacing else "none (sizes in pixels)"))
    return rows


def rule_rows(analysis) -> list[tuple[str, str]] | None:
    rules = analysis.rules
    if rules is None:
        return None
    yes = {True: "yes", False: "no", None: "—"}
    rows = [("CRL small", yes[rules.get("crl_low")]), ("FHR low", yes[rules.get("fhr_low")]),
            ("CRL + FHR both low", yes[rules.get("both_low")])]
    if not rules.get("applicable"):
        rows.append(("Note", "rules not applicable (GA outside weeks 6–8 or a value missing)"))
    return rows


def measurement_table(analysis, task=None) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the segmentation measurements (the Analyze page's table)."""
    length = getattr(task, "length_measure", None)
    header = ["image"] + ([f"{length} (mm)"] if length else []) + ["area (mm²)", "circumference (mm)",
                                                                    "mean diameter (mm)"]
    rows = []
    for r in analysis.images:
        b = r.biometry
        if not b:
            continue
        row = [r.name + (f" #{r.frame}" if r.kind == "video" else "")]
        if length:
            row.append(_f(b.get("length_mm"), 1))
        row += [_f(b.get("area_mm2"), 1), _f(b.get("circumference_mm"), 1), _f(b.get("mean_diameter_mm"), 1)]
        rows.append(row)
    return header, rows


def model_card_rows(meta: BundleMeta | None, analysis=None) -> list[tuple[str, str]]:
    """A model card summary from the bundle's :class:`BundleMeta` (what it is, what it was trained and tested
    on); without one, from the analysis's own model summary (``Analysis.model``)."""
    summary = dict((analysis.model if analysis is not None else None) or {})
    if meta is None:
        if not summary:
            return []
        meta = SimpleNamespace(metrics={}, name=None, architecture=summary.get("architecture"),
                               task=summary.get("task"), class_names=(), pretrained=summary.get("pretrained"),
                               ensemble_members=summary.get("ensemble_members") or (), cv=None, created=None,
                               data_fingerprint=None)
    metrics = meta.metrics
    name = meta.name or summary.get("name")
    rows = [("Name", str(name or "—")), ("Architecture", str(meta.architecture or "—")),
            ("Task", _label(meta.task or "—")),
            ("Classes", ", ".join(_label(c) for c in meta.class_names) or "—"),
            ("Pretrained weights", "yes" if meta.pretrained else "no (trained from scratch)")]
    if meta.ensemble_members:
        rows.append(("Ensemble", f"{len(meta.ensemble_members)} fold models averaged"))
    if metrics:
        trained = ", ".join(f"{metrics[k]} {k.replace('n_', '')}" for k in ("n_patients", "n_images", "n_folds")
                            if metrics.get(k) is not None)
        if trained:
            rows.append(("Evaluated on", trained + (f" ({meta.cv})" if isinstance(meta.cv, str) else "")))
        shown = [f"{k} {metrics[k]:.3f}" for k in ("auc", "accuracy", "sensitivity", "specificity", "dice",
                                                    "mask_map50") if isinstance(metrics.get(k), (int, float))]
        if shown:
            rows.append(("Held-out metrics", ", ".join(shown)))
    if meta.created:
        rows.append(("Created", str(meta.created)[:19].replace("T", " ")))
    if meta.data_fingerprint:
        rows.append(("Data fingerprint", str(meta.data_fingerprint)))
    return rows


def _font_files() -> dict | None:
    for folder in _FONT_DIRS:
        regular, bold = Path(folder) / "DejaVuSans.ttf", Path(folder) / "DejaVuSans-Bold.ttf"
        if regular.is_file() and bold.is_file():
            return {"": regular, "B": bold}
    return None


class _Report:
    """fpdf2 document with the disclaimer in every page footer."""

    def __init__(self):
        from fpdf import FPDF

        class Doc(FPDF):
            def footer(doc):
                doc.set_y(-14)
                doc.set_font(doc.family_name, "", 7)
                doc.set_text_color(160, 0, 0)
                doc.multi_cell(0, 3.5, doc.clean(DISCLAIMER + f"  Page {doc.page_no()}/{{nb}}"), align="C")
                doc.set_text_color(0, 0, 0)

        self.pdf = Doc(orientation="P", unit="mm", format="A4")
        fonts = _font_files()
        if fonts:
            for style, path in fonts.items():
                self.pdf.add_font("DejaVu", style, str(path))
            self.pdf.family_name = "DejaVu"
            self.pdf.clean = lambda text: str(text)
        else:  # core font: Latin-1 only
            self.pdf.family_name = "Helvetica"
            self.pdf.clean = lambda text: (str(text).replace("—", "-").replace("–", "-").replace("·", "-")
                                           .encode("latin-1", "replace").decode("latin-1"))
        self.pdf.set_auto_page_break(auto=True, margin=18)
        self.pdf.set_title("SonoDash case report")
        self.pdf.set_creator("SonoDash (research software)")
        self.pdf.add_page()

    def font(self, size=10, bold=False):
        self.pdf.set_font(self.pdf.family_name, "B" if bold else "", size)

    def heading(self, text):
        self.pdf.ln(2)
        self.font(12, bold=True)
        self.pdf.cell(0, 7, self.pdf.clean(text), new_x="LMARGIN", new_y="NEXT")
        self.font(10)

    def pairs(self, rows):
        with self.pdf.table(col_widths=(45, 135), first_row_as_headings=False, line_height=5.5,
                            text_align="LEFT") as table:
            for key, value in rows:
                row = table.row()
                row.cell(self.pdf.clean(key))
                row.cell(self.pdf.clean(value))

    def grid(self, header, rows):
        with self.pdf.table(line_height=5.5, text_align="LEFT") as table:
            top = table.row()
            for h in header:
                top.cell(self.pdf.clean(h))
            for r in rows:
                row = table.row()
                for v in r:
                    row.cell(self.pdf.clean(v))

    def text(self, text, size=10):
        self.font(size)
        self.pdf.multi_cell(0, 5, self.pdf.clean(text), new_x="LMARGIN", new_y="NEXT", align="L")

    def images(self, pictures):
        """Pairs of (RGB array, caption), two per row."""
        width = 86
        for i in range(0, len(pictures), 2):
            pair = pictures[i:i + 2]
            heights = [width * p[0].shape[0] / max(p[0].shape[1], 1) for p in pair]
            needed = max(heights) + 10
            if self.pdf.get_y() + needed > self.pdf.h - 20:
                self.pdf.add_page()
            y = self.pdf.get_y()
            for k, (rgb, caption) in enumerate(pair):
                x = self.pdf.l_margin + k * (width + 8)
                self.pdf.image(io.BytesIO(png_bytes(np.ascontiguousarray(rgb))), x=x, y=y, w=width)
                self.pdf.set_xy(x, y + heights[k] + 1)
                self.font(8)
                self.pdf.multi_cell(width, 4, self.pdf.clean(caption), align="L")
            self.pdf.set_xy(self.pdf.l_margin, y + needed)

    def output(self) -> bytes:
        return bytes(self.pdf.output())


def case_report_pdf(analysis, *, task=None, decision: str | None = None, note: str = "",
                    model_meta: BundleMeta | None = None) -> bytes:
    """The report as PDF bytes. ``task``: the :class:`core.tasks.Task` (measurement names, binary or not);
    ``model_meta``: the bundle's :class:`BundleMeta` for the model card (else the analysis's model summary)."""
    doc = _Report()
    doc.font(16, bold=True)
    doc.pdf.cell(0, 9, "SonoDash case report", new_x="LMARGIN", new_y="NEXT")
    doc.font(9)
    doc.pdf.set_text_color(160, 0, 0)
    doc.text(DISCLAIMER, size=9)
    doc.pdf.set_text_color(0, 0, 0)
    doc.heading("Result")
    doc.pairs(summary_rows(analysis, task=task, decision=decision, model_name=model_meta.name if model_meta is not None else None))
    if analysis.probabilities and len(analysis.probabilities) > 2:
        doc.heading("Per class")
        doc.grid(["class", "probability"], [[_label(k), f"{v:.3f}"] for k, v in
                                           sorted(analysis.probabilities.items(), key=lambda kv: -kv[1])])
    doc.heading("Values used")
    doc.pairs(clinical_rows(analysis))
    rules = rule_rows(analysis)
    if rules is not None:
        doc.heading("CRL / FHR rules (DeVilbiss thresholds)")
        doc.pairs(rules)
    header, rows = measurement_table(analysis, task)
    if rows:
        doc.heading("Segmentation measurements")
        doc.grid(header, rows)
    problems = list(analysis.warnings) + [e["error"] for e in getattr(analysis, "errors", None) or []]
    if problems:
        doc.heading("Warnings")
        for w in problems:
            doc.text(f"• {w}", size=9)
    doc.heading("Clinician note")
    doc.text(note.strip() or "—")
    pictures = []
    for r in analysis.images:
        label = f"{r.name} (frame {r.frame})" if r.kind == "video" else r.name
        prob = f", image probability {r.probability:.3f}" if r.probability is not None else ""
        pictures.append((contour_image(r), f"{label}: {'segmentation contour' if r.mask is not None else 'original'}"
                         + prob))
        if r.overlay is not None:
            pictures.append((r.overlay, f"{label}: {analysis.cam_method} heat map"))
    if pictures:
        first = pictures[0][0]
        if doc.pdf.get_y() + 86 * first.shape[0] / max(first.shape[1], 1) + 24 > doc.pdf.h - 20:
            doc.pdf.add_page()   # keep the heading with its first row of images
        doc.heading("Images")
        doc.images(pictures)
    card = model_card_rows(model_meta, analysis)
    if card:
        doc.heading("Model card")
        doc.pairs(card)
    if doc.pdf.get_y() + 30 > doc.pdf.h - 20:
        doc.pdf.add_page()
    doc.heading("Research use")
    doc.text(DISCLAIMER + " SonoDash is research software; the model's figures describe its held-out "
             "evaluation data, not this patient.", size=9)
    doc.text(f"Created {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}.", size=8)
    return doc.output()
