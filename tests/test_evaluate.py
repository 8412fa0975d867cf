"""``python -m core evaluate``: a tiny bundle over a tiny manifest, checked against independent references."""

import json

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score

import core.store as store
from core.cli import main

CLASSES = ["live_birth", "miscarriage"]


@pytest.fixture
def bundle(tmp_path):
    from core.models import build_model, save_bundle

    torch.manual_seed(0)
    model = build_model("smallcnn", num_classes=2, in_channels=1)
    return save_bundle(tmp_path / "bundle", model, {"task": "miscarriage", "class_names": CLASSES,
                                                    "input_size": 32, "normalization": "unit",
                                                    "positive_label": "miscarriage"})


@pytest.fixture
def manifest(tmp_path, rng):
    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    rows = []
    for p in range(8):
        label = CLASSES[p % 2]
        for plane in ("sagittal", "transverse"):
            img = rng.integers(0, 255, size=(40, 48), dtype=np.uint8)
            cv2.circle(img, (24, 20), 6 + 4 * (p % 2), 255, -1)
            path = root / "images" / f"P{p}_{plane}.png"
            cv2.imwrite(str(path), img)
            rows.append({"image_path": f"images/{path.name}", "patient_id": f"P{p}", "label": label,
                         "plane": plane, "ga_weeks": 6.2 + 0.5 * (p % 4), "crl_mm": 4.0 + p,
                         "fhr_bpm": 110.0 + 8 * p if p != 3 else None})
    csv = root / "manifest.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    return csv


def _run(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_evaluate_stores_cases_and_recomputes_metrics(bundle, manifest, capsys):
    from core.io import load_image
    from core.models import load_predictor
    from core.rules import apply_rules

    code, out, err = _run(["evaluate", "--model", str(bundle), "--manifest", str(manifest), "--name", "e1",
                           "--json"], capsys)
    assert code == 0, err
    result = json.loads(out)
    assert (result["name"], result["n_cases"], result["n_patients"]) == ("e1", 16, 8)
    meta, df = store.load_evaluation("e1")
    assert result["evaluation_id"] == meta["id"] and meta["bundle_path"] == str(bundle.resolve())
    assert meta["rule_table"]["weeks"]["6"] == {"crl_small_max_mm": 6.0, "fhr_low_max_bpm": 122.0}

    # Reference: the bundle's predictor on each image, one at a time.
    man = pd.read_csv(manifest)
    predictor = load_predictor(bundle)
    ref = np.array([predictor.predict_proba([load_image(str(manifest.parent / p)).image])[0]
                    for p in man["image_path"]])
    assert df["case_id"].tolist() == man["image_path"].tolist()
    np.testing.assert_allclose(df["score"].to_numpy(), ref[:, 1], atol=1e-5)
    np.testing.assert_allclose(np.array(df["scores"].tolist()), ref, atol=1e-5)
    assert df["truth"].tolist() == man["label"].tolist() and df["plane"].tolist() == man["plane"].tolist()
    for (_, m), (_, d) in zip(man.iterrows(), df.iterrows()):
        want = apply_rules(m["ga_weeks"], m["crl_mm"], None if pd.isna(m["fhr_bpm"]) else m["fhr_bpm"])
        got = {k: (None if pd.isna(d[c]) else bool(d[c])) for k, c in
               (("applicable", "rule_applicable"), ("crl_low", "crl_low"), ("fhr_low", "fhr_low"),
                ("both_low", "both_low"))}
        assert got == want

    # Metrics: patient mean of the reference scores, scored by sklearn.
    patient = pd.DataFrame({"p": man["patient_id"], "y": man["label"] == "miscarriage", "s": ref[:, 1]})
    patient = patient.groupby("p").agg(y=("y", "first"), s=("s", "mean"))
    assert result["metrics"]["auc"] == pytest.approx(roc_auc_score(patient["y"], patient["s"]), abs=1e-9)
    assert result["image_metrics"]["auc"] == pytest.approx(roc_auc_score(man["label"] == "miscarriage", ref[:, 1]))
    lo, hi = result["metrics"]["auc_ci"]
    assert lo <= result["metrics"]["auc"] <= hi
    assert set(result["metrics"]["rules"]) == {"CRL", "HR", "CRL+HR"}
    assert store.list_evaluations()["n_cases"].tolist() == [16]
    assert store.list_bundles()["path"].tolist() == [str(bundle.resolve())]


def test_evaluate_name_clash_and_replace(bundle, manifest, capsys):
    argv = ["evaluate", "--model", str(bundle), "--manifest", str(manifest), "--name", "dup"]
    assert _run(argv, capsys)[0] == 0
    code, _, err = _run(argv, capsys)
    assert code == 2 and "'dup' already exists" in err and len(err.strip().splitlines()) == 1
    assert _run(argv + ["--replace", "--json"], capsys)[0] == 0
    assert store.list_evaluations()["n_cases"].tolist() == [16]


def test_evaluate_bad_inputs_exit_2(bundle, manifest, tmp_path, capsys):
    bad = manifest.parent / "bad.csv"
    man = pd.read_csv(manifest)
    man.loc[3, "label"] = "twins"
    man.to_csv(bad, index=False)
    cases = [
        (["--model", str(tmp_path / "nowhere"), "--manifest", str(manifest)], "model bundle folder not found"),
        (["--model", str(bundle), "--manifest", str(tmp_path / "none.csv")], "manifest not found"),
        (["--model", str(bundle), "--manifest", str(bad)], "twins"),
    ]
    for args, message in cases:
        code, _, err = _run(["evaluate", *args, "--name", "x"], capsys)
        assert code == 2 and message in err, err
    assert store.list_evaluations().empty
