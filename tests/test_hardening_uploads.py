"""core.uploads: file-name sanitising, private temporary folders, and the training-data zip import.

Each refusal case builds the smallest archive that shows the attack and checks three things: a typed
one-line UploadError/InputError, nothing written outside the import folder, and nothing left behind in it.
"""

from __future__ import annotations

import io
import os
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest
from test_io_factory import png_header_claiming, still_bytes

from core.errors import InputError
from core.uploads import (UploadError, ZipLimits, import_zip, new_upload_folder, private_tempdir,
                          safe_filename, write_uploads)

SMALL = ZipLimits(max_archive_bytes=4 * 1024 * 1024, max_entries=50, max_total_bytes=3 * 1024 * 1024,
                  max_entry_bytes=1024 * 1024, max_ratio=20, ratio_floor_bytes=32 * 1024)


# ------------------------------------------------------------------------------------------ file names
@pytest.mark.parametrize("raw, expected", [
    ("../../etc/passwd", "passwd"),
    ("..", "upload"),
    ("", "upload"),
    ("/abs/path/scan.PNG", "scan.png"),
    ("C:\\Users\\Jane Doe\\scan 1.DCM", "scan_1.dcm"),
    ("a/b/../..", "upload"),
    ("evil\x00name.png", "evilname.png"),
    ("line\nbreak\r.jpg", "linebreak.jpg"),
    (".hidden", "upload.hidden"),
    ("CON", "_CON"),
    ("nul.txt", "_nul.txt"),
    ("com1.tar.gz", "_com1.tar.gz"),
    ("x" * 300 + ".tiff", "x" * 95 + ".tiff"),
    ("report.<script>.html", "report._script.html"),
    ("name.with spaces & $(cmd).mp4", "name.with_spaces_____cmd.mp4"),
    ("trailing/", "trailing"),
    ("\u202eexe.png", "exe.png"),  # right-to-left override (format character) dropped
])
def test_safe_filename(raw, expected):
    out = safe_filename(raw)
    assert out == expected
    assert "/" not in out and "\\" not in out and out not in (".", "..") and not out.startswith(".")
    assert all(ch.isprintable() for ch in out) and len(out) <= 100


def test_private_tempdir_is_0700_and_removed_even_after_an_error(tmp_path):
    with pytest.raises(RuntimeError):
        with private_tempdir() as folder:
            assert folder.is_dir() and stat.S_IMODE(folder.stat().st_mode) == 0o700
            assert stat.S_IMODE(folder.parent.stat().st_mode) == 0o700
            assert folder.is_relative_to(Path(os.environ["SONODASH_HOME"]).resolve()) or \
                folder.is_relative_to(Path(os.environ["SONODASH_HOME"]))
            paths = write_uploads([("../../x.png", b"a"), ("x.png", b"b"), ("X.PNG", b"c"), ("a/NUL", b"d")], folder)
            assert [p.name for p in paths] == ["x.png", "x-1.png", "X-2.png", "_NUL"]
            assert all(p.parent == folder and stat.S_IMODE(p.stat().st_mode) == 0o600 for p in paths)
            assert [p.read_bytes() for p in paths] == [b"a", b"b", b"c", b"d"]
            raise RuntimeError("boom")
    assert not folder.exists()


def test_write_uploads_refuses_oversized_before_writing(tmp_path):
    with pytest.raises(UploadError, match="larger than the limit"):
        write_uploads([("big.png", b"x" * 11)], tmp_path, max_file_bytes=10)
    assert list(tmp_path.iterdir()) == []


def test_new_upload_folder_is_private_and_unique():
    a, b = new_upload_folder("../../Jane Doe.zip"), new_upload_folder("../../Jane Doe.zip")
    assert a != b and a.parent == b.parent and a.parent.name == "uploads"
    assert a.name.startswith("Jane_Doe.zip-") and stat.S_IMODE(a.stat().st_mode) == 0o700


# ------------------------------------------------------------------------------------------ zip import
def dataset_files(n_patients: int = 2) -> dict[str, bytes]:
    """A tiny labelled dataset as zip members (PNG stills, a manifest with relative paths)."""
    rng = np.random.default_rng(3)
    files, lines = {}, ["image_path,patient_id,label,plane"]
    for p in range(n_patients):
        for plane in ("sagittal", "transverse"):
            name = f"images/pt{p}_{plane}.png"
            files[name] = still_bytes(rng.integers(0, 256, (20, 24), dtype=np.uint8), "PNG")
            lines.append(f"{name},patient{p},{('live_birth', 'miscarriage')[p % 2]},{plane}")
    files["manifest.csv"] = ("\n".join(lines) + "\n").encode()
    return files


def make_zip(files: dict, *, prefix: str = "", compression=zipfile.ZIP_DEFLATED, extra=()) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in files.items():
            zf.writestr(prefix + name, data)
        for info, data in extra:
            zf.writestr(info, data)
    return buf.getvalue()


def symlink_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def test_import_of_a_valid_zip_gives_a_loadable_manifest(tmp_path):
    from core.data.manifest import load_manifest

    target = tmp_path / "import"
    manifest = import_zip(make_zip(dataset_files(), prefix="my data/"), target)
    assert manifest == (target / "my data" / "manifest.csv").resolve()
    man = load_manifest(manifest)
    assert len(man.df) == 4 and all(Path(p).is_relative_to(target.resolve()) for p in man.df["image_path"])
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in target.rglob("*.png"))


def test_macos_metadata_is_skipped(tmp_path):
    files = {**dataset_files(), "__MACOSX/._manifest.csv": b"\x00\x05\x16\x07junk", ".DS_Store": b"junk"}
    import_zip(make_zip(files), tmp_path / "t")
    assert not (tmp_path / "t" / "__MACOSX").exists() and not (tmp_path / "t" / ".DS_Store").exists()


def _bomb(n_bytes: int) -> bytes:
    return bytes(n_bytes)


REFUSALS = {
    "traversal": (lambda: make_zip({**dataset_files(), "../escape.txt": b"x"}), r"'\.\.' would write outside"),
    "traversal_deep": (lambda: make_zip({**dataset_files(), "a/../../escape.txt": b"x"}), "outside"),
    "traversal_backslash": (lambda: make_zip({**dataset_files(), "..\\escape.txt": b"x"}), "outside"),
    "absolute": (lambda: make_zip({**dataset_files(), "/tmp/escape.txt": b"x"}), "absolute path"),
    "drive_letter": (lambda: make_zip({**dataset_files(), "C:/escape.txt": b"x"}), "absolute path"),
    "symlink": (lambda: make_zip(dataset_files(), extra=[(symlink_info("images/link.png"), "/etc/passwd")]),
                "symbolic link"),
    "control_chars": (lambda: make_zip({**dataset_files(), "images/a\x07b.png": b"x"}), "control characters"),
    "reserved": (lambda: make_zip({**dataset_files(), "images/aux.png": b"x"}), "reserved device name"),
    "duplicate": (lambda: make_zip(dataset_files(), extra=[(zipfile.ZipInfo("manifest.csv"), b"x")]),
                  "duplicate"),
    "file_and_folder": (lambda: make_zip({**dataset_files(), "images": b"x"}), "both a file and a folder"),
    "too_many_entries": (lambda: make_zip({**dataset_files(), **{f"pad/{i}.txt": b"" for i in range(60)}}),
                         "entries, limit 50"),
    "too_large_total": (lambda: make_zip({**dataset_files(), **{f"big{i}.bin": os.urandom(900_000)
                                                               for i in range(4)}}), "unpacks to .* MB, limit"),
    "entry_too_large": (lambda: make_zip({**dataset_files(), "big.bin": os.urandom(1_100_000)}), "per file"),
    "ratio_bomb": (lambda: make_zip({**dataset_files(), "zeros.bin": _bomb(900_000)}), "compression ratio"),
    "nested_zip_by_name": (lambda: make_zip({**dataset_files(), "more.zip": b"not really"}), "nested archive"),
    "nested_tgz_by_name": (lambda: make_zip({**dataset_files(), "more.tar.gz": b"x"}), "nested archive"),
    "nested_zip_by_magic": (lambda: make_zip({**dataset_files(), "images/x.png": make_zip(dataset_files())}),
                            "nested archive"),
    "no_manifest": (lambda: make_zip({k: v for k, v in dataset_files().items() if k != "manifest.csv"}),
                    "no manifest.csv"),
    "two_manifests": (lambda: make_zip({**{f"a/{k}": v for k, v in dataset_files().items()},
                                        **{f"b/{k}": v for k, v in dataset_files().items()}}), "same level"),
    "manifest_points_outside": (lambda: make_zip({**dataset_files(), "manifest.csv":
                                                  b"image_path,patient_id,label\n../../../etc/hosts,p,live_birth\n"}),
                                "row 2, column image_path: .* points outside the zip"),
    "manifest_absolute_path": (lambda: make_zip({**dataset_files(), "manifest.csv":
                                                 b"image_path,patient_id,label\n/etc/hosts,p,live_birth\n"}),
                               "points outside the zip"),
    "manifest_mask_outside": (lambda: make_zip({**dataset_files(), "manifest.csv":
                                                b"image_path,patient_id,label,mask_path\n"
                                                b"images/pt0_sagittal.png,p,live_birth,../m.png\n"}),
                              "column mask_path"),
    "pixel_bomb_image": (lambda: make_zip({**dataset_files(), "images/pt0_sagittal.png":
                                           png_header_claiming(100_000, 100_000)}), "megapixels"),
    "pixel_bomb_mask": (lambda: make_zip({**dataset_files(), "m.png": png_header_claiming(60_000, 60_000),
                                          "manifest.csv": b"image_path,patient_id,label,mask_path\n"
                                                          b"images/pt0_sagittal.png,p,live_birth,m.png\n"}),
                        "mask_path m.png .*megapixels"),
    "not_a_zip": (lambda: b"hello, I am not a zip", "not a readable zip"),
    "empty": (lambda: b"", "not a readable zip"),
    "archive_too_large": (lambda: bytes(5 * 1024 * 1024), "limit 4 MB"),
    "bad_manifest": (lambda: make_zip({**dataset_files(), "manifest.csv": b"image_path,label\nx.png,a\n"}),
                     "manifest"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_import_zip_refusals(case, tmp_path):
    build, pattern = REFUSALS[case]
    target = tmp_path / "work" / "import"
    with pytest.raises(InputError, match=pattern) as info:
        import_zip(build(), target, limits=SMALL)
    assert "\n" not in str(info.value) and len(str(info.value)) < 400
    assert not target.exists(), "a refused import leaves nothing behind"
    leftovers = [p for p in tmp_path.rglob("*") if p.relative_to(tmp_path).parts[0] != "home" and p.name != "work"]
    assert leftovers == [], "nothing written outside the target, nothing left in it"


def test_encrypted_entries_are_refused(tmp_path):
    data = bytearray(make_zip({**dataset_files(), "secret.txt": b"x"}, compression=zipfile.ZIP_STORED))
    # set the "encrypted" general-purpose flag of every entry in the central directory and local headers
    for sig, offset in ((b"PK\x01\x02", 8), (b"PK\x03\x04", 6)):
        pos = data.find(sig)
        while pos >= 0:
            data[pos + offset] |= 0x01
            pos = data.find(sig, pos + 4)
    with pytest.raises(UploadError, match="encrypted"):
        import_zip(bytes(data), tmp_path / "t")


def test_existing_non_empty_target_is_refused_and_kept(tmp_path):
    target = tmp_path / "t"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(UploadError, match="must be new or empty"):
        import_zip(make_zip(dataset_files()), target)
    assert (target / "keep.txt").read_text() == "mine"


def test_lying_size_header_is_caught_while_unpacking(tmp_path):
    """A member whose headers declare 10 bytes but whose data inflates to 200 kB is stopped while writing."""
    data = bytearray(make_zip({**dataset_files(), "liar.bin": bytes(200_000)}))
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("liar.bin")
    small = (10).to_bytes(4, "little")
    data[info.header_offset + 22:info.header_offset + 26] = small          # local header uncompressed size
    cd = data.find(b"PK\x01\x02")
    while cd >= 0:
        name_len = int.from_bytes(data[cd + 28:cd + 30], "little")
        if data[cd + 46:cd + 46 + name_len] == b"liar.bin":
            data[cd + 24:cd + 28] = small                                  # central directory uncompressed size
            break
        cd = data.find(b"PK\x01\x02", cd + 4)
    with pytest.raises(UploadError, match="liar.bin"):
        import_zip(bytes(data), tmp_path / "t")
    assert not (tmp_path / "t").exists()
