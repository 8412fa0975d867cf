"""The store's API: round trips, validation messages, bundles, runs, saved cases, migrations."""

import json
import math

import pandas as pd
import pytest

import core.store as store
from core.errors import InputError
from core.store.errors import NotFoundError, StoreError

CLASSES = ["live_birth", "miscarriage"]


def _cases(n=6, **extra):
    data = {
        "case_id": [f"img{i}.png" for i in range(n)],
        "patient_id": [f"P{i // 2}" for i in range(n)],
        "truth": [CLASSES[i % 2] for i in range(n)],
        "score": [round(0.1 + 0.8 * i / n, 4) for i in range(n)],
    }
    data.update(extra)
    return pd.DataFrame(data)


def test_fresh_store_is_migrated_wal_with_busy_timeout():
    from core.store.migrate import current_revision, head_revision

    engine = store.get_engine()
    assert engine is store.get_engine()
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
        tables = {r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"runs", "bundles", "evaluations", "predictions", "saved_cases", "alembic_version"} <= tables
    assert str(engine.url).endswith("home/sonodash.db")


def test_migrations_match_the_declared_schema():
    """Autogenerate against the migrated store finds nothing to do: migrations and schema.py agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from core.store.migrate import load_schema

    with store.get_engine().connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), load_schema())
    assert diffs == []


def test_db_url_environment_variable(tmp_path, monkeypatch):
    target = tmp_path / "elsewhere" / "x.db"
    monkeypatch.setenv("SONODASH_DB_URL", f"sqlite:///{target}")
    assert store.db_url() == f"sqlite:///{target}"
    store.save_evaluation("e", task="miscarriage", cases=_cases(), meta={"class_names": CLASSES})
    assert target.is_file()
    monkeypatch.delenv("SONODASH_DB_URL")
    assert store.list_evaluations().empty


def test_round_trip_keeps_every_field_and_the_order():
    cases = _cases(plane=["sagittal", "transverse"] * 3, ga_weeks=[6.4, 7.1, 8.0, math.nan, 6.0, 7.9],
                   crl_low=[True, False, None, True, False, None], fhr_low=[False] * 6,
                   both_low=[False, False, None, False, False, None], fold=[0, 0, 1, 1, 2, 2])
    cases = cases.iloc[::-1].reset_index(drop=True)
    cases["truth"] = cases["truth"].astype(object)
    cases.loc[0, "truth"] = 1  # a class index is accepted and mapped to its name
    eid = store.save_evaluation("cv", task="miscarriage", cases=cases, rule_table={"6": {"crl_mm": 6.0}},
                                meta={"class_names": CLASSES, "aggregation": "mean"}, manifest_fingerprint="abc")
    meta, df = store.load_evaluation("cv")
    assert meta["id"] == eid and meta["task"] == "miscarriage" and meta["aggregation"] == "mean"
    assert meta["rule_table"] == {"6": {"crl_mm": 6.0}} and meta["manifest_fingerprint"] == "abc"
    assert meta["class_names"] == CLASSES
    assert df["case_id"].tolist() == cases["case_id"].tolist()
    assert df["score"].tolist() == cases["score"].tolist()
    assert df["truth"].tolist() == ["miscarriage"] + cases["truth"].tolist()[1:]
    assert df["truth_index"].tolist() == [CLASSES.index(t) for t in df["truth"]]
    assert df["fold"].tolist() == cases["fold"].tolist()
    assert [None if pd.isna(v) else bool(v) for v in df["crl_low"]] == cases["crl_low"].tolist()
    assert df["plane"].tolist() == cases["plane"].tolist()
    assert pd.isna(df.loc[cases.index[cases["ga_weeks"].isna()][0], "ga_weeks"])
    assert df["rule_applicable"].isna().all()


def test_multiclass_scores_and_bundle_class_names(tmp_path):
    bundle = tmp_path / "cns_bundle"
    bundle.mkdir()
    names = ["normal", "anencephaly", "encephalocele"]
    (bundle / "model.json").write_text(json.dumps({"task": "cns", "architecture": "resnet34", "class_names": names,
                                                   "num_classes": 3, "in_channels": 1, "input_size": 224,
                                                   "metrics": {"accuracy": 0.9}}))
    cases = pd.DataFrame({"case_id": ["a", "b"], "patient_id": ["p", "q"], "truth": ["anencephaly", 2],
                          "scores": [[0.1, 0.8, 0.1], [0.2, 0.2, 0.6]]})
    store.save_evaluation("cns-eval", task="cns", bundle_path=bundle, cases=cases)
    meta, df = store.load_evaluation("cns-eval")
    assert meta["bundle_path"] == str(bundle.resolve()) and meta["class_names"] == names
    assert df["scores"].tolist() == [[0.1, 0.8, 0.1], [0.2, 0.2, 0.6]]
    assert df["truth"].tolist() == ["anencephaly", "encephalocele"] and df["score"].isna().all()
    bad = cases.assign(scores=[[0.5, 0.5], [0.2, 0.2, 0.6]])
    with pytest.raises(StoreError, match=r"row 0 .*column scores: 2 values for 3 classes"):
        store.save_evaluation("cns-bad", task="cns", bundle_path=bundle, cases=bad)


@pytest.mark.parametrize("change, message", [
    (lambda c: c.assign(score=[0.1, math.nan, 0.2, 0.3, 0.4, 0.5]), r"row 1 \(case_id 'img1.png'\), column score: missing"),
    (lambda c: c.assign(score=["0.1", "x", 0.2, 0.3, 0.4, 0.5]), r"row 1 .*column score: 'x' is not a number"),
    (lambda c: c.assign(score=[0.1, math.inf, 0.2, 0.3, 0.4, 0.5]), r"row 1 .*column score: inf is not finite"),
    (lambda c: c.assign(truth=["live_birth", "alive", *CLASSES * 2]), r"row 1 .*column truth: 'alive' is not one of"),
    (lambda c: c.assign(truth=[0, 5, 1, 0, 1, 0]), r"row 1 .*column truth: class index 5 outside 0..1"),
    (lambda c: c.assign(case_id=["a", "b", "a", "c", "d", "e"]), r"row 2 \(case_id 'a'\), column case_id: duplicated"),
    (lambda c: c.assign(patient_id=["p", None, "p", "q", "r", "s"]), r"row 1 .*column patient_id: missing"),
    (lambda c: c.assign(crl_low=[True, "yes", None, None, None, None]), r"row 1 .*column crl_low: 'yes'"),
    (lambda c: c.drop(columns=["score"]), r"needs a 'score'"),
    (lambda c: c.drop(columns=["patient_id"]), r"missing column\(s\) patient_id"),
    (lambda c: c.iloc[:0], r"the table is empty"),
    (lambda c: c.to_dict(), r"must be a pandas DataFrame"),
])
def test_bad_cases_are_refused_with_the_row_and_column(change, message):
    with pytest.raises(InputError, match=message):
        store.save_evaluation("bad", task="miscarriage", cases=change(_cases()), meta={"class_names": CLASSES})
    assert store.list_evaluations().empty


def test_names_are_unique_unless_replaced():
    store.save_evaluation("same", task="miscarriage", cases=_cases(), meta={"class_names": CLASSES})
    with pytest.raises(StoreError, match="'same' already exists"):
        store.save_evaluation("same", task="miscarriage", cases=_cases(), meta={"class_names": CLASSES})
    store.save_evaluation("same", task="miscarriage", cases=_cases(2), meta={"class_names": CLASSES}, replace=True)
    listing = store.list_evaluations()
    assert listing["name"].tolist() == ["same"] and listing["n_cases"].tolist() == [2]
    with store.get_engine().connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM predictions").scalar() == 2
    for bad in ("", "   ", None, "x" * 201):
        with pytest.raises(StoreError):
            store.save_evaluation(bad, task="miscarriage", cases=_cases(), meta={"class_names": CLASSES})
    with pytest.raises(NotFoundError):
        store.load_evaluation("nope")


def test_a_failure_mid_write_leaves_no_partial_evaluation(monkeypatch):
    import core.store.evaluations as evaluations

    monkeypatch.setattr(evaluations, "_INSERT_CHUNK", 2)
    calls = []
    real_insert = evaluations.insert

    def failing_insert(table):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("disk on fire")
        return real_insert(table)

    monkeypatch.setattr(evaluations, "insert", failing_insert)
    with pytest.raises(RuntimeError, match="disk on fire"):
        store.save_evaluation("half", task="miscarriage", cases=_cases(), meta={"class_names": CLASSES})
    assert len(calls) == 3
    assert store.list_evaluations().empty
    with store.get_engine().connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM predictions").scalar() == 0


def test_append_list_and_delete():
    store.save_evaluation("oof", task="miscarriage", cases=_cases(2), meta={"class_names": CLASSES})
    more = _cases(4).iloc[2:]
    assert store.append_predictions("oof", more) == 2
    with pytest.raises(StoreError, match="already stored"):
        store.append_predictions("oof", more)
    with pytest.raises(NotFoundError):
        store.append_predictions("missing", more)
    store.save_evaluation("other", task="preterm", cases=_cases().assign(truth=[0, 1] * 3),
                          meta={"class_names": ["term", "preterm"]})
    row = store.list_evaluations(task="miscarriage").iloc[0]
    assert (row["name"], row["n_cases"], row["n_patients"]) == ("oof", 4, 2)
    assert store.list_evaluations()["name"].tolist() == ["other", "oof"]
    store.delete_evaluation("oof")
    assert store.list_evaluations()["name"].tolist() == ["other"]


def test_bundles_register_and_default(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        d.mkdir()
    (a / "model.json").write_text(json.dumps({"task": "miscarriage", "architecture": "vgg19", "num_classes": 2,
                                              "in_channels": 1, "input_size": 224,
                                              "class_names": CLASSES, "metrics": {"auc": 0.8}}))
    ida = store.register_bundle(a)
    assert store.register_bundle(a) == ida  # same folder, same entry
    idb = store.register_bundle(b, {"task": "miscarriage", "arch": "resnet18", "name": "Better"})
    idc = store.register_bundle(tmp_path / "c", {"task": "cns"})
    assert store.default_bundle("miscarriage") is None
    store.set_default_bundle("miscarriage", ida)
    store.set_default_bundle("miscarriage", idb)
    listing = store.list_bundles(task="miscarriage").set_index("id")
    assert listing.loc[idb, "is_default_for_task"] and not listing.loc[ida, "is_default_for_task"]
    assert listing.loc[ida, "arch"] == "vgg19" and listing.loc[ida, "class_names"] == CLASSES
    assert store.default_bundle("miscarriage")["name"] == "Better"
    with pytest.raises(StoreError, match="belongs to task 'cns'"):
        store.set_default_bundle("miscarriage", idc)
    with pytest.raises(NotFoundError):
        store.set_default_bundle("miscarriage", 999)
    with pytest.raises(StoreError, match="no model.json"):
        store.register_bundle(tmp_path / "empty")
    with pytest.raises(StoreError, match="no 'task'"):
        store.register_bundle(b, {"arch": "x"})


def test_runs_register_and_update(tmp_path):
    rid = store.register_run(task="preterm", arch="unet_cls", cv="holdout", run_dir=tmp_path / "run",
                             meta={"epochs": 3})
    bid = store.register_bundle(tmp_path / "run" / "bundle", {"task": "preterm"})
    store.update_run(rid, status="finished", bundle_id=bid, meta={"best_epoch": 2})
    run = store.get_run(rid)
    assert run["status"] == "finished" and run["bundle_id"] == bid
    assert run["meta"] == {"epochs": 3, "best_epoch": 2}
    with pytest.raises(StoreError, match="must be one of"):
        store.update_run(rid, status="exploded")
    with pytest.raises(NotFoundError):
        store.update_run(rid + 1, status="failed")
    assert store.list_runs(task="preterm")["id"].tolist() == [rid]
    assert store.list_runs(task="cns").empty


def test_saved_cases_carry_no_patient_identifier():
    from core.store.schema import SavedCase

    cid = store.save_case(study="miscarriage", probability=0.83, decision="refer", override=None,
                          note="reviewed", rules={"crl_low": True, "fhr_low": None})
    cases = store.list_cases()
    assert cases["id"].tolist() == [cid] and cases.loc[0, "rules"] == {"crl_low": True, "fhr_low": None}
    assert not [c for c in SavedCase.__table__.columns.keys() if "patient" in c or "name" == c]
    with pytest.raises(StoreError, match=r"probability 1.5 is not in \[0, 1\]"):
        store.save_case(study="miscarriage", probability=1.5)
    with pytest.raises(StoreError, match="limit"):
        store.save_case(study="miscarriage", note="x" * 6000)
    assert store.list_cases(study="cns").empty
