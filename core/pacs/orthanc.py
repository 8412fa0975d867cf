"""A local Orthanc PACS with DICOMweb, for demos (``make pacs``) and tests.

Why a launcher in the library: the real-browser test, the unit tests and the demo all need the same thing, a
throw-away Orthanc on 127.0.0.1 with the DICOMweb plugin, its own storage folder and configuration, started
and stopped cleanly. Orthanc itself is the Debian package (``apt-get install orthanc orthanc-dicomweb``).
Remote access stays off (Orthanc refuses clients other than localhost), the DICOM (DIMSE) server is disabled,
and HTTP basic authentication is on when users are given.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from core.errors import InputError

ORTHANC_BINARY = os.environ.get("SONODASH_ORTHANC", "/usr/sbin/Orthanc")
PLUGIN_CANDIDATES = ("/usr/share/orthanc/plugins/libOrthancDicomWeb.so", "/usr/lib/orthanc/libOrthancDicomWeb.so",
                     "/usr/local/share/orthanc/plugins/libOrthancDicomWeb.so")


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dicomweb_plugin() -> str:
    """Path of the DICOMweb plugin (``dpkg -L orthanc-dicomweb``); ``SONODASH_ORTHANC_DICOMWEB`` overrides."""
    env = os.environ.get("SONODASH_ORTHANC_DICOMWEB")
    for candidate in ([env] if env else []) + list(PLUGIN_CANDIDATES):
        if candidate and Path(candidate).is_file():
            return candidate
    raise InputError("the Orthanc DICOMweb plugin is not installed (apt-get install -y orthanc-dicomweb)")


def orthanc_available() -> bool:
    """True when the Orthanc binary and its DICOMweb plugin are installed."""
    try:
        dicomweb_plugin()
    except InputError:
        return False
    return Path(ORTHANC_BINARY).is_file()


def orthanc_config(*, http_port: int, storage: Path, users: dict | None = None, name: str = "SonoDash PACS") -> dict:
    """The JSON configuration of a local, loopback-only Orthanc with DICOMweb."""
    return {
        "Name": name, "StorageDirectory": str(storage), "IndexDirectory": str(storage),
        "HttpPort": http_port, "HttpServerEnabled": True, "RemoteAccessAllowed": False,
        "DicomServerEnabled": False, "DicomPort": free_port(),
        "AuthenticationEnabled": bool(users), "RegisteredUsers": dict(users or {}),
        "Plugins": [dicomweb_plugin()], "OrthancExplorerEnabled": False, "WebDavEnabled": False,
        "StableAge": 1, "SaveJobs": False, "ConcurrentJobs": 1, "HttpThreadsCount": 8, "HttpDescribeErrors": True,
        "MetricsEnabled": False, "DeidentifyLogs": True, "LuaScripts": [],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False, "Ssl": False,
                     "Host": f"127.0.0.1:{http_port}", "StudiesMetadata": "Full", "SeriesMetadata": "Full"},
    }


class LocalOrthanc:
    """Start Orthanc in a subprocess; ``url`` is its DICOMweb root. Use as a context manager.

    ``storage`` None: a temporary folder removed on stop. ``users``: {name: password} for HTTP basic auth.
    """

    def __init__(self, *, port: int | None = None, storage=None, users: dict | None = None,
                 log_path=None) -> None:
        self.port = port or free_port()
        self.users = dict(users or {})
        self._own_storage = storage is None
        self.workdir = Path(tempfile.mkdtemp(prefix="sonodash-orthanc-"))
        self.storage = Path(storage) if storage is not None else self.workdir / "storage"
        self.log_path = Path(log_path) if log_path else self.workdir / "orthanc.log"
        self.proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The DICOMweb root, the value for ``SONODASH_DICOMWEB_URL``."""
        return f"{self.base_url}/dicom-web"

    def _headers(self) -> dict:
        if not self.users:
            return {}
        user, password = next(iter(self.users.items()))
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        return {"Authorization": f"Basic {token}"}

    def start(self, timeout: float = 60.0) -> "LocalOrthanc":
        if not Path(ORTHANC_BINARY).is_file():
            raise InputError(f"{ORTHANC_BINARY} not found: install Orthanc (apt-get install -y orthanc orthanc-dicomweb)")
        self.storage.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "orthanc.json"
        config.write_text(json.dumps(orthanc_config(http_port=self.port, storage=self.storage, users=self.users),
                                     indent=1))
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen([ORTHANC_BINARY, str(config)], stdout=self._log, stderr=subprocess.STDOUT,
                                     cwd=self.workdir, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Orthanc exited with code {self.proc.returncode}; see {self.log_path}")
            try:
                req = urllib.request.Request(f"{self.base_url}/system", headers=self._headers())
                with urllib.request.urlopen(req, timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"Orthanc did not answer within {timeout:.0f} s; see {self.log_path}")

    def upload(self, paths) -> list[str]:
        """Store DICOM files through Orthanc's REST API (POST /instances); returns Orthanc's instance ids."""
        ids = []
        for path in paths:
            req = urllib.request.Request(f"{self.base_url}/instances", data=Path(path).read_bytes(), method="POST",
                                         headers={"Content-Type": "application/dicom", **self._headers()})
            with urllib.request.urlopen(req, timeout=30) as resp:
                ids.append(json.loads(resp.read())["ID"])
        return ids

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None
        if self._own_storage:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "LocalOrthanc":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
