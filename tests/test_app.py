"""AppTest: the dashboard starts from its entrypoint and every page renders without an exception."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.pages_registry import PAGES

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
ALL_PAGES = [spec for specs in PAGES.values() for spec in specs]


def test_home_renders_from_entrypoint():
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    assert at.title[0].value == "SonoDash"


@pytest.mark.parametrize("spec", ALL_PAGES, ids=[s.url for s in ALL_PAGES])
def test_every_page_renders(spec):
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.switch_page(str(Path(APP).parent.parent / "pages" / spec.file)).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
