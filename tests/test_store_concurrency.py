"""The store under many writers and under SIGKILL (issue 5 "ten processes", issue 10 item 4).

Ten spawned processes write predictions into one fresh SQLite store at once (they also race to migrate it):
none may be lost. A child writing committed batches is SIGKILLed mid-write: the database must pass
``PRAGMA integrity_check`` and hold every batch the child reported committed (through an fsynced file).
"""

import hashlib
import multiprocessing as mp
import os
import signal
import sqlite3
import time

import pytest

N_WORKERS = 10
N_BATCHES = 4
BATCH_ROWS = 25
KILL_BATCH_ROWS = 200


def _score(worker: int, batch: int, i: int) -> float:
    """A deterministic value per row, so the parent knows exactly what each child wrote."""
    return ((worker * 7919 + batch * 104729 + i * 15485863) % 1_000_003) / 1_000_003


def _cases(worker: int, batch: int, n: int):
    import pandas as pd

    return pd.DataFrame({
        "case_id": [f"w{worker}-b{batch}-c{i}" for i in range(n)],
        "patient_id": [f"w{worker}-p{i // 2}" for i in range(n)],
        "truth": [i % 2 for i in range(n)],
        "score": [_score(worker, batch, i) for i in range(n)],
        "plane": ["sagittal" if i % 2 else "transverse" for i in range(n)],
    })


def _writer(home: str, worker: int, barrier, db_url: str | None = None) -> None:
    os.environ["SONODASH_HOME"] = home
    if db_url:
        os.environ["SONODASH_DB_URL"] = db_url
    else:
        os.environ.pop("SONODASH_DB_URL", None)
    import core.store as store

    store.get_engine()  # ten processes migrate a fresh store at the same time
    barrier.wait(timeout=120)
    for batch in range(N_BATCHES):
        if batch % 2 == 0:
            store.save_evaluation(f"w{worker}-b{batch}", task="miscarriage", cases=_cases(worker, batch, BATCH_ROWS))
        else:
            store.append_predictions("shared", _cases(worker, batch, BATCH_ROWS))


def _expected():
    rows = set()
    for w in range(N_WORKERS):
        for b in range(N_BATCHES):
            rows |= {(f"w{w}-b{b}-c{i}", round(_score(w, b, i), 12)) for i in range(BATCH_ROWS)}
    return rows


def _checksum(rows) -> str:
    return hashlib.sha256(repr(sorted(rows)).encode()).hexdigest()


def test_ten_processes_lose_no_prediction(tmp_path, monkeypatch):
    import pandas as pd

    import core.store as store

    home = str(tmp_path / "home")
    os.makedirs(home, exist_ok=True)
    monkeypatch.setenv("SONODASH_HOME", home)
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(N_WORKERS)
    procs = [ctx.Process(target=_writer, args=(home, w, barrier)) for w in range(N_WORKERS)]
    # The shared evaluation is created while the workers start, racing their migrations.
    for p in procs:
        p.start()
    store.save_evaluation("shared", task="miscarriage", cases=pd.DataFrame(
        {"case_id": ["seed"], "patient_id": ["p0"], "truth": [0], "score": [0.5]}))
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0] * N_WORKERS

    con = sqlite3.connect(os.path.join(home, "sonodash.db"))
    try:
        got = {(c, round(s, 12)) for c, s in con.execute("SELECT case_id, score FROM predictions") if c != "seed"}
        n_rows = con.execute("SELECT count(*) FROM predictions").fetchone()[0]
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert con.execute("SELECT count(*) FROM alembic_version").fetchone()[0] == 1
    finally:
        con.close()
    expected = _expected()
    assert n_rows == N_WORKERS * N_BATCHES * BATCH_ROWS + 1
    assert _checksum(got) == _checksum(expected)
    assert abs(sum(s for _, s in got) - sum(s for _, s in expected)) < 1e-6
    listing = store.list_evaluations().set_index("name")
    assert listing.loc["shared", "n_cases"] == 1 + N_WORKERS * (N_BATCHES // 2) * BATCH_ROWS
    assert len(listing) == 1 + N_WORKERS * ((N_BATCHES + 1) // 2)


def _kill_writer(home: str, log_path: str) -> None:
    """Writes batches (one evaluation each) forever; after each commit appends its number to an fsynced log."""
    os.environ["SONODASH_HOME"] = home
    os.environ.pop("SONODASH_DB_URL", None)
    import core.store as store

    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    for batch in range(100_000):
        store.save_evaluation(f"kill-{batch}", task="miscarriage", cases=_cases(0, batch, KILL_BATCH_ROWS))
        os.write(fd, f"{batch}\n".encode())
        os.fsync(fd)


def test_sigkill_mid_write_keeps_every_committed_batch(tmp_path, rng, monkeypatch):
    if not hasattr(signal, "SIGKILL"):
        pytest.skip("no SIGKILL on this platform")
    home = str(tmp_path / "home")
    os.makedirs(home, exist_ok=True)
    log_path = str(tmp_path / "committed.log")
    ctx = mp.get_context("spawn")
    proc = ctx.Process(target=_kill_writer, args=(home, log_path))
    proc.start()
    want = 5 + int(rng.integers(0, 10))
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.is_alive():
        if os.path.exists(log_path) and len(open(log_path).read().split()) >= want:
            break
        time.sleep(0.02)
    time.sleep(float(rng.uniform(0, 0.05)))  # land somewhere inside a later batch
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(timeout=30)
    assert proc.exitcode == -signal.SIGKILL

    committed = [int(x) for x in open(log_path).read().split()]
    assert len(committed) >= want
    con = sqlite3.connect(os.path.join(home, "sonodash.db"))
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        counts = dict(con.execute(
            "SELECT e.name, count(p.id) FROM evaluations e LEFT JOIN predictions p ON p.evaluation_id = e.id "
            "GROUP BY e.id"))
        for batch in committed:
            assert counts.get(f"kill-{batch}") == KILL_BATCH_ROWS, batch
            total = con.execute("SELECT sum(p.score) FROM predictions p JOIN evaluations e "
                                "ON p.evaluation_id = e.id WHERE e.name = ?", (f"kill-{batch}",)).fetchone()[0]
            assert total == pytest.approx(sum(_score(0, batch, i) for i in range(KILL_BATCH_ROWS)), abs=1e-9)
    finally:
        con.close()
    # Atomicity: a batch in flight at the kill is either complete or absent, never half-written.
    assert set(counts.values()) == {KILL_BATCH_ROWS}
    assert len(counts) <= len(committed) + 1

    # The store still opens, migrates (no-op) and accepts writes after the crash.
    monkeypatch.setenv("SONODASH_HOME", home)
    import pandas as pd

    import core.store as store

    store.save_evaluation("after-crash", task="miscarriage", cases=pd.DataFrame(
        {"case_id": ["x"], "patient_id": ["p"], "truth": [1], "score": [0.9]}))
    assert store.load_evaluation("after-crash")[1]["score"].tolist() == [0.9]
