"""A training-data zip's manifest may not reach outside the import folder through '~' or an absolute path.

Issue 18: ``~/x.png`` passed the zip import's "stays inside the archive" check (it is a relative name inside
the folder) and the manifest loader then expanded it to the server's home folder.
"""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from test_io_factory import still_bytes

from core.uploads import UploadError, import_zip


def _zip(manifest: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("data/manifest.csv", manifest)
        z.writestr("data/a.png", still_bytes(np.zeros((16, 16, 3), np.uint8), "PNG"))
    return buf.getvalue()


@pytest.mark.parametrize("path", ["~/a.png", "~root/a.png", "~", "/etc/passwd", "C:/x.png", "../../a.png"])
def test_home_and_absolute_paths_are_refused(tmp_path, path):
    data = _zip(f"image_path,patient_id,label\n{path},p1,x\na.png,p2,y\n")
    with pytest.raises(UploadError) as info:
        import_zip(data, tmp_path / "import", validate=False)
    assert "row 2" in str(info.value) and "image_path" in str(info.value)
    assert not (tmp_path / "import").exists()     # nothing left behind


def test_relative_paths_inside_the_zip_still_import(tmp_path):
    manifest = import_zip(_zip("image_path,patient_id,label\na.png,p1,x\n"), tmp_path / "import", validate=False)
    assert manifest.is_file() and (manifest.parent / "a.png").is_file()
