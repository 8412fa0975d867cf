"""Calibration per ultrasound region: the region containing a measurement decides mm per pixel, x and y apart.

One generated DICOM holds two calibrated regions with different scales side by side (left: 0.1 mm square
pixels; right: 0.2 mm across, 0.3 mm down) and a Doppler strip below calibrated in seconds and cm/s. A caliper
in each B-mode region gets that region's millimetres; a caliper across regions, or in the Doppler strip, or
outside every region gets none; biometry of a structure in the anisotropic region fits its ellipse in mm.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import cv2
import numpy as np
import pytest
from pydicom.dataset import Dataset
from test_io_factory import base_dataset, write_dataset

from core.io import load_image, probe
from core.io.calibration import caliper_mm, regions_of, spacing_at, spacing_for_mask
from core.segmentation.biometry import measure, ramanujan_circumference

H, W = 120, 200


def _region(x0, y0, x1, y1, dx_cm, dy_cm, ux=3, uy=3) -> Dataset:
    r = Dataset()
    r.RegionSpatialFormat, r.RegionDataType = 1, 1
    r.RegionLocationMinX0, r.RegionLocationMinY0, r.RegionLocationMaxX1, r.RegionLocationMaxY1 = x0, y0, x1, y1
    r.PhysicalUnitsXDirection, r.PhysicalUnitsYDirection = ux, uy
    r.PhysicalDeltaX, r.PhysicalDeltaY = dx_cm, dy_cm
    return r


def two_region_dicom() -> bytes:
    ds = base_dataset()
    ds.set_pixel_data(np.random.default_rng(0).integers(20, 200, (H, W), dtype=np.uint8), "MONOCHROME2", 8,
                      generate_instance_uid=False)
    ds.SequenceOfUltrasoundRegions = [
        _region(0, 0, 99, 79, 0.01, 0.01),              # left B-mode: 0.1 mm x 0.1 mm
        _region(100, 0, 199, 79, 0.02, 0.03),           # right B-mode: 0.2 mm across, 0.3 mm down
        _region(0, 90, 199, 119, 0.004, 0.5, 4, 7),     # Doppler strip: seconds x cm/s (not a length)
    ]
    return write_dataset(ds)


@pytest.fixture(scope="module")
def img():
    return load_image(two_region_dicom(), name="two.dcm")


def test_each_region_gives_its_own_mm(img):
    assert spacing_at(img, 10, 10) == pytest.approx((0.1, 0.1))
    assert spacing_at(img, 150, 40) == pytest.approx((0.3, 0.2))      # (sy, sx): not averaged
    assert img.spacing_at(150, 40) == pytest.approx((0.3, 0.2))
    # a caliper 30 px across and 40 px down in each region
    assert caliper_mm(img, (10, 10), (40, 50)) == pytest.approx(math.hypot(30 * 0.1, 40 * 0.1))      # 5.0
    assert caliper_mm(img, (110, 10), (140, 50)) == pytest.approx(math.hypot(30 * 0.2, 40 * 0.3))    # 13.42
    assert img.pixel_spacing_mm is None       # no single mm/px for this image


def test_outside_or_across_regions_has_no_mm(img):
    assert spacing_at(img, 50, 85) is None                 # between the image and the strip
    assert spacing_at(img, 50, 100) is None                # Doppler strip: seconds and cm/s
    assert caliper_mm(img, (90, 10), (110, 10)) is None    # across two scales
    assert caliper_mm(img, (10, 10), (10, 85)) is None     # one end outside


def test_same_answer_from_dataset_regions_and_json(img):
    import pydicom
    from io import BytesIO

    ds = pydicom.dcmread(BytesIO(two_region_dicom()))
    regions = json.loads(json.dumps(regions_of(ds)))
    for x, y in ((10, 10), (150, 40), (50, 100)):
        assert spacing_at(ds, x, y) == spacing_at(regions, x, y) == spacing_at(img, x, y)
    assert probe(two_region_dicom(), name="two.dcm")["calibration_regions"] == regions


def test_biometry_in_the_anisotropic_region_fits_in_mm(img):
    mask = np.zeros((H, W), np.uint8)
    cv2.circle(mask, (150, 40), 20, 1, -1)            # a circle in pixels: an ellipse in mm (4 mm x 6 mm semi-axes)
    spacing = spacing_for_mask(img, mask)
    assert spacing == pytest.approx((0.3, 0.2))
    b = measure(mask, spacing_mm=spacing)
    assert b.area_mm2 == pytest.approx(mask.sum() * 0.06)
    expected = ramanujan_circumference(20.5 * 0.3, 20.5 * 0.2)
    assert b.circumference_mm == pytest.approx(expected, rel=0.03)
    assert b.ofd_mm == pytest.approx(41 * 0.3, rel=0.03) and b.bpd_mm == pytest.approx(41 * 0.2, rel=0.03)
    across = np.zeros((H, W), np.uint8)
    cv2.circle(across, (100, 40), 20, 1, -1)          # straddles the two scales: no mm
    assert spacing_for_mask(img, across) is None


def test_pixel_spacing_is_not_averaged():
    ds = base_dataset()
    ds.set_pixel_data(np.zeros((10, 20), np.uint8), "MONOCHROME2", 8, generate_instance_uid=False)
    ds.PixelSpacing = [0.5, 0.25]
    loaded = load_image(write_dataset(ds), name="ps.dcm")
    assert loaded.pixel_spacing_mm is None
    assert loaded.spacing_at(3, 3) == pytest.approx((0.5, 0.25))
    ds.PixelSpacing = [0.4, 0.4]
    assert load_image(write_dataset(ds), name="iso.dcm").pixel_spacing_mm == pytest.approx(0.4)


def test_inspect_json_lists_the_regions(tmp_path):
    path = tmp_path / "two.dcm"
    path.write_bytes(two_region_dicom())
    proc = subprocess.run([sys.executable, "-m", "core", "inspect", "--json", str(path)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout)
    assert row["pixel_spacing_mm"] is None
    assert [(r["sy_mm"], r["sx_mm"]) for r in row["calibration"]] == [(0.1, 0.1), (pytest.approx(0.3),
                                                                       pytest.approx(0.2)), (None, None)]


def _sac_dicom(centre_x: int) -> bytes:
    """200x120 screen: speckle tissue with a dark sac centred at ``centre_x``; the two regions of
    :func:`two_region_dicom` (the boundary at x = 100)."""
    import pydicom
    from io import BytesIO

    rng = np.random.default_rng(1)
    pixels = np.clip(rng.normal(140, 25, (H, W)), 0, 255).astype(np.uint8)
    pixels[80:] = 0
    cv2.circle(pixels, (centre_x, 40), 18, 10, -1)
    ds = pydicom.dcmread(BytesIO(two_region_dicom()))
    ds.set_pixel_data(pixels, "MONOCHROME2", 8, generate_instance_uid=False)
    return write_dataset(ds)


@pytest.mark.parametrize("centre_x,inside", [(150, True), (100, False)])
def test_segment_command_takes_mm_from_the_region_holding_the_structure(tmp_path, centre_x, inside):
    path = tmp_path / "sac.dcm"
    path.write_bytes(_sac_dicom(centre_x))
    proc = subprocess.run([sys.executable, "-m", "core", "segment", "--model", "levelset", "--image", str(path),
                           "--json"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout)
    assert row["area_px"] > 500
    if inside:   # right region: 0.3 mm per row, 0.2 mm per column
        assert row["area_mm2"] == pytest.approx(row["area_px"] * 0.06)
        assert row["pixel_spacing_mm"] == pytest.approx([0.3, 0.2])
    else:        # straddles the 0.1 mm and the 0.2 x 0.3 mm regions: no single scale
        assert row["area_mm2"] is None and row["circumference_mm"] is None
        assert any("not inside one calibrated ultrasound region" in w for w in row["warnings"])
