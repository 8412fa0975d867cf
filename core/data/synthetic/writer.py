"""Byte-deterministic writers for the synthetic data: PNG images and masks, cine clips, manifests.

Why a module of its own: "same seed -> byte-identical files" is a promise of ``make_sample_data``. PNGs are
encoded by OpenCV (no timestamp or text chunks), clips are H.264 in MP4 through PyAV with one encoder thread
and bit-exact muxing (no creation time, no encoder-version-dependent threading), and manifests are written
with fixed float formatting and ``\\n`` line ends.
"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np

CLIP_FPS = 25


def save_png(path: Path, image: np.ndarray) -> None:
    """RGB (H x W x 3) or single-channel uint8 image -> PNG at ``path`` (parents created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.ascontiguousarray(image)
    if arr.ndim == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", arr, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:  # pragma: no cover - OpenCV only fails on invalid arrays, which we never build
        raise RuntimeError(f"PNG encoding failed for {path.name}")
    path.write_bytes(buf.tobytes())


def save_mask(path: Path, mask: np.ndarray) -> None:
    """Boolean mask -> 0/255 single-channel PNG (non-zero = structure)."""
    save_png(path, np.where(mask, 255, 0).astype(np.uint8))


def save_instances(path: Path, labels: np.ndarray) -> None:
    """Instance-label image (0 = background, k = instance k) -> single-channel 8-bit PNG."""
    if labels.max(initial=0) > 255:
        raise ValueError("at most 255 instances fit an 8-bit instance PNG")
    save_png(path, labels.astype(np.uint8))


def write_clip(path: Path, frames, *, fps: int = CLIP_FPS) -> None:
    """RGB frames (each H x W x 3 uint8, even H and W) -> H.264 MP4, deterministic (see module docstring)."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    frames = list(frames)
    h, w = frames[0].shape[:2]
    with av.open(str(path), mode="w", format="mp4", options={"fflags": "+bitexact"}) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.thread_count = 1
        stream.options = {"crf": "30", "preset": "veryfast", "threads": "1"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        text = f"{value:.4f}".rstrip("0").rstrip(".")
        return text if text not in ("", "-0") else "0"
    return str(value)


def write_manifest(path: Path, columns: list[str], rows: list[dict]) -> Path:
    """Rows (dicts) -> CSV with header ``columns`` (UTF-8, ``\\n`` line ends, fixed float format)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row.get(c)) for c in columns])
    return path
