"""Fuzzing the whole analysis path and the training-data zip import (issue 10 item 3).

The gate's own fuzz test (test_fuzz_gate.py) checks ``load_image``/``probe``; here the same >= 300 malformed
files (bit flips, truncation, wrong magic numbers, huge declared dimensions, NaN and 16-bit DICOM pixels,
zero-frame video) go through ``core.pipeline.analyze()`` with a tiny real model bundle, alone and mixed into a
patient with a valid image, plus hostile arrays; and mutated zips go through ``core.uploads.import_zip``.
Outcome of every case: a valid Analysis (finite probability) or an InputError whose message is one line.
"""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from test_fuzz_gate import CASES, LIMITS
from test_hardening_uploads import SMALL, dataset_files, make_zip, symlink_info
from test_io_factory import dicom_bytes, still_bytes

from core.errors import InputError

CLINICAL = {"ga_weeks": 7.0, "crl_mm": 5.0, "fhr_bpm": 120.0}


@pytest.fixture(scope="module")
def predictor(tmp_path_factory):
    import torch

    from core.models import build_model, load_predictor, save_bundle

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = build_model("smallcnn", num_classes=2, in_channels=1, width=4)
    folder = save_bundle(tmp_path_factory.mktemp("bundle") / "tiny", model,
                         {"task": "miscarriage", "class_names": ["live_birth", "miscarriage"], "input_size": 32,
                          "normalization": "unit"})
    return load_predictor(folder)


def _array_cases() -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(11)
    return [("nan", np.full((16, 16), np.nan, np.float32)), ("inf", np.full((16, 16, 3), np.inf, np.float32)),
            ("neg", -np.ones((12, 12))), ("u16", rng.integers(0, 65535, (16, 16), dtype=np.uint16)),
            ("i16", rng.integers(-32768, 32767, (16, 16), dtype=np.int16)), ("empty", np.zeros((0, 0), np.uint8)),
            ("1x1", np.zeros((1, 1), np.uint8)), ("rgba", rng.integers(0, 256, (16, 16, 4), dtype=np.uint8)),
            ("2ch", np.zeros((16, 16, 2), np.uint8)), ("4d", np.zeros((2, 16, 16, 3), np.uint8)),
            ("1d", np.zeros(16, np.uint8)), ("0d", np.array(3)), ("bool", np.ones((16, 16), bool)),
            ("1xN", np.zeros((1, 64), np.uint8)), ("thin", np.zeros((400, 2), np.uint8)),
            ("f64_big", rng.normal(0, 1e30, (16, 16)))]


def _check(name: str, run, *, prefix: str | None):
    try:
        result = run()
    except InputError as err:
        msg = str(err)
        assert "\n" not in msg and 0 < len(msg) < 400, (name, msg)
        if prefix is not None:
            assert prefix in msg, (name, msg)
        return "refused"
    except Exception as err:  # noqa: BLE001 - the point of the test
        pytest.fail(f"{name}: unhandled {type(err).__name__}: {err}")
    assert result.probability is not None and 0.0 <= result.probability <= 1.0, name
    assert all(np.isfinite(r.probabilities).all() for r in result.images), name
    return "ok"


def test_fuzz_cases_through_analyze(predictor):
    from core.pipeline import analyze

    outcomes = {"ok": 0, "refused": 0}
    for i, (name, data) in enumerate(CASES):
        # vary the options so the segmentation, CAM and uncertainty code see the fuzzed frames too
        seg, cam, unc = ("levelset" if i % 3 == 0 else None), ("gradcam" if i % 2 == 0 else None), i % 4 == 0
        outcomes[_check(name, lambda: analyze([(name, data)], CLINICAL, model=predictor, segmenter=seg, cam=cam,
                                              uncertainty=unc, limits=LIMITS, frame_step=2),
                        prefix=f"{name}: ")] += 1
    print(f"analyze fuzz: {len(CASES)} cases, {outcomes}")
    assert len(CASES) >= 300 and outcomes["refused"] >= 150 and outcomes["ok"] >= 10, outcomes


def test_one_bad_file_refuses_the_patient_with_its_name(predictor):
    from core.pipeline import analyze

    good = ("good.png", still_bytes(np.random.default_rng(0).integers(0, 256, (24, 24), dtype=np.uint8), "PNG"))
    dcm16 = ("sixteen.dcm", dicom_bytes(np.random.default_rng(1).integers(0, 65535, (24, 24), dtype=np.uint16)))
    assert _check("mixed-valid", lambda: analyze([good, dcm16], CLINICAL, model=predictor, cam=None),
                  prefix=None) == "ok"
    refused = 0
    for name, data in CASES[::7]:
        if _check(f"mixed-{name}", lambda: analyze([good, (name, data)], CLINICAL, model=predictor, cam=None,
                                                   uncertainty=False, limits=LIMITS, frame_step=2),
                  prefix=f"{name}: ") == "refused":
            refused += 1
    assert refused >= 20


@pytest.mark.parametrize("name, array", _array_cases(), ids=[n for n, _ in _array_cases()])
def test_hostile_arrays_through_analyze(predictor, name, array):
    from core.pipeline import analyze

    for seg in (None, "levelset"):
        _check(name, lambda: analyze([array], CLINICAL, model=predictor, segmenter=seg, cam="gradcam"), prefix=None)


# ------------------------------------------------------------------------------------------ zip import
def _zip_cases() -> list[tuple[str, bytes]]:
    rng = np.random.default_rng(5)
    valid = make_zip(dataset_files())
    stored = make_zip(dataset_files(), compression=zipfile.ZIP_STORED)
    cases = [("valid", valid), ("valid_stored", stored)]
    for seed_name, seed in (("deflate", valid), ("stored", stored)):
        for i in range(25):
            buf = bytearray(seed)
            for pos in rng.integers(0, len(buf), int(rng.integers(1, 17))):
                buf[pos] ^= 1 << int(rng.integers(0, 8))
            cases.append((f"zip_{seed_name}_flip{i}", bytes(buf)))
        for i, frac in enumerate((0.0, 0.1, 0.5, 0.9, 0.98, 0.999)):
            cases.append((f"zip_{seed_name}_trunc{i}", seed[: int(len(seed) * frac)]))
        tail = seed.rfind(b"PK\x05\x06")
        for i in range(8):  # the end-of-central-directory record: counts, sizes and offsets
            buf = bytearray(seed)
            buf[tail + int(rng.integers(4, 22))] = int(rng.integers(0, 256))
            cases.append((f"zip_{seed_name}_eocd{i}", bytes(buf)))
    names = ["../x", "/x", "a/../../x", "C:\\x", "a\x00b", "a\nb", "CON", "x" * 600, "/".join("d" * 20), "..\\..\\x",
             "images/../../../etc/cron.d/x"]
    for i, bad in enumerate(names):
        cases.append((f"zip_name{i}", make_zip({**dataset_files(), bad: b"x"})))
    files = dataset_files()
    cases += [
        ("zip_symlink_dir", make_zip(files, extra=[(symlink_info("images/"), "/")])),
        ("zip_symlink_file", make_zip(files, extra=[(symlink_info("evil.png"), "../../etc/passwd")])),
        ("zip_bomb_flat", make_zip({**files, "zeros.bin": bytes(2_000_000)})),
        ("zip_bomb_many", make_zip({**files, **{f"z{i}.bin": bytes(300_000) for i in range(12)}})),
        ("zip_nested", make_zip({**files, "inner.zip": make_zip(files)})),
        ("zip_nested_renamed", make_zip({**files, "images/inner.png": make_zip(files)})),
        ("zip_nested_gzip", make_zip({**files, "images/x.png": b"\x1f\x8b\x08\x00" + bytes(20)})),
        ("zip_empty_archive", make_zip({})),
        ("zip_only_dirs", make_zip({}, extra=[(zipfile.ZipInfo("a/"), b"")])),
        ("zip_manifest_binary", make_zip({**files, "manifest.csv": bytes(range(256)) * 4})),
        ("zip_manifest_nul", make_zip({**files, "manifest.csv": b"image_path,patient_id\n\x00\x00,p\n"})),
        ("zip_manifest_huge_field", make_zip({**files, "manifest.csv": b"image_path,patient_id,label\n"
                                              + b"a" * 200_000 + b",p,live_birth\n"})),
        ("zip_manifest_missing_files", make_zip({"manifest.csv": files["manifest.csv"]})),
        ("zip_image_truncated", make_zip({**files, "images/pt0_sagittal.png": files["images/pt0_sagittal.png"][:40]})),
        ("zip_image_is_text", make_zip({**files, "images/pt1_transverse.png": b"hello"})),
        ("zip_image_16bit_dicom", make_zip({**files, "images/pt0_sagittal.png":
                                            dicom_bytes(np.full((20, 24), 65535, np.uint16))})),
    ]
    return cases


ZIP_CASES = _zip_cases()


def test_fuzz_zip_import(tmp_path):
    from core.uploads import import_zip

    assert len(ZIP_CASES) >= 100
    outcomes = {"ok": 0, "refused": 0}
    for i, (name, data) in enumerate(ZIP_CASES):
        target = tmp_path / f"t{i}"
        try:
            manifest = import_zip(data, target, limits=SMALL)
        except InputError as err:
            msg = str(err)
            assert "\n" not in msg and 0 < len(msg) < 400, (name, msg)
            assert not target.exists(), f"{name}: a refused import left files behind"
            outcomes["refused"] += 1
            continue
        except Exception as err:  # noqa: BLE001 - the point of the test
            pytest.fail(f"{name}: unhandled {type(err).__name__}: {err}")
        assert manifest.is_file() and manifest.resolve().is_relative_to(target.resolve()), name
        for path in target.rglob("*"):
            assert not path.is_symlink() and path.resolve().is_relative_to(target.resolve()), (name, path)
        outcomes["ok"] += 1
    print(f"zip fuzz: {len(ZIP_CASES)} cases, {outcomes}")
    assert outcomes["ok"] >= 2 and outcomes["refused"] >= 60, outcomes
    leaked = [p for p in tmp_path.rglob("*") if p.name in ("x", "passwd", "cron.d", "evil.png")]
    assert leaked == []


def test_zip_import_surfaces_gate_limits(tmp_path):
    """A zip whose image is fine for the archive limits but over the gate's pixel limit is refused."""
    from core.io import GateLimits
    from core.uploads import import_zip

    files = dataset_files()
    big = still_bytes(np.zeros((64, 64), np.uint8), "PNG")
    files["images/pt0_sagittal.png"] = big
    with pytest.raises(InputError, match=r"pt0_sagittal\.png.*megapixels"):
        import_zip(make_zip(files), tmp_path / "t", gate_limits=GateLimits(max_pixels=1000))
    assert import_zip(io.BytesIO(make_zip(files)).getvalue(), tmp_path / "u").is_file()
