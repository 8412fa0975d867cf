"""WADO-RS: bring one study's images into SonoDash, through the same input gate as an upload.

Why bounded before downloading: a study can hold thousands of instances and gigabytes. The study's
NumberOfStudyRelatedInstances (QIDO-RS) and then its instance list are checked against
``max_instances`` first; each instance is then streamed through a byte budget (the gate's file limit, and
what is left of ``max_study_bytes`` for the study), so an oversized study is refused after at most its
budget, whatever sizes the server declared.

Why nothing half-stored: instances are de-identified (:func:`core.io.deidentify_bytes`: sniffing, header
limits, PS3.15 Annex E header actions, banner pixels cleaned) and written into a private temporary folder
under ``$SONODASH_HOME/tmp``; only when every instance has passed is the folder renamed to
``$SONODASH_HOME/pacs/<key>`` (one atomic rename on the same file system). Any failure removes the temporary
folder. On disk and in ``study.json`` there are de-identified UIDs only; the original UIDs, needed to write
results into the original study when the site wants that, live in memory (``RetrievedStudy.original``).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from core.io import GateLimits, deidentify_bytes
from core.io.dicom import quiet
from core.pacs.config import MB, PacsConfig, PacsError, require_config
from core.pacs.transport import BudgetExceeded, connect, pacs_errors
from core.paths import sonodash_home

# Objects in a study that are not images to analyze: structured reports, segmentations, presentation states,
# key-object selections, encapsulated documents, raw data, waveforms.
_NON_IMAGE_PREFIXES = ("1.2.840.10008.5.1.4.1.1.88.", "1.2.840.10008.5.1.4.1.1.66", "1.2.840.10008.5.1.4.1.1.11.",
                       "1.2.840.10008.5.1.4.1.1.104.", "1.2.840.10008.5.1.4.1.1.9.", "1.2.840.10008.5.1.4.1.1.481.")
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_OVERHEAD = 1 * MB   # multipart framing around one instance


@dataclass(frozen=True)
class InstanceRef:
    """One retrieved, de-identified instance: its file and its (de-identified) UIDs."""

    name: str
    path: Path
    sop_class_uid: str
    sop_uid: str
    series_uid: str
    study_uid: str
    n_frames: int = 1


@dataclass
class RetrievedStudy:
    """A study stored under ``$SONODASH_HOME/pacs/<key>``. ``original`` (memory only) maps each
    de-identified SOP Instance UID to the PACS's original (study, series, instance) UIDs."""

    key: str
    folder: Path
    instances: list
    skipped: int = 0
    original_study_uid: str | None = field(default=None, repr=False)
    original: dict = field(default_factory=dict, repr=False)

    @property
    def study_uid(self) -> str:
        """The de-identified StudyInstanceUID."""
        return self.instances[0].study_uid

    def inputs(self) -> list:
        """``(name, bytes)`` pairs, the same input list an upload gives ``analyze()``."""
        return [(ref.name, ref.path.read_bytes()) for ref in self.instances]

    def ref_for(self, name: str) -> InstanceRef | None:
        return next((ref for ref in self.instances if ref.name == name), None)

    def to_json(self) -> dict:
        return {"key": self.key, "skipped": self.skipped,
                "instances": [{"name": r.name, "file": r.path.name, "sop_class_uid": r.sop_class_uid,
                               "sop_uid": r.sop_uid, "series_uid": r.series_uid, "study_uid": r.study_uid,
                               "n_frames": r.n_frames} for r in self.instances]}


def pacs_root() -> Path:
    root = sonodash_home() / "pacs"
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    return root


def load_retrieved(key: str) -> RetrievedStudy:
    """A study retrieved earlier, from its folder (without the in-memory original UIDs)."""
    if not re.fullmatch(r"[0-9a-f]{20}", key or ""):
        raise PacsError(f"{key!r} is not a retrieved study key")
    folder = pacs_root() / key
    try:
        meta = json.loads((folder / "study.json").read_text())
    except (OSError, ValueError):
        raise PacsError(f"retrieved study {key} not found (retrieve it again)") from None
    refs = [InstanceRef(name=i["name"], path=folder / i["file"], sop_class_uid=i["sop_class_uid"], sop_uid=i["sop_uid"],
                        series_uid=i["series_uid"], study_uid=i["study_uid"], n_frames=int(i.get("n_frames", 1)))
            for i in meta["instances"]]
    return RetrievedStudy(key=key, folder=folder, instances=refs, skipped=int(meta.get("skipped", 0)))


def _tag(item: dict, tag: str) -> str:
    values = (item.get(tag) or {}).get("Value") or [""]
    return str(values[0])


def _list_instances(client, config: PacsConfig, study_uid: str) -> tuple[list, int]:
    """(image instances to fetch as (series, sop, sop class), number skipped), refused when too many."""
    studies = client.search_for_studies(search_filters={"StudyInstanceUID": study_uid},
                                        fields=["NumberOfStudyRelatedInstances"])
    if not studies:
        raise PacsError("the PACS has no study with this StudyInstanceUID")
    declared = _tag(studies[0], "00201208")
    if declared.isdigit() and int(declared) > config.max_instances:
        raise PacsError(f"the study has {int(declared)} instances, more than the limit of {config.max_instances} "
                        f"(SONODASH_DICOMWEB_MAX_INSTANCES); nothing was retrieved")
    found = client.search_for_instances(study_instance_uid=study_uid,
                                        fields=["SOPClassUID", "SeriesInstanceUID", "SOPInstanceUID"],
                                        limit=config.max_instances + 1)
    if not isinstance(found, list):
        raise PacsError("the PACS answered something other than a list of instances")
    if len(found) > config.max_instances:
        raise PacsError(f"the study has more than {config.max_instances} instances "
                        f"(SONODASH_DICOMWEB_MAX_INSTANCES); nothing was retrieved")
    wanted, skipped = [], 0
    for item in found:
        series, sop, sop_class = _tag(item, "0020000E"), _tag(item, "00080018"), _tag(item, "00080016")
        if not (_UID.match(series) and _UID.match(sop)):
            raise PacsError("the PACS listed an instance without valid UIDs")
        if sop_class.startswith(_NON_IMAGE_PREFIXES):
            skipped += 1
            continue
        wanted.append((series, sop, sop_class))
    if not wanted:
        raise PacsError(f"the study holds no images to analyze ({skipped} non-image object(s))")
    return sorted(wanted), skipped


def _raw_bytes(ds) -> bytes:
    """The bytes the PACS sent for one instance (dicomweb-client parsed them from a buffer), else re-encoded."""
    buffer = getattr(ds, "buffer", None)
    if buffer is not None and hasattr(buffer, "getvalue"):
        return buffer.getvalue()
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _create(path: Path):
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    return os.fdopen(os.open(path, flags, 0o600), "wb")


def _publish(tmp: Path, key: str) -> Path:
    """Move the finished folder into place atomically, replacing an earlier copy of the same study."""
    final = pacs_root() / key
    if final.exists():
        old = final.with_name(f".{key}-old-{uuid.uuid4().hex[:8]}")
        os.rename(final, old)
        os.rename(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, final)
    return final


def retrieve_study(study_uid: str, config: PacsConfig | None = None, *, client=None, progress=None,
                   deid_config=None, gate_limits=None) -> RetrievedStudy:
    """Fetch, de-identify and store the images of one study; returns the stored :class:`RetrievedStudy`.

    ``progress(done, total)`` is called after each instance. Raises :class:`PacsError` (one line) on any
    refusal; then nothing of the study is left on disk.
    """
    config = require_config(config)
    if not isinstance(study_uid, str) or not _UID.match(study_uid) or len(study_uid) > 64:
        raise PacsError("StudyInstanceUID must be digits and dots (at most 64 characters)")
    gate_limits = gate_limits or GateLimits()
    client = client or connect(config)
    session = getattr(client, "bounded_session", None)
    if session is None:
        raise PacsError("retrieval needs a client made by core.pacs.transport.connect (byte limits)")
    with pacs_errors(config, "study list", client):
        wanted, skipped = _list_instances(client, config, study_uid)
    tmp_base = sonodash_home() / "tmp"
    tmp_base.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="pacs-", dir=tmp_base))
    refs, original, left = [], {}, int(config.max_study_bytes)
    per_instance = int(gate_limits.max_file_bytes) + _OVERHEAD
    try:
        for k, (series, sop, sop_class) in enumerate(wanted, start=1):
            label = f"image {k} of {len(wanted)}"
            cap = min(left, per_instance)
            with pacs_errors(config, f"retrieve {label}", client):
                try:
                    with session.limit(cap, label) as budget:
                        ds = client.retrieve_instance(study_uid, series, sop)
                except BudgetExceeded as err:
                    if cap == left:
                        raise PacsError(f"the study is larger than {config.max_study_bytes / MB:.0f} MB "
                                        f"(SONODASH_DICOMWEB_MAX_STUDY_MB); nothing was stored") from None
                    declared = str(err).split("(", 1)[1].split(";", 1)[0] if "declared" in str(err) else ""
                    raise PacsError(f"the instance is larger than the limit of {gate_limits.max_file_bytes / MB:.0f} "
                                    f"MB per file{f' ({declared})' if declared else ''}; nothing was stored") from None
                left -= cap - max(budget[0], 0)
                data = _raw_bytes(ds)
            clean = deidentify_bytes(data, name=f"PACS {label}", config=deid_config, limits=gate_limits)
            name = f"{k:02d}-{hashlib.sha256(str(clean.SOPInstanceUID).encode()).hexdigest()[:8]}.dcm"
            path = tmp / name
            buf = io.BytesIO()

            with quiet():
                clean.save_as(buf, enforce_file_format=True)
            with _create(path) as fh:
                fh.write(buf.getvalue())
            frames = clean.get("NumberOfFrames")
            ref = InstanceRef(name=name, path=path, sop_class_uid=str(clean.get("SOPClassUID", sop_class)),
                              sop_uid=str(clean.SOPInstanceUID), series_uid=str(clean.SeriesInstanceUID),
                              study_uid=str(clean.StudyInstanceUID),
                              n_frames=int(frames) if str(frames or "").isdigit() else 1)
            refs.append(ref)
            original[ref.sop_uid] = (study_uid, series, sop)
            if progress is not None:
                progress(k, len(wanted))
        if len({r.study_uid for r in refs}) != 1:
            raise PacsError("the retrieved instances do not belong to one study")
        key = hashlib.sha256(refs[0].study_uid.encode()).hexdigest()[:20]
        study = RetrievedStudy(key=key, folder=tmp, instances=refs, skipped=skipped)
        (tmp / "study.json").write_text(json.dumps(study.to_json(), indent=1))
        folder = _publish(tmp, key)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise PacsError(f"cannot store the retrieved study under $SONODASH_HOME ({type(err).__name__}); "
                        f"nothing was stored") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    refs = [InstanceRef(**{**r.__dict__, "path": folder / r.path.name}) for r in refs]
    return RetrievedStudy(key=key, folder=folder, instances=refs, skipped=skipped, original_study_uid=study_uid,
                          original=original)
