"""A reader study in a real browser: an organizer creates a sequential study on 10 showcase cases for two
readers, each reader signs in and reads every case unaided then aided, and the organizer sees the results.

Setup outside the browser is only what a first installation needs: the first organizer account (created with
``python -m core accounts add``, as the README says) and, when no demo model has been built, a tiny model
registered as the miscarriage default so the aided phase has an AI output.
"""

import os
import re
import subprocess
import sys

import pytest

from e2e.browser import choose

pytestmark = pytest.mark.e2e

TINY_BUNDLE = """
import torch
from core import store
from core.models import build_model, save_bundle
from core.paths import sonodash_home
if store.default_bundle("miscarriage") is None:
    torch.manual_seed(0)
    path = save_bundle(sonodash_home() / "e2e-bundle", build_model("smallcnn", num_classes=2, in_channels=1, width=4),
                       {"task": "miscarriage", "class_names": ["live_birth", "miscarriage"],
                        "positive_label": "miscarriage", "input_size": 32, "normalization": "unit"})
    store.set_default_bundle("miscarriage", store.register_bundle(path))
"""
N_CASES = 10
READERS = {"reader-a": "reader-pass-a", "reader-b": "reader-pass-b"}
WAIT = 120_000


def _core(server, *args, stdin=None):
    env = dict(os.environ, SONODASH_HOME=str(server["home"]))
    out = subprocess.run([sys.executable, *args], input=stdin, capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr


def _idle(page):
    page.wait_for_selector("[data-testid='stApp']", timeout=WAIT)
    page.wait_for_timeout(300)
    page.wait_for_function("() => !document.querySelector(\"[data-testid='stStatusWidget']\")", timeout=WAIT)


def _no_errors(page):
    assert page.locator("[data-testid='stException']").count() == 0
    assert "Traceback" not in page.locator("[data-testid='stMain']").inner_text()


def _sign_in(page, url, user, password):
    page.goto(url)
    page.get_by_label("User name").first.wait_for(timeout=WAIT)
    page.get_by_label("User name").first.fill(user)
    page.get_by_label("Password").first.fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text(f"Signed in as {user}").wait_for(timeout=WAIT)
    _idle(page)


def _choose(page, label, option):
    choose(page, label, option, settle=_idle)


def test_sequential_study_in_the_browser(server, browser, artifacts):
    _core(server, "-m", "core", "accounts", "add", "organizer", "--role", "organizer", "--password-stdin",
          stdin="organizer-pass\n")
    _core(server, "-c", TINY_BUNDLE)
    url = server["url"]

    # --- organizer: reader accounts and the study
    org = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    _sign_in(org, f"{url}/study-setup", "organizer", "organizer-pass")
    org.get_by_text("Add a reader account").click()  # the expander stays open across reruns
    for name, password in READERS.items():
        org.get_by_label("User name").fill(name)
        org.get_by_label("Initial password").fill(password)
        org.get_by_role("button", name="Create reader").click()
        org.get_by_text(f"Reader {name} created.").wait_for(timeout=WAIT)
        _idle(org)
    _choose(org, "Study", "miscarriage")
    org.get_by_label("Study name").fill("e2e study")
    org.get_by_label("Study name").press("Enter")
    _idle(org)
    for name in READERS:
        box = org.locator("[data-testid='stMultiSelect']").filter(has_text="Readers").locator("input")
        box.click()
        box.fill(name)
        box.press("Enter")
        _idle(org)
    org.keyboard.press("Escape")
    _choose(org, "Design", "Sequential (unaided, then aided on the same case)")
    org.get_by_role("button", name="Create study").click()
    org.get_by_text(f"Study e2e study created with {N_CASES} cases and 2 readers.").wait_for(timeout=300_000)
    _no_errors(org)
    org.screenshot(path=str(artifacts / "reader-study-setup.png"), full_page=True)

    # --- each reader: every case unaided, then aided
    for r, (name, password) in enumerate(READERS.items()):
        page = browser.new_context(viewport={"width": 1400, "height": 1100}).new_page()
        _sign_in(page, f"{url}/read", name, password)
        for k in range(2 * N_CASES):
            page.get_by_text(f"{k} of {2 * N_CASES} readings done").wait_for(timeout=WAIT)
            # the new reading's form is fresh (no diagnosis chosen yet) once the rerun has finished
            page.wait_for_function("() => document.querySelectorAll(\"[data-testid='stRadio'] input:checked\").length"
                                   " === 0 && !document.querySelector(\"[data-testid='stStatusWidget']\")",
                                   timeout=WAIT)
            header = page.locator("h3").filter(has_text=re.compile(r"^Case \d+ of")).inner_text()
            aided = "with AI" in header
            assert aided == (k % 2 == 1), header  # sequential: unaided, then aided on the same case
            if aided:
                page.get_by_text("AI probability of miscarriage").wait_for(timeout=WAIT)
                page.get_by_role("img", name=re.compile("Grad-CAM")).or_(page.get_by_text("Grad-CAM overlay")).first.wait_for(timeout=WAIT)
            else:
                assert page.get_by_text("AI probability").count() == 0
            if k == 1 and r == 0:
                page.screenshot(path=str(artifacts / "reader-study-aided.png"), full_page=True)
            label = "miscarriage" if (k // 2 + r) % 3 == 0 else "live_birth"
            page.locator("[data-testid='stRadio']").filter(has_text="Diagnosis").get_by_text(label, exact=True).click()
            slider = page.get_by_role("slider", name=re.compile("^Confidence that"))
            slider.focus()
            for _ in range((7 * k + 11 * r) % 23):
                slider.press("ArrowRight" if label == "miscarriage" else "ArrowLeft")
            page.get_by_role("button", name="Save answer").click()
        page.get_by_text("You have read every case of this study").wait_for(timeout=WAIT)
        _no_errors(page)
        page.context.close()

    # --- organizer: progress and results
    org.locator("[data-testid='stSidebarNav']").get_by_text("Study results").click()  # same session: signed in
    org.get_by_text("Download every answer (CSV)").wait_for(timeout=WAIT)  # the last element of the page
    _idle(org)
    main = org.locator("[data-testid='stMain']").inner_text()
    # tables are drawn on a canvas (no DOM text): check the sections and that every table is there
    for section in ("Progress", "Unaided vs aided, per reader", "Fleiss' kappa (unaided)", "Fleiss' kappa (aided)",
                    "MRMC analysis of AUC"):
        assert section in main, section
    assert org.locator("[data-testid='stDataFrame']").count() >= 5
    _no_errors(org)
    org.screenshot(path=str(artifacts / "reader-study-results.png"), full_page=True)
    org.context.close()

    # the store holds every answer (2 readers x 10 cases x 2 phases)
    probe = ("from core.reader_study import OrganizerSession as O; o = O(1); df = o.answers(1); "
             "assert len(df) == 40, len(df); assert df.groupby('reader').size().tolist() == [20, 20]; "
             "assert o.progress(1)['status'].tolist() == ['finished', 'finished']; "
             "m = o.results(1)['mrmc']; assert all('error' not in v for v in m.values()), m")
    _core(server, "-c", probe)
