"""Fuzzing the input gate: >= 300 malformed inputs, only typed one-line InputErrors (or a valid image).

Mutations of valid seeds of every kind: random bit flips, truncation, wrong magic numbers, huge declared
dimensions, NaN / 16-bit / signed DICOM pixels, zero-frame video. Seeded, so a failure is reproducible from
its case name.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from test_io_factory import (dicom_bytes, float_dicom_bytes, jpeg_claiming, jpeg_dicom_bytes,
                             png_header_claiming, rle_dicom_bytes, still_bytes, video_bytes, write_dataset,
                             zero_frame_video_bytes)

from core.errors import InputError
from core.io import DeidConfig, GateLimits, LoadedImage, deidentify_bytes, load_image, probe

LIMITS = GateLimits(max_file_bytes=2 * 1024 * 1024, max_pixels=4_000_000, max_source_frames=5000,
                    max_total_pixels=20_000_000)
MAGICS = [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"BM", b"II*\x00", b"MM\x00*", b"RIFF\x00\x00\x00\x00AVI ",
          b"\x00\x00\x00\x18ftypisom", bytes(128) + b"DICM", b"GIF89a", b"%PDF"]


def _seeds() -> dict[str, bytes]:
    rng = np.random.default_rng(42)
    img = rng.integers(0, 256, (16, 24, 3), dtype=np.uint8)
    grey16 = rng.integers(0, 4096, (2, 16, 24), dtype=np.uint16)
    return {
        "png": still_bytes(img, "PNG"), "jpeg": still_bytes(img, "JPEG"), "bmp": still_bytes(img, "BMP"),
        "tiff": still_bytes(img, "TIFF"), "dcm8": dicom_bytes(img[..., 0], us_delta_cm=0.01),
        "dcm16": dicom_bytes(grey16, bits_stored=12, window=(2000, 1000)),
        "dcm_signed": dicom_bytes(grey16.astype(np.int16) - 2000, rescale=(1, -1024)),
        "dcm_rgb": dicom_bytes(img, photometric="RGB"), "dcm_rle": rle_dicom_bytes(img[..., 0]),
        "dcm_jpeg": jpeg_dicom_bytes(img), "mp4": video_bytes(3, fmt="mp4"), "avi": video_bytes(3, fmt="avi"),
    }


def _special_cases() -> dict[str, bytes]:
    nan = np.full((8, 8), np.nan, np.float32)
    half = np.linspace(-1, 1, 64, dtype=np.float32).reshape(8, 8)
    half[::2] = np.nan
    cases = {"float_all_nan": float_dicom_bytes(nan), "float_half_nan": float_dicom_bytes(half),
             "float_inf": float_dicom_bytes(np.full((8, 8), np.inf, np.float32)),
             "zero_frames_avi": zero_frame_video_bytes("avi"), "zero_frames_mp4": zero_frame_video_bytes("mp4"),
             "dcm16_constant": dicom_bytes(np.full((8, 8), 65535, np.uint16)),
             "dcm16_extremes": dicom_bytes(np.array([[0, 65535]] * 4, np.uint16), window=(0, 0))}
    for w, h in [(100000, 100000), (1, 10**9), (0, 5), (2**31 - 1, 2)]:
        cases[f"png_claims_{w}x{h}"] = png_header_claiming(w, h)
    jpeg = still_bytes(np.zeros((8, 8, 3), np.uint8), "JPEG")
    for w, h in [(65535, 65535), (0, 0), (9000, 9000)]:
        cases[f"jpeg_claims_{w}x{h}"] = jpeg_claiming(jpeg, w, h)
    import pydicom

    for rows, cols, frames in [(60000, 60000, 1), (0, 10, 1), (16, 24, 0), (16, 24, -3), (16, 24, 10**7)]:
        ds = pydicom.dcmread(io.BytesIO(dicom_bytes(np.zeros((16, 24), np.uint8))))
        ds.Rows, ds.Columns, ds.NumberOfFrames = rows, cols, frames
        cases[f"dcm_claims_{rows}x{cols}x{frames}"] = write_dataset(ds)
    return cases


def _mutations() -> list[tuple[str, bytes]]:
    rng = np.random.default_rng(7)
    cases = []
    for kind, data in _seeds().items():
        for i in range(12):  # bit flips: 1..64 random bits, anywhere
            buf = bytearray(data)
            for pos in rng.integers(0, len(buf), int(rng.integers(1, 65))):
                buf[pos] ^= 1 << int(rng.integers(0, 8))
            cases.append((f"{kind}_flip{i}", bytes(buf)))
        for i in range(6):  # bit flips confined to the header, where sizes and offsets live
            buf = bytearray(data)
            for pos in rng.integers(0, min(len(buf), 400), 4):
                buf[pos] = int(rng.integers(0, 256))
            cases.append((f"{kind}_header{i}", bytes(buf)))
        for i, frac in enumerate((0.0, 0.05, 0.3, 0.6, 0.9, 0.99)):
            cases.append((f"{kind}_trunc{i}", data[: max(1, int(len(data) * frac))]))
        for i, magic in enumerate(rng.choice(len(MAGICS), 3, replace=False)):
            cases.append((f"{kind}_magic{i}", MAGICS[magic] + data[len(MAGICS[magic]):]))
    cases += sorted(_special_cases().items())
    cases += [(f"random{i}", rng.bytes(int(rng.integers(1, 3000)))) for i in range(10)]
    return cases


CASES = _mutations()


def test_enough_cases():
    assert len(CASES) >= 300


def test_fuzz_only_typed_one_line_errors():
    outcomes = {"ok": 0, "refused": 0}
    for name, data in CASES:
        try:
            img = load_image(data, name=name, limits=LIMITS, frame_step=2)
        except InputError as err:
            message = str(err)
            assert message.startswith(f"{name}: ") and "\n" not in message and len(message) < 400, (name, message)
            outcomes["refused"] += 1
            continue
        except Exception as err:  # noqa: BLE001 - the point of the test
            pytest.fail(f"{name}: unhandled {type(err).__name__}: {err}")
        assert isinstance(img, LoadedImage), name
        assert img.frames.dtype == np.uint8 and img.frames.ndim == 4 and img.frames.shape[-1] == 3, name
        assert img.frames.shape[0] >= 1 and np.isfinite(img.gray).all(), name
        outcomes["ok"] += 1
    print(f"fuzz: {len(CASES)} cases, {outcomes}")
    assert outcomes["refused"] >= 150 and outcomes["ok"] >= 10, outcomes


def _typed_or_nothing(name, func):
    try:
        func()
    except InputError as err:
        assert str(err).startswith(f"{name}: ") and "\n" not in str(err), (name, str(err))
    except Exception as err:  # noqa: BLE001 - the point of the test
        pytest.fail(f"{name}: unhandled {type(err).__name__}: {err}")


def test_fuzz_probe_and_deidentify():
    config = DeidConfig(salt=b"fuzz")
    for name, data in CASES:
        _typed_or_nothing(name, lambda: probe(data, name=name, limits=LIMITS))
        if name.startswith(("dcm", "float", "random")):
            _typed_or_nothing(name, lambda: deidentify_bytes(data, name=name, config=config, limits=LIMITS))
