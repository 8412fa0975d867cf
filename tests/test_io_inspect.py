"""``python -m core inspect`` on 30 malformed files: exit 2, one stderr line per bad file, no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zlib

import numpy as np
from test_io_factory import (dicom_bytes, jpeg_claiming, png_header_claiming, still_bytes, video_bytes,
                             write_dataset, zero_frame_video_bytes)


def _noise(seed: int, shape=(24, 32, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _dicom_missing(keyword: str) -> bytes:
    import pydicom
    from io import BytesIO

    ds = pydicom.dcmread(BytesIO(dicom_bytes(_noise(3)[..., 0])))
    delattr(ds, keyword)
    return write_dataset(ds)


def _dicom_with(**attrs) -> bytes:
    import pydicom
    from io import BytesIO

    ds = pydicom.dcmread(BytesIO(dicom_bytes(_noise(4)[..., 0])))
    for key, value in attrs.items():
        setattr(ds, key, value)
    return write_dataset(ds)


def malformed_files() -> dict[str, bytes]:
    """30 inputs the gate must refuse, each for a different reason."""
    png = still_bytes(_noise(1), "PNG")
    jpeg = still_bytes(_noise(2), "JPEG")
    bmp = still_bytes(_noise(5), "BMP")
    tiff = still_bytes(_noise(6), "TIFF")
    dcm = dicom_bytes(_noise(7)[..., 0])
    mp4, avi = video_bytes(4, fmt="mp4"), video_bytes(4, fmt="avi")
    bad_crc = bytearray(png)
    bad_crc[29] ^= 0xFF  # IHDR CRC
    return {
        "zero_bytes.png": b"",
        "text_named.png": b"this is a text file, not an image\n",
        "truncated_half.png": png[: len(png) // 2],
        "truncated_header.png": png[:40],
        "huge_header.png": png_header_claiming(100000, 100000),
        "bad_crc.png": bytes(bad_crc),
        "truncated_half.jpg": jpeg[: len(jpeg) // 2],
        "only_soi.jpg": b"\xff\xd8\xff",
        "huge_header.jpg": jpeg_claiming(jpeg, 65000, 65000),
        "truncated.bmp": bmp[: len(bmp) // 2],
        "huge_header.bmp": bmp[:18] + (200000).to_bytes(4, "little") + (200000).to_bytes(4, "little") + bmp[26:],
        "truncated.tif": tiff[: len(tiff) // 3],
        "garbage_after_magic.tif": b"II*\x00" + bytes(range(256)) * 2,
        "no_pixel_data.dcm": dicom_bytes(None),
        "truncated_pixels.dcm": dcm[: len(dcm) - 300],
        "huge_rows.dcm": _dicom_with(Rows=60000, Columns=60000),
        "dicm_then_garbage.dcm": bytes(128) + b"DICM" + b"\xff" * 200,
        "missing_rows.dcm": _dicom_missing("Rows"),
        "billion_frames.dcm": _dicom_with(NumberOfFrames=1_000_000_000),
        "bad_bits.dcm": _dicom_with(BitsAllocated=12),
        "zero_frames.mp4": zero_frame_video_bytes("mp4"),
        "zero_frames.avi": zero_frame_video_bytes("avi"),
        "truncated.mp4": mp4[: len(mp4) // 2],
        "ftyp_then_garbage.mp4": b"\x00\x00\x00\x18ftypisom" + b"\x13" * 300,
        "riff_then_garbage.avi": b"RIFF\x00\x10\x00\x00AVI " + b"\x42" * 300 + avi[:0],
        "animated.gif": b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
        "random_bytes.jpg": np.random.default_rng(8).bytes(2048),
        "page.html.dcm": b"<!doctype html><html><body>not dicom</body></html>",
        "document_named.png": b"%PDF-1.4\n" + zlib.compress(b"x" * 100),
        "archive_named.tiff": b"PK\x03\x04" + bytes(100),
    }


def test_thirty_malformed_files_exit_2_one_line_each(tmp_path):
    files = malformed_files()
    assert len(files) == 30
    paths = []
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        paths.append(str(tmp_path / name))
    good = tmp_path / "good.dcm"
    good.write_bytes(dicom_bytes(_noise(9)[..., 0], us_delta_cm=0.015))
    env = {**os.environ, "PYTHONWARNINGS": "default"}
    proc = subprocess.run([sys.executable, "-m", "core", "inspect", *paths, str(good)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.splitlines()
    assert len(lines) == 30, proc.stderr
    for path, line in zip(paths, lines):
        assert line.startswith(f"error: {path}: "), line
    assert "internal error" not in proc.stderr
    out = proc.stdout.splitlines()
    assert len(out) == 1 and out[0].startswith(f"{good}: dicom 32x24, 1 frame, 0.15 mm/px")

    proc = subprocess.run([sys.executable, "-m", "core", "inspect", "--json", *paths, str(good)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["file"] for r in rows] == paths + [str(good)]
    assert all(not r["ok"] and r["error"].startswith(r["file"]) for r in rows[:30])
    assert rows[30] == {"file": str(good), "ok": True, "kind": "dicom", "width": 32, "height": 24, "frames": 1,
                        "pixel_spacing_mm": 0.15,
                        "calibration": [{"x0": 0, "y0": 0, "x1": 31, "y1": 23, "sy_mm": 0.15, "sx_mm": 0.15}]}


def test_inspect_all_good_exits_0(tmp_path):
    clip = tmp_path / "clip.avi"
    clip.write_bytes(video_bytes(5, fmt="avi"))
    still = tmp_path / "still.bmp"
    still.write_bytes(still_bytes(_noise(10), "BMP"))
    proc = subprocess.run([sys.executable, "-m", "core", "inspect", "--json", str(clip), str(still)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert rows[0]["kind"] == "video" and rows[0]["frames"] == 5 and rows[0]["pixel_spacing_mm"] is None
    assert rows[1] == {"file": str(still), "ok": True, "kind": "bmp", "width": 32, "height": 24, "frames": 1,
                       "pixel_spacing_mm": None}


def test_library_log_records_do_not_add_stderr_lines(tmp_path):
    """Pillow logs an error for an absurd TIFF SamplesPerPixel; inspect still prints exactly one line."""
    tiff = bytearray(still_bytes(_noise(11), "TIFF"))
    entry = tiff.index(b"\x15\x01\x03\x00\x01\x00\x00\x00")  # tag 277 SamplesPerPixel, SHORT, count 1
    tiff[entry + 8:entry + 10] = (36867).to_bytes(2, "little")
    path = tmp_path / "samples.tif"
    path.write_bytes(bytes(tiff))
    proc = subprocess.run([sys.executable, "-m", "core", "inspect", str(path)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [proc.stderr.strip()] and proc.stderr.startswith(f"error: {path}: ")
