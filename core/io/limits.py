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
    """

    max_file_bytes: int = 50 * MB
    max_pixels: int = 40_000_000
    max_source_frames: int = 100_000
    max_total_pixels: int = 400_000_000

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
