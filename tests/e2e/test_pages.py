"""Every dashboard page, opened in a real browser, shows content and no error or traceback."""

import pytest

from dashboard.pages_registry import PAGES

pytestmark = pytest.mark.e2e
ALL_PAGES = [spec for specs in PAGES.values() for spec in specs]


def _settle(page):
    """The page has drawn its heading and Streamlit is no longer running the script."""
    page.wait_for_selector("[data-testid='stMain'] h1", timeout=180_000)
    page.wait_for_function(
        "() => !document.querySelector(\"[data-testid='stStatusWidget']\")", timeout=180_000)
    page.wait_for_timeout(1000)


@pytest.mark.parametrize("spec", ALL_PAGES, ids=[s.url for s in ALL_PAGES])
def test_page_shows_content_without_errors(server, page, artifacts, spec):
    page.goto(f"{server['url']}/{'' if spec.default else spec.url}")
    _settle(page)
    main = page.locator("[data-testid='stMain']")
    assert main.locator("h1").count() >= 1, f"{spec.title}: no heading"
    assert page.locator("[data-testid='stException']").count() == 0
    errors = [e.inner_text() for e in page.locator("[data-testid='stAlertContentError']").all()]
    assert not errors, f"{spec.title}: {errors}"
    assert "Traceback" not in main.inner_text()
    page.screenshot(path=str(artifacts / f"page-{spec.url}.png"), full_page=True)
