"""Resource limits of the input gate.

Why: an upload is hostile until proven otherwise. A 200-byte PNG can claim 100000 x 100000 pixels and a small
compressed DICOM can expand to gigabytes, so the gate compares every *declared* size with these limits
before it asks a decoder for a single pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.io.errors import FileTooLargeError, TooManyPixelsError

MB = 1024 * 1024


@dataclass(frozen=True)
class GateLimits:
    """Upper bounds applied to every file; all configurable.

    max_file_bytes: size of the file on disk or of the uploaded bytes (default 50 MB).
    max_pixels: width x height of one frame (default 40 megapixels).
    max_source_frames: frames a video or multi-frame DICOM may declare or contain (decoding time bound).
    max_total_pixels: pixels summed over the frames that are kept (memory bound of the returned array).
    max_pages: pages (IFDs) a TIFF may hold; counted by walking the IFD chain before anything is decoded.
    max_decoded_pixels: pixels a video may make the decoder produce, all frames together, kept or not
        (decoding time bound: 99,000 frames of 4K are 821 gigapixels however small the file).
    max_working_pixels: frames larger than this are returned downscaled (INTER_AREA) to fit, so every
        per-pixel step after the gate (fan search, level set, statistics, overlays) has bounded work; the
        default (4.1 megapixels) keeps 2560 x 1600 screens at full size; a 4K capture is halved. The
        file's size stays in ``metadata["source_size"]``, calibration moves to the copy's pixels.
    """

    max_file_bytes: int = 50 * MB
    max_pixels: int = 40_000_000
    max_source_frames: int = 100_000
    max_total_pixels: int = 400_000_000
    max_pages: int = 10_000
    max_decoded_pixels: int = 4_000_000_000
    max_working_pixels: int = 2560 * 1600

    def check_pages(self, name: str, n_pages: int) -> None:
        if n_pages > self.max_pages:
            raise TooManyPixelsError(name, f"TIFF holds more than {self.max_pages} pages (the limit); only the "
                                           f"first page is used, so export that page alone")

    def check_decode_work(self, name: str, n_frames: int, width: int, height: int) -> None:
        """Refuse a video whose frames would make the decoder produce more than ``max_decoded_pixels``."""
        total = n_frames * width * height
        if total > self.max_decoded_pixels:
            raise TooManyPixelsError(
                name, f"{n_frames} frames of {width}x{height} = {total / 1e9:.1f} gigapixels to decode exceed the "
                      f"limit of {self.max_decoded_pixels / 1e9:.1f} gigapixels; shorten the clip or lower its "
                      f"resolution")

    def check_file_size(self, name: str, n_bytes: int) -> None:
        if n_bytes > self.max_file_bytes:
            raise FileTooLargeError(
                name, f"file is {n_bytes / MB:.1f} MB, larger than the limit of {self.max_file_bytes / MB:.1f} MB")

    def check_frame_size(self, name: str, width: int, height: int) -> None:
        """Reject impossible or too large frame dimensions before decoding."""
        if width <= 0 or height <= 0:
            raise TooManyPixelsError(name, f"declared image size {width}x{height} is not positive")
        if width * height > self.max_pixels:
            raise TooManyPixelsError(
                name, f"declared image size {width}x{height} = {width * height / 1e6:.1f} megapixels exceeds "
                      f"the limit of {self.max_pixels / 1e6:.1f} megapixels")

    def check_frame_count(self, name: str, n_frames: int) -> None:
        if n_frames > self.max_source_frames:
            raise TooManyPixelsError(
                name, f"declares {n_frames} frames, more than the limit of {self.max_source_frames}")

    def check_total(self, name: str, n_kept: int, width: int, height: int) -> None:
        total = n_kept * width * height
        if total > self.max_total_pixels:
            raise TooManyPixelsError(
                name, f"{n_kept} frames of {width}x{height} = {total / 1e6:.0f} megapixels exceed the limit of "
                      f"{self.max_total_pixels / 1e6:.0f} megapixels; use a larger frame step")


DEFAULT_LIMITS = GateLimits()
