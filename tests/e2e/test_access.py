"""Who sees what, in a real browser with sign-in required (SONODASH_AUTH=required).

A reader with an open, unfinished study signs in: Analyze, Evaluations, Models and Train are refused (even by
URL) and missing from the menu, Read cases is open; a reload keeps the session; signing out ends it on the
server (a reload shows the sign-in form again). A clinician signing in finds the same four pages open.
Accounts and the study are made as an administrator would: the accounts command and core calls.
"""

import os
import subprocess
import sys

import pytest
from e2e.browser import WAIT, idle, sign_in

pytestmark = pytest.mark.e2e
SONODASH_AUTH = "required"      # read by the server fixture
SHOTS = os.environ.get("SONODASH_SHOTS", "")
FOUR = {"analyze": "Analyze", "evaluations": "Evaluations", "models": "Models", "train": "Train"}
STUDY = """
from core.accounts import get_user
from core.paths import SAMPLE_DATA
from core.reader_study import OrganizerSession, cases_from_manifest
cases = cases_from_manifest(SAMPLE_DATA / "miscarriage" / "manifest.csv", task="miscarriage", unit="image", limit=3)
OrganizerSession(get_user("boss").id).create_study("access study", task="miscarriage", cases=cases,
                                                   readers=["rita"], design="unaided", seed=1)
"""


HIDE = ("() => { Object.defineProperty(document, 'visibilityState', {value: 'STATE', configurable: true}); "
        "document.dispatchEvent(new Event('visibilitychange')); }")
CLOCK = """
from sqlalchemy import select
from core.reader_study.schema import Answer, CaseOpen
from core.store import session_scope
with session_scope(write=False) as s:
    answer = s.scalar(select(Answer))
    opened = s.scalar(select(CaseOpen.opened).where(CaseOpen.case_id == answer.case_id))
open_to_submit = (answer.created - opened).total_seconds()
assert 0 <= answer.seconds <= open_to_submit - 3.5, (answer.seconds, open_to_submit)
"""


def _core(server, *args, stdin=None):
    env = dict(os.environ, SONODASH_HOME=str(server["home"]))
    out = subprocess.run([sys.executable, *args], input=stdin, capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr


def _menu(page) -> str:
    return page.locator("[data-testid='stSidebarNav']").inner_text()


def _shot(page, name):
    if SHOTS:
        for width in (1440, 1024):
            page.set_viewport_size({"width": width, "height": 1000})
            page.wait_for_timeout(800)
            page.screenshot(path=os.path.join(SHOTS, f"{name}-{width}.png"), full_page=True)


@pytest.fixture(scope="module")
def people(server):
    for name, role, password in (("boss", "organizer", "organizer-pass"), ("rita", "reader", "reader-pass"),
                                 ("cleo", "clinician", "clinician-pass")):
        _core(server, "-m", "core", "accounts", "add", name, "--role", role, "--password-stdin",
              stdin=password + "\n")
    _core(server, "-c", STUDY)
    return server


def test_reader_with_open_study_is_refused_and_session_survives_reload(people, browser):
    url = people["url"]
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(f"{url}/analyze")
    page.get_by_role("button", name="Sign in").wait_for(timeout=WAIT)
    main = page.locator("[data-testid='stMain']").inner_text()
    assert "Sign in to SonoDash" in main and "Upload" not in main      # nothing of Analyze before sign-in
    assert page.locator("[data-testid='stSidebarNav']").count() == 0
    _shot(page, "sign-in")
    page.set_viewport_size({"width": 1400, "height": 1000})
    idle(page)
    try:
        page.get_by_label("User name").fill("rita")
    except Exception:
        page.screenshot(path=os.path.join(SHOTS or "/tmp", "access-failure.png"))
        raise
    page.get_by_label("Password", exact=True).fill("wrong-password")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("Unknown user name or wrong password.").wait_for(timeout=WAIT)

    sign_in(page, f"{url}/", "rita", "reader-pass")
    menu = _menu(page)
    assert "Read cases" in menu and "Home" in menu
    assert not any(title in menu for title in ("Analyze", "Evaluations", "Train", "Models", "Study results"))
    for path, title in FOUR.items():
        page.goto(f"{url}/{path}")
        page.get_by_text("Closed while your reading of access study is unfinished").wait_for(timeout=WAIT)
        idle(page)
        main = page.locator("[data-testid='stMain']").inner_text()
        assert main.strip().splitlines()[0] == title
        assert page.locator("[data-testid='stFileUploader'], [data-testid='stDataFrame'], "
                            ".js-plotly-plot").count() == 0, path
        assert "Signed in as rita" in page.locator("[data-testid='stSidebar']").inner_text()   # reload kept it
    page.goto(f"{url}/read")
    page.get_by_text("Case 1 of 3 — without AI").wait_for(timeout=WAIT)
    page.reload()
    page.get_by_text("Case 1 of 3 — without AI").wait_for(timeout=WAIT)
    assert "Signed in as rita" in page.locator("[data-testid='stSidebar']").inner_text()
    # the reading clock stops while the page is hidden (another tab, a locked screen): hide it for 4 s
    idle(page)
    page.evaluate(HIDE.replace("STATE", "hidden"))
    page.wait_for_timeout(4000)
    page.evaluate(HIDE.replace("STATE", "visible"))
    idle(page)
    page.locator("[data-testid='stRadio']").filter(has_text="Diagnosis").get_by_text("live_birth", exact=True).click()
    page.get_by_role("button", name="Save answer").click()
    page.get_by_text("Case 2 of 3 — without AI").wait_for(timeout=WAIT)
    _core(people, "-c", CLOCK)
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="Sign in").wait_for(timeout=WAIT)
    page.reload()                                     # the cookie's session was revoked on the server
    page.get_by_role("button", name="Sign in").wait_for(timeout=WAIT)
    idle(page)
    assert page.get_by_text("Signed in as rita").count() == 0
    page.context.close()
    probe = ("from core import audit; a = [e.action for e in audit.query(actor='rita', newest_first=False)]; "
             "assert a.count('access.refused') == 4, a; assert a.count('auth.sign_in') == 1, a; "
             "assert a[-1] == 'auth.sign_out', a; assert a.count('auth.sign_in_failed') == 1, a")
    _core(people, "-c", probe)


def test_clinician_finds_the_four_pages_open(people, browser):
    url = people["url"]
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    sign_in(page, f"{url}/", "cleo", "clinician-pass")
    menu = _menu(page)
    assert all(title in menu for title in FOUR.values()) and "Set up a study" not in menu
    for path, title in FOUR.items():
        page.goto(f"{url}/{path}")
        page.get_by_text("Signed in as cleo").wait_for(timeout=WAIT)
        idle(page)
        main = page.locator("[data-testid='stMain']").inner_text()
        assert "Closed while" not in main and "may not open this page" not in main, path
        assert page.locator("[data-testid='stException']").count() == 0, path
    page.goto(f"{url}/study-setup")                   # an organizer page stays closed to a clinician
    page.get_by_text("Your role (clinician) may not open this page").wait_for(timeout=WAIT)
    page.context.close()
