"""Real browser: Analyze for the first-trimester study shows the instance overlay, the view and the checklist.

The server starts with an empty store (the demo assets register on the first page load). First test: the
trained demo bundle (sample_data/models/first_trimester, maskrcnn_lite) analyses a showcase image as a user
would see it on first start, and withholds the view of a photo-like texture (out of distribution). Last test: a
first-trimester instance bundle is registered as the study's
default, as the Train page or ``train`` would; it is the constructed head detector of tests/test_instance_ui.py
(cranium and midline falx on any image, choroid plexus never), so the expected checklist is known exactly.
"""

import re

from playwright.sync_api import expect

import pytest

from core.paths import SAMPLE_DATA
from e2e.browser import choose

pytestmark = pytest.mark.e2e
WAIT = 180_000


def _settle(page, timeout=WAIT):
    page.wait_for_selector("[data-testid='stMain'] h1", timeout=timeout)
    page.wait_for_function("() => !document.querySelector(\"[data-testid='stStatusWidget']\")", timeout=timeout)


def _choose(page, label, option):
    choose(page, label, option, settle=_settle)


def _no_error(page, main) -> str:
    text = main.inner_text()
    assert page.locator("[data-testid='stException']").count() == 0
    assert page.locator("[data-testid='stAlertContentError']").count() == 0
    assert "Traceback" not in text
    return text


def _analyze_upload(page, image) -> None:
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(image))
    page.get_by_text("…or a showcase patient").wait_for(state="detached", timeout=WAIT)   # the upload is in
    _settle(page)
    page.get_by_role("button", name="Analyze", exact=True).click()
    _settle(page)


def test_demo_instance_model_draws_the_structures_of_a_showcase_image(server, page, artifacts):
    page.goto(f"{server['url']}/analyze")
    _settle(page)                                       # first load: the demo assets are registered
    _choose(page, "Study", "first_trimester")
    model = page.locator("[data-testid='stSelectbox']").filter(has_text="Model")
    expect(model.locator("input")).to_have_value(re.compile("demo first_trimester"), timeout=WAIT)
    _analyze_upload(page, SAMPLE_DATA / "first_trimester" / "images" / "FT0002_head.png")
    main = page.locator("[data-testid='stMain']")
    caption = main.get_by_text(re.compile(r"instance overlay: \d+ detection")).first
    caption.wait_for(timeout=WAIT)
    assert int(re.search(r"instance overlay: (\d+)", caption.inner_text()).group(1)) >= 1
    page.get_by_text("View category: head").wait_for(timeout=WAIT)
    # one overlay (the review below it draws its own correction canvas)
    expect(main.get_by_text(re.compile(r"instance overlay: \d+ detection"))).to_have_count(1, timeout=WAIT)
    expect(main).to_contain_text("cranium (0.", timeout=WAIT)   # the cranium is found, with its score
    _settle(page)
    _no_error(page, main)
    page.screenshot(path=str(artifacts / "instance_analyze_demo.png"), full_page=True)


def test_demo_instance_model_withholds_the_view_of_an_unlike_image(server, page, artifacts, tmp_path):
    """A photo-like colour texture is out of distribution for the demo bundle (its model.json carries the
    backbone-feature calibration): no view decision, the view and checklist greyed with the reason, and the
    review has nothing preselected (saving waits for the clinician's own choice). Runs before the test that
    registers another default model on this module's server."""
    import cv2
    import numpy as np

    coarse = (np.random.default_rng(7).random((48, 64, 3)) * 255).astype(np.uint8)
    photo = tmp_path / "holiday.png"
    cv2.imwrite(str(photo), cv2.resize(coarse, (512, 384), interpolation=cv2.INTER_CUBIC))
    page.goto(f"{server['url']}/analyze")
    _settle(page)
    _choose(page, "Study", "first_trimester")
    model = page.locator("[data-testid='stSelectbox']").filter(has_text="Model")
    expect(model.locator("input")).to_have_value(re.compile("demo first_trimester"), timeout=WAIT)
    _analyze_upload(page, photo)
    main = page.locator("[data-testid='stMain']")
    main.get_by_text(re.compile(r"No view decision: this image looks unlike")).wait_for(timeout=WAIT)
    _settle(page)
    text = main.inner_text()
    assert "AI view category (withheld)" in text and "View category:" not in text.replace(
        "AI view category (withheld)", "")
    assert re.search(r"No AI decision: holiday\.png unlike the model's training data \(out-of-distribution "
                     r"score \d+\.\d; above 1 = unusual\)", text)
    expect(page.get_by_role("button", name="Save case")).to_be_disabled()
    assert page.locator("[data-testid='stException']").count() == 0
    assert page.locator("[data-testid='stAlertContentError']").count() == 0
    for width in (1440, 1024):
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(500)
        main.get_by_text("AI view category (withheld)").scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / f"instance_ood_{width}.png"))
    page.get_by_text("No AI decision:").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "instance_ood_review_1024.png"))

def test_first_trimester_showcase_image_shows_instance_overlay_and_checklist(server, page, artifacts,
                                                                            monkeypatch, tmp_path):
    from test_instance_ui import register_default, rigged_instance_bundle

    page.goto(f"{server['url']}/analyze")
    _settle(page)                                       # first load: the demo assets are registered
    monkeypatch.setenv("SONODASH_HOME", str(server["home"]))
    register_default(rigged_instance_bundle(tmp_path))
    page.wait_for_timeout(6_000)                        # the page's bundle table is cached for 5 s
    page.goto(f"{server['url']}/analyze")
    _settle(page)
    _choose(page, "Study", "first_trimester")
    model = page.locator("[data-testid='stSelectbox']").filter(has_text="Model")
    expect(model.locator("input")).to_have_value(re.compile("constructed head detector"), timeout=WAIT)
    _analyze_upload(page, SAMPLE_DATA / "first_trimester" / "images" / "FT0001_head.png")
    page.get_by_text("View category: head").wait_for(timeout=WAIT)
    main = page.locator("[data-testid='stMain']")
    main.get_by_text(re.compile(r"instance overlay: \d+ detection")).first.wait_for(timeout=WAIT)
    main.get_by_text("choroid plexus — missing").wait_for(timeout=WAIT)
    _settle(page)
    assert main.get_by_text(re.compile(r"instance overlay: \d+ detection")).count() == 1
    assert main.locator("[data-testid='stImage'] img").count() >= 1
    text = _no_error(page, main)
    assert "completeness 2/3" in text and "choroid plexus — missing" in text and "cranium (0." in text
    page.screenshot(path=str(artifacts / "instance_analyze.png"), full_page=True)
