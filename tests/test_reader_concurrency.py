"""20 readers submitting at the same time from 20 processes into the SQLite store lose no answer."""

import multiprocessing as mp
import sqlite3

from core.accounts import create_user
from core.paths import SAMPLE_DATA
from core.reader_study import OrganizerSession, ReaderSession, cases_from_manifest

N_READERS = 20


def _read_all(home: str, user_id: int, study_id: int, barrier, queue) -> None:
    import os

    os.environ["SONODASH_HOME"] = home
    try:
        session = ReaderSession(user_id)
        barrier.wait(timeout=120)
        n = 0
        while (item := session.next_item(study_id)) is not None:
            session.submit(study_id, item.case_id, item.phase, label="miscarriage" if n % 2 else "live_birth",
                           confidence=float((user_id * 7 + n) % 101), free_text=f"reader {user_id} case {n}")
            n += 1
        # a permitted change right after: the version counter must stay consistent under load
        session.submit(study_id, item.case_id if item else session.my_answers(study_id)[0].case_id, "unaided",
                       label="live_birth", confidence=1.0)
        queue.put((user_id, n, None))
    except Exception as err:  # noqa: BLE001 - reported to the parent test
        queue.put((user_id, -1, repr(err)))


def test_twenty_concurrent_readers_lose_nothing(tmp_path, monkeypatch):
    home = str(tmp_path / "home")
    monkeypatch.setenv("SONODASH_HOME", home)
    org = create_user("org", "organizer-pass", role="organizer")
    readers = [create_user(f"r{k:02d}", "reader-pass-1") for k in range(N_READERS)]
    cases = cases_from_manifest(SAMPLE_DATA / "miscarriage" / "manifest.csv", task="miscarriage", unit="image")
    sid = OrganizerSession(org.id).create_study("load", task="miscarriage", cases=cases, design="unaided",
                                                readers=[r.username for r in readers], allow_changes=True,
                                                bundle_path=None)
    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(N_READERS), ctx.Queue()
    procs = [ctx.Process(target=_read_all, args=(home, r.id, sid, barrier, queue)) for r in readers]
    for p in procs:
        p.start()
    reports = [queue.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert [r for r in reports if r[2] is not None] == []
    assert sorted(n for _, n, _ in reports) == [len(cases)] * N_READERS

    answers = OrganizerSession(org.id).answers(sid, all_versions=True)
    assert len(answers) == N_READERS * (len(cases) + 1)
    latest = OrganizerSession(org.id).answers(sid)
    assert len(latest) == N_READERS * len(cases)
    assert latest.groupby("reader")["case_id"].nunique().tolist() == [len(cases)] * N_READERS
    assert sorted(answers["version"].value_counts().to_dict().items()) == [(1, N_READERS * len(cases)), (2, N_READERS)]
    progress = OrganizerSession(org.id).progress(sid)
    assert set(progress["status"]) == {"finished"}
    with sqlite3.connect(f"{home}/sonodash.db") as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("SELECT COUNT(*) FROM reader_answers").fetchone()[0] == N_READERS * (len(cases) + 1)
