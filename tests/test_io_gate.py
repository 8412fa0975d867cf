"""Round trips through the input gate for every supported format, plus limits, sniffing and typed errors."""

from __future__ import annotations

import numpy as np
import pytest
from test_io_factory import (base_dataset, dicom_bytes, float_dicom_bytes, jpeg_claiming, jpeg_dicom_bytes,
                             png_header_claiming, rle_dicom_bytes, still_bytes, video_bytes,
                             zero_frame_video_bytes)

from core.errors import InputError
from core.io import (CorruptFileError, EmptyFileError, FileTooLargeError, GateLimits, LoadedImage,
                     MissingFileError, NoFramesError, NoPixelDataError, TooManyPixelsError,
                     UnsupportedFormatError, load_image, probe)


@pytest.fixture
def rgb(rng):
    return rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)


@pytest.fixture
def smooth():
    """A gradient image: lossy codecs (JPEG) keep it within a few grey levels."""
    yy, xx = np.mgrid[0:20, 0:30]
    return np.stack([xx * 8, yy * 12, 255 - xx * 8], axis=-1).astype(np.uint8)


def _check(img: LoadedImage, *, kind: str, n: int = 1, h: int = 20, w: int = 30):
    assert isinstance(img, LoadedImage) and img.kind == kind
    assert img.frames.dtype == np.uint8 and img.frames.shape == (n, h, w, 3)
    assert img.image.shape == (h, w, 3)
    assert img.gray.dtype == np.float32 and img.gray.shape == (h, w)
    assert 0.0 <= img.gray.min() and img.gray.max() <= 1.0


@pytest.mark.parametrize("fmt,kind", [("PNG", "png"), ("BMP", "bmp"), ("TIFF", "tiff")])
def test_lossless_still_round_trip(tmp_path, rgb, fmt, kind):
    path = tmp_path / f"img.{fmt.lower()}"
    path.write_bytes(still_bytes(rgb, fmt))
    img = load_image(path)
    _check(img, kind=kind)
    np.testing.assert_array_equal(img.image, rgb)
    assert img.pixel_spacing_mm is None and img.n_source_frames == 1
    assert probe(path) == {"kind": kind, "width": 30, "height": 20, "frames": 1, "pixel_spacing_mm": None}


def test_jpeg_round_trip_and_bytes_source(smooth):
    rgb = smooth
    data = still_bytes(rgb, "JPEG", quality=95)
    img = load_image(data, name="upload.jpg")
    _check(img, kind="jpeg")
    assert img.name == "upload.jpg"
    assert np.abs(img.image.astype(int) - rgb.astype(int)).mean() < 8


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "I;16"])
def test_other_pillow_modes_become_rgb(mode, rng):
    from PIL import Image
    import io

    if mode == "I;16":
        im = Image.fromarray(rng.integers(0, 65535, (20, 30), dtype=np.uint16))
    else:
        im = Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)).convert(mode)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    img = load_image(buf.getvalue(), name=f"{mode}.png")
    _check(img, kind="png")
    if mode == "I;16":  # min-max windowed over the full range
        assert img.image.min() == 0 and img.image.max() == 255


def test_sixteen_bit_tiff_is_windowed(tmp_path):
    arr = np.linspace(1000, 5000, 600).reshape(20, 30).astype(np.uint16)
    img = load_image(still_bytes(arr, "TIFF"), name="x.tif")
    _check(img, kind="tiff")
    assert img.image[0, 0, 0] == 0 and img.image[-1, -1, 0] == 255


def test_type_comes_from_content_not_name(tmp_path, rgb):
    path = tmp_path / "really_a_png.jpg"
    path.write_bytes(still_bytes(rgb, "PNG"))
    assert load_image(path).kind == "png"
    dcm = tmp_path / "scan.png"
    dcm.write_bytes(dicom_bytes(rgb[..., 0]))
    assert load_image(dcm).kind == "dicom"


def test_dicom_monochrome2_16bit_with_window_and_spacing():
    arr = np.tile(np.arange(30, dtype=np.uint16) * 100, (20, 1))  # 0..2900
    data = dicom_bytes(arr, bits_stored=12, pixel_spacing=0.25, window=(1000, 1000))
    img = load_image(data, name="w.dcm", deidentify=False)
    _check(img, kind="dicom")
    assert img.pixel_spacing_mm == pytest.approx(0.25)
    row = img.image[10, :, 0]
    assert row[5] == 0 and row[15] == 255  # 500 is the window's low end, 1500 its high end
    assert row[10] == 128


def test_dicom_signed_with_rescale_and_monochrome1():
    arr = np.tile(np.arange(-15, 15, dtype=np.int16), (20, 1))
    img = load_image(dicom_bytes(arr, rescale=(2, -100)), name="s.dcm", deidentify=False)
    assert img.image[10, 0, 0] == 0 and img.image[10, -1, 0] == 255  # min-max after rescale
    inv = load_image(dicom_bytes(arr, photometric="MONOCHROME1"), name="m1.dcm", deidentify=False)
    assert inv.image[10, 0, 0] == 255 and inv.image[10, -1, 0] == 0


def test_dicom_rgb_ybr_palette(rgb, smooth):
    img = load_image(dicom_bytes(rgb, photometric="RGB"), name="rgb.dcm", deidentify=False)
    np.testing.assert_array_equal(img.image, rgb)
    jpeg = load_image(jpeg_dicom_bytes(smooth), name="ybr.dcm", deidentify=False)
    _check(jpeg, kind="dicom")
    assert np.abs(jpeg.image.astype(int) - smooth.astype(int)).mean() < 8
    from pydicom.dataset import Dataset  # noqa: F401 - palette built below

    ds = base_dataset()
    index = (np.arange(600) % 4).reshape(20, 30).astype(np.uint8)
    ds.set_pixel_data(index, "PALETTE COLOR", 8, generate_instance_uid=False)
    for colour, values in zip(("Red", "Green", "Blue"), ([0, 255, 0, 0], [0, 0, 255, 0], [0, 0, 0, 255])):
        setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", [4, 0, 16])
        setattr(ds, f"{colour}PaletteColorLookupTableData",
                (np.array(values, dtype="<u2") * 257).tobytes())
    from test_io_factory import write_dataset

    pal = load_image(write_dataset(ds), name="pal.dcm", deidentify=False)
    np.testing.assert_array_equal(pal.image[0, 1], [255, 0, 0])
    np.testing.assert_array_equal(pal.image[0, 3], [0, 0, 255])


def test_dicom_multiframe_frame_step_and_us_region_spacing():
    arr = np.stack([np.full((20, 30), 10 * i, np.uint8) for i in range(7)])
    data = dicom_bytes(arr, us_delta_cm=0.02)
    img = load_image(data, name="cine.dcm", frame_step=3, deidentify=False)
    _check(img, kind="dicom", n=3)
    assert img.n_source_frames == 7
    assert img.pixel_spacing_mm == pytest.approx(0.2)  # 0.02 cm -> 0.2 mm
    assert img.image.max() == 0 and img.frames[2].max() == 255  # frames 0, 3, 6 of 0..60 min-max windowed
    assert probe(data, name="cine.dcm")["frames"] == 7


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_dicom_rle_compressed(dtype):
    arr = (np.arange(600).reshape(20, 30) % 200).astype(dtype)
    img = load_image(rle_dicom_bytes(arr), name="rle.dcm", deidentify=False)
    _check(img, kind="dicom")
    np.testing.assert_array_equal(img.image[..., 0], np.rint(arr * (255 / 199)).astype(np.uint8))


def test_dicom_float_nan_is_nan_free():
    arr = np.linspace(0, 1, 600, dtype=np.float32).reshape(20, 30)
    arr[0, :5] = np.nan
    arr[1, :5] = np.inf
    img = load_image(float_dicom_bytes(arr), name="f.dcm")
    _check(img, kind="dicom")
    assert img.image[5:, :, 0].max() == 255


def test_dicom_without_preamble(rgb):
    img = load_image(dicom_bytes(rgb[..., 0], preamble=False), name="raw.dcm", deidentify=False)
    np.testing.assert_array_equal(img.image[..., 0], rgb[..., 0])


@pytest.mark.parametrize("fmt", ["mp4", "avi"])
def test_video_keeps_one_frame_every_step(fmt):
    data = video_bytes(9, fmt=fmt)
    img = load_image(data, name=f"clip.{fmt}", frame_step=4)
    _check(img, kind="video", n=3, h=24, w=32)
    assert img.n_source_frames == 9
    means = img.frames.reshape(3, -1).mean(axis=1)
    assert means[0] < means[1] < means[2]  # frames 0, 4, 8 (brightness rises with the index)
    default = load_image(data, name=f"clip.{fmt}")
    assert default.frames.shape[0] == 1 and default.n_source_frames == 9
    assert probe(data, name="c")["kind"] == "video"


@pytest.mark.parametrize("make,error", [
    (lambda: b"", EmptyFileError),
    (lambda: b"just some text\n", UnsupportedFormatError),
    (lambda: b"GIF89a" + bytes(100), UnsupportedFormatError),
    (lambda: png_header_claiming(100000, 100000), TooManyPixelsError),
    (lambda: jpeg_claiming(still_bytes(np.zeros((8, 8, 3), np.uint8), "JPEG"), 60000, 60000), TooManyPixelsError),
    (lambda: still_bytes(np.zeros((20, 30, 3), np.uint8), "PNG")[:60], CorruptFileError),
    (lambda: dicom_bytes(None), NoPixelDataError),
    (lambda: zero_frame_video_bytes("avi"), NoFramesError),
    (lambda: zero_frame_video_bytes("mp4"), NoFramesError),
])
def test_typed_one_line_errors(make, error):
    with pytest.raises(error) as info:
        load_image(make(), name="bad-input.bin")
    message = str(info.value)
    assert isinstance(info.value, InputError)
    assert message.startswith("bad-input.bin: ") and "\n" not in message


def test_missing_file(tmp_path):
    with pytest.raises(MissingFileError, match="nope.png: file not found"):
        load_image(tmp_path / "nope.png", name="nope.png")


def test_limits_are_configurable_and_checked_before_decoding(tmp_path, rgb):
    data = still_bytes(rgb, "PNG")
    with pytest.raises(FileTooLargeError, match="limit"):
        load_image(data, name="a.png", limits=GateLimits(max_file_bytes=len(data) - 1))
    with pytest.raises(TooManyPixelsError, match="30x20"):
        load_image(data, name="a.png", limits=GateLimits(max_pixels=599))
    assert load_image(data, name="a.png", limits=GateLimits(max_pixels=600)).width == 30
    with pytest.raises(TooManyPixelsError, match="frames"):
        load_image(dicom_bytes(np.zeros((5, 4, 4), np.uint8)), name="m.dcm", frame_step=1,
                   limits=GateLimits(max_source_frames=4))
    # the PNG header alone is refused: no IDAT exists, so decoding was never attempted
    with pytest.raises(TooManyPixelsError):
        probe(png_header_claiming(100000, 100000), name="bomb.png")
    assert GateLimits().max_file_bytes == 50 * 1024 * 1024 and GateLimits().max_pixels == 40_000_000


def test_bad_frame_step():
    with pytest.raises(InputError, match="frame_step"):
        load_image(b"x", name="x", frame_step=0)
