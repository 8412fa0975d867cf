"""User uploads: safe file names, private temporary folders, and the training-data zip import.

Why one module: every path by which a user's bytes reach the disk (dashboard uploads, the Train page's zip,
scripts) must apply the same rules, and the rules are easy to get subtly wrong in each caller separately.

- :func:`safe_filename` turns a browser- or archive-supplied name into one plain file name: no directories,
  no ``..``, no control characters, no Windows device names, a short lower-case extension kept.
- :func:`private_tempdir` is a context manager yielding a fresh mode-0700 folder under
  ``$SONODASH_HOME/tmp`` that is removed afterwards, whatever happens; :func:`write_uploads` fills it.
- :func:`import_zip` unpacks a training-data zip without trusting it: path traversal, absolute names,
  symlinks, encrypted or duplicate entries, nested archives, too many entries, too many bytes and zip bombs
  (compression ratio) are refused *before or while* writing, byte counts are measured rather than taken from
  the archive's headers, every path in its manifest.csv must stay inside the archive, and every file the
  manifest names passes the input gate's limits. A failed import leaves nothing behind.

Every refusal is an :class:`UploadError` (an ``InputError``) with a one-line message naming the entry.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import stat
import tempfile
import unicodedata
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from core.errors import InputError
from core.data.manifest import load_manifest
from core.io import GateLimits, probe
from core.paths import sonodash_home

MB = 1024 * 1024
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$",
                     *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))}
_ARCHIVE_SUFFIXES = {".zip", ".jar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".tar", ".zst", ".lz", ".lzma"}
_ARCHIVE_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08", b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00",
                   b"7z\xbc\xaf\x27\x1c", b"Rar!\x1a\x07", b"\x28\xb5\x2f\xfd")
_PATH_COLUMNS = ("image_path", "mask_path", "instances_path")
_SKIPPED = ("__MACOSX/",)
_SKIPPED_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini"}
_CHUNK = 1 * MB


class UploadError(InputError):
    """An upload or archive refused; ``str(err)`` is one line naming the upload or entry and the limit."""


@dataclass(frozen=True)
class ZipLimits:
    """Bounds of a training-data zip import (all configurable).

    max_archive_bytes: the uploaded zip itself. max_entries: members, directories included.
    max_total_bytes: bytes after unpacking, all members together (counted while writing).
    max_entry_bytes: one member after unpacking. max_ratio: unpacked / packed size of one member, checked for
    members above ratio_floor_bytes (small text files legitimately compress well). max_name_chars and
    max_depth bound entry names.
    """

    max_archive_bytes: int = 500 * MB
    max_entries: int = 20_000
    max_total_bytes: int = 2048 * MB
    max_entry_bytes: int = 50 * MB
    max_ratio: float = 100.0
    ratio_floor_bytes: int = 1 * MB
    max_name_chars: int = 400
    max_depth: int = 12


DEFAULT_ZIP_LIMITS = ZipLimits()


# --------------------------------------------------------------------------------------------- file names
def _one_line(text: str, limit: int = 120) -> str:
    """A user-supplied name made safe to quote in a message (no control characters, bounded length)."""
    clean = "".join(ch if unicodedata.category(ch)[0] != "C" else "?" for ch in str(text))
    return repr(clean if len(clean) <= limit else clean[:limit] + "…")


def safe_filename(name, *, default: str = "upload", max_chars: int = 100) -> str:
    """One plain file name from an untrusted name (browser upload, archive entry).

    Directories are dropped (both ``/`` and ``\\``), control and format characters removed, anything but
    letters, digits, ``-``, ``_`` and ``.`` becomes ``_``, leading dots are stripped (no hidden files, no
    ``..``), Windows device names (``CON``, ``NUL``, ``COM1``...) get a ``_`` prefix, and the extension is kept
    lower-case when it is 1-10 letters or digits. The result is never empty, ``.`` or ``..``.

    >>> safe_filename("../../etc/passwd")
    'passwd'
    >>> safe_filename("C:\\\\scans\\\\Jane Doe\\n.DCM")
    'Jane_Doe.dcm'
    """
    text = unicodedata.normalize("NFKC", str(name or ""))
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    base = text.replace("\\", "/").rstrip("/ ").split("/")[-1].strip()
    stem, dot, ext = base.rpartition(".")
    if not dot or not (1 <= len(ext) <= 10 and ext.isascii() and ext.isalnum()):
        stem, ext = base, ""
    stem = "".join(ch if (ch.isalnum() or ch in "-_.") else "_" for ch in stem).strip("._ ") or default
    if stem.split(".")[0].upper() in _WINDOWS_RESERVED:
        stem = "_" + stem
    suffix = f".{ext.lower()}" if ext else ""
    stem = stem[: max(1, max_chars - len(suffix))]
    return stem + suffix


# ------------------------------------------------------------------------------------- private folders
def _private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


@contextlib.contextmanager
def private_tempdir(prefix: str = "upload-"):
    """A fresh folder only this user can read (mode 0700), removed on exit even after an exception.

    It lives under ``$SONODASH_HOME/tmp`` (itself 0700), so uploads never land in a world-readable /tmp.
    """
    base = _private_dir(sonodash_home() / "tmp")
    folder = Path(tempfile.mkdtemp(prefix=safe_filename(prefix, default="upload-"), dir=base))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def new_upload_folder(label: str = "upload") -> Path:
    """A new private (0700) folder under ``$SONODASH_HOME/uploads`` that outlives the request.

    For imports a background job keeps reading (training data); the caller owns its removal.
    """
    base = _private_dir(sonodash_home() / "uploads")
    folder = base / f"{safe_filename(label, default='upload', max_chars=40)}-{uuid.uuid4().hex[:10]}"
    folder.mkdir(mode=0o700)
    return folder


def _create(path: Path):
    """Open a new file for writing: never follows a symlink, never overwrites, mode 0600."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    return os.fdopen(os.open(path, flags, 0o600), "wb")


def write_uploads(files, folder, *, max_file_bytes: int | None = None) -> list[Path]:
    """Write ``(name, bytes)`` pairs into ``folder`` under sanitised, unique names; returns the paths.

    ``max_file_bytes`` defaults to the input gate's file-size limit, so an oversized upload is refused before
    it touches the disk.
    """
    limit = GateLimits().max_file_bytes if max_file_bytes is None else max_file_bytes
    folder = Path(folder)
    taken, paths = set(), []
    for name, data in files:
        if len(data) > limit:
            raise UploadError(f"{_one_line(name)}: {len(data) / MB:.1f} MB, larger than the limit of "
                              f"{limit / MB:.1f} MB")
        clean = safe_filename(name)
        stem, dot, ext = clean.rpartition(".")
        stem, ext = (stem, dot + ext) if dot else (clean, "")
        candidate, k = clean, 1
        while candidate.lower() in taken:
            candidate, k = f"{stem}-{k}{ext}", k + 1
        taken.add(candidate.lower())
        with _create(folder / candidate) as fh:
            fh.write(data)
        paths.append(folder / candidate)
    return paths


# ------------------------------------------------------------------------------------------ zip import
def _entry_parts(info: zipfile.ZipInfo, limits: ZipLimits) -> tuple[str, ...]:
    """The checked path components of an entry name; refuses traversal, absolute names and odd characters."""
    raw = info.filename
    shown = _one_line(raw)
    if len(raw) > limits.max_name_chars:
        raise UploadError(f"zip entry {shown}: name longer than {limits.max_name_chars} characters")
    if any(unicodedata.category(ch)[0] == "C" for ch in raw):
        raise UploadError(f"zip entry {shown}: control characters in the name")
    name = raw.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UploadError(f"zip entry {shown}: absolute path; entries must be relative")
    parts = tuple(p for p in PurePosixPath(name).parts if p not in ("", "."))
    if any(p == ".." for p in parts):
        raise UploadError(f"zip entry {shown}: '..' would write outside the import folder")
    if any(p.split(".")[0].upper() in _WINDOWS_RESERVED for p in parts):
        raise UploadError(f"zip entry {shown}: reserved device name")
    if len(parts) > limits.max_depth:
        raise UploadError(f"zip entry {shown}: nested deeper than {limits.max_depth} folders")
    return parts


def _check_entry(info: zipfile.ZipInfo, limits: ZipLimits) -> None:
    shown = _one_line(info.filename)
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise UploadError(f"zip entry {shown}: symbolic link; links are not imported")
    if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):  # 0: no Unix type recorded (plain file)
        raise UploadError(f"zip entry {shown}: not a regular file")
    if info.flag_bits & 0x1:
        raise UploadError(f"zip entry {shown}: encrypted; upload an unencrypted zip")
    if info.is_dir():
        return
    if PurePosixPath(info.filename.replace("\\", "/")).suffix.lower() in _ARCHIVE_SUFFIXES:
        raise UploadError(f"zip entry {shown}: nested archive; unpack it into the zip's folders instead")
    if info.file_size > limits.max_entry_bytes:
        raise UploadError(f"zip entry {shown}: unpacks to {info.file_size / MB:.1f} MB, limit "
                          f"{limits.max_entry_bytes / MB:.1f} MB per file")
    if info.file_size > limits.ratio_floor_bytes and info.file_size > limits.max_ratio * max(info.compress_size, 1):
        raise UploadError(f"zip entry {shown}: compression ratio {info.file_size / max(info.compress_size, 1):.0f}:1 "
                          f"exceeds {limits.max_ratio:.0f}:1 (zip bomb?)")


def _members(archive: zipfile.ZipFile, limits: ZipLimits) -> list[tuple[zipfile.ZipInfo, tuple[str, ...]]]:
    """Validate the central directory as a whole before a single byte is written."""
    infos = archive.infolist()
    if len(infos) > limits.max_entries:
        raise UploadError(f"the zip holds {len(infos)} entries, limit {limits.max_entries}")
    declared = sum(i.file_size for i in infos)
    if declared > limits.max_total_bytes:
        raise UploadError(f"the zip unpacks to {declared / MB:.1f} MB, limit {limits.max_total_bytes / MB:.1f} MB")
    members, seen, files = [], {}, set()
    for info in infos:
        parts = _entry_parts(info, limits)
        _check_entry(info, limits)
        if not parts or info.filename.replace("\\", "/").startswith(_SKIPPED) or parts[-1] in _SKIPPED_NAMES:
            continue
        key = "/".join(parts).casefold()
        if key in seen:
            raise UploadError(f"zip entry {_one_line(info.filename)}: duplicate of {_one_line(seen[key])}")
        seen[key] = info.filename
        if not info.is_dir():
            files.add(parts)
        members.append((info, parts))
    for parts in files:  # "a/b" as a file and "a/b/c" as a file below it
        for i in range(1, len(parts)):
            if parts[:i] in files:
                raise UploadError(f"zip entry {_one_line('/'.join(parts))}: {_one_line('/'.join(parts[:i]))} is "
                                  f"both a file and a folder")
    return members


def _extract_one(archive: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path, limits: ZipLimits,
                 budget: list) -> None:
    """Copy one member, counting real bytes (headers can lie) and refusing archives by their magic bytes."""
    shown = _one_line(info.filename)
    written = 0
    try:
        with archive.open(info) as src, _create(dest) as out:
            while chunk := src.read(_CHUNK):
                if written == 0 and chunk.startswith(_ARCHIVE_MAGICS):
                    raise UploadError(f"zip entry {shown}: nested archive; unpack it into the zip's folders instead")
                written += len(chunk)
                budget[0] += len(chunk)
                if written > limits.max_entry_bytes or written > info.file_size:
                    raise UploadError(f"zip entry {shown}: unpacks to more bytes than its header declares "
                                      f"({info.file_size}) or than {limits.max_entry_bytes / MB:.1f} MB (zip bomb?)")
                if budget[0] > limits.max_total_bytes:
                    raise UploadError(f"the zip unpacks to more than {limits.max_total_bytes / MB:.0f} MB")
                out.write(chunk)
    except zipfile.BadZipFile as err:
        raise UploadError(f"zip entry {shown}: damaged ({_one_line(err, 80)})") from None
    except InputError:
        raise
    except Exception as err:  # noqa: BLE001 - zlib/bz2/lzma/struct errors of a hostile archive are input errors
        raise UploadError(f"zip entry {shown}: cannot be unpacked ({type(err).__name__})") from None


def _find_manifest(root: Path, members) -> Path:
    found = sorted((len(parts), parts) for info, parts in members if not info.is_dir()
                   and parts[-1].lower() == "manifest.csv")
    if not found:
        raise UploadError("the zip holds no manifest.csv")
    top = [parts for depth, parts in found if depth == found[0][0]]
    if len(top) > 1:
        raise UploadError(f"the zip holds {len(top)} manifest.csv files at the same level "
                          f"({', '.join('/'.join(p) for p in top[:3])}); keep one")
    return root.joinpath(*found[0][1])


def _check_manifest_paths(manifest: Path, root: Path, gate_limits) -> None:
    """Every file the manifest names stays inside the import and passes the gate's header limits."""
    try:
        with open(manifest, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
    except (UnicodeDecodeError, csv.Error) as err:
        raise UploadError(f"manifest.csv: not a readable UTF-8 CSV ({type(err).__name__})") from None
    base = manifest.parent
    for line, row in enumerate(rows, start=2):
        for col in _PATH_COLUMNS:
            value = (row.get(col) or "").strip()
            if not value:
                continue
            rel = value.replace("\\", "/")
            if rel.startswith("~"):  # the manifest loader expands ~ and ~user to a home folder
                raise UploadError(f"manifest.csv row {line}, column {col}: {_one_line(value)} starts with '~' "
                                  f"(a home folder); paths must be relative to the manifest")
            target = Path(os.path.normpath(base / rel))
            if rel.startswith("/") or (len(rel) > 1 and rel[1] == ":") or not target.is_relative_to(root):
                raise UploadError(f"manifest.csv row {line}, column {col}: {_one_line(value)} points outside the zip")
            if target.is_file():
                probe(target, limits=gate_limits, name=f"{col} {rel} (row {line})")


def import_zip(data: bytes, target, *, limits: ZipLimits = DEFAULT_ZIP_LIMITS, gate_limits=None,
               validate: bool = True) -> Path:
    """Unpack an uploaded training-data zip into ``target`` (new or empty); returns its manifest.csv path.

    ``validate`` also loads the manifest (:func:`core.data.manifest.load_manifest`), so every listed image
    is probed by the input gate and every problem is reported now, not when training starts. On any refusal
    the files written so far are removed again.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise UploadError(f"zip import needs bytes, got {type(data).__name__}")
    if len(data) > limits.max_archive_bytes:
        raise UploadError(f"the zip is {len(data) / MB:.0f} MB, limit {limits.max_archive_bytes / MB:.0f} MB")
    try:
        archive = zipfile.ZipFile(io.BytesIO(bytes(data)))
        members = _members(archive, limits)
    except zipfile.BadZipFile:
        raise UploadError("the upload is not a readable zip archive") from None
    except InputError:
        raise
    except Exception as err:  # noqa: BLE001 - any failure to parse a hostile central directory is an input error
        raise UploadError(f"the zip cannot be read ({type(err).__name__})") from None
    root = Path(target)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise UploadError(f"{root}: the import folder must be new or empty")
    created = not root.exists()
    _private_dir(root)
    root = root.resolve()
    try:
        manifest = _find_manifest(root, members)
        budget = [0]
        for info, parts in members:
            dest = root.joinpath(*parts)
            if info.is_dir():
                _private_dir(dest)
                continue
            _private_dir(dest.parent)
            _extract_one(archive, info, dest, limits, budget)
        _check_manifest_paths(manifest, root, gate_limits)
        if validate:
            load_manifest(manifest)
        return manifest
    except BaseException:
        if created:
            shutil.rmtree(root, ignore_errors=True)
        else:
            for child in list(root.iterdir()):
                shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink(missing_ok=True)
        raise
