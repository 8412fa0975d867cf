"""Hostile inputs inside the gate's limits must finish (a result or a refusal) in seconds, in bounded memory.

Issue 18: a 38 KB 6300x6300 PNG made ``predict`` run > 240 s at 1.76 GB, a 45 MB TIFF with 400k pages made
``inspect`` run > 300 s, and a 3 MB 4K MP4 with 99,000 frames ran 55 s at 1.8 GB before it was refused.
This script generates those files (and the PNG as an RLE DICOM) into a temporary folder, runs ``python -m
core inspect`` and ``python -m core predict`` on each as a separate process, and reports wall time, peak
resident memory (the child's ru_maxrss), CPU time (user + system: on a machine shared with other work the
wall time overstates what the command costs) and the outcome. Budget: 10 s and 1 GB per run. The first rows run
the same commands on a 256 x 256 showcase image: the fixed cost (imports, model load) every run pays, so on a
busy machine the hostile rows can be read as "reference + extra". Timing lives here, never in the tests.

Usage::

    .venv/bin/python scripts/bench_hostile.py [--json] [--bundle DIR] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S, BUDGET_MB = 10.0, 1024.0


def big_png(path: Path, side: int = 6300) -> Path:
    """A mostly black side x side frame with a bright fan: compresses to tens of KB."""
    import cv2

    img = np.zeros((side, side), np.uint8)
    cv2.ellipse(img, (side // 2, side // 10), (side * 4 // 10, side * 4 // 5), 90, -35, 35, 120, -1)
    cv2.circle(img, (side // 2, side // 2), side // 12, 20, -1)
    cv2.imwrite(str(path), img, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return path


def big_rle_dicom(path: Path, side: int = 6300) -> Path:
    """The same picture as an RLE Lossless ultrasound DICOM."""
    import cv2
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, RLELossless, generate_uid

    img = np.zeros((side, side), np.uint8)
    cv2.ellipse(img, (side // 2, side // 10), (side * 4 // 10, side * 4 // 5), 90, -35, 35, 120, -1)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.6.1"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.Modality = "US"
    ds.set_pixel_data(img, "MONOCHROME2", 8, generate_instance_uid=False)
    ds.compress(RLELossless, generate_instance_uid=False)
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return path


def many_page_tiff(path: Path, pages: int = 400_000) -> Path:
    """A classic little-endian TIFF: a 64x64 first page, then ``pages - 1`` pages of 1x1 pixel."""
    entries = lambda w, h, data_off: [  # noqa: E731 - tag, type, count, value
        (256, 4, 1, w), (257, 4, 1, h), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
        (273, 4, 1, data_off), (278, 4, 1, h), (279, 4, 1, w * h)]
    ifd_size = 2 + 8 * 12 + 4
    with open(path, "wb") as fh:
        fh.write(b"II*\x00" + struct.pack("<I", 8))
        offset = 8
        for i in range(pages):
            w = h = 64 if i == 0 else 1
            data_off = offset + ifd_size
            nxt = data_off + w * h + ((w * h) & 1)
            ifd = struct.pack("<H", 8) + b"".join(struct.pack("<HHII", *e) for e in entries(w, h, data_off))
            fh.write(ifd + struct.pack("<I", nxt if i < pages - 1 else 0))
            fh.write(bytes([90 if i == 0 else 0]) * (w * h) + b"\x00" * ((w * h) & 1))
            offset = nxt
    return path


def many_frame_mp4(path: Path, frames: int = 99_000, size=(3840, 2160)) -> Path:
    """A 4K MP4 of ``frames`` identical frames: two frames are encoded, the second (a skip frame) is muxed
    again and again with increasing timestamps, so writing it takes seconds, not hours."""
    import av

    src = av.open(str(path), "w", format="mp4")
    stream = src.add_stream("libx264", rate=30, options={"preset": "ultrafast", "keyint": "1000000",
                                                         "bframes": "0"})
    stream.width, stream.height = size
    stream.pix_fmt = "yuv420p"
    picture = np.zeros((size[1], size[0], 3), np.uint8)
    packets = []
    for i in range(4):
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
        frame.pts = i
        packets += list(stream.encode(frame))
    packets += list(stream.encode(None))
    first, repeat = packets[0], min(packets[1:], key=lambda p: p.size)  # an all-skip P frame
    src.mux(first)
    step = repeat.duration or 1
    for i in range(1, frames):
        packet = av.Packet(bytes(repeat))
        packet.stream = stream
        packet.pts = packet.dts = first.pts + i * step
        packet.duration = step
        packet.time_base = repeat.time_base
        src.mux(packet)
    src.close()
    return path


def run(cmd: list[str], timeout: float = 60.0) -> dict:
    """Wall time, peak RSS (MB) and exit code of one child process; killed at ``timeout``."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
                            env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")},
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        killed = False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        killed = True
    wall = time.perf_counter() - start
    return {"wall_s": round(wall, 2), "rc": proc.returncode, "killed": killed,
            "stdout": out.decode("utf-8", "replace")[-300:], "stderr": err.decode("utf-8", "replace")[-300:]}


def measured(cmd: list[str], timeout: float = 60.0) -> dict:
    """``run`` under a tiny wrapper that reports the child's own peak RSS (ru_maxrss of that child only)."""
    wrapper = ("import resource,subprocess,sys;p=subprocess.run(sys.argv[1:]);"
               "u=resource.getrusage(resource.RUSAGE_CHILDREN);"
               "print('MAXRSS_KB',u.ru_maxrss,u.ru_utime+u.ru_stime,file=sys.stderr);"
               "sys.exit(p.returncode)")
    row = run([sys.executable, "-c", wrapper, *cmd], timeout=timeout)
    rss = [line for line in row["stderr"].splitlines() if line.startswith("MAXRSS_KB")]
    row["rss_mb"] = round(int(rss[-1].split()[1]) / 1024, 1) if rss else None
    row["cpu_s"] = round(float(rss[-1].split()[2]), 2) if rss else None  # CPU time: what an idle machine's wall is
    row["stderr"] = "\n".join(line for line in row["stderr"].splitlines() if not line.startswith("MAXRSS_KB"))
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default=str(ROOT / "sample_data" / "models" / "miscarriage" / "bundle"))
    parser.add_argument("--keep", help="write the hostile files here (default: a temporary folder)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="hostile-"))
    folder.mkdir(parents=True, exist_ok=True)
    showcase = sorted((ROOT / "sample_data" / "miscarriage" / "images").glob("*.png"))[0]
    makers = {"reference_showcase_png": (lambda p: showcase, showcase.name), "png_6300": (big_png, "big.png"),
              "rle_dicom_6300": (big_rle_dicom, "big_rle.dcm"), "tiff_400k_pages": (many_page_tiff, "pages.tif"),
              "mp4_4k_99000_frames": (many_frame_mp4, "long.mp4")}
    rows = []
    for label, (make, name) in makers.items():
        t = time.perf_counter()
        path = make(folder / name)
        gen_s = time.perf_counter() - t
        for command in ("inspect", "predict"):
            cmd = [sys.executable, "-m", "core", command]
            cmd += [str(path), "--json"] if command == "inspect" else ["--model", args.bundle, "--image", str(path),
                                                                       "--json"]
            row = measured(cmd)
            last = (row["stderr"].strip().splitlines() or row["stdout"].strip().splitlines() or [""])[-1]
            result = {"file": label, "bytes": path.stat().st_size, "generate_s": round(gen_s, 1),
                      "command": command, "wall_s": row["wall_s"], "cpu_s": row["cpu_s"], "rss_mb": row["rss_mb"],
                      "rc": row["rc"],
                      "killed": row["killed"], "outcome": last[:200],
                      "within_budget": (not row["killed"] and row["wall_s"] <= BUDGET_S
                                        and (row["rss_mb"] or 0) <= BUDGET_MB)}
            rows.append(result)
            if not args.json:
                print(f"{label:22s} {command:8s} {result['wall_s']:6.2f} s wall {result['cpu_s']:6.2f} s cpu "
                      f"{result['rss_mb']:7.1f} MB "
                      f"rc={result['rc']} {'OK ' if result['within_budget'] else 'OVER'} {result['outcome'][:90]}",
                      flush=True)
    if args.json:
        print(json.dumps({"budget_s": BUDGET_S, "budget_mb": BUDGET_MB, "runs": rows}))
    return 0 if all(r["within_budget"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
