"""De-identification: Annex E attributes, private tags, burned-in banner and UID mapping.

A DICOM carries a unique fake identifier in every text-valued Basic Profile attribute, in private tags and in
nested sequences, plus bright "text" pixels in the top banner. After ``deidentify`` (command line and the
ingest path of ``load_image``) none of those strings may occur in the output bytes, stdout/stderr or the
returned metadata, the banner must be zero and the UIDs replaced consistently.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import numpy as np
import pydicom
import pytest
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from test_io_factory import base_dataset, rle_dicom_bytes, write_dataset

from core.io import DeidConfig, deidentify_bytes, load_image
from core.io.annex_e import BASIC_PROFILE

_TEXT = {"PN": "ZQ{:03d}Q^FAKE", "LO": "ZQ{:03d}Q FAKE", "SH": "ZQ{:03d}Q", "LT": "ZQ{:03d}Q text",
         "ST": "ZQ{:03d}Q text", "UT": "ZQ{:03d}Q text", "UC": "ZQ{:03d}Q", "CS": "ZQ{:03d}Q", "AE": "ZQ{:03d}Q",
         "UR": "http://zq{:03d}q.example"}
SALT = b"test-salt"


def _fill(ds: Dataset, planted: list[str]) -> int:
    """Put a unique value into every Basic Profile attribute that holds text, dates or UIDs."""
    filled = 0
    for i, (tag, (action, keyword)) in enumerate(sorted(BASIC_PROFILE.items())):
        if tag >> 16 in (0x0000, 0x0002) or not keyword:
            continue  # file meta; tags newer than pydicom's dictionary are covered in test_deid_table.py
        vr = dictionary_VR(tag)
        if vr in _TEXT:
            value = _TEXT[vr].format(i)
            planted.append(value.split("^")[0].split(" ")[0].upper() if vr in ("CS", "AE") else value)
        elif vr == "DA":
            value = f"2031{i % 12 + 1:02d}{i % 27 + 1:02d}"
        elif vr == "TM":
            value = f"1{i % 10}{i % 60:02d}07.{i:03d}"
        elif vr == "DT":
            value = f"2031{i % 12 + 1:02d}{i % 27 + 1:02d}1{i % 10}4507.{i:03d}"
        elif vr == "AS":
            value = f"{i % 900 + 100:03d}W"
        elif vr == "UI":
            value = generate_uid()
        elif vr == "SQ":
            item = Dataset()
            if action == "X/Z/U*":
                item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.6.1"
                item.ReferencedSOPInstanceUID = generate_uid()
                planted.append(item.ReferencedSOPInstanceUID)
            else:
                item.CodeMeaning = f"ZQ{i:03d}Q nested"
                planted.append(item.CodeMeaning)
            setattr(ds, keyword, [item])
            filled += 1
            continue
        else:
            continue
        if vr in ("DA", "TM", "DT", "AS", "UI"):
            planted.append(value)
        ds.add_new(tag, vr, value)
        filled += 1
    return filled


def make_identified(banner_value: int = 250, frames: int = 2) -> tuple[bytes, list[str], Dataset]:
    ds = base_dataset()
    planted: list[str] = []
    n = _fill(ds, planted)
    assert n >= 230
    for uid in (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID):
        planted.append(uid)
    ds.file_meta.SourceApplicationEntityTitle = "ZQAETITLE"
    planted.append("ZQAETITLE")
    block = ds.private_block(0x0019, "ACME PRIVATE", create=True)
    block.add_new(0x10, "LO", "ZQPRIVATE LONG")
    block.add_new(0x11, "PN", "ZQPRIVATE^NAME")
    planted += ["ZQPRIVATE", "ACME PRIVATE"]
    other = Dataset()
    other.PatientName = "ZQNESTEDNAME^X"  # PN inside a kept sequence: emptied by the PN safety net
    ds.SequenceOfUltrasoundRegions = [Dataset()]
    region = ds.SequenceOfUltrasoundRegions[0]
    region.PhysicalUnitsXDirection = region.PhysicalUnitsYDirection = 3
    region.PhysicalDeltaX = region.PhysicalDeltaY = 0.01
    region.RegionLocationMinX0, region.RegionLocationMinY0 = 0, 0
    region.RegionLocationMaxX1, region.RegionLocationMaxY1 = 39, 49
    ds.AnatomicRegionSequence = [other]
    planted.append("ZQNESTEDNAME")
    pixels = np.random.default_rng(0).integers(10, 60, (frames, 50, 40), dtype=np.uint8)
    pixels[:, 1:3, 5:35] = banner_value  # "text" in the top banner (top 8 % = rows 0..3)
    ds.BurnedInAnnotation = "YES"
    ds.set_pixel_data(pixels, "MONOCHROME2", 8, generate_instance_uid=False)
    return write_dataset(ds), planted, ds


def _assert_clean(blob: bytes, planted: list[str]) -> None:
    text = blob.decode("latin-1")
    leaked = [p for p in planted if p in text]
    assert not leaked, f"identifiers survived: {leaked[:5]}"


def test_table_matches_pydicom_dictionary():
    assert len(BASIC_PROFILE) > 280
    for tag, (action, keyword) in BASIC_PROFILE.items():
        assert keyword_for_tag(tag) == keyword, hex(tag)
        assert action in {"X", "Z", "D", "U", "K", "X/Z", "X/D", "X/Z/D", "Z/D", "X/Z/U*"}


def test_deidentify_command_removes_every_identifier(tmp_path):
    data, planted, original = make_identified()
    missing = [p for p in planted if p not in data.decode("latin-1")]
    assert not missing and len(planted) > 230  # the planted values really are in the input
    src, out = tmp_path / "in.dcm", tmp_path / "out.dcm"
    src.write_bytes(data)
    env = {**os.environ, "SONODASH_DEID_SALT": "cli-salt"}
    proc = subprocess.run([sys.executable, "-m", "core", "deidentify", str(src), str(out)],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    _assert_clean((proc.stdout + proc.stderr).encode(), planted)
    blob = out.read_bytes()
    _assert_clean(blob, planted)
    ds = pydicom.dcmread(io.BytesIO(blob))
    assert ds.BurnedInAnnotation == "NO" and ds.PatientIdentityRemoved == "YES"
    assert "PS3.15 2026c Table E.1-1" in "\\".join(ds.DeidentificationMethod)
    assert [c.CodeValue for c in ds.DeidentificationMethodCodeSequence] == ["113100", "113101", "113105"]
    arr = ds.pixel_array
    assert arr.shape == (2, 50, 40)
    assert arr[:, :4, :].max() == 0  # the banner is zeroed in every frame
    assert arr[:, 4:, :].min() >= 10  # the image below is untouched
    assert ds.PatientName == "" and ds.PatientID == "" and "InstitutionName" not in ds or not ds.InstitutionName
    assert not any(elem.tag.is_private for elem in ds.iterall())
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert ds.SOPInstanceUID.startswith("2.25.") and ds.SOPInstanceUID != original.SOPInstanceUID
    assert ds.SOPClassUID == original.SOPClassUID  # standard UIDs are kept
    assert ds.SequenceOfUltrasoundRegions[0].PhysicalDeltaX == 0.01  # measurement data survives
    ref = ds.ReferencedImageSequence[0]
    assert ref.ReferencedSOPInstanceUID.startswith("2.25.")
    assert ds.preamble == bytes(128)


def test_uid_mapping_is_consistent_and_salted():
    data, _, original = make_identified(frames=1)
    a1 = deidentify_bytes(data, name="a", config=DeidConfig(salt=SALT))
    a2 = deidentify_bytes(data, name="a", config=DeidConfig(salt=SALT))
    b = deidentify_bytes(data, name="a", config=DeidConfig(salt=b"other"))
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID"):
        assert getattr(a1, keyword) == getattr(a2, keyword) != getattr(b, keyword)
        assert getattr(a1, keyword) != getattr(original, keyword)
    # a second instance of the same study keeps the study link after mapping
    second = base_dataset()
    second.StudyInstanceUID = original.StudyInstanceUID
    second.set_pixel_data(np.zeros((8, 8), np.uint8), "MONOCHROME2", 8, generate_instance_uid=False)
    c = deidentify_bytes(write_dataset(second), name="c", config=DeidConfig(salt=SALT))
    assert c.StudyInstanceUID == a1.StudyInstanceUID and c.SOPInstanceUID != a1.SOPInstanceUID


def test_load_image_deidentifies_on_ingest():
    data, planted, _ = make_identified(frames=3)
    img = load_image(data, name="upload.dcm", frame_step=1)
    assert img.metadata["deidentified"] is True
    _assert_clean(json.dumps(img.metadata, default=str).encode(), planted)
    _assert_clean(repr(img).encode(), planted)
    assert img.frames.shape == (3, 50, 40, 3)
    assert img.frames[:, :4].max() == 0 and img.frames[:, 4:].max() > 0
    assert img.pixel_spacing_mm == pytest.approx(0.1)
    raw = load_image(data, name="upload.dcm", deidentify=False)
    assert raw.frames[0, 1:3, 5:35].min() == 255  # without cleaning the banner text is there (windowed)


def test_banner_rules_per_device_and_folder_mode(tmp_path):
    data, planted, _ = make_identified(frames=1)
    rules = tmp_path / "banners.json"
    rules.write_text(json.dumps([{"manufacturer": "acme", "model": "Sono 5", "rects": [[0.9, 0.0, 1.0, 0.5]]}]))
    src = tmp_path / "export" / "DOE_JANE"
    src.mkdir(parents=True)
    (src / "IMG0001").write_bytes(data)
    (src / "IMG0002.dcm").write_bytes(rle_dicom_bytes(np.full((20, 10), 200, np.uint8)))
    (src / "notes.txt").write_text("not dicom")
    out = tmp_path / "clean"
    proc = subprocess.run([sys.executable, "-m", "core", "deidentify", str(tmp_path / "export"), str(out),
                           "--banners", str(rules), "--json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert sum(r["ok"] for r in rows) == 2 and sum(bool(r.get("skipped")) for r in rows) == 1
    written = sorted(out.iterdir())
    assert len(written) == 2 and all(p.name.startswith("2.25.") for p in written)
    by_rows = {pydicom.dcmread(p).Rows: pydicom.dcmread(p) for p in written}
    acme = by_rows[50].pixel_array
    assert acme[45:, :20].max() == 0 and acme[1:3, 5:35].min() == 250  # the device rule, not the default
    rle = by_rows[20]
    assert rle.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert rle.pixel_array[18:, :5].max() == 0 and rle.BurnedInAnnotation == "NO"


def test_bad_banner_rules_and_non_dicom(tmp_path):
    rules = tmp_path / "b.json"
    rules.write_text(json.dumps([{"rects": [[0.5, 0, 0.2, 1]]}]))
    src = tmp_path / "x.dcm"
    src.write_bytes(make_identified(frames=1)[0])
    proc = subprocess.run([sys.executable, "-m", "core", "deidentify", str(src), str(tmp_path / "o.dcm"),
                           "--banners", str(rules)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "top < bottom" in proc.stderr and "Traceback" not in proc.stderr
    png = tmp_path / "p.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    proc = subprocess.run([sys.executable, "-m", "core", "deidentify", str(png), str(tmp_path / "o.dcm")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1 and "not a DICOM" in proc.stderr
    assert not (tmp_path / "o.dcm").exists()


def test_showcase_dicom_is_cleaned_and_reports_spacing(tmp_path):
    """The committed showcase DICOMs carry fake identifiers; none survives deidentify or ingest."""
    from core.paths import SAMPLE_DATA

    files = sorted(SAMPLE_DATA.rglob("*.dcm"))
    if not files:
        pytest.skip("no showcase DICOM in sample_data")
    src = files[0]
    original = pydicom.dcmread(src)
    planted = sorted({str(e.value) for e in original.iterall()
                      if (e.tag.is_private or int(e.tag) in BASIC_PROFILE) and e.VR in ("PN", "LO", "SH", "DA")
                      and len(str(e.value)) >= 6 and not e.tag.is_private_creator})
    assert planted
    out = tmp_path / "clean.dcm"
    proc = subprocess.run([sys.executable, "-m", "core", "deidentify", str(src), str(out)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    _assert_clean(out.read_bytes(), planted)
    img = load_image(src)
    assert img.pixel_spacing_mm is not None and img.pixel_spacing_mm > 0
    _assert_clean(json.dumps(img.metadata, default=str).encode(), planted)
