"""The input gate: every image, DICOM or cine clip enters SonoDash through :func:`load_image`.

Why one gate: the dashboard, the command line and the training import must apply the same limits and the
same de-identification, and return the same thing (``uint8 (N, H, W, 3)`` RGB plus metadata), so downstream
code never sees a 16-bit, float, palette or identifying input. The order is fixed: size of the bytes ->
type from magic bytes -> declared dimensions -> decode -> convert -> de-identify. Every refusal is a
:class:`core.io.errors.GateError` (an ``InputError``) whose message is one line naming the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import InputError
from core.io import dicom as _dicom
from core.io.banner import rects_for
from core.io.calibration import regions_of, spacing_at
from core.io.convert import fit_pixels, scale_regions
from core.io.deid import DeidConfig, deidentify_dataset
from core.io.deid_pixels import PixelReport, _all_regions, clean_frames
from core.io.errors import EmptyFileError, MissingFileError, UnsupportedFormatError
from core.io.limits import DEFAULT_LIMITS, GateLimits
from core.io.sniff import SUPPORTED, sniff
from core.io.still import decode_still, probe_still
from core.io.video import decode_video, probe_video

STILL_KINDS = ("png", "jpeg", "bmp", "tiff")


@dataclass
class LoadedImage:
    """What the gate returns. ``frames`` is uint8 (N, H, W, 3) RGB: N = 1 for stills, one frame every
    ``frame_step`` for cine clips and multi-frame DICOM (``n_source_frames`` counts them all)."""

    frames: np.ndarray
    kind: str
    name: str
    pixel_spacing_mm: float | None = None
    n_source_frames: int = 1
    metadata: dict = field(default_factory=dict)

    @property
    def image(self) -> np.ndarray:
        """First frame, H x W x 3 uint8."""
        return self.frames[0]

    @property
    def gray(self) -> np.ndarray:
        """First frame as float32 H x W luminance in [0, 1] (ITU-R 601 weights)."""
        rgb = self.frames[0].astype(np.float32)
        return (rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)) / np.float32(255.0)

    def spacing_at(self, x: float, y: float) -> tuple[float, float] | None:
        """(sy_mm, sx_mm) at pixel (x, y) from the region containing it (DICOM), or the single square-pixel
        spacing of other images; None where nothing calibrates that point."""
        if self.metadata.get("calibration_regions"):
            return spacing_at(self, x, y)
        if self.pixel_spacing_mm and 0 <= x < self.width and 0 <= y < self.height:
            return (float(self.pixel_spacing_mm), float(self.pixel_spacing_mm))
        return None

    @property
    def width(self) -> int:
        return int(self.frames.shape[2])

    @property
    def height(self) -> int:
        return int(self.frames.shape[1])


def read_source(source, *, name: str | None, limits: GateLimits) -> tuple[bytes, str]:
    """Bytes of a path, a bytes object or a file-like upload, with the size checked before reading."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        label = name or "upload"
        data = bytes(source)
        limits.check_file_size(label, len(data))
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        label = name or str(source)
        try:
            if not path.is_file():
                raise MissingFileError(label, "file not found")
            limits.check_file_size(label, path.stat().st_size)
            with open(path, "rb") as fh:
                data = fh.read(limits.max_file_bytes + 1)
        except OSError as err:
            raise MissingFileError(label, f"cannot read the file ({type(err).__name__})") from None
        limits.check_file_size(label, len(data))
    elif hasattr(source, "read"):
        label = name or Path(str(getattr(source, "name", "upload"))).name
        data = source.read(limits.max_file_bytes + 1)
        if not isinstance(data, (bytes, bytearray)):
            raise InputError(f"{label}: upload did not yield bytes")
        limits.check_file_size(label, len(data))
    else:
        raise InputError(f"{name or 'input'}: expected a path, bytes or a file object, "
                         f"got {type(source).__name__}")
    if not data:
        raise EmptyFileError(label, "file is empty (0 bytes)")
    return bytes(data), label


def detect_kind(data: bytes, name: str) -> str:
    kind = sniff(data[:512])
    if kind is None:
        raise UnsupportedFormatError(name, f"content is not a supported format ({SUPPORTED})")
    return kind


def load_image(source, *, name: str | None = None, limits: GateLimits | None = None, frame_step: int = 80,
               deidentify: bool = True, deid_config=None) -> LoadedImage:
    """Read one image, DICOM or cine clip through the gate.

    ``source``: path, bytes (an upload; pass ``name`` for messages) or a binary file object.
    ``deidentify`` (DICOM only, default on): the Annex E header actions run on the data set and the device's
    banner rectangles are zeroed in every returned frame; ``metadata`` holds technical attributes only.
    """
    limits = limits or DEFAULT_LIMITS
    if isinstance(frame_step, bool) or not isinstance(frame_step, int) or frame_step < 1:
        raise InputError(f"frame_step must be a whole number >= 1, got {frame_step!r}")
    data, label = read_source(source, name=name, limits=limits)
    kind = detect_kind(data, label)
    if kind in STILL_KINDS:
        frames, meta = decode_still(data, kind, label, limits)
        return _bounded(LoadedImage(frames=frames, kind=kind, name=label, metadata=meta), limits)
    if kind == "video":
        frames, count, meta = decode_video(data, label, limits, frame_step)
        return _bounded(LoadedImage(frames=frames, kind=kind, name=label, n_source_frames=count, metadata=meta),
                        limits)
    return _bounded(_load_dicom(data, label, limits, frame_step, deidentify=deidentify, deid_config=deid_config),
                    limits)


def _bounded(img: LoadedImage, limits: GateLimits) -> LoadedImage:
    """The working copy: frames above ``limits.max_working_pixels`` downscaled, spacing and calibration
    regions moved to the copy's pixels; ``metadata["source_size"]`` keeps the file's width and height."""
    frames, scale = fit_pixels(img.frames, limits.max_working_pixels)
    if scale == (1.0, 1.0):
        return img  # fits (decoders of stills and DICOM already shrink before converting, and say so)
    meta = dict(img.metadata)
    meta["source_size"] = [img.width, img.height]
    meta["working_scale"] = [scale[0], scale[1]]
    if meta.get("calibration_regions"):
        meta["calibration_regions"] = scale_regions(meta["calibration_regions"], scale)
    spacing = img.pixel_spacing_mm / scale[1] if img.pixel_spacing_mm else img.pixel_spacing_mm
    return LoadedImage(frames=frames, kind=img.kind, name=img.name, pixel_spacing_mm=spacing,
                       n_source_frames=img.n_source_frames, metadata=meta)


def _load_dicom(data: bytes, label: str, limits: GateLimits, frame_step: int, *, deidentify: bool,
                deid_config) -> LoadedImage:
    from dataclasses import replace

    with _dicom.quiet():
        frames, n_frames, ds, scale = _dicom.decode_dicom(data, label, limits, frame_step)
        spacing, source = _dicom.pixel_spacing_mm(ds)
        meta = {"frame_step": frame_step, "pixel_spacing_source": source, "deidentified": bool(deidentify),
                "calibration_regions": regions_of(ds)}
        if scale != (1.0, 1.0):  # a working copy (see _bounded): regions in the copy's pixels
            meta["source_size"] = [int(ds.Columns), int(ds.Rows)]
            meta["working_scale"] = [scale[0], scale[1]]
            meta["calibration_regions"] = scale_regions(meta["calibration_regions"], scale)
            spacing = spacing / scale[1] if spacing else spacing
        if deidentify:
            config = deid_config or DeidConfig()
            rects = rects_for(str(ds.get("Manufacturer", "")), str(ds.get("ManufacturerModelName", "")),
                              config.banner_rules)
            screen = scale_regions(_all_regions(ds), scale) if scale != (1.0, 1.0) else _all_regions(ds)
            deidentify_dataset(ds, config=replace(config, clean_pixels=False), name=label)
            report = PixelReport()
            clean_frames(frames, rects, screen, max_check_frames=config.max_check_frames, report=report)
            meta["banner_rects"] = [list(r) for r in rects]
            meta["burned_in"] = {"frames_checked": report.frames_checked, "text_frames": report.text_frames,
                                 "outside_regions_blanked": report.regions_blanked,
                                 "clean": report.whole_image_clean}
            if report.warnings:
                meta["warnings"] = [f"{label}: {w}" for w in report.warnings]
        meta.update(_dicom.safe_metadata(ds))
    return LoadedImage(frames=frames, kind="dicom", name=label, pixel_spacing_mm=spacing,
                       n_source_frames=n_frames, metadata=meta)


def probe(path, *, limits: GateLimits | None = None, name: str | None = None) -> dict:
    """Header-only look: ``{"kind", "width", "height", "frames", "pixel_spacing_mm"}``. Cheap: no pixels are
    decoded, so a truncated body is only found by :func:`load_image`."""
    limits = limits or DEFAULT_LIMITS
    data, label = read_source(path, name=name, limits=limits)
    kind = detect_kind(data, label)
    if kind in STILL_KINDS:
        return probe_still(data, kind, label, limits)
    if kind == "video":
        return probe_video(data, label, limits)
    with _dicom.quiet():
        ds = _dicom.read_dataset(data, label)
        width, height, n_frames = _dicom.geometry(ds, label, limits)
        spacing = _dicom.pixel_spacing_mm(ds)[0]
        regions = regions_of(ds)
    return {"kind": "dicom", "width": width, "height": height, "frames": n_frames, "pixel_spacing_mm": spacing,
            "calibration_regions": regions}
