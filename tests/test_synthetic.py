"""Synthetic phantoms: Bezier masks by hand, determinism, manifests that load, and the promised properties."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from core.data.manifest import load_manifest
from core.data.synthetic import STUDIES, make_sample_data
from core.errors import InputError
from core.segmentation.bezier import bezier_curve, bezier_mask

N_PATIENTS = 2


def test_bezier_curve_endpoints_and_midpoint_by_hand():
    pts = [(10, 20), (10, 60), (50, 60), (50, 20)]
    curve = bezier_curve(pts, 5)
    assert curve.shape == (5, 2)
    assert curve[0].tolist() == [10, 20] and curve[-1].tolist() == [50, 20]
    # t = 1/2: (P0 + 3 P1 + 3 P2 + P3) / 8
    assert curve[2].tolist() == pytest.approx([(10 + 30 + 150 + 50) / 8, (20 + 180 + 180 + 20) / 8])
    # t = 1/4: weights 27/64, 27/64, 9/64, 1/64
    assert curve[1].tolist() == pytest.approx([(27 * 10 + 27 * 10 + 9 * 50 + 50) / 64,
                                               (27 * 20 + 27 * 60 + 9 * 60 + 20) / 64])


def test_bezier_straight_control_points_give_a_straight_band():
    mask = bezier_mask([(10, 30), (20, 30), (40, 30), (50, 30)], (60, 60), 5)
    ys, xs = np.nonzero(mask)
    assert set(ys.tolist()) == {28, 29, 30, 31, 32}
    assert xs.min() == 8 and xs.max() == 52
    assert mask[30, 10:51].all() and not mask[30, 0:5].any()


def test_bezier_mask_covers_the_curve_and_is_about_thickness_wide():
    pts = [(20, 80), (40, 10), (90, 10), (110, 80)]
    mask = bezier_mask(pts, (128, 128), 9)
    for x, y in np.round(bezier_curve(pts, 50)).astype(int):
        assert mask[y, x]
    length = np.sum(np.linalg.norm(np.diff(bezier_curve(pts, 500), axis=0), axis=1))
    assert mask.sum() == pytest.approx(9 * length, rel=0.15)


@pytest.mark.parametrize("points", [[(0, 0), (1, 1), (2, 2)], [(0, 0), (1, 1), (2, 2), (np.nan, 3)]])
def test_bezier_rejects_bad_control_points(points):
    with pytest.raises(InputError):
        bezier_curve(points)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic")
    return make_sample_data(out / "A", study="all", n_patients=N_PATIENTS, seed=3, progress=False), out


def _tree_hashes(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_trees_and_another_seed_does_not(generated):
    manifests, out = generated
    a = _tree_hashes(out / "A")
    make_sample_data(out / "B", study="all", n_patients=N_PATIENTS, seed=3, progress=False)
    assert _tree_hashes(out / "B") == a
    make_sample_data(out / "C", study="preterm", n_patients=N_PATIENTS, seed=4, progress=False)
    c = _tree_hashes(out / "C")
    assert c["preterm/manifest.csv"] != a["preterm/manifest.csv"]
    assert len(a) > 30 and any(k.endswith(".mp4") for k in a) and any(k.endswith(".dcm") for k in a)


@pytest.mark.parametrize("study", STUDIES)
def test_generated_manifests_load_cleanly(generated, study):
    manifests, _ = generated
    m = load_manifest(manifests[study], task=study)
    assert m.df["patient_id"].nunique() == N_PATIENTS
    assert set(m.df["label"]) <= set(m.labels)


def test_miscarriage_rows_masks_and_sac_contrast(generated):
    import cv2

    m = load_manifest(generated[0]["miscarriage"], task="miscarriage")
    assert set(m.df["plane"]) == {"sagittal", "transverse"} and len(m.df) == 2 * N_PATIENTS
    for rec in m.df.itertuples():
        image = cv2.imread(rec.image_path, cv2.IMREAD_GRAYSCALE).astype(float)
        mask = cv2.imread(rec.mask_path, cv2.IMREAD_GRAYSCALE) > 0
        ring = cv2.dilate(mask.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool) & ~mask
        assert 2000 < mask.sum() < 20000
        assert image[mask].mean() < image[ring].mean() - 30   # anechoic sac inside a bright rim
        assert 6.0 <= rec.ga_weeks < 9.0


def test_miscarriage_dicom_carries_fake_identity_and_geometry(generated):
    import pydicom

    study_dir = generated[0]["miscarriage"].parent
    files = sorted((study_dir / "dicom").glob("*.dcm"))
    assert len(files) == 2 * min(N_PATIENTS, 2)
    ds = pydicom.dcmread(files[0])
    assert str(ds.PatientName) == "DOE^JANE" and ds.PatientBirthDate == "19900101"
    assert float(ds.PixelSpacing[0]) > 0
    assert ds.SequenceOfUltrasoundRegions[0].PhysicalDeltaX == pytest.approx(float(ds.PixelSpacing[0]) / 10)
    assert ds.pixel_array.shape == (256, 256, 3)
    assert ds.pixel_array[:14].max() > 200   # the burned-in banner


def test_cns_clip_has_enough_frames_for_the_gate(generated):
    import av

    m = load_manifest(generated[0]["cns"], task="cns")
    clips = [p for p in m.df["image_path"] if p.endswith(".mp4")]
    assert len(clips) == N_PATIENTS
    with av.open(clips[0]) as container:
        assert sum(1 for _ in container.decode(video=0)) >= 81


def test_first_trimester_instances_match_their_classes(generated):
    from PIL import Image

    from core.tasks import FIRST_TRIMESTER_VIEWS

    m = load_manifest(generated[0]["first_trimester"], task="first_trimester")
    assert sorted(set(m.df["label"])) == sorted(FIRST_TRIMESTER_VIEWS)
    for rec in m.df.itertuples():
        inst = np.asarray(Image.open(rec.instances_path))
        names = [part.split(":")[1] for part in rec.instance_classes.split(";")]
        assert set(names) <= set(FIRST_TRIMESTER_VIEWS[rec.label])
        assert inst.max() == len(names)


def test_label_shares():
    from core.data.synthetic import cns, miscarriage, preterm

    rng = np.random.default_rng(0)
    assert miscarriage.assign_labels(100, rng).count("miscarriage") == 30
    assert preterm.assign_labels(100, rng).count("preterm") == 10
    assert preterm.assign_labels(3, rng).count("preterm") == 1
    assert sorted(set(cns.assign_labels(5, rng))) == sorted(cns.LABELS)


def test_bad_arguments_raise_input_error(tmp_path):
    with pytest.raises(InputError, match="unknown study"):
        make_sample_data(tmp_path, study="brain", n_patients=1)
    with pytest.raises(InputError, match="n-patients"):
        make_sample_data(tmp_path, n_patients=0)
    with pytest.raises(InputError, match="seed"):
        make_sample_data(tmp_path, n_patients=1, seed=-1)


def test_cli_writes_manifests(tmp_path, capsys):
    from core.cli import main

    assert main(["make-sample-data", "--out", str(tmp_path), "--study", "preterm", "--n-patients", "2",
                 "--seed", "5", "--no-progress"]) == 0
    assert "preterm: " in capsys.readouterr().out
    assert (tmp_path / "preterm" / "manifest.csv").is_file()
    assert main(["make-sample-data", "--out", str(tmp_path), "--n-patients", "0"]) == 2
