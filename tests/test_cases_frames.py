"""Viewer frames and corrections: frame choice, frame rate, VOI/window on original values, calipers, masks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.errors import InputError


@pytest.fixture(scope="module")
def cine(tmp_path_factory):
    """A generated 30-frame ultrasound DICOM (FrameTime 40 ms) whose sac changes size over the clip."""
    from core.data.synthetic.dicom import sac_cine_frames, write_us_cine_dicom

    path = tmp_path_factory.mktemp("cine") / "cine.dcm"
    return write_us_cine_dicom(path, sac_cine_frames(30, seed=3), pixel_spacing_mm=0.2, frame_time_ms=40, seed=3,
                               patient_number=5)


def test_open_cine_has_every_frame_the_rate_and_the_gate_pixels(cine):
    from core.frames import open_cine
    from core.io import load_image

    c = open_cine(str(cine))
    assert (c.n, c.indices, c.n_source_frames) == (30, list(range(30)), 30)
    assert (c.fps, c.fps_source, c.playback_ms()) == (25.0, "FrameTime", 40.0)
    assert c.pixel_spacing_mm == pytest.approx(0.2)
    gate = load_image(str(cine), frame_step=1)
    assert np.array_equal(c.display, gate.frames)            # same de-identified pixels as the input gate
    assert c.values[:, :10].max() == 0                       # the banner is blanked in the original values too
    few = open_cine(str(cine), max_frames=7)
    assert few.indices == list(range(0, 30, 5)) and few.step == 5


def test_load_frames_and_analyze_the_chosen_frame(cine):
    from core.frames import load_frames, open_cine
    from core.pipeline import analyze

    c = open_cine(str(cine))
    li = load_frames(str(cine), [17])
    assert li.metadata["frame_indices"] == [17] and np.array_equal(li.frames[0], c.display[17])
    with pytest.raises(InputError, match="frame 30 does not exist"):
        load_frames(str(cine), [30])
    with pytest.raises(InputError, match="whole number"):
        load_frames(str(cine), [-1])
    data = cine.read_bytes()
    one = analyze([("cine.dcm", data)], segmenter="levelset", frames={"cine.dcm": [17]})
    first = analyze([("cine.dcm", data)], segmenter="levelset", frames={"cine.dcm": [0]})
    assert [r.frame for r in one.images] == [17] and [r.frame for r in first.images] == [0]
    assert one.images[0].biometry["area_px"] > 1.5 * first.images[0].biometry["area_px"]   # the sac grew
    every = analyze([("cine.dcm", data)], segmenter="levelset", frames=[0, 10, 20])
    assert [r.frame for r in every.images] == [0, 10, 20]
    stepped = analyze([str(cine)], segmenter=None, frame_step=10)
    assert [r.frame for r in stepped.images] == [0, 10, 20]   # source frame numbers for DICOM, too


def _grey_dicom(tmp_path, *, voi_lut: bool):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    step = 1 if voi_lut else 1000                     # the LUT maps stored values 0..3 one by one
    values = np.tile(np.arange(0, 4 * step, step, dtype=np.uint16), (4, 1))[None].repeat(2, axis=0)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.3.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.Rows, ds.Columns, ds.NumberOfFrames = "US", 4, 4, 2
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleSlope, ds.RescaleIntercept = 1, 0 if voi_lut else -1000
    ds.CineRate = 12
    if voi_lut:
        item = Dataset()
        item.LUTDescriptor = [4, 0, 16]
        item.add_new("LUTData", "US", [0, 100, 60000, 65535])
        ds.VOILUTSequence = [item]
    else:
        ds.WindowCenter, ds.WindowWidth = 500, 1000
    ds.PixelData = values.tobytes()
    path = tmp_path / ("lut.dcm" if voi_lut else "window.dcm")
    ds.save_as(path, enforce_file_format=True)
    return path


def test_window_on_original_values_and_the_objects_voi(tmp_path):
    from core.frames import open_cine, window_level

    c = open_cine(str(_grey_dicom(tmp_path, voi_lut=False)))
    assert c.values[0, 1].tolist() == [-1000.0, 0.0, 1000.0, 2000.0]      # modality LUT applied (HU-like)
    assert c.voi == {"kind": "window", "center": 500.0, "width": 1000.0}
    assert (c.fps, c.fps_source) == (12.0, "CineRate")
    assert c.display[0, 1, :, 0].tolist() == [0, 0, 255, 255]             # the object's own window (0..1000)
    wide = window_level(c.values[0], center=500, width=3000)
    assert wide[1, :, 0].tolist() == [0, 85, 170, 255]                    # [-1000, 2000] -> 0..255
    with pytest.raises(InputError, match="window width"):
        window_level(c.values[0], center=0, width=0)
    lut = open_cine(str(_grey_dicom(tmp_path, voi_lut=True)))
    assert lut.voi == {"kind": "VOI LUT sequence"}
    assert lut.display[0, 1, :, 0].tolist() == [0, 0, 233, 255]           # LUTData through apply_voi_lut


def test_zoom_and_animation():
    from core.frames import animation, zoom

    rgb = np.zeros((40, 80, 3), np.uint8)
    rgb[:, 40:] = 200
    out, box = zoom(rgb, 2.0, cx=1.0, cy=0.5)
    assert box == (10, 40, 30, 80) and out.shape == rgb.shape and out.min() == 200
    gif = animation(np.stack([rgb, 255 - rgb]), frame_ms=40)
    from PIL import Image
    import io

    im = Image.open(io.BytesIO(gif))
    assert im.n_frames == 2 and im.info["duration"] == 40


def test_contour_vertices_and_polygon_masks():
    from core.corrections import check_vertices, mask_vertices, polygon_mask

    mask = np.zeros((60, 60), bool)
    mask[10:40, 15:45] = True
    verts = mask_vertices(mask)
    assert 4 <= len(verts) <= 24
    back = polygon_mask(verts, mask.shape)
    iou = (back & mask).sum() / (back | mask).sum()
    assert iou > 0.9
    square = polygon_mask([(10, 10), (29, 10), (29, 29), (10, 29)], (40, 40))
    assert square.sum() == 400 and square[10:30, 10:30].all()
    with pytest.raises(InputError, match="at least 3"):
        check_vertices([(1, 1), (2, 2)], (10, 10))
    with pytest.raises(InputError, match=r"vertex 2 \(12, 3\) lies outside the 10x10 image"):
        check_vertices([(1, 1), (12, 3), (4, 4)], (10, 10))


def test_caliper_measurements():
    from core.corrections import measure_caliper

    d = measure_caliper({"kind": "distance", "x0": 0, "y0": 0, "x1": 30, "y1": 40}, 0.5)
    assert (d["length_px"], d["length_mm"]) == (50.0, 25.0)
    assert measure_caliper({"kind": "distance", "x0": 0, "y0": 0, "x1": 30, "y1": 40}, None)["length_mm"] is None
    aniso = measure_caliper({"kind": "distance", "x0": 0, "y0": 0, "x1": 10, "y1": 10}, (2.0, 1.0))   # (sy, sx)
    assert aniso["length_mm"] == pytest.approx(math.hypot(10, 20))
    circle = measure_caliper({"kind": "ellipse", "cx": 5, "cy": 5, "a": 10, "b": 10, "angle_deg": 30}, 0.5)
    assert circle["circumference_mm"] == pytest.approx(2 * math.pi * 5) and circle["area_mm2"] == pytest.approx(
        math.pi * 25)
    # an axis-aligned ellipse on anisotropic pixels: x semi-axis 10 px * 1 mm, y semi-axis 4 px * 2 mm
    e = measure_caliper({"kind": "ellipse", "cx": 0, "cy": 0, "a": 10, "b": 4, "angle_deg": 0}, (2.0, 1.0))
    assert (e["major_mm"], e["minor_mm"]) == (pytest.approx(20.0), pytest.approx(16.0))
    rotated = measure_caliper({"kind": "ellipse", "cx": 0, "cy": 0, "a": 10, "b": 4, "angle_deg": 90}, (2.0, 1.0))
    assert (rotated["major_mm"], rotated["minor_mm"]) == (pytest.approx(40.0), pytest.approx(8.0))
    with pytest.raises(InputError, match="semi-axes must be positive"):
        measure_caliper({"kind": "ellipse", "cx": 0, "cy": 0, "a": 0, "b": 4, "angle_deg": 0}, 1.0)
    with pytest.raises(InputError, match="x1 'a' is not a number"):
        measure_caliper({"kind": "distance", "x0": 0, "y0": 0, "x1": "a", "y1": 0}, 1.0)


def test_canvas_objects_map_to_image_pixels():
    """Fabric.js JSON of the drawing canvas (as streamlit-drawable-canvas 0.13 returns it) -> image pixels."""
    from dashboard.corrections_view import canvas_objects

    data = {"objects": [
        {"type": "Polygon", "originX": "center", "originY": "center", "left": 225, "top": 200, "width": 250,
         "height": 240, "scaleX": 1, "scaleY": 1, "angle": 0,
         "points": [{"x": 100, "y": 100}, {"x": 300, "y": 80}, {"x": 350, "y": 300}, {"x": 120, "y": 320}]},
        {"type": "Line", "originX": "center", "originY": "center", "left": 125, "top": 100, "width": 150,
         "height": 100, "x1": -75, "y1": -50, "x2": 75, "y2": 50, "scaleX": 1, "scaleY": 1, "angle": 0},
        {"type": "Circle", "originX": "left", "originY": "center", "left": 300, "top": 200, "width": 60,
         "height": 60, "radius": 30, "scaleX": 2, "scaleY": 1, "angle": 0},
    ]}
    vertices, calipers = canvas_objects(data, scale=2.0)
    assert vertices == [(50.0, 50.0), (150.0, 40.0), (175.0, 150.0), (60.0, 160.0)]
    assert calipers[0] == {"kind": "distance", "x0": 25.0, "y0": 25.0, "x1": 100.0, "y1": 75.0}
    assert calipers[1] == {"kind": "ellipse", "cx": 180.0, "cy": 100.0, "a": 30.0, "b": 15.0, "angle_deg": 0.0}
