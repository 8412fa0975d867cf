"""A reader study in a real browser, sign-in required: an organizer sets up a sequential study from the stored
demo evaluation (its synthetic images regenerated on this machine) with a chosen registered AI model and
navigation allowed, previews a case and opens the study; the reader reads with flag, skip and back; the
organizer's results page shows the ROC of the AI with the reader's unaided and aided points joined by an arrow.

Setup outside the browser is only what a first installation needs: the accounts (``python -m core accounts
add``, as the README says). The demo models and evaluations register themselves on first start.
"""

import json
import os
import re
import subprocess
import sys

import pytest
from e2e.browser import WAIT, idle, sign_in

pytestmark = pytest.mark.e2e
SONODASH_AUTH = "required"      # read by the server fixture
N_CASES = 3
SHOTS = os.environ.get("SONODASH_SHOTS", "")


def _core(server, *args, stdin=None):
    env = dict(os.environ, SONODASH_HOME=str(server["home"]))
    out = subprocess.run([sys.executable, *args], input=stdin, capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout


def _no_errors(page):
    assert page.locator("[data-testid='stException']").count() == 0
    assert "Traceback" not in page.locator("[data-testid='stMain']").inner_text()


def _pick(page, label, option: re.Pattern):
    """Open the selectbox ``label`` and choose the first option matching ``option``."""
    choice = page.get_by_role("option", name=option).first
    for _ in range(5):
        idle(page)
        page.locator("[data-testid='stSelectbox']").filter(has_text=label).click()
        try:
            choice.wait_for(timeout=10_000)
            break
        except Exception:  # noqa: BLE001 - the list did not open during a rerun: try again
            page.keyboard.press("Escape")
    choice.click()
    idle(page)


def _shot(page, name):
    if SHOTS:
        for width in (1440, 1024):
            page.set_viewport_size({"width": width, "height": 1100})
            page.wait_for_timeout(1000)
            page.screenshot(path=os.path.join(SHOTS, f"{name}-{width}.png"), full_page=True)
        page.set_viewport_size({"width": 1400, "height": 1100})


def _header(page) -> str:
    page.wait_for_function("() => !document.querySelector(\"[data-testid='stStatusWidget']\")", timeout=WAIT)
    return page.locator("h3").filter(has_text=re.compile(r"^Case \d+ of")).inner_text()


def _expect(page, text):
    try:
        page.locator("h3").filter(has_text=text).wait_for(timeout=WAIT)
    except Exception:
        if SHOTS:
            page.screenshot(path=os.path.join(SHOTS, "failure.png"), full_page=True)
        raise
    idle(page)
    assert _header(page).startswith(text), _header(page)


def _answer(page, label, presses):
    """Choose ``label``, move the confidence slider and save; retried when a rerun swallowed the choice."""
    header = _header(page)
    for _ in range(3):
        idle(page)
        page.wait_for_function("() => document.querySelectorAll(\"[data-testid='stRadio'] input:checked\").length"
                               " === 0", timeout=WAIT)
        page.locator("[data-testid='stRadio']").filter(has_text="Diagnosis").get_by_text(label, exact=True).click()
        slider = page.get_by_role("slider", name=re.compile("^Confidence that"))
        slider.focus()
        for _ in range(presses):
            slider.press("ArrowRight" if label == "miscarriage" else "ArrowLeft")
        page.get_by_role("button", name="Save answer").click()
        try:
            page.wait_for_function("(h) => { const e = [...document.querySelectorAll('h3')].find("
                                   "x => x.innerText.startsWith('Case ')); return !e || e.innerText !== h; }",
                                   arg=header, timeout=30_000)
            return
        except Exception:  # noqa: BLE001 - still the same case: the click landed during a rerun
            assert page.get_by_text("can no longer be changed").count() == 0
    raise AssertionError(f"the answer to {header} was not saved")


def test_study_from_the_demo_evaluation_read_with_navigation(server, browser):
    _core(server, "-m", "core", "accounts", "add", "boss", "--role", "organizer", "--password-stdin",
          stdin="organizer-pass\n")
    _core(server, "-m", "core", "accounts", "add", "reader-a", "--role", "reader", "--password-stdin",
          stdin="reader-pass-a\n")
    url = server["url"]

    # --- organizer: a draft study from the stored demo evaluation, with a chosen model, then open it
    org = browser.new_context(viewport={"width": 1400, "height": 1100}).new_page()
    sign_in(org, f"{url}/study-setup", "boss", "organizer-pass")
    org.locator("[data-testid='stRadio']").filter(has_text="Cases from").get_by_text("Stored evaluation").click()
    idle(org)
    _pick(org, "Evaluation", re.compile("^demo-miscarriage$"))
    cases = org.get_by_label("Number of cases (0 = all)")
    cases.fill(str(N_CASES))
    cases.press("Enter")
    idle(org)
    org.get_by_label("Study name").fill("e2e study")
    org.get_by_label("Study name").press("Enter")
    idle(org)
    _pick(org, "AI model for the aided phase", re.compile("^demo miscarriage"))
    box = org.locator("[data-testid='stMultiSelect']").filter(has_text="Readers").locator("input")
    box.click()
    box.fill("reader-a")
    box.press("Enter")
    idle(org)
    org.keyboard.press("Escape")
    org.get_by_text("Readers may skip, flag and go back (case list)").click()
    idle(org)
    org.get_by_role("button", name="Create draft study").click()
    org.get_by_text(f"Draft study e2e study created with {N_CASES} cases and 1 readers").wait_for(timeout=400_000)
    org.get_by_text("Truth:").wait_for(timeout=WAIT)        # the preview of case 1
    idle(org)
    _no_errors(org)
    main = org.locator("[data-testid='stMain']").inner_text()
    assert "Status: draft" in main and "Truth:" in main and "computed when the study opens" in main
    org.get_by_role("button", name="Open for reading").click()
    org.get_by_text("Status: open").wait_for(timeout=300_000)
    idle(org)
    assert "AI: " in org.locator("[data-testid='stMain']").inner_text()     # preview now shows the AI output
    _no_errors(org)
    stored = json.loads(_core(server, "-c", "import json; from core.reader_study.setup import get_study; "
                                            "s = get_study(1); print(json.dumps([s['bundle_path'], s['questions'], "
                                            "s['source'], s['status']]))"))
    assert stored[0].endswith("sample_data/models/miscarriage/bundle") and stored[1]["navigation"] is True
    assert stored[2] == {"evaluation": "demo-miscarriage"} and stored[3] == "open"

    # the truth in the reader's order (read from the store, as a script would): unaided she calls every case
    # positive, aided she is right, so her point moves from (1, 1) to (0, 1)
    truth = json.loads(_core(server, "-c", (
        "import json; from sqlalchemy import select; from core.store import session_scope; "
        "from core.reader_study.schema import StudyCase, StudyReader\n"
        "with session_scope(write=False) as s:\n"
        "    order = s.scalar(select(StudyReader.case_order))\n"
        "    by_pos = {c.position: c.truth for c in s.scalars(select(StudyCase))}\n"
        "print(json.dumps([by_pos[p] for p in order]))")))
    assert sorted(truth) == ["live_birth", "live_birth", "miscarriage"]     # stratified: 3 x 30 % positives

    # --- reader: flag case 1, skip to 2, read 2 (unaided -> aided), back twice to 1, then the rest
    page = browser.new_context(viewport={"width": 1400, "height": 1100}).new_page()
    sign_in(page, f"{url}/read", "reader-a", "reader-pass-a")
    _expect(page, "Case 1 of 3 — without AI")
    page.get_by_role("button", name="Flag").click()
    _expect(page, "Case 1 of 3 — without AI · flagged")
    page.get_by_role("button", name="Skip").click()
    _expect(page, "Case 2 of 3 — without AI")
    assert page.get_by_text("AI probability").count() == 0
    _answer(page, "miscarriage", 10)
    _expect(page, "Case 2 of 3 — with AI assistance")
    page.get_by_text("AI probability of miscarriage").wait_for(timeout=WAIT)
    _shot(page, "reading")
    _answer(page, truth[1], 5)
    _expect(page, "Case 3 of 3 — without AI")
    page.get_by_role("button", name="Back").click()
    _expect(page, "Case 2 of 3 — with AI assistance")
    page.get_by_text(f"You answered this reading (version 1): {truth[1]}").wait_for(timeout=WAIT)
    page.get_by_role("button", name="Back").click()
    _expect(page, "Case 1 of 3 — without AI · flagged")
    for number in (1, 3):
        for label, phase in (("miscarriage", "without AI"), (truth[number - 1], "with AI assistance")):
            _expect(page, f"Case {number} of 3 — {phase}")
            _answer(page, label, 20)
    page.get_by_text("You have read every case of this study").wait_for(timeout=WAIT)
    _no_errors(page)
    page.context.close()

    # --- organizer: the ROC chart with the reader's unaided -> aided points
    org.locator("[data-testid='stSidebarNav']").get_by_text("Study results").click()
    org.get_by_text("Download every answer (CSV)").wait_for(timeout=WAIT)
    idle(org)
    org.wait_for_function("() => document.querySelector('.js-plotly-plot') && "
                          "document.querySelector('.js-plotly-plot').data", timeout=WAIT)
    chart = org.evaluate("() => { const p = document.querySelector('.js-plotly-plot'); return {names: "
                         "p.data.map(t => t.name), xs: p.data.map(t => t.x), ys: p.data.map(t => t.y), "
                         "arrows: (p.layout.annotations || []).map(a => [a.ax, a.ay, a.x, a.y])}; }")
    expected = json.loads(_core(server, "-c", (
        "import json; from core.reader_study import OrganizerSession as O; r = O(1).results(1)['roc']; "
        "print(json.dumps({'auc': r['ai']['auc'], 'points': {p['phase']: [p['fpr'], p['tpr']] for p in r['readers']}}))")))
    names = chart["names"]
    assert names[0] == "chance" and names[1] == f"AI (AUC {expected['auc']:.3f}, 3 cases)", names
    for phase in ("unaided", "aided"):
        k = names.index(f"reader-a · {phase}")
        assert [chart["xs"][k][0], chart["ys"][k][0]] == pytest.approx(expected["points"][phase])
    un, ai = expected["points"]["unaided"], expected["points"]["aided"]
    assert (un, ai) == ([1.0, 1.0], [0.0, 1.0])
    assert chart["arrows"] == [pytest.approx([un[0], un[1], ai[0], ai[1]])]
    main = org.locator("[data-testid='stMain']").inner_text()
    for section in ("ROC: the AI and each reader", "Per case", "Readers, AI and reader + AI", "MRMC analysis"):
        assert section in main, section
    assert "nan" not in main.split() and "None" not in main.split()
    _no_errors(org)
    _shot(org, "results")
    org.context.close()
    probe = ("from core.reader_study import OrganizerSession as O; o = O(1); df = o.answers(1); "
             "assert len(df) == 6, len(df); assert sorted(df.phase) == ['aided'] * 3 + ['unaided'] * 3; "
             "assert (df.seconds >= 0).all(); from core import audit; "
             "assert [e.action for e in audit.query(action='study.', newest_first=False)][:2] == "
             "['study.create', 'study.open']")
    _core(server, "-c", probe)
