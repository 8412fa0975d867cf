"""The PDF case report opens (pdftoppm renders every page) and holds the figures the Analyze page shows."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from core.paths import SAMPLE_DATA
from core.pipeline import analyze
from core.report_pdf import case_report_pdf, measurement_table, summary_rows
from core.tasks import get_task

BUNDLE = SAMPLE_DATA / "models" / "miscarriage" / "bundle"
needs_poppler = pytest.mark.skipif(not shutil.which("pdftoppm") or not shutil.which("pdftotext"),
                                   reason="poppler-utils not installed (apt-get install -y poppler-utils)")


@pytest.fixture(scope="module")
def showcase():
    from core.models import load_predictor

    images = sorted((SAMPLE_DATA / "miscarriage" / "images").glob("MC0002_*.png"))
    predictor = load_predictor(BUNDLE)
    analysis = analyze(images, {"ga_weeks": 6.57, "crl_mm": 5.6, "fhr_bpm": 136}, model=predictor,
                       segmenter="levelset", cam="gradcam", spacing_mm=0.163, task="miscarriage")
    return analysis, predictor.meta


def _text(pdf: bytes, tmp_path, mode: str = "-layout") -> str:
    """Text of the PDF: ``-layout`` keeps table rows on one line, ``-raw`` keeps each caption in one piece."""
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", mode, str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


@needs_poppler
def test_pdf_renders_and_holds_the_page_figures(showcase, tmp_path):
    analysis, meta = showcase
    task = get_task("miscarriage")
    pdf = case_report_pdf(analysis, task=task, decision="miscarriage", note="Review with senior.", model_meta=meta)
    assert pdf.startswith(b"%PDF-")
    (tmp_path / "r.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(tmp_path / "r.pdf"), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert pages and all(p.stat().st_size > 1000 for p in pages)
    text = _text(pdf, tmp_path)
    flat = " ".join(text.split())
    raw = " ".join(_text(pdf, tmp_path, "-raw").split())
    # the same rounding as the Analyze page
    assert f"P(miscarriage) {analysis.probability:.3f}" in flat
    assert f"{analysis.uncertainty['sd']:.3f} (SD, {analysis.uncertainty['method']}" in flat
    assert f"CNN decision {analysis.predicted_class.replace('_', ' ')}" in flat
    assert "Clinician decision miscarriage" in flat
    assert ("Overrides the CNN yes" if analysis.predicted_class != "miscarriage" else "Overrides the CNN no") in flat
    for r in analysis.images:
        b = r.biometry
        assert f"{r.name} {b['area_mm2']:.1f} {b['circumference_mm']:.1f} {b['mean_diameter_mm']:.1f}" in flat
        assert f"{r.name}: segmentation contour, image probability {r.probability:.3f}" in raw
    rules = analysis.rules
    yes = {True: "yes", False: "no", None: "—"}
    assert f"CRL small {yes[rules['crl_low']]}" in flat and f"FHR low {yes[rules['fhr_low']]}" in flat
    assert "GA 6w4d" in flat and "CRL 5.6 mm" in flat and "FHR 136 bpm" in flat
    assert "Review with senior." in flat
    assert "Model card" in flat and f"auc {meta.metrics['auc']:.3f}" in flat
    assert all(f"{r.name}: gradcam heat map" in raw for r in analysis.images)
    assert "Research software, not a medical device" in flat


@needs_poppler
def test_pdf_without_rules_has_no_rule_panel_and_keeps_the_model_decision(showcase, tmp_path):
    analysis, meta = showcase
    import copy

    no_rules = copy.copy(analysis)
    no_rules.rules = None
    flat = " ".join(_text(case_report_pdf(no_rules, task=get_task("miscarriage")), tmp_path).split())
    assert "CRL / FHR rules" not in flat and "CRL small" not in flat
    assert f"Clinician decision {analysis.predicted_class.replace('_', ' ')}" in flat  # no choice: the model's
    assert "Overrides the CNN no" in flat


def test_rows_follow_the_task(showcase):
    analysis, _ = showcase
    header, rows = measurement_table(analysis, get_task("preterm"))
    assert header[1] == "cervical length (mm)" and len(rows) == len(analysis.images)
    header, _ = measurement_table(analysis, get_task("miscarriage"))
    assert header == ["image", "area (mm²)", "circumference (mm)", "mean diameter (mm)"]
    assert ("Threshold", f"{analysis.threshold:.2f}") in summary_rows(analysis, task=get_task("miscarriage"))
