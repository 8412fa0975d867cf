"""The store on PostgreSQL (``SONODASH_DB_URL``): migrations, round trip, ten concurrent writers.

Runs against a throw-away cluster started from the machine's ``initdb``/``pg_ctl`` (as the ``postgres`` user
when the tests run as root), or against ``SONODASH_TEST_PG_URL`` when set; skipped when neither PostgreSQL nor
the psycopg driver is available.
"""

import multiprocessing as mp
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pandas as pd
import pytest

psycopg = pytest.importorskip("psycopg")


def _as_postgres(cmd):
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@pytest.fixture(scope="module")
def pg_server():
    if os.environ.get("SONODASH_TEST_PG_URL"):
        yield os.environ["SONODASH_TEST_PG_URL"], None
        return
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL server binaries not installed")
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root without a postgres user")
    # Not under pytest's tmp folder: that one is private to root and the server runs as "postgres"; a short
    # path also keeps the Unix socket name under its length limit.
    base = Path(tempfile.mkdtemp(prefix="sonodash-pg-"))
    if os.geteuid() == 0:
        os.chown(base, user.pw_uid, user.pw_gid)
    data, sock, port = base / "data", str(base), 54000 + os.getpid() % 1000
    subprocess.run(_as_postgres([initdb, "-D", str(data), "-A", "trust", "-U", "sono"]), check=True,
                   capture_output=True)
    subprocess.run(_as_postgres([pg_ctl, "-D", str(data), "-w", "-l", str(base / "log"), "-o",
                                 f"-k {sock} -c listen_addresses='' -p {port}", "start"]), check=True,
                   capture_output=True)
    try:
        yield f"postgresql+psycopg://sono@/postgres?host={sock}&port={port}", (sock, port)
    finally:
        subprocess.run(_as_postgres([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]), capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server, monkeypatch):
    """A fresh database per test on the shared server."""
    admin_url, _ = pg_server
    name = f"sono_{uuid.uuid4().hex[:10]}"
    conninfo = admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin_url.replace("/postgres?", f"/{name}?")
    monkeypatch.setenv("SONODASH_DB_URL", url)
    yield url
    import core.store as store

    store.dispose_engines()


def test_postgres_round_trip(pg_url):
    import core.store as store
    from core.store.migrate import current_revision, head_revision

    assert store.get_engine().dialect.name == "postgresql"
    assert current_revision(store.get_engine()) == head_revision()
    cases = pd.DataFrame({"case_id": ["a", "b"], "patient_id": ["p", "q"], "truth": [0, 1], "score": [0.25, 0.75],
                          "ga_weeks": [6.5, float("nan")], "crl_low": [True, None]})
    store.save_evaluation("pg", task="miscarriage", cases=cases, meta={"class_names": ["live_birth", "miscarriage"]})
    meta, df = store.load_evaluation("pg")
    assert df["score"].tolist() == [0.25, 0.75] and df["truth"].tolist() == ["live_birth", "miscarriage"]
    assert df["ga_weeks"].iloc[0] == 6.5 and pd.isna(df["ga_weeks"].iloc[1])
    assert [None if pd.isna(v) else bool(v) for v in df["crl_low"]] == [True, None]
    with pytest.raises(store.StoreError, match="already exists"):
        store.save_evaluation("pg", task="miscarriage", cases=cases)
    bid = store.register_bundle("/tmp/somewhere", {"task": "miscarriage"})
    store.set_default_bundle("miscarriage", bid)
    assert store.default_bundle("miscarriage")["id"] == bid


@pytest.mark.slow  # the SQLite twin in test_store_concurrency.py runs in make test
def test_postgres_ten_writers_lose_nothing(pg_url, tmp_path):
    import test_store_concurrency as conc

    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(conc.N_WORKERS)
    procs = [ctx.Process(target=conc._writer, args=(str(tmp_path), w, barrier, pg_url))
             for w in range(conc.N_WORKERS)]
    for p in procs:
        p.start()
    import core.store as store

    store.save_evaluation("shared", task="miscarriage", cases=pd.DataFrame(
        {"case_id": ["seed"], "patient_id": ["p0"], "truth": [0], "score": [0.5]}))
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0] * conc.N_WORKERS
    with store.get_engine().connect() as conn:
        rows = {(c, round(s, 12)) for c, s in conn.exec_driver_sql("SELECT case_id, score FROM predictions")
                if c != "seed"}
        n = conn.exec_driver_sql("SELECT count(*) FROM predictions").scalar()
    assert n == conc.N_WORKERS * conc.N_BATCHES * conc.BATCH_ROWS + 1
    assert conc._checksum(rows) == conc._checksum(conc._expected())
