"""Real browser, Train and Models pages (issue 17): choices from the data, refusal before training, the job box
follows the job just started, flagged runs, model cards with their evaluation link, download and delete.

Training is tiny everywhere: 10-patient user-made sets of 40x52 px pictures, 32 px input, 1 epoch.
"""

from __future__ import annotations

import io
import json
import re
import zipfile

import pandas as pd
import pytest
from playwright.sync_api import expect

from core.paths import SAMPLE_DATA
from e2e.browser import choose
from tests.test_train_data import make_user_dataset

pytestmark = pytest.mark.e2e
expect.set_options(timeout=60_000)      # a loaded CI machine: a rerun after a click can take tens of seconds
MAIN = "[data-testid='stMain']"
TRAIN_WAIT = 300_000


def _settle(page, timeout=180_000):
    page.wait_for_selector(f"{MAIN} h1", timeout=timeout)
    page.wait_for_function("() => !document.querySelector(\"[data-testid='stStatusWidget']\")", timeout=timeout)
    page.wait_for_timeout(500)


def _number(page, label: str, value: str):
    box = page.get_by_label(label, exact=True).last
    box.fill(value)
    box.press("Enter")
    _settle(page)


def _expect_selected(page, label: str, text: str):
    """The selectbox ``label`` shows an option containing ``text`` (the value of its combobox input)."""
    expect(page.get_by_role("combobox", name=label)).to_have_value(re.compile(re.escape(text)), timeout=60_000)


def _radio(page, option: str):
    page.locator("[data-testid='stRadio'] label").filter(has_text=option).first.click()
    _settle(page)


def _table_rows(page, has_text: str) -> list[list[str]]:
    """Body rows (cells as text, the index cell first) of the first st.table containing ``has_text``."""
    table = page.locator(f"{MAIN} table").filter(has_text=has_text).first
    table.wait_for(timeout=60_000)
    return table.evaluate("t => [...t.querySelectorAll('tbody tr')].map(r => [...r.children].map(c => "
                          "c.innerText.trim()))")


def _folder_manifest(page, csv):
    _radio(page, "folder path")
    box = page.get_by_label("Path to a manifest.csv (or its folder)")
    box.fill(str(csv))
    box.press("Enter")
    _settle(page)


def _start_and_finish(page, home) -> str:
    """Click Start; the job box must show the new job (never an older one); wait for it to end."""
    before = set(p.name for p in (home / "jobs").iterdir()) if (home / "jobs").exists() else set()
    page.get_by_role("button", name="Start training").click()
    new: set = set()
    for _ in range(120):                 # the click's rerun starts the worker; wait for its folder
        page.wait_for_timeout(500)
        new = (set(p.name for p in (home / "jobs").iterdir()) if (home / "jobs").exists() else set()) - before
        if new:
            break
    assert len(new) == 1, new
    _settle(page)
    job_id = new.pop()
    caption = page.get_by_text(re.compile(r"^job \d{8}-\d{6}-[0-9a-f]{6} ·"))
    expect(caption).to_contain_text(f"job {job_id} ·", timeout=30_000)
    expect(caption).to_contain_text(re.compile(r"· (finished|failed|cancelled)$"), timeout=TRAIN_WAIT)
    _settle(page)
    return job_id


@pytest.fixture(scope="module")
def data(server):
    """A generated set the page finds (10 patients, generic labels), and a fixed split with a one-class test."""
    home = server["home"]
    lesions = make_user_dataset(home / "generated" / "lesions", n_patients=10, labels=("benign", "malignant"))
    df = pd.read_csv(make_user_dataset(home / "fixed", n_patients=4, labels=("benign", "malignant")))
    df["split"] = df["patient_id"].map({"patient0": "test", "patient1": "val", "patient2": "train",
                                        "patient3": "train"})
    fixed = home / "fixed" / "manifest.csv"
    df.to_csv(fixed, index=False)
    broken = home / "fixed" / "broken.csv"
    df.drop(columns="split").assign(image_path=lambda d: d["image_path"].where(d.index != 2, "gone.png")) \
        .assign(ga_weeks=lambda d: d["ga_weeks"].astype(str).where(d.index != 5, "7w")).to_csv(broken, index=False)
    return {"home": home, "lesions": lesions, "fixed": fixed, "broken": broken}


def test_tiny_showcase_is_refused_with_the_minimum_and_problems_are_a_table(server, page, data):
    page.goto(f"{server['url']}/train")
    _settle(page)
    # The page opens on a showcase set it can train (no refusal on arrival); the CNS set, chosen, is refused.
    expect(page.locator("[data-testid='stAlertContentSuccess']")).to_contain_text("Manifest OK", timeout=120_000)
    choose(page, "Showcase manifest", str(SAMPLE_DATA / "cns" / "manifest.csv"), settle=_settle)
    # The task follows from the manifest's labels, not a fixed default.
    _expect_selected(page, "Task (from the manifest)", "cns — Fetal CNS anomalies")
    _expect_selected(page, "Architecture", "resnet34")
    _expect_selected(page, "Cross-validation", "lopo (the task's protocol)")
    alert = page.locator("[data-testid='stAlertContentError']")
    expect(alert).to_contain_text("--cv lopo needs at least 10 patients (2 of each of 5 classes); the manifest has 5",
                                  timeout=120_000)
    expect(page.get_by_role("button", name="Start training")).to_be_disabled()
    # Another CV scheme: another minimum, recomputed (no stale message).
    choose(page, "Cross-validation", "holdout", settle=_settle)
    expect(alert).to_contain_text("--cv holdout needs at least 15 patients (3 of each of 5 classes); the manifest "
                                  "has 5", timeout=120_000)
    # A broken manifest: every problem as a row / column / problem table, nothing started.
    _folder_manifest(page, data["broken"])
    expect(alert).to_contain_text("broken.csv: 2 problems", timeout=120_000)
    rows = _table_rows(page, "problem")
    assert [r[:2] for r in rows] == [["4", "image_path"], ["7", "ga_weeks"]]
    assert "file not found: gone.png" in rows[0][2] and "'7w' is not a number" in rows[1][2]
    expect(page.get_by_role("button", name="Start training")).to_be_disabled()


def test_default_choices_train_and_the_job_box_follows_the_new_job(server, page, data, artifacts):
    page.goto(f"{server['url']}/train")
    _settle(page)
    _radio(page, "generated synthetic set")
    _expect_selected(page, "Task (from the manifest)", "classification")
    _expect_selected(page, "Architecture", "resnet18")
    expect(page.locator("[data-testid='stAlertContentSuccess']")).to_contain_text(
        "Manifest OK: 10 patients, 20 images · patients per class benign: 5, malignant: 5", timeout=120_000)
    _number(page, "Epochs", "1")
    _number(page, "Input size (px)", "32")
    first = _start_and_finish(page, data["home"])
    status = json.loads((data["home"] / "jobs" / first / "result.json").read_text())
    assert page.locator("[data-testid='stAlertContentError']").count() == 0
    bundle_id = status["registered"]["bundle_id"]
    rows = dict((r[0], r[1]) for r in _table_rows(page, "n_patients"))
    assert rows["n_patients"] == "2" and rows["n_folds"] == "1"       # the 2 held-out test patients
    # A second start: the box switches to it (the old page kept showing the previous job).
    second = _start_and_finish(page, data["home"])
    assert second != first
    page.screenshot(path=str(artifacts / "train-finished.png"), full_page=True)
    assert isinstance(bundle_id, int)


def test_nan_run_is_flagged_and_make_default_asks_first(server, page, data):
    page.goto(f"{server['url']}/train")
    _settle(page)
    _folder_manifest(page, data["fixed"])
    _expect_selected(page, "Task (from the manifest)", "classification")
    _number(page, "Epochs", "1")
    _number(page, "Input size (px)", "32")
    job = _start_and_finish(page, data["home"])
    warning = page.locator("[data-testid='stAlertContentWarning']").filter(has_text="Registered flagged")
    expect(warning).to_contain_text("Registered flagged not better than chance: held-out AUC is NaN")
    bundle_id = json.loads((data["home"] / "jobs" / job / "result.json").read_text())["registered"]["bundle_id"]

    page.goto(f"{server['url']}/models?model={bundle_id}")
    _settle(page)
    expect(page.locator(f"{MAIN} [data-testid='stAlertContentError']")).to_contain_text(
        "Flagged: not better than chance — held-out AUC is NaN")
    page.get_by_role("button", name="Make default for classification").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("is flagged not better than chance")
    dialog.get_by_role("button", name="Cancel").click()
    _settle(page)
    expect(page.get_by_text("Default model for classification.")).to_have_count(0)
    page.get_by_role("button", name="Make default for classification").click()
    page.get_by_role("dialog").get_by_role("button", name="Make default anyway").click()
    _settle(page)
    expect(page.get_by_text("Default model for classification.")).to_be_visible()


def test_card_links_its_evaluation_downloads_and_deletes(server, page, data, monkeypatch):
    jobs = sorted((data["home"] / "jobs").iterdir())
    result = json.loads((jobs[0] / "result.json").read_text())     # the first default-choices run
    bundle_id, evaluation = result["registered"]["bundle_id"], result["registered"]["evaluation"]
    page.goto(f"{server['url']}/models?model={bundle_id}")
    _settle(page)
    main = page.locator(MAIN)
    expect(main).to_contain_text("Research use only. Not a medical device")
    expect(main).to_contain_text("Intended use")
    data_rows = dict((r[0], r[1]) for r in _table_rows(page, "fingerprint"))
    assert data_rows["n patients"] == "10" and data_rows["n images"] == "20"
    expect(main).to_contain_text("Class balance (images): benign 10, malignant 10")
    expect(main).to_contain_text("Trained and evaluated on 10 patients")
    link = page.get_by_role("link", name=f"Stored evaluation: {evaluation}")
    expect(link).to_have_attribute("href", re.compile(r"evaluations\?evaluation=" + re.escape(evaluation)))

    with page.expect_download() as info:
        page.get_by_role("button", name="Download bundle (zip)").click()
    names = zipfile.ZipFile(io.BytesIO(info.value.path().read_bytes())).namelist()
    assert {"bundle/model.json", "bundle/model.safetensors"} <= set(names)

    link.click()
    _settle(page)
    expect(page.locator("[data-testid='stMultiSelect']").filter(has_text="Evaluations to compare")) \
        .to_contain_text(evaluation)

    page.goto(f"{server['url']}/models?model={bundle_id}")
    _settle(page)
    page.get_by_role("button", name="Delete model").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("1 stored evaluation(s) stay, marked as of a deleted model")
    dialog.get_by_role("button", name="Delete").click()
    _settle(page)
    expect(page.locator("[data-testid='stAlertContentSuccess']").first).to_contain_text(
        f"Deleted model #{bundle_id}")
    expect(page.get_by_role("combobox", name="Model card")).not_to_have_value(re.compile(f"^#{bundle_id} "))
    assert not (jobs[0] / "run" / "bundle").exists()               # files of a model this app trained go
    from core import store

    monkeypatch.setenv("SONODASH_HOME", str(data["home"]))      # read the server's store
    try:
        listed = store.list_evaluations().set_index("name")
        assert bool(listed.loc[evaluation, "bundle_deleted"]) is True     # the evaluation stays, marked
        assert bundle_id not in set(store.list_bundles()["id"])
        assert bundle_id in set(store.list_bundles(include_deleted=True)["id"])
    finally:
        store.dispose_engines()
