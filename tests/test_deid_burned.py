"""Burned-in text honesty: BurnedInAnnotation = NO only after the whole image was checked and found clean.

A generated ultrasound screen: a speckle image in the middle, a text banner at the top and, outside the
banner, a patient line printed in the black frame at the bottom left. The banner rectangle alone does not
remove that line, so the object must stay YES (with a warning for the page); when the object's ultrasound
region excludes the corner, the corner is blanked and the object is clean.
"""

from __future__ import annotations

import cv2
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from test_io_factory import base_dataset, write_dataset

from core.io import DeidConfig, deidentify_bytes, load_image
from core.io.burned_text import find_text

SALT = b"burned-test"
H, W = 240, 320
IMAGE = (60, 40, 280, 200)  # x0, y0, x1, y1 of the speckle image


def _screen(*, corner_text: bool, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.zeros((H, W), np.uint8)
    speckle = cv2.GaussianBlur(rng.normal(110, 40, (H, W)).astype(np.float32), (0, 0), 1.2)
    x0, y0, x1, y1 = IMAGE
    img[y0:y1, x0:x1] = np.clip(speckle[y0:y1, x0:x1], 0, 255).astype(np.uint8)
    cv2.putText(img, "SONO-DEMO C5-1 GA 7w2d", (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, 230, 1)  # top banner
    if corner_text:
        cv2.putText(img, "DOE JANE ID 12345", (4, H - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.4, 230, 1)
    return img


def _dicom(frames: list[np.ndarray], *, region: bool) -> bytes:
    ds = base_dataset()
    arr = np.stack(frames) if len(frames) > 1 else frames[0]
    ds.set_pixel_data(arr, "MONOCHROME2", 8, generate_instance_uid=False)
    ds.BurnedInAnnotation = "YES"
    if region:
        r = Dataset()
        r.RegionSpatialFormat, r.RegionDataType = 1, 1
        r.RegionLocationMinX0, r.RegionLocationMinY0 = IMAGE[0], IMAGE[1]
        r.RegionLocationMaxX1, r.RegionLocationMaxY1 = IMAGE[2] - 1, IMAGE[3] - 1
        r.PhysicalUnitsXDirection = r.PhysicalUnitsYDirection = 3
        r.PhysicalDeltaX = r.PhysicalDeltaY = 0.02
        ds.SequenceOfUltrasoundRegions = [r]
    return write_dataset(ds)


def _codes(ds) -> list[str]:
    return [c.CodeValue for c in ds.DeidentificationMethodCodeSequence]


def test_detector_finds_printed_lines_and_not_speckle():
    clean = _screen(corner_text=False)
    clean[:20] = 0  # what the banner rule blanks
    assert find_text(clean) == []
    marked = _screen(corner_text=True)
    marked[:20] = 0
    boxes = find_text(marked)
    assert len(boxes) == 1
    x0, y0, x1, y1 = boxes[0]
    assert x0 < 10 and y0 > H - 30 and x1 > 100      # the corner line, found where it was printed
    assert find_text(np.dstack([marked, marked, np.zeros_like(marked)]))  # yellow text counts too


def test_text_outside_the_banner_keeps_yes_and_warns():
    ds = deidentify_bytes(_dicom([_screen(corner_text=True)], region=False), name="corner.dcm",
                          config=DeidConfig(salt=SALT))
    assert ds.BurnedInAnnotation == "YES"
    assert "113101" not in _codes(ds)
    warnings = ds._sonodash_warnings
    assert len(warnings) == 1 and "text-like marks remain" in warnings[0] and "corner.dcm" in warnings[0]
    px = ds.pixel_array
    assert px[:19].max() == 0                  # the banner rows were blanked all the same
    assert px[H - 20:, :100].max() > 200       # the corner text was not (it is only reported)


def test_region_sequence_blanks_the_screen_around_the_image_and_then_says_no():
    ds = deidentify_bytes(_dicom([_screen(corner_text=True)], region=True), name="us.dcm",
                          config=DeidConfig(salt=SALT))
    assert ds.BurnedInAnnotation == "NO" and "113101" in _codes(ds)
    assert ds._sonodash_warnings == []
    px = ds.pixel_array
    x0, y0, x1, y1 = IMAGE
    assert px[H - 20:, :100].max() == 0        # outside the region: blanked
    assert px[y0:y1, x0:x1].std() > 5          # the image itself is untouched


def test_clean_screen_without_regions_is_no():
    ds = deidentify_bytes(_dicom([_screen(corner_text=False)], region=False), name="c.dcm",
                          config=DeidConfig(salt=SALT))
    assert ds.BurnedInAnnotation == "NO"
    assert "Clean Pixel Data: whole image checked" in "\\".join(ds.DeidentificationMethod)


def test_unchecked_frames_keep_yes():
    frames = [_screen(corner_text=False, seed=s) for s in range(3)]
    ds = deidentify_bytes(_dicom(frames, region=False), name="cine.dcm",
                          config=DeidConfig(salt=SALT, max_check_frames=2))
    assert ds.BurnedInAnnotation == "YES"
    assert any("2 of 3 frames" in w for w in ds._sonodash_warnings)


def test_gate_reports_the_warning_for_the_page():
    img = load_image(_dicom([_screen(corner_text=True)], region=False), name="up.dcm",
                     deid_config=DeidConfig(salt=SALT))
    assert img.metadata["burned_in"]["clean"] is False and img.metadata["burned_in"]["text_frames"] == 1
    assert any("text-like marks remain" in w for w in img.metadata["warnings"])
    img2 = load_image(_dicom([_screen(corner_text=True)], region=True), name="up2.dcm",
                      deid_config=DeidConfig(salt=SALT))
    assert img2.metadata["burned_in"]["clean"] is True and "warnings" not in img2.metadata
    assert img2.image[H - 20:, :100].max() == 0


def test_deidentify_command_prints_the_warning(tmp_path):
    import subprocess
    import sys

    src = tmp_path / "in.dcm"
    src.write_bytes(_dicom([_screen(corner_text=True)], region=False))
    proc = subprocess.run([sys.executable, "-m", "core", "deidentify", str(src), str(tmp_path / "out.dcm")],
                          capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "SONODASH_DEID_SALT": "x"})
    assert proc.returncode == 0, proc.stderr
    assert "warning:" in proc.stderr and "BurnedInAnnotation stays YES" in proc.stderr
    assert pydicom.dcmread(tmp_path / "out.dcm").BurnedInAnnotation == "YES"
    from core.audit import query

    rows = query(action="dicom.deidentify")   # the export is one audit row, counts only
    assert len(rows) == 1 and rows[0].detail["written"] == 1 and rows[0].detail["burned_in_warnings"] == 1
    assert rows[0].detail["edition"] == "2026c" and "in.dcm" not in str(rows[0].detail)


@pytest.mark.parametrize("seed", range(3))
def test_no_false_alarm_on_showcase_images(seed):
    """The synthetic showcase images carry text only in the top banner: after the banner rule, none found."""
    from pathlib import Path

    from PIL import Image

    from core.io.banner import DEFAULT_RULE, apply_banner

    files = sorted(Path(__file__).resolve().parents[1].glob("sample_data/*/images/*.png"))
    assert files
    for path in files[seed::3][:15]:
        frame = np.asarray(Image.open(path).convert("RGB"))[None].copy()
        assert find_text(frame[0]), path          # the banner is found before blanking
        apply_banner(frame, DEFAULT_RULE.rects)
        assert find_text(frame[0]) == [], path


def test_analysis_shows_the_gate_warning():
    """The page lists Analysis.warnings: text the de-identification could not rule out must reach it."""
    from core.pipeline import analyze

    data = _dicom([_screen(corner_text=True)], region=False)
    analysis = analyze([("corner.dcm", data)], model=None, segmenter=None, cam=None)
    assert any("text-like marks remain" in w and "corner.dcm" in w for w in analysis.warnings)
    clean = analyze([("clean.dcm", _dicom([_screen(corner_text=True)], region=True))], model=None,
                    segmenter=None, cam=None)
    assert not any("text-like" in w for w in clean.warnings)
