"""Builders of small test files for the io tests (no tests here; imported by test_io_*, test_deid*, test_fuzz*).

Why a shared factory: the round-trip, malformed-input, fuzz and de-identification tests all need the same
kinds of tiny, valid files, written with the libraries the gate reads them with (Pillow, pydicom, PyAV).
"""

from __future__ import annotations

import io

import numpy as np

US_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.6.1"  # Ultrasound Image Storage
US_MULTIFRAME_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.3.1"


def still_bytes(arr: np.ndarray, fmt: str, **save_kwargs) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt, **save_kwargs)
    return buf.getvalue()


def base_dataset(*, sop_class: str = US_SOP_CLASS):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "US"
    ds.Manufacturer = "ACME Imaging"
    ds.ManufacturerModelName = "Sono 5"
    return ds


def dicom_bytes(arr: np.ndarray | None, *, photometric: str = "MONOCHROME2", bits_stored: int | None = None,
                pixel_spacing=None, us_delta_cm: float | None = None, window=None, rescale=None,
                ds=None, preamble: bool = True) -> bytes:
    """A DICOM file holding ``arr`` ((H, W), (N, H, W) or (..., 3)); None -> no pixel data."""
    ds = base_dataset() if ds is None else ds
    if arr is not None:
        bits = bits_stored or (8 * arr.dtype.itemsize)
        ds.set_pixel_data(arr, photometric, bits, generate_instance_uid=False)
    if pixel_spacing is not None:
        ds.PixelSpacing = [pixel_spacing, pixel_spacing]
    if us_delta_cm is not None:
        from pydicom.dataset import Dataset

        region = Dataset()
        region.RegionSpatialFormat = 1
        region.RegionDataType = 1
        # Region bounds are Type 1: the calibration applies only inside them (core.io.calibration).
        region.RegionLocationMinX0, region.RegionLocationMinY0 = 0, 0
        region.RegionLocationMaxX1 = int(ds.get("Columns") or 1) - 1
        region.RegionLocationMaxY1 = int(ds.get("Rows") or 1) - 1
        region.PhysicalUnitsXDirection = 3
        region.PhysicalUnitsYDirection = 3
        region.PhysicalDeltaX = us_delta_cm
        region.PhysicalDeltaY = us_delta_cm
        ds.SequenceOfUltrasoundRegions = [region]
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    if rescale is not None:
        ds.RescaleSlope, ds.RescaleIntercept = rescale
    return write_dataset(ds, preamble=preamble)


def write_dataset(ds, *, preamble: bool = True) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=preamble)
    return buf.getvalue()


def float_dicom_bytes(arr: np.ndarray) -> bytes:
    """Float Pixel Data (e.g. NaN-bearing parametric maps)."""
    from pydicom.uid import generate_uid

    ds = base_dataset(sop_class="1.2.840.10008.5.1.4.1.1.30")  # Parametric Map Storage
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.Rows, ds.Columns = arr.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated = 32
    ds.FloatPixelData = arr.astype("<f4").tobytes()
    return write_dataset(ds)


def jpeg_dicom_bytes(arr: np.ndarray) -> bytes:
    """JPEG Baseline encapsulated pixel data (decoded by pydicom's Pillow handler)."""
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGBaseline8Bit

    ds = base_dataset()
    ds.Rows, ds.Columns = arr.shape[:2]
    ds.SamplesPerPixel = 3 if arr.ndim == 3 else 1
    ds.PhotometricInterpretation = "YBR_FULL_422" if arr.ndim == 3 else "MONOCHROME2"
    if arr.ndim == 3:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = encapsulate([still_bytes(arr, "JPEG", quality=95)])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    return write_dataset(ds)


def rle_dicom_bytes(arr: np.ndarray, photometric: str = "MONOCHROME2") -> bytes:
    from pydicom.uid import RLELossless

    ds = base_dataset()
    ds.set_pixel_data(arr, photometric, 8 * arr.dtype.itemsize, generate_instance_uid=False)
    ds.compress(RLELossless, generate_instance_uid=False)
    return write_dataset(ds)


def video_bytes(n_frames: int, *, fmt: str = "mp4", size=(32, 24), seed: int = 0) -> bytes:
    """A tiny clip (MPEG-4 part 2 in MP4 or AVI); frame i has mean brightness rising with i."""
    import av

    rng = np.random.default_rng(seed)
    width, height = size
    buf = io.BytesIO()
    container = av.open(buf, mode="w", format=fmt)
    stream = container.add_stream("mpeg4", rate=10)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    for i in range(n_frames):
        arr = np.clip(rng.integers(0, 40, (height, width, 3)) + 8 * i, 0, 255).astype(np.uint8)
        for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return buf.getvalue()


def zero_frame_video_bytes(fmt: str = "avi") -> bytes:
    """A container with a video stream declared but no frame in it."""
    import av

    buf = io.BytesIO()
    container = av.open(buf, mode="w", format=fmt)
    stream = container.add_stream("mpeg4", rate=10)
    stream.width, stream.height, stream.pix_fmt = 32, 24, "yuv420p"
    container.start_encoding()
    container.close()
    return buf.getvalue()


def png_header_claiming(width: int, height: int) -> bytes:
    """A PNG signature + valid IHDR chunk declaring ``width`` x ``height``, and no image data."""
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))


def jpeg_claiming(data: bytes, width: int, height: int) -> bytes:
    """Rewrite the SOF0 frame header of a baseline JPEG to declare another size."""
    pos = data.index(b"\xff\xc0")
    out = bytearray(data)
    out[pos + 5:pos + 7] = height.to_bytes(2, "big")
    out[pos + 7:pos + 9] = width.to_bytes(2, "big")
    return bytes(out)
