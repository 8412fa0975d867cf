"""Real browser: upload a showcase image on Analyze, enter GA/CRL/FHR, see probability, rules and overlay."""

import pytest
from playwright.sync_api import expect

from core.paths import SAMPLE_DATA

pytestmark = pytest.mark.e2e


def _settle(page, timeout=180_000):
    page.wait_for_selector("[data-testid='stMain'] h1", timeout=timeout)
    page.wait_for_function("() => !document.querySelector(\"[data-testid='stStatusWidget']\")", timeout=timeout)


def _number(page, label: str, value: str):
    box = page.get_by_label(label, exact=True).last    # a stale copy may linger while the rerun ends
    box.fill(value)
    box.press("Enter")
    _settle(page)


def test_upload_analyze_shows_probability_rules_and_overlay(server, page, artifacts):
    image = sorted((SAMPLE_DATA / "miscarriage" / "images").glob("*.png"))[0]
    page.goto(f"{server['url']}/analyze")
    _settle(page)
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(image))
    _settle(page)
    _number(page, "GA weeks", "6")
    _number(page, "GA days", "4")
    _number(page, "CRL (mm)", "5")
    _number(page, "FHR (bpm)", "118")
    page.get_by_role("button", name="Analyze", exact=True).click()
    _settle(page)
    page.get_by_text("P(miscarriage)").wait_for(timeout=120_000)
    main = page.locator("[data-testid='stMain']")
    # Streamlit draws the result element by element: wait for each piece rather than read the page once.
    for piece in ("CRL small", "FHR low", "Both (CRL+FHR)"):
        expect(main).to_contain_text(piece, timeout=120_000)
    main.get_by_text("gradcam overlay").first.wait_for(timeout=120_000)
    expect(main.locator("img").nth(1)).to_be_attached(timeout=120_000)      # the image and its overlay
    _settle(page)
    assert page.locator("[data-testid='stException']").count() == 0
    assert "Traceback" not in main.inner_text()
    page.screenshot(path=str(artifacts / "analyze.png"), full_page=True)


def test_bad_upload_gives_one_error_and_the_page_keeps_working(server, page, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("this is not an image")
    page.goto(f"{server['url']}/analyze")
    _settle(page)
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(bad))
    _settle(page)
    page.get_by_role("button", name="Analyze", exact=True).click()
    _settle(page)
    errors = page.locator("[data-testid='stAlertContentError']")
    errors.first.wait_for(timeout=60_000)
    assert "notes.png" in errors.first.inner_text()
    assert page.locator("[data-testid='stException']").count() == 0
    page.get_by_role("button", name="Analyze", exact=True).wait_for()
