"""Registered models (issue 17): flagged bundles need a confirmation to become the default, deletion keeps the
evaluations (marked), the zip holds the bundle, every change is one audit row, the card reads the facts."""

from __future__ import annotations

import io
import json
import zipfile

import pandas as pd
import pytest

from core import store
from core.paths import sonodash_home


def _bundle(folder, *, task="miscarriage", flag=None, extra=None):
    folder.mkdir(parents=True)
    metrics = {"auc": 0.55, "auc_ci": [0.41, 0.69], "n_patients": 12, "n_images": 24, "brier": 0.24, "ece": 0.1,
               "flag": flag, "flag_reason": "held-out AUC 0.550, 95 % CI 0.410-0.690 contains 0.5" if flag else None}
    meta = {"task": task, "architecture": "smallcnn", "class_names": ["live_birth", "miscarriage"],
            "num_classes": 2, "in_channels": 1,
            "positive_label": "miscarriage", "metrics": metrics, "input_size": 32, "pretrained": False,
            "training_data": {"fingerprint": "abc123", "n_patients": 12, "n_images": 24, "date": "2026-12-01T20:00:00",
                              "class_balance": {"live_birth": 14, "miscarriage": 10}, "synthetic": True},
            "versions": {"torch": "2.15.0"}, **(extra or {})}
    (folder / "model.json").write_text(json.dumps(meta))
    (folder / "model.safetensors").write_bytes(b"\0" * 64)
    return folder


def _audit_actions():
    from core import audit

    return [e.action for e in audit.query(action="model.")]


def test_flagged_model_needs_confirmation_to_become_default():
    home = sonodash_home()
    good = store.register_bundle(_bundle(home / "runs" / "good"), actor="ana")
    bad = store.register_bundle(_bundle(home / "runs" / "bad", flag="not better than chance"), actor="ana")
    listing = store.list_bundles().set_index("id")
    assert listing.loc[bad, "flag"] == "not better than chance" and pd.isna(listing.loc[good, "flag"])
    store.set_default_bundle("miscarriage", good, actor="ana")
    with pytest.raises(store.FlaggedModelError, match="contains 0.5"):
        store.set_default_bundle("miscarriage", bad, actor="ana")
    assert store.default_bundle("miscarriage")["id"] == good          # unchanged by the refusal
    store.set_default_bundle("miscarriage", bad, confirm=True, actor="ana")
    assert store.default_bundle("miscarriage")["id"] == bad
    actions = _audit_actions()
    assert actions.count("model.register") == 2 and actions.count("model.set_default") == 2


def test_delete_keeps_evaluations_marked_and_removes_only_app_files(tmp_path):
    home = sonodash_home()
    mine = _bundle(home / "jobs" / "j1" / "run" / "bundle")
    theirs = _bundle(tmp_path / "user-models" / "b")
    mid, tid = store.register_bundle(mine), store.register_bundle(theirs)
    cases = pd.DataFrame({"case_id": ["a", "b"], "patient_id": ["p1", "p2"], "truth": ["live_birth", "miscarriage"],
                          "score": [0.2, 0.7]})
    store.save_evaluation("ev-mine", task="miscarriage", cases=cases, bundle_path=mine)
    store.set_default_bundle("miscarriage", mid)
    zipped = zipfile.ZipFile(io.BytesIO(store.bundle_zip(mid)))
    assert sorted(zipped.namelist()) == ["bundle/model.json", "bundle/model.safetensors"]
    assert json.loads(zipped.read("bundle/model.json"))["task"] == "miscarriage"
    assert store.bundle_evaluations(mid) == ["ev-mine"]

    done = store.delete_bundle(mid, actor="ana")
    assert done == {"id": mid, "name": "bundle", "files_removed": True, "evaluations_kept": 1}
    assert not mine.exists()
    assert mid not in set(store.list_bundles()["id"]) and store.default_bundle("miscarriage") is None
    listed = store.list_evaluations().set_index("name")
    assert bool(listed.loc["ev-mine", "bundle_deleted"]) and listed.loc["ev-mine", "bundle_name"] == "bundle"
    meta, rows = store.load_evaluation("ev-mine")
    assert meta["bundle_deleted"] is True and len(rows) == 2
    with pytest.raises(store.NotFoundError):
        store.set_default_bundle("miscarriage", mid)
    with pytest.raises(store.NotFoundError):
        store.delete_bundle(mid)
    assert store.delete_bundle(tid)["files_removed"] is False and theirs.exists()   # a user's folder stays
    assert "model.delete" in _audit_actions()


def test_model_card_reads_recorded_facts():
    from core.training.card import DISCLAIMER, model_card

    folder = _bundle(sonodash_home() / "runs" / "c", flag="not better than chance")
    bid = store.register_bundle(folder)
    store.save_evaluation("ev-c", task="miscarriage", bundle_path=folder,
                          cases=pd.DataFrame({"case_id": ["a"], "patient_id": ["p"], "truth": ["miscarriage"],
                                              "score": [0.9]}))
    card = model_card(store.get_bundle(bid))
    assert card["disclaimer"] == DISCLAIMER and "Not a medical device" in DISCLAIMER
    assert card["task"]["labels"] == ["live_birth", "miscarriage"] and card["task"]["positive_label"] == "miscarriage"
    assert card["training_data"]["n_patients"] == 12 and card["training_data"]["class_balance"]["miscarriage"] == 10
    auc = next(r for r in card["metrics"] if r["metric"] == "AUC")
    assert (auc["value"], auc["ci_low"], auc["ci_high"]) == (0.55, 0.41, 0.69)
    assert card["calibration"] == {"brier": 0.24, "ece": 0.1}
    assert card["evaluations"] == ["ev-c"]
    text = " ".join(card["limitations"])
    assert "from scratch on synthetic phantoms" in text and "12 patients" in text and "not better than chance" in text
    assert card["versions"] == {"torch": "2.15.0"}
