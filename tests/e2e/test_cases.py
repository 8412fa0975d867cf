"""Real browser: the viewer analyses the chosen frame of a 30-frame DICOM; a contour corrected on the image is
saved and listed on the Cases page with the right values; the Cases export trains with `python -m core train`.

The DICOM is generated here (core.data.synthetic.dicom): its sac grows from frame 0 to the middle of the clip,
so the frame analysed is checked against what core computes for that frame, not only against its number.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import zipfile

import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e
MAIN = "[data-testid='stMain']"
CHOSEN = 17
# Polygon drawn on the canvas (canvas pixels; a 256-px image is drawn at twice its size).
POLYGON = [(200, 200), (320, 190), (340, 300), (260, 340), (190, 300)]


@pytest.fixture(scope="module")
def cine(tmp_path_factory):
    from core.data.synthetic.dicom import sac_cine_frames, write_us_cine_dicom

    path = tmp_path_factory.mktemp("cine") / "cine.dcm"
    return write_us_cine_dicom(path, sac_cine_frames(30, seed=4), pixel_spacing_mm=0.2, frame_time_ms=40, seed=4,
                               patient_number=11)


def _settle(page, timeout=180_000):
    page.wait_for_selector(f"{MAIN} h1", timeout=timeout)
    page.wait_for_timeout(300)
    page.wait_for_function("() => !document.querySelector(\"[data-testid='stStatusWidget']\")", timeout=timeout)


def _upload_and_choose_frame(page, server, cine, frame: int):
    page.goto(f"{server['url']}/analyze")
    _settle(page)
    page.locator(f"{MAIN} input[type=file]").first.set_input_files(str(cine))
    _settle(page)
    slider = page.locator("[data-testid='stSlider']").filter(has_text="Frame").get_by_role("slider")
    slider.wait_for(timeout=60_000)
    _move_slider(page, slider, frame)
    return slider


def _move_slider(page, slider, frame: int):
    slider.focus()
    page.keyboard.press("Home")
    for _ in range(frame):
        page.keyboard.press("ArrowRight")
    _settle(page)
    value = page.locator("[data-testid='stSlider']").filter(has_text="Frame").locator(
        "[data-testid='stSliderThumbValue']")
    assert value.inner_text().strip() == str(frame)
    page.get_by_text(f"cine.dcm · frame {frame} of 30").wait_for(timeout=30_000)
    _settle(page)


def _analyze(page):
    page.get_by_role("button", name="Analyze", exact=True).click()
    _settle(page)
    page.get_by_text("Analysed frame(s)").first.wait_for(timeout=180_000)
    _settle(page)


def _analysed(page) -> str:
    """The "Analysed frame(s) — file: frame N" line under the result."""
    line = page.locator(f"{MAIN} [data-testid='stMarkdownContainer']").filter(has_text="Analysed frame(s)")
    return line.first.inner_text().strip()


def _expected(cine, frame: int):
    """The same analysis through core: the frame's probability (demo bundle) and level-set area."""
    from core.demo import demo_bundle
    from core.pipeline import analyze

    result = analyze([("cine.dcm", cine.read_bytes())], model=str(demo_bundle("miscarriage")), segmenter="levelset",
                     frames={"cine.dcm": [frame]}, cam=None, uncertainty=False)
    return result.images[0]


def test_frame_slider_analyses_the_chosen_frame(page, server, cine, artifacts):
    slider = _upload_and_choose_frame(page, server, cine, CHOSEN)
    page.get_by_text("25.0 frames/s from DICOM FrameTime").wait_for(timeout=30_000)
    _analyze(page)
    shown = _analysed(page)
    assert shown.endswith(f"cine.dcm: frame {CHOSEN}")
    expected = _expected(cine, CHOSEN)
    area = page.locator(f"{MAIN} table").filter(has_text="area").first.inner_text()
    assert f"{expected.biometry['area_mm2']:.1f}" in area          # the measurements are those of frame 17
    page.screenshot(path=str(artifacts / "cases-viewer-frame.png"), full_page=True)
    # Another frame chosen: the frame-17 result is no longer presented as current.
    _move_slider(page, slider, 3)
    expect(page.locator(MAIN).get_by_text(f"cine.dcm: frame {CHOSEN}")).to_have_count(0, timeout=60_000)
    _analyze(page)
    shown = _analysed(page)
    assert shown.endswith("cine.dcm: frame 3")


def _draw_polygon(page):
    page.get_by_text("Corrections: contour and calipers").click()
    _settle(page)
    page.get_by_text("redraw the contour", exact=True).click()
    _settle(page)
    canvas = page.locator("canvas.upper-canvas").first
    canvas.wait_for(timeout=30_000)
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    assert round(box["width"]) == 512                               # 256-px image drawn at scale 2
    for x, y in POLYGON + POLYGON[:1]:                                # clicking the first vertex closes it
        page.mouse.click(box["x"] + x, box["y"] + y)
        page.wait_for_timeout(250)
    _settle(page)
    page.get_by_text(re.compile(r"^Corrected contour: area")).wait_for(timeout=30_000)


def _save(page, key: str):
    box = page.get_by_role("textbox", name="Case key (pseudonym)")
    box.fill(key)
    box.press("Enter")
    _settle(page)
    before = page.get_by_text(re.compile(r"^Case #\d+ saved")).all_inner_texts()
    page.get_by_role("button", name="Save case").click()
    _settle(page)
    message = page.get_by_text(re.compile(r"^Case #\d+ saved")).first
    expect(message).not_to_have_text(before[0] if before else "-", timeout=60_000)
    expect(page.get_by_role("button", name="Save case")).to_be_disabled()   # saving it twice: no duplicate
    return message.inner_text()


def test_corrected_contour_is_saved_and_listed(page, server, cine, artifacts, monkeypatch):
    from core.corrections import polygon_mask

    _upload_and_choose_frame(page, server, cine, CHOSEN)
    _analyze(page)
    _draw_polygon(page)
    vertices = [(x / 2.0, y / 2.0) for x, y in POLYGON]
    area = int(polygon_mask(vertices, (256, 256)).sum())
    assert page.get_by_text(f"Corrected contour: area {area} px").count() == 1
    page.get_by_role("button", name="Add distance caliper").click()
    _settle(page)
    cell = page.get_by_text(re.compile(r"^length \d+\.\d mm$")).first
    cell.wait_for(state="attached", timeout=30_000)
    import cv2

    contour = cv2.findContours(polygon_mask(vertices, (256, 256)).astype(np.uint8), cv2.RETR_EXTERNAL,
                               cv2.CHAIN_APPROX_NONE)[0][0]
    long_axis_mm = max(cv2.fitEllipse(contour)[1]) * 0.2          # the caliper spans the fitted long axis
    assert abs(float(cell.inner_text().split()[1]) - long_axis_mm) < 0.15
    page.screenshot(path=str(artifacts / "cases-corrections.png"), full_page=True)
    message = _save(page, "E2E-017")
    assert "with 1 corrected contour(s) and 1 caliper(s)" in message
    case_id = int(re.search(r"#(\d+)", message).group(1))

    expected = _expected(cine, CHOSEN)
    from core.store.cases import get_case  # the page's store, read as a script would

    monkeypatch.setenv("SONODASH_HOME", str(server["home"]))
    saved = get_case(case_id)
    label = saved["decision"]
    assert saved["images"][0]["frame"] == CHOSEN and saved["images"][0]["corrected"] is True

    page.goto(f"{server['url']}/cases")
    _settle(page)
    rows = _rendered_rows(page)
    row = next(r for r in rows if r["case"].lstrip("#") == str(case_id))
    assert row["patient"] == "E2E-017" and row["study"] == "miscarriage"
    assert row["AI output"] == f"{label.replace('_', ' ')} (P {expected.probability:.3f})"
    assert row["clinician decision"] == label.replace("_", " ")
    assert row["corrections"] == "1 contour(s), 1 caliper(s)" and row["saved by"] == "demo"
    page.get_by_text("Contour: corrected by the clinician").wait_for(timeout=30_000)
    assert page.get_by_text(f"area {area} px;").count() == 1
    page.screenshot(path=str(artifacts / "cases-page.png"), full_page=True)


def _rendered_rows(page) -> list[dict]:
    """Rows of the Cases table as the grid exposes them (aria grid: header row, then data rows)."""
    page.locator(f"{MAIN} [data-testid='stDataFrame'] table").first.wait_for(state="attached", timeout=120_000)
    return page.evaluate("""() => {
        const g = document.querySelector("[data-testid='stMain'] [data-testid='stDataFrame'] table");
        if (!g) return [];
        const head = [...g.querySelectorAll('thead th')].map(c => c.innerText.trim());
        return [...g.querySelectorAll('tbody tr')].map(r => {
            const cells = [...r.querySelectorAll('th, td')].map(c => c.innerText.trim());
            const off = cells.length - head.length;
            return Object.fromEntries(head.map((h, i) => [h, cells[i + off]])); }); }""")


def test_cases_export_trains(page, server, cine, tmp_path):
    _upload_and_choose_frame(page, server, cine, 10)
    _analyze(page)
    _draw_polygon(page)
    for key in ("E2E-A", "E2E-B", "E2E-C"):
        _save(page, key)
    page.goto(f"{server['url']}/cases")
    _settle(page)
    page.get_by_role("button", name=re.compile(r"^Prepare export of \d+ case")).click()
    _settle(page)
    with page.expect_download(timeout=60_000) as info:
        page.get_by_role("button", name=re.compile(r"^Download dataset zip")).click()
    data = open(info.value.path(), "rb").read()
    out = tmp_path / "dataset"
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        zf.extractall(out)
    manifest = pd.read_csv(out / "manifest.csv", keep_default_na=False)
    assert {"E2E-A", "E2E-B", "E2E-C"} <= set(manifest["patient_id"])
    assert (manifest.loc[manifest["patient_id"].str.startswith("E2E-"), "corrected"] == 1).all()
    for row in manifest.itertuples():
        assert (out / row.image_path).is_file() and (out / row.mask_path).is_file()
    env = dict(os.environ, OMP_NUM_THREADS="1", SONODASH_HOME=str(tmp_path / "home"))
    done = subprocess.run([sys.executable, "-m", "core", "train", "--task", "segmentation", "--manifest",
                           str(out / "manifest.csv"), "--arch", "unet", "--epochs", "1", "--input-size", "32",
                           "--cv", "holdout", "--quiet", "--json", "--out", str(tmp_path / "run")],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = json.loads(done.stdout.strip().splitlines()[-1])["metrics"]
    assert 0.0 <= metrics["dice"] <= 1.0 and np.isfinite(metrics["dice"])
