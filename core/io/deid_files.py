"""De-identified copies of DICOM files and folders (``python -m core deidentify IN OUT``).

Why outputs in a folder are named by their new SOP Instance UID: file names of exported studies often carry
the patient's name or ID, so copying the names would carry the identifier along. Two inputs can share a
SOP Instance UID (copies, re-exports), so folder mode never overwrites: a taken name gets a ``-2``, ``-3`` ...
suffix, claimed atomically (a hard link that fails when the name exists), so every input reported written
exists as its own file. Files are written to a temporary name first, so an interrupted run never leaves a
half-cleaned file behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from core.errors import InputError
from core.io.deid import DeidConfig, deidentify_dataset
from core.io.dicom import geometry, quiet, read_dataset
from core.io.errors import DeidentificationError, UnsupportedFormatError
from core.io.gate import detect_kind, read_source
from core.io.limits import DEFAULT_LIMITS, GateLimits
from core.io.sniff import sniff


def deidentify_bytes(data: bytes, *, name: str = "upload", config: DeidConfig | None = None,
                     limits: GateLimits | None = None):
    """Parse and de-identify one DICOM object from bytes; returns the cleaned pydicom Dataset."""
    limits = limits or DEFAULT_LIMITS
    limits.check_file_size(name, len(data))
    if detect_kind(data, name) != "dicom":
        raise UnsupportedFormatError(name, "not a DICOM file; only DICOM can be de-identified")
    with quiet():
        ds = read_dataset(data, name)
        if any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
            geometry(ds, name, limits)  # declared size within limits before the pixels are decoded
        counts = deidentify_dataset(ds, config=config, name=name)
    object.__setattr__(ds, "_sonodash_warnings", [f"{name}: {w}" for w in counts["warnings"]])
    return ds


def _write(ds, dst: Path, name: str, *, overwrite: bool = True) -> Path:
    """Write ``ds`` to ``dst`` (or, with ``overwrite`` False, to the first free ``dst-N`` name); returns it."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".deid-", suffix=".dcm", dir=dst.parent)
    os.close(fd)
    try:
        from pydicom.filewriter import dcmwrite

        with quiet():  # dcmwrite, not save_as: a big-endian original is written little endian
            dcmwrite(tmp, ds, enforce_file_format=True)
        if overwrite:
            os.replace(tmp, dst)
            return dst
        for n in range(1, 10_000):
            target = dst if n == 1 else dst.with_name(f"{dst.stem}-{n}{dst.suffix}")
            try:
                os.link(tmp, target)
            except FileExistsError:
                continue
            Path(tmp).unlink(missing_ok=True)
            return target
        raise DeidentificationError(name, f"{dst.name} and 9999 suffixed names are taken; not overwriting")
    except DeidentificationError:
        Path(tmp).unlink(missing_ok=True)
        raise
    except Exception as err:  # noqa: BLE001 - nothing half-written may remain
        Path(tmp).unlink(missing_ok=True)
        raise DeidentificationError(name, f"cannot write the cleaned file to {dst.parent} "
                                          f"({_write_reason(err)})") from None


def _write_reason(err: Exception) -> str:
    if isinstance(err, OSError):
        return err.strerror or "the folder is not writable"
    return "an attribute value cannot be encoded in DICOM"


def deidentify_file(src, dst, *, config: DeidConfig | None = None, limits: GateLimits | None = None) -> dict:
    """Write a de-identified copy of DICOM file ``src`` to ``dst``. Returns counts (no values)."""
    limits = limits or DEFAULT_LIMITS
    data, label = read_source(src, name=None, limits=limits)
    ds = deidentify_bytes(data, name=label, config=config, limits=limits)
    out = _write(ds, Path(dst), label)
    return {"file": label, "out": str(out), "ok": True, "warnings": list(getattr(ds, "_sonodash_warnings", []))}


def deidentify_tree(src_dir, dst_dir, *, config: DeidConfig | None = None,
                    limits: GateLimits | None = None) -> list[dict]:
    """De-identify every DICOM file under ``src_dir`` (recursively; links are not followed) into ``dst_dir``
    as ``<new SOPInstanceUID>.dcm``. Non-DICOM files are skipped; failures are reported, not raised."""
    src_dir, dst_dir = Path(src_dir), Path(dst_dir)
    results = []
    for path in sorted(p for p in src_dir.rglob("*") if p.is_file() and not p.is_symlink()):
        rel = str(path.relative_to(src_dir))
        try:
            data, label = read_source(path, name=rel, limits=limits or DEFAULT_LIMITS)
            if sniff(data[:512]) != "dicom":
                results.append({"file": rel, "ok": False, "skipped": True, "error": f"{rel}: not DICOM"})
                continue
            ds = deidentify_bytes(data, name=label, config=config, limits=limits)
            uid = str(ds.get("SOPInstanceUID") or ds.file_meta.get("MediaStorageSOPInstanceUID") or "")
            out = _write(ds, dst_dir / f"{uid or 'object'}.dcm", label, overwrite=False)
            results.append({"file": rel, "ok": True, "out": str(out),
                            "warnings": list(getattr(ds, "_sonodash_warnings", []))})
        except InputError as err:
            results.append({"file": rel, "ok": False, "error": str(err)})
    return results
