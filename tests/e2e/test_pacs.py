"""Real browser against a local Orthanc: query the showcase patient on Analyze (source "PACS"), retrieve and
analyze the de-identified images, send the SR and read it back from Orthanc (QIDO finds it; highdicom's
measurements equal the figures on the page), download the PDF report (pdftoppm renders it; pdftotext holds
the page's figures); finally, with the PACS gone, a search gives one clear message on the page."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
from playwright.sync_api import expect

from core.paths import SAMPLE_DATA
from core.pacs.orthanc import LocalOrthanc, orthanc_available
from tests.e2e.conftest import REPO, _free_port, _wait_healthy

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(not orthanc_available(), reason="apt-get install -y orthanc orthanc-dicomweb")]
SHOTS = os.environ.get("SONODASH_SHOTS")     # e.g. /work/shots/pacs: screenshots for people to look at


def _settle(page, timeout=180_000):
    page.wait_for_selector("[data-testid='stMain'] h1", timeout=timeout)
    page.wait_for_function("() => !document.querySelector(\"[data-testid='stStatusWidget']\")", timeout=timeout)


@pytest.fixture(scope="module")
def pacs():
    server = LocalOrthanc(users={"sono": "dash"})
    server.start()
    server.upload(sorted((SAMPLE_DATA / "miscarriage" / "dicom").glob("*.dcm")))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def dashboard(pacs, tmp_path_factory):
    """The dashboard as `make run` starts it, with SONODASH_DICOMWEB_URL pointing at the local Orthanc."""
    port = _free_port()
    home = tmp_path_factory.mktemp("pacs-home")
    env = dict(os.environ, SONODASH_HOME=str(home), SONODASH_AUTH="demo", SONODASH_DICOMWEB_URL=pacs.url,
               SONODASH_DICOMWEB_USER="sono", SONODASH_DICOMWEB_PASSWORD="dash")
    log = open(home / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(REPO / "dashboard" / "app.py"),
                             "--server.port", str(port), "--server.headless", "true",
                             "--browser.gatherUsageStats", "false"], cwd=REPO, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        yield {"url": url, "home": home}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _shot(page, name, locator=None):
    if not SHOTS:
        return
    os.makedirs(SHOTS, exist_ok=True)
    if locator is not None:
        locator.scroll_into_view_if_needed()
    page.screenshot(path=os.path.join(SHOTS, name))


def _search_and_retrieve(page, url, patient_id="FAKE-0001"):
    page.goto(f"{url}/analyze")
    _settle(page)
    page.get_by_text("PACS", exact=True).click()
    _settle(page)
    page.get_by_label("Patient ID").fill(patient_id)
    page.get_by_role("button", name="Search PACS").click()
    _settle(page)
    main = page.locator("[data-testid='stMain']")
    expect(page.get_by_role("combobox", name="PACS study")).to_have_value(
        f"2024-01-02 · {patient_id} · acc. ACC000001 · US · 2 image(s)", timeout=60_000)
    page.get_by_role("button", name="Retrieve study").click()
    _settle(page)
    expect(main).to_contain_text("2 image(s) retrieved and de-identified", timeout=120_000)
    return main


def test_pacs_round_trip_sr_and_pdf(dashboard, pacs, browser, tmp_path):
    from core.pacs import PacsConfig
    from core.pacs.sr import read_report
    from core.pacs.transport import connect

    for width in (1024, 1440):    # the PACS source at both widths
        context = browser.new_context(viewport={"width": width, "height": 1000})
        page = context.new_page()
        _search_and_retrieve(page, dashboard["url"])
        _shot(page, f"pacs-source-{width}.png", page.get_by_role("button", name="Retrieve study"))
        if width == 1024:
            context.close()
    main = page.locator("[data-testid='stMain']")
    page.get_by_role("button", name="Analyze", exact=True).click()
    _settle(page)
    send = page.get_by_role("button", name="Send results to PACS (DICOM SR)")
    send.first.wait_for(timeout=240_000)
    _settle(page)
    text = " ".join(main.inner_text().split())
    probability = float(re.search(r"P\(miscarriage\) ([0-9.]+)", text).group(1))
    decided = re.search(r"Decision (live birth|miscarriage)", text).group(1)
    rows = re.findall(r"(\d\d-[0-9a-f]{8}\.dcm) ([0-9.]+) ([0-9.]+) ([0-9.]+)", text)
    assert len(rows) == 2, text
    other = "miscarriage" if decided == "live birth" else "live birth"
    page.get_by_role("radiogroup", name="Clinician decision").get_by_text(other, exact=True).click()
    _settle(page)
    page.get_by_text("Also send the segmentation (DICOM SEG)").click()
    _settle(page)
    send.first.click()
    _settle(page)
    expect(main).to_contain_text("Structured report and 2 segmentation(s) stored in the de-identified copy of the "
                                 "study", timeout=60_000)
    sop = re.search(r"SR instance ([0-9.]+)\)", " ".join(main.inner_text().split())).group(1)
    _shot(page, "pacs-sent-1440.png", page.get_by_text("Structured report and"))

    # Orthanc has it: QIDO finds the SR, highdicom reads the page's figures back.
    client = connect(PacsConfig(url=pacs.url, username="sono", password="dash"))
    found = client.search_for_instances(search_filters={"SOPInstanceUID": sop, "Modality": "SR"})
    assert len(found) == 1
    item = found[0]
    ds = client.retrieve_instance(item["0020000D"]["Value"][0], item["0020000E"]["Value"][0], sop)
    assert ds.PatientID != "FAKE-0001" and "DOE" not in str(ds.get("PatientName", ""))
    report = read_report(ds)
    assert round(report["patient"]["probability"], 3) == probability
    assert report["patient"]["model_decision"].replace("_", " ") == decided
    assert report["patient"]["clinician_decision"].replace("_", " ") == other
    assert report["patient"]["override"] is True
    by_name = {g["tracking"].split(": ", 1)[1]: g["measurements"] for g in report["images"]}
    for name, area, circumference, diameter in rows:
        m = by_name[name]
        assert (f"{m['area_mm2']:.1f}", f"{m['circumference_mm']:.1f}", f"{m['mean_diameter_mm']:.1f}") == \
            (area, circumference, diameter)

    # The PDF report opens and holds the same figures.
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name="Download report (PDF)").first.click()
    pdf = tmp_path / "report.pdf"
    download.value.save_as(pdf)
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(pdf), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert pages
    if SHOTS:
        for p in pages:
            shutil.copy(p, os.path.join(SHOTS, f"pdf-{p.name}"))
    flat = " ".join(subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True,
                                   text=True).stdout.split())
    assert f"P(miscarriage) {probability:.3f}" in flat
    assert f"CNN decision {decided}" in flat and f"Clinician decision {other}" in flat
    assert "Overrides the CNN yes" in flat
    for name, area, circumference, diameter in rows:
        assert f"{name} {area} {circumference} {diameter}" in flat
    assert "Research software, not a medical device" in flat
    assert "Model demo miscarriage (smallcnn)" in flat and "Held-out metrics auc" in flat    # the model card
    assert page.locator("[data-testid='stException']").count() == 0
    page.context.close()


def test_pacs_down_gives_one_message(dashboard, pacs, page):
    pacs.stop()
    page.goto(f"{dashboard['url']}/analyze")
    _settle(page)
    page.get_by_text("PACS", exact=True).click()
    _settle(page)
    page.get_by_label("Patient ID").fill("FAKE-0001")
    page.get_by_role("button", name="Search PACS").click()
    _settle(page)
    errors = page.locator("[data-testid='stAlertContentError']")
    errors.first.wait_for(timeout=60_000)
    assert errors.count() == 1
    assert "cannot reach the PACS" in errors.first.inner_text()
    assert page.locator("[data-testid='stException']").count() == 0
    assert not any((dashboard["home"] / "tmp").glob("pacs-*"))
