"""Manifest loading and validation: every defect is reported, by row and column, in one error."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.data.manifest import ManifestError, load_manifest
from core.errors import InputError

HEADER = "image_path,patient_id,label,mask_path,plane,ga_weeks,crl_mm,fhr_bpm,pixel_spacing_mm,site"


def _png(path, size=(32, 24), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((size[1], size[0], 3) if mode == "RGB" else (size[1], size[0]), np.uint8)).save(path)


@pytest.fixture
def data(tmp_path):
    """Four images with masks for two patients; the good manifest's rows are lines 2-5."""
    for i in range(6):
        _png(tmp_path / "img" / f"a{i}.png")
        _png(tmp_path / "mask" / f"a{i}.png", mode="L")
    _png(tmp_path / "mask" / "wrong_size.png", size=(16, 16), mode="L")
    (tmp_path / "img" / "text.png").write_text("this is not an image")
    return tmp_path


GOOD_ROWS = [
    "img/a0.png,P1,miscarriage,mask/a0.png,sagittal,7.1,8.0,120,0.2,north",
    "img/a1.png,P1,miscarriage,mask/a1.png,transverse,7.1,8.0,120,0.2,north",
    "img/a2.png,P2,live_birth,mask/a2.png,sagittal,6.5,,140,,south",
    "img/a3.png,P2,live_birth,mask/a3.png,transverse,6.5,,140,,south",
]


def _write(tmp_path, rows, header=HEADER, name="manifest.csv"):
    path = tmp_path / name
    path.write_text("\n".join([header] + rows) + "\n", encoding="utf-8")
    return path


def test_good_manifest_loads_with_absolute_paths_rows_and_metadata(data, monkeypatch, tmp_path_factory):
    path = _write(data, GOOD_ROWS)
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))  # paths are relative to the CSV, not the cwd
    m = load_manifest(path, task="miscarriage")
    assert list(m.df["row"]) == [2, 3, 4, 5]
    assert m.df["image_path"][0] == str(data / "img" / "a0.png")
    assert m.df["mask_path"][3] == str(data / "mask" / "a3.png")
    assert m.labels == ("live_birth", "miscarriage")
    assert m.df["ga_weeks"].tolist() == [7.1, 7.1, 6.5, 6.5]
    assert np.isnan(m.df["crl_mm"][2])
    assert m.df["site"].tolist() == ["north", "north", "south", "south"]
    assert m.patients == ["P1", "P2"]
    assert m.root == data.resolve()


def test_five_defects_one_error_naming_all_five_rows(data):
    rows = GOOD_ROWS + [
        "img/missing.png,P3,live_birth,mask/a4.png,sagittal,7,,,,x",          # line 6: missing file
        "img/a4.png,P4,maybe,mask/a4.png,sagittal,7,,,,x",                    # line 7: unknown label
        "img/a5.png,P5,live_birth,mask/a5.png,sagittal,seven,,,,x",           # line 8: non-numeric ga
        "img/a0.png,P6,live_birth,mask/a0.png,sagittal,7,,,,x",               # line 9: duplicate image
        "img/text.png,P7,live_birth,mask/wrong_size.png,sagittal,7,,,,x",     # line 10: unreadable image
    ]
    with pytest.raises(ManifestError) as info:
        load_manifest(_write(data, rows), task="miscarriage")
    msg = str(info.value)
    assert msg.startswith("manifest.csv: 5 problems; ")
    assert "\n" not in msg
    for line in (6, 7, 8, 9, 10):
        assert f"row {line}, column " in msg
    assert [p.row for p in info.value.problems] == [6, 7, 8, 9, 10]
    assert isinstance(info.value, InputError)


DEFECTS = {
    "missing file": ("img/nope.png,P9,live_birth,mask/a4.png,sagittal,7,,,,x", "image_path", "file not found"),
    "unreadable image": ("img/text.png,P9,live_birth,,sagittal,7,,,,x", "image_path", "unreadable"),
    "unknown label": ("img/a4.png,P9,alive,mask/a4.png,sagittal,7,,,,x", "label", "unknown label 'alive'"),
    "empty label": ("img/a4.png,P9,,mask/a4.png,sagittal,7,,,,x", "label", "empty"),
    "ga not numeric": ("img/a4.png,P9,live_birth,mask/a4.png,sagittal,7w,,,,x", "ga_weeks", "not a number"),
    "crl not numeric": ("img/a4.png,P9,live_birth,mask/a4.png,sagittal,7,abc,,,x", "crl_mm", "not a number"),
    "fhr not numeric": ("img/a4.png,P9,live_birth,mask/a4.png,sagittal,7,,1 2 0,,x", "fhr_bpm", "not a number"),
    "spacing not numeric": ("img/a4.png,P9,live_birth,mask/a4.png,sagittal,7,,,0.2mm,x", "pixel_spacing_mm",
                            "not a number"),
    "spacing negative": ("img/a4.png,P9,live_birth,mask/a4.png,sagittal,7,,,-0.2,x", "pixel_spacing_mm",
                         "outside the plausible range"),
    "ga nan": ("img/a4.png,P9,live_birth,mask/a4.png,sagittal,nan,,,,x", "ga_weeks", "outside the plausible"),
    "mask size": ("img/a4.png,P9,live_birth,mask/wrong_size.png,sagittal,7,,,,x", "mask_path",
                  "16x16 but the image is 32x24"),
    "mask missing": ("img/a4.png,P9,live_birth,mask/none.png,sagittal,7,,,,x", "mask_path", "file not found"),
    "duplicate image": ("img/a1.png,P9,live_birth,mask/a1.png,sagittal,7,,,,x", "image_path",
                        "listed again (first in row 3)"),
    "conflicting ga": ("img/a4.png,P1,miscarriage,mask/a4.png,sagittal,7.4,8.0,120,0.2,x", "ga_weeks",
                       "7.4 conflicts with 7.1 in row 2"),
    "wrong field count": ("img/a4.png,P9,live_birth", "(all)", "3 fields, but the header has 10"),
}


@pytest.mark.parametrize("kind", sorted(DEFECTS))
def test_each_defect_kind_is_named_by_row_and_column(data, kind):
    line, column, text = DEFECTS[kind]
    with pytest.raises(ManifestError) as info:
        load_manifest(_write(data, GOOD_ROWS + [line]), task="miscarriage")
    problems = info.value.problems
    assert len(problems) == 1, problems
    assert (problems[0].row, problems[0].column) == (6, column)
    assert text in problems[0].message
    assert f"row 6, column {column}: " in str(info.value)


def test_missing_required_column_is_reported_on_the_header_row(data):
    header = HEADER.replace("label,", "")
    rows = [",".join(r.split(",")[:2] + r.split(",")[3:]) for r in GOOD_ROWS]
    with pytest.raises(ManifestError) as info:
        load_manifest(_write(data, rows, header=header), task="miscarriage")
    assert str(info.value).startswith("manifest.csv: 1 problem; row 1, column label: required column missing")


def test_bad_split_and_patient_split_conflict(data):
    header = "image_path,patient_id,label,split"
    rows = ["img/a0.png,P1,a,train", "img/a1.png,P1,a,test", "img/a2.png,P2,b,holdout", "img/a3.png,P3,b,VAL"]
    with pytest.raises(ManifestError) as info:
        load_manifest(_write(data, rows, header=header), task="classification")
    got = [(p.row, p.column) for p in info.value.problems]
    assert got == [(3, "split"), (4, "split")]


def test_generic_task_takes_labels_from_manifest_and_normalises_split(data):
    header = "image_path,patient_id,label,split"
    rows = ["img/a0.png,P1,dog,train", "img/a1.png,P2,cat,VAL", "img/a2.png,P3,dog,test"]
    m = load_manifest(_write(data, rows, header=header), task="classification")
    assert m.labels == ("cat", "dog")
    assert m.task.labels == ("cat", "dog")
    assert m.df["split"].tolist() == ["train", "val", "test"]


def test_instance_manifest_checks_classes_against_the_png(data):
    inst = np.zeros((24, 32), np.uint8)
    inst[2:6, 2:6] = 1
    inst[10:14, 10:14] = 2
    Image.fromarray(inst).save(data / "inst.png")
    header = "image_path,patient_id,label,instances_path,instance_classes"
    good = "img/a0.png,P1,head,inst.png,1:cranium;2:choroid_plexus"
    m = load_manifest(_write(data, [good], header=header), task="first_trimester")
    assert m.structures[0] == "cranium" and m.labels[0] == "head"
    bad = [
        "img/a1.png,P2,head,inst.png,1:cranium;2",               # malformed
        "img/a2.png,P3,head,inst.png,1:cranium;2:tail",          # unknown structure
        "img/a3.png,P4,head,inst.png,1:cranium",                 # instance 2 has no class
        "img/a4.png,P5,head,inst.png,1:cranium;2:heart;3:spine",  # instance 3 absent
        "img/a5.png,P6,body,inst.png,1:cranium;2:heart",         # unknown view label
    ]
    with pytest.raises(ManifestError) as info:
        load_manifest(_write(data, bad, header=header), task="first_trimester")
    got = [(p.row, p.column) for p in info.value.problems]
    assert got == [(2, "instance_classes"), (3, "instance_classes"), (4, "instance_classes"),
                   (5, "instance_classes"), (6, "label")]
    assert "malformed entry '2'" in info.value.problems[0].message
    assert "have no class" in info.value.problems[2].message
    assert "absent from" in info.value.problems[3].message


def test_instance_png_of_other_size_is_reported(data):
    Image.fromarray(np.ones((10, 10), np.uint8)).save(data / "inst_small.png")
    header = "image_path,patient_id,instances_path,instance_classes"
    with pytest.raises(ManifestError) as info:
        load_manifest(_write(data, ["img/a0.png,P1,inst_small.png,1:blob"], header=header), task="instance")
    assert [(p.row, p.column) for p in info.value.problems] == [(2, "instances_path")]


def test_quoted_multiline_cell_keeps_line_numbers_right(data):
    rows = ['img/a0.png,P1,live_birth,mask/a0.png,"sagittal\nsecond line",7,,,,x',
            "img/nope.png,P2,live_birth,mask/a1.png,sagittal,7,,,,x"]
    with pytest.raises(ManifestError) as info:
        load_manifest(_write(data, rows), task="miscarriage")
    assert [p.row for p in info.value.problems] == [4]


def test_unusable_manifest_files_raise_input_error(tmp_path):
    with pytest.raises(InputError, match="manifest not found"):
        load_manifest(tmp_path / "nope.csv")
    (tmp_path / "latin1.csv").write_bytes("image_path,patient_id\nb\xe9b\xe9.png,P1\n".encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8"):
        load_manifest(tmp_path / "latin1.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InputError, match="header row"):
        load_manifest(tmp_path / "empty.csv")
    (tmp_path / "header_only.csv").write_text("image_path,patient_id\n")
    with pytest.raises(ManifestError, match="no data rows"):
        load_manifest(tmp_path / "header_only.csv")


def test_classification_accepts_different_labels_within_a_patient_but_not_different_metadata(data):
    """Image-level labels (DESIGN.md section 6): one patient's planes may differ; GA / CRL / FHR may not."""
    mixed = "img/a4.png,P1,live_birth,mask/a4.png,sagittal,7.1,8.0,120,0.2,north"
    m = load_manifest(_write(data, GOOD_ROWS + [mixed]), task="miscarriage")
    assert m.mixed_label_patients == ["P1"]
    assert list(m.df["label"]) == ["miscarriage", "miscarriage", "live_birth", "live_birth", "live_birth"]
    with pytest.raises(ManifestError) as info:
        load_manifest(_write(data, GOOD_ROWS + ["img/a4.png,P1,live_birth,mask/a4.png,sagittal,7.1,8.0,150,0.2,x"]),
                      task="miscarriage")
    assert [(p.row, p.column) for p in info.value.problems] == [(6, "fhr_bpm")]
    assert "150 conflicts with 120 in row 2" in info.value.problems[0].message


def test_multitask_outcome_label_must_agree_within_a_patient(data):
    rows = [r.replace("miscarriage", "preterm").replace("live_birth", "term") for r in GOOD_ROWS]
    bad = "img/a4.png,P1,term,mask/a4.png,sagittal,7.1,8.0,120,0.2,north"
    with pytest.raises(ManifestError) as info:
        load_manifest(_write(data, rows + [bad]), task="preterm")
    assert [(p.row, p.column) for p in info.value.problems] == [(6, "label")]
    assert "'term' conflicts with 'preterm' in row 2" in info.value.problems[0].message
