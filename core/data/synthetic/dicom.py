"""Showcase DICOM files that carry FAKE patient identifiers (for testing de-identification).

Why: a clinician's real files arrive as DICOM, with identifiers in the header, in private tags and burned
into the pixels. The showcase needs such files -- with made-up identities only -- so the input gate's
pixel-spacing handling and the de-identification step can be demonstrated and tested. Everything here is
deterministic: UIDs are derived from the seed, dates are fixed, pydicom writes no timestamps.

Identity written into every file: PatientName "DOE^JANE", PatientID "FAKE-<n>", birth date 1990-01-01,
institution "Demo General Hospital (FAKE)", referring physician "SMITH^JOHN", accession number, a private
block (group 0x0009, creator "SONODEMO FAKE") repeating the name, and a banner "DOE^JANE  ID FAKE-<n>  DOB
1990-01-01" burned into the top rows of the image. Geometry: PixelSpacing and one SequenceOfUltrasoundRegions
item (physical deltas in cm, as scanners write them).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.data.synthetic import phantom as ph

FAKE_NAME = "DOE^JANE"
FAKE_BIRTH_DATE = "19900101"
US_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.6.1"


def _uid(seed: int, *parts) -> str:
    from pydicom.uid import generate_uid

    return generate_uid(entropy_srcs=["sonodash-synthetic", str(seed), *map(str, parts)])


def fake_banner(rgb: np.ndarray, patient_number: int) -> np.ndarray:
    """Burns the fake identity into the banner rows (what scanners do, and de-identification must undo)."""
    return ph.burn_banner(rgb, f"{FAKE_NAME}  ID FAKE-{patient_number:04d}  DOB 1990-01-01")


def write_us_dicom(path: Path, rgb: np.ndarray, *, pixel_spacing_mm: float, seed: int, patient_number: int,
                   series: int = 1, instance: int = 1, description: str = "") -> Path:
    """RGB uint8 image -> US Image Storage DICOM file with fake identifiers (see module docstring)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian

    rgb = np.ascontiguousarray(fake_banner(rgb, patient_number), dtype=np.uint8)
    rows, cols = rgb.shape[:2]
    sop_uid = _uid(seed, patient_number, series, instance, "sop")
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = US_IMAGE_STORAGE
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian

    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = US_IMAGE_STORAGE, sop_uid
    ds.StudyInstanceUID = _uid(seed, patient_number, "study")
    ds.SeriesInstanceUID = _uid(seed, patient_number, series, "series")
    ds.Modality, ds.Manufacturer = "US", "SonoDash synthetic phantom"
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = "20240102"
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = "101500"
    ds.PatientName, ds.PatientID = FAKE_NAME, f"FAKE-{patient_number:04d}"
    ds.PatientBirthDate, ds.PatientSex = FAKE_BIRTH_DATE, "F"
    ds.InstitutionName = "Demo General Hospital (FAKE)"
    ds.ReferringPhysicianName = "SMITH^JOHN"
    ds.AccessionNumber = f"ACC{patient_number:06d}"
    ds.StudyID, ds.SeriesNumber, ds.InstanceNumber = "1", series, instance
    ds.SeriesDescription = description or "synthetic gestational sac"
    ds.BurnedInAnnotation = "YES"

    block = ds.private_block(0x0009, "SONODEMO FAKE", create=True)
    block.add_new(0x01, "LO", FAKE_NAME)
    block.add_new(0x02, "LO", "1 Fake Street, Nowhere")
    block.add_new(0x03, "LO", f"FAKE-{patient_number:04d}")

    ds.PixelSpacing = [f"{pixel_spacing_mm:.4f}", f"{pixel_spacing_mm:.4f}"]
    region = Dataset()
    region.RegionSpatialFormat, region.RegionDataType, region.RegionFlags = 1, 1, 0
    region.RegionLocationMinX0, region.RegionLocationMinY0 = 0, ph.BANNER_PX
    region.RegionLocationMaxX1, region.RegionLocationMaxY1 = cols - 1, rows - 1
    region.PhysicalUnitsXDirection = region.PhysicalUnitsYDirection = 3  # cm
    region.PhysicalDeltaX = region.PhysicalDeltaY = pixel_spacing_mm / 10.0
    ds.SequenceOfUltrasoundRegions = Sequence([region])

    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = rgb.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def sac_cine_frames(n_frames: int = 30, *, seed: int = 0, size: int = ph.IMAGE_SIZE) -> np.ndarray:
    """``n_frames`` B-mode frames (uint8 (N, H, W, 3)) of a gestational sac whose size pulses over the clip.

    Why it changes: a viewer test must be able to tell frames apart (the sac's radius grows from the first
    frame to the middle of the clip and shrinks again), so "the analysed frame is the chosen frame" can fail.
    """
    rng = np.random.default_rng(seed)
    fan = ph.random_fan(rng, size)
    cx, cy = fan.center
    background = ph.tissue_background(rng, (size, size))
    frames = []
    for k in range(int(n_frames)):
        phase = np.sin(np.pi * k / max(1, n_frames - 1))
        sac = ph.ellipse_mask((size, size), (cx, cy), (size * (0.10 + 0.08 * phase), size * (0.08 + 0.06 * phase)))
        echo = np.where(sac, 0.03, background)
        frames.append(ph.to_rgb(ph.render(echo, rng, fan, speckle="rayleigh", attenuation=1.0, gain=1.0)))
    return np.stack(frames)


def write_us_cine_dicom(path: Path, frames: np.ndarray, *, pixel_spacing_mm: float, frame_time_ms: float,
                        seed: int, patient_number: int) -> Path:
    """uint8 (N, H, W, 3) frames -> a multi-frame US DICOM (Cine module: FrameTime, CineRate) with the same
    fake identity, private block and burned-in banner (every frame) as :func:`write_us_dicom`."""
    import pydicom
    from pydicom.tag import Tag

    frames = np.ascontiguousarray(frames, dtype=np.uint8)
    write_us_dicom(path, frames[0], pixel_spacing_mm=pixel_spacing_mm, seed=seed, patient_number=patient_number,
                   description="synthetic gestational sac, cine")
    ds = pydicom.dcmread(path)
    burned = np.stack([fake_banner(f, patient_number) for f in frames])
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.3.1"  # US Multi-frame
    ds.NumberOfFrames = int(len(frames))
    ds.FrameTime = f"{float(frame_time_ms):.3f}"
    ds.CineRate = int(round(1000.0 / float(frame_time_ms)))
    ds.FrameIncrementPointer = Tag("FrameTime")
    ds.PixelData = burned.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path
