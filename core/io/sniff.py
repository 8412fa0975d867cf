"""Content sniffing: which decoder a file goes to, decided by its bytes, never by its name.

Why: a name is whatever the uploader typed. Dispatching on magic numbers means a text file called
``scan.png`` is refused as "not an image" instead of crashing a decoder, and a DICOM called ``x.jpg`` still
reads as DICOM.
"""

from __future__ import annotations

KINDS = ("png", "jpeg", "bmp", "tiff", "dicom", "video")
SUPPORTED = "PNG, JPEG, BMP, TIFF, DICOM, MP4 or AVI"

_DICOM_VRS = {b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT", b"OB", b"OD",
              b"OF", b"OL", b"OV", b"OW", b"PN", b"SH", b"SL", b"SQ", b"SS", b"ST", b"SV", b"TM", b"UC", b"UI",
              b"UL", b"UN", b"UR", b"US", b"UT", b"UV"}


def _looks_like_raw_dicom(head: bytes) -> bool:
    """A DICOM data set written without the 128-byte preamble: starts with a group 0002 or 0008 element in
    explicit VR little endian (a plausible VR at byte 4), or implicit VR with a small even length."""
    if len(head) >= 8 and head[:2] in (b"\x00\x02", b"\x00\x08") and head[4:6] in _DICOM_VRS:
        return True  # explicit VR big endian (retired, still found in old archives)
    if len(head) < 8 or head[:2] not in (b"\x02\x00", b"\x08\x00"):
        return False
    if head[4:6] in _DICOM_VRS:
        return True
    length = int.from_bytes(head[4:8], "little")
    return head[:2] == b"\x08\x00" and head[2:4] in (b"\x05\x00", b"\x08\x00", b"\x16\x00") and length < 256


def sniff(head: bytes) -> str | None:
    """Return the kind ("png", "jpeg", "bmp", "tiff", "dicom", "video") of content starting with ``head``
    (give at least the first 132 bytes), or None when it is none of them."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"BM") and len(head) >= 26:
        return "bmp"
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"  # before TIFF: PS3.10 allows a TIFF-compatible preamble (dual-personality files)
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "video"  # ISO base media: MP4, MOV, M4V
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video"
    if _looks_like_raw_dicom(head):
        return "dicom"
    return None
