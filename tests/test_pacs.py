"""PACS connection against a fake DICOMweb server: bad answers give one clear message and store nothing.

The fake server (http.server in a thread) answers QIDO-RS and WADO-RS the way a misbehaving PACS might:
refusing credentials, answering HTML, declaring or streaming a multi-gigabyte study, or listing more
instances than allowed. Each case must raise one PacsError line and leave $SONODASH_HOME/pacs and tmp empty.
"""

from __future__ import annotations

import http.server
import json
import socket
import threading
from pathlib import Path

import pytest

from core.errors import InputError
from core.paths import SAMPLE_DATA
from core.pacs import PacsConfig, PacsError, retrieve_study, search_studies

STUDY = "1.2.3.4.5"
SERIES = "1.2.3.4.5.1"
DICOM = sorted((SAMPLE_DATA / "miscarriage" / "dicom").glob("MC0001_*.dcm"))
BOUNDARY = "sonodash-test-boundary"


def _study_json(n_instances=2):
    return [{"0020000D": {"vr": "UI", "Value": [STUDY]}, "00100020": {"vr": "LO", "Value": ["FAKE-0001"]},
             "00080020": {"vr": "DA", "Value": ["20240102"]}, "00080050": {"vr": "SH", "Value": ["ACC1"]},
             "00080061": {"vr": "CS", "Value": ["US"]}, "00201208": {"vr": "IS", "Value": [n_instances]}}]


def _instances_json(n=2):
    return [{"0020000E": {"vr": "UI", "Value": [SERIES]}, "00080018": {"vr": "UI", "Value": [f"{SERIES}.{k}"]},
             "00080016": {"vr": "UI", "Value": ["1.2.840.10008.5.1.4.1.1.6.1"]}} for k in range(1, n + 1)]


class Fake(http.server.BaseHTTPRequestHandler):
    """Behaviour per test: ``server.mode``; ``server.sent`` counts body bytes written."""

    def log_message(self, *args):  # keep test output clean
        pass

    def _send(self, status, body: bytes, ctype: str, length: int | None = None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)
        self.server.sent += len(body)

    def do_GET(self):  # noqa: N802 - http.server's name
        mode, path = self.server.mode, self.path
        if mode == "unauthorized":
            return self._send(401, b"<html>login</html>", "text/html")
        if mode == "html":
            return self._send(200, b"<html><body>Welcome to the hospital portal</body></html>", "text/html")
        if path.startswith("/dicom-web/studies?") or path.startswith("/dicom-web/studies/?"):
            return self._send(200, json.dumps(_study_json(100_000 if mode == "many" else 2)).encode(),
                              "application/dicom+json")
        if path.startswith(f"/dicom-web/studies/{STUDY}/instances"):
            return self._send(200, json.dumps(_instances_json(600 if mode == "list_many" else 2)).encode(),
                              "application/dicom+json")
        if "/instances/" in path:
            k = int(path.rsplit(".", 1)[-1])
            ctype = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'
            if mode == "not_dicom_part":
                body = (f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode() + b"GIF89a not dicom"
                        + f"\r\n--{BOUNDARY}--".encode())
                return self._send(200, body, ctype)
            if mode == "declared_2gb":  # declares 2 GB, would stream it
                return self._stream(ctype, declared=2 * 1024 ** 3)
            if mode == "stream_2gb":    # no length declared, streams until stopped
                return self._stream(ctype, declared=None)
            if mode == "second_fails" and k == 2:
                return self._send(500, b"boom", "text/plain")
            data = DICOM[(k - 1) % len(DICOM)].read_bytes()
            body = (f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode() + data
                    + f"\r\n--{BOUNDARY}--".encode())
            return self._send(200, body, ctype)
        return self._send(404, b"not found", "text/plain")

    def _stream(self, ctype, declared):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        if declared is not None:
            self.send_header("Content-Length", str(declared))
            self.end_headers()
        else:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
        chunk = b"\0" * (256 * 1024)
        try:
            head = f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode() + b"\0" * 128 + b"DICM"
            for piece in [head] + [chunk] * (2 * 1024 ** 3 // len(chunk)):
                if declared is None:
                    self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                else:
                    self.wfile.write(piece)
                self.server.sent += len(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture
def fake():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Fake)
    server.daemon_threads = True
    server.mode, server.sent = "ok", 0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("SONODASH_HOME", str(tmp_path))
    monkeypatch.setenv("SONODASH_DEID_SALT", "test-salt")
    return tmp_path


def _config(server, **kw) -> PacsConfig:
    return PacsConfig(url=f"http://127.0.0.1:{server.server_address[1]}/dicom-web", timeout_s=10, **kw)


def _nothing_stored(home: Path):
    for sub in ("pacs", "tmp"):
        folder = home / sub
        assert not folder.exists() or not any(folder.iterdir()), f"{sub}: {list(folder.iterdir())}"


def test_search_parses_studies(fake, home):
    studies, truncated = search_studies(_config(fake), patient_id="FAKE-0001")
    assert not truncated and len(studies) == 1
    s = studies[0]
    assert (s.study_uid, s.patient_id, s.study_date, s.accession, s.n_instances) == (STUDY, "FAKE-0001", "20240102",
                                                                                       "ACC1", 2)
    assert "2024-01-02" in s.label and "2 image(s)" in s.label


def test_search_needs_a_criterion_and_valid_date(fake, home):
    with pytest.raises(PacsError, match="patient ID, a study date or an accession"):
        search_studies(_config(fake))
    with pytest.raises(PacsError, match="YYYYMMDD"):
        search_studies(_config(fake), study_date="yesterday")


def test_retrieve_stores_deidentified_study(fake, home):
    study = retrieve_study(STUDY, _config(fake))
    assert len(study.instances) == 2 and study.folder.parent == home / "pacs"
    import pydicom

    for ref in study.instances:
        ds = pydicom.dcmread(ref.path)
        assert ds.PatientID != "FAKE-0001" and "DOE" not in str(ds.PatientName)
        assert ds.StudyInstanceUID != STUDY and ds.StudyInstanceUID == ref.study_uid
        assert b"FAKE-0001" not in ref.path.read_bytes() and b"DOE^JANE" not in ref.path.read_bytes()
    assert (study.folder / "study.json").is_file()
    assert STUDY not in (study.folder / "study.json").read_text()      # original UIDs only in memory
    assert study.original_study_uid == STUDY
    assert not any((home / "tmp").iterdir())
    names = [n for n, _ in study.inputs()]
    assert names == [r.name for r in study.instances]


def test_unreachable_server(home):
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    free = port.getsockname()[1]
    port.close()
    config = PacsConfig(url=f"http://127.0.0.1:{free}/dicom-web", timeout_s=5)
    with pytest.raises(PacsError) as err:
        search_studies(config, patient_id="FAKE-0001")
    assert "cannot reach the PACS" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(PacsError, match="cannot reach the PACS"):
        retrieve_study(STUDY, config)
    _nothing_stored(home)


def test_unauthorized(fake, home):
    fake.mode = "unauthorized"
    config = _config(fake, username="someone", password="wrong")
    with pytest.raises(PacsError) as err:
        search_studies(config, patient_id="FAKE-0001")
    msg = str(err.value)
    assert "HTTP 401" in msg and "SONODASH_DICOMWEB_USER" in msg and "wrong" not in msg and "\n" not in msg
    with pytest.raises(PacsError, match="HTTP 401"):
        retrieve_study(STUDY, config)
    _nothing_stored(home)


def test_html_instead_of_dicom_json(fake, home):
    fake.mode = "html"
    with pytest.raises(PacsError) as err:
        search_studies(_config(fake), patient_id="FAKE-0001")
    assert "text/html" in str(err.value) and "DICOMweb root" in str(err.value)
    assert "Welcome" not in str(err.value)      # the body is never quoted
    _nothing_stored(home)


def test_non_dicom_payload(fake, home):
    fake.mode = "not_dicom_part"
    with pytest.raises(InputError) as err:
        retrieve_study(STUDY, _config(fake))
    assert "image 1 of 2" in str(err.value) and "\n" not in str(err.value)
    _nothing_stored(home)


def test_too_many_instances_refused_before_download(fake, home):
    fake.mode = "many"
    with pytest.raises(PacsError, match="100000 instances, more than the limit of 500"):
        retrieve_study(STUDY, _config(fake))
    _nothing_stored(home)
    fake.mode = "list_many"     # the count said 2, the list holds 600
    with pytest.raises(PacsError, match="more than 500 instances"):
        retrieve_study(STUDY, _config(fake))
    _nothing_stored(home)


def test_declared_2gb_study_refused_before_reading(fake, home):
    fake.mode = "declared_2gb"
    with pytest.raises(PacsError) as err:
        retrieve_study(STUDY, _config(fake))
    assert "larger than the limit of 50 MB per file (2048.0 MB declared)" in str(err.value)
    assert fake.sent < 32 * 1024 * 1024  # refused on the declared length: only socket buffers were filled
    _nothing_stored(home)


def test_streamed_2gb_study_cut_at_the_limit(fake, home):
    fake.mode = "stream_2gb"
    limit = 8 * 1024 * 1024
    with pytest.raises(PacsError) as err:
        retrieve_study(STUDY, _config(fake, max_study_bytes=limit))
    assert "larger than 8 MB" in str(err.value) and "nothing was stored" in str(err.value)
    assert fake.sent < 2 * 1024 ** 3 // 8     # stopped long before the 2 GB were sent
    _nothing_stored(home)


def test_failure_midway_leaves_nothing(fake, home):
    fake.mode = "second_fails"
    with pytest.raises(PacsError, match="image 2 of 2.*HTTP 500"):
        retrieve_study(STUDY, _config(fake))
    _nothing_stored(home)


def test_config_from_env():
    assert PacsConfig.from_env({}) is None
    userinfo = "u:" + "secret"            # assembled here so the source holds no credential-shaped URL
    cfg = PacsConfig.from_env({"SONODASH_DICOMWEB_URL": f"http://{userinfo}@127.0.0.1:8042/dicom-web/",
                               "SONODASH_DICOMWEB_MAX_STUDY_MB": "10"})
    assert cfg.max_study_bytes == 10 * 1024 * 1024 and cfg.sr_target == "deidentified"
    assert "secret" not in cfg.shown_url and cfg.shown_url == "http://127.0.0.1:8042/dicom-web"
    with pytest.raises(PacsError, match="http"):
        PacsConfig.from_env({"SONODASH_DICOMWEB_URL": "ftp://x"})
    with pytest.raises(PacsError, match="SR_TARGET"):
        PacsConfig.from_env({"SONODASH_DICOMWEB_URL": "http://x/dicom-web", "SONODASH_DICOMWEB_SR_TARGET": "both"})
