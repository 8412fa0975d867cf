"""Hostile files inside the gate's limits are capped before the work starts (issue 18, item 5).

The generators are the benchmark's (scripts/bench_hostile.py), at sizes a test can afford, with limits
scaled down to match: a TIFF with more pages than ``max_pages`` and a clip whose frames x pixels exceed
``max_decoded_pixels`` are refused with one line, before decoding; an image above ``max_working_pixels``
comes back as a downscaled working copy whose calibration still gives the file's millimetres. No timing
here: scripts/bench_hostile.py measures the full-size files.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydicom.dataset import Dataset
from test_io_factory import base_dataset, write_dataset

from core.io import GateLimits, TooManyPixelsError, load_image, probe
from core.io.calibration import caliper_mm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import bench_hostile  # noqa: E402


def test_tiff_pages_are_counted_and_capped_before_decoding(tmp_path):
    path = bench_hostile.many_page_tiff(tmp_path / "p.tif", pages=300)
    small = GateLimits(max_pages=100)
    with pytest.raises(TooManyPixelsError, match="more than 100 pages"):
        load_image(path, limits=small)
    with pytest.raises(TooManyPixelsError, match="more than 100 pages"):
        probe(path, limits=small)
    assert probe(path)["frames"] == 300                    # within the default limit: counted exactly
    img = load_image(path)
    assert img.metadata["pages"] == 300 and (img.width, img.height) == (64, 64)


def test_tiff_ifd_loop_ends_the_walk():
    from core.io.still import tiff_pages

    import struct

    # one IFD whose "next" offset points back at itself
    ifd = struct.pack("<H", 0) + struct.pack("<I", 8)
    assert tiff_pages(b"II*\x00" + struct.pack("<I", 8) + ifd, 10) == 1


def test_video_decode_work_is_capped_before_decoding(tmp_path):
    path = bench_hostile.many_frame_mp4(tmp_path / "v.mp4", frames=400, size=(64, 48))
    limits = GateLimits(max_decoded_pixels=64 * 48 * 100)
    with pytest.raises(TooManyPixelsError, match="400 frames of 64x48"):
        load_image(path, limits=limits)
    with pytest.raises(TooManyPixelsError, match="gigapixels"):
        probe(path, limits=limits)
    img = load_image(path, frame_step=100)                 # default limits: decoded, 4 frames kept
    assert img.n_source_frames == 400 and img.frames.shape[0] == 4


def test_large_still_becomes_a_bounded_working_copy(tmp_path):
    path = tmp_path / "big.png"
    img = np.zeros((3000, 2400), np.uint8)
    cv2.circle(img, (1200, 1500), 600, 200, -1)
    cv2.imwrite(str(path), img)
    limits = GateLimits(max_working_pixels=1_000_000)
    loaded = load_image(path, limits=limits)
    assert loaded.height * loaded.width <= 1_000_000
    assert loaded.metadata["source_size"] == [2400, 3000]
    assert loaded.width / loaded.height == pytest.approx(2400 / 3000, rel=0.01)
    assert loaded.image[loaded.height // 2, loaded.width // 2, 0] == 200  # the content, scaled, not cropped
    fits = tmp_path / "fits.png"
    cv2.imwrite(str(fits), img[:1500, :2000])
    assert load_image(fits).metadata.get("source_size") is None          # 3 MP: under the default 4.1 MP
    proc = subprocess.run([sys.executable, "-m", "core", "inspect", "--json", str(path)], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    row = json.loads(proc.stdout)
    assert (row["width"], row["height"]) == (2400, 3000)                # the file's size, not the copy's


def test_large_dicom_copy_keeps_millimetres():
    ds = base_dataset()
    ds.set_pixel_data(np.random.default_rng(0).integers(0, 255, (2000, 2400), dtype=np.uint8), "MONOCHROME2", 8,
                      generate_instance_uid=False)
    r = Dataset()
    r.RegionSpatialFormat, r.RegionDataType = 1, 1
    r.RegionLocationMinX0, r.RegionLocationMinY0, r.RegionLocationMaxX1, r.RegionLocationMaxY1 = 0, 0, 2399, 1999
    r.PhysicalUnitsXDirection = r.PhysicalUnitsYDirection = 3
    r.PhysicalDeltaX, r.PhysicalDeltaY = 0.005, 0.01            # 0.05 mm across, 0.1 mm down
    ds.SequenceOfUltrasoundRegions = [r]
    loaded = load_image(write_dataset(ds), name="big.dcm", limits=GateLimits(max_working_pixels=480_000))
    sy, sx = loaded.metadata["working_scale"]
    assert loaded.width * loaded.height <= 480_000 and loaded.metadata["source_size"] == [2400, 2000]
    # a caliper spanning the whole width and height measures the same mm in the copy as in the file
    assert caliper_mm(loaded, (0, 0), (loaded.width - 1, 0)) == pytest.approx(2400 * 0.05, rel=0.01)
    assert caliper_mm(loaded, (0, 0), (0, loaded.height - 1)) == pytest.approx(2000 * 0.1, rel=0.01)


def test_fan_and_level_set_work_on_bounded_copies():
    from core.preprocess.fan import fan_mask
    from core.segmentation.levelset import segment_levelset

    rng = np.random.default_rng(0)
    small = np.zeros((300, 400), np.uint8)
    cv2.ellipse(small, (200, 0), (260, 280), 90, -40, 40, 1, -1)
    speckle = np.clip(rng.normal(120, 30, small.shape), 0, 255).astype(np.uint8)
    image = np.where(small > 0, speckle, 0).astype(np.uint8)
    cv2.circle(image, (200, 150), 40, 15, -1)                   # a dark sac inside the fan
    big = cv2.resize(image, (4000, 3000), interpolation=cv2.INTER_NEAREST)
    mask_small, mask_big = fan_mask(image), fan_mask(big)
    assert mask_big.shape == (3000, 4000)
    up = cv2.resize(mask_small.astype(np.uint8), (4000, 3000), interpolation=cv2.INTER_NEAREST) > 0
    assert (mask_big == up).mean() > 0.98                     # same fan at 10x the size
    result = segment_levelset(big)
    assert result.mask.shape == (3000, 4000) and result.mask.any()
    ys, xs = np.nonzero(result.mask)
    assert abs(xs.mean() - 2000) < 150 and abs(ys.mean() - 1500) < 150   # found the sac, in file pixels
