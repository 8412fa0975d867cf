"""Building the demo models: generate the synthetic sets, train, ship each study's bundle and evaluation.

Why apart from :mod:`core.demo`: the dashboard imports core.demo at every start (the specs, the shipped
bundles, their registration); only ``python -m core demo build`` needs the training, calibration and card code
here. What is built, and why with these specs, is core.demo's DEMO_SPECS.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pandas as pd

from core.demo import DEMO_BUNDLE_LIMIT_MB, DEMO_MODELS, DEMO_SPECS, DemoSpec, demo_task
from core.tasks import get_task


def _with_rules(df: pd.DataFrame, positive_label: str) -> pd.DataFrame:
    """Add the CRL/FHR rule flags and the out-of-fold logistic baseline (same folds as the CNN)."""
    from core.evaluation.baseline import rules_baseline_frame
    from core.rules import apply_rules

    flags = [apply_rules(r.ga_weeks, crl_mm=r.crl_mm, fhr_bpm=r.fhr_bpm) for r in df.itertuples()]
    df = df.copy()
    df["rule_applicable"] = [f["applicable"] for f in flags]
    for key in ("crl_low", "fhr_low", "both_low"):
        df[key] = [f[key] for f in flags]
    df["baseline_score"] = rules_baseline_frame(df, truth="truth", folds="fold", pos_label=positive_label)
    return df


def patient_table(oof: pd.DataFrame, class_names: list[str], positive: str | None) -> pd.DataFrame:
    """Out-of-fold image rows (training's oof_predictions.csv) -> evaluation rows, one per image or cine frame,
    the patient id kept for patient-level aggregation."""
    case = oof["case"].astype(str)
    if "frame" in oof.columns and case.duplicated().any():
        case = case + "#frame" + oof["frame"].fillna(0).astype(int).astype(str)
    out = pd.DataFrame({"case_id": case, "patient_id": oof["patient_id"].astype(str), "truth": oof["truth"]})
    if positive is not None:
        out["score"] = oof["score"].astype(float)
    else:
        for c in class_names:
            out[f"p_{c}"] = oof[f"score_{c}"].astype(float)
    for col in ("fold", "plane", "ga_weeks", "crl_mm", "fhr_bpm"):
        if col in oof.columns:
            out[col] = oof[col]
    return out


def _calibrate_ood(bundle: Path, manifest_csv: Path) -> None:
    from core.data.manifest import load_manifest
    from core.io import load_image
    from core.models import load_bundle, load_predictor, save_bundle
    from core.ood import fit_ood

    df = load_manifest(manifest_csv).df
    images = [load_image(p).image for p in df["image_path"].head(200)]
    model, meta = load_bundle(bundle)
    save_bundle(bundle, model, replace(meta, ood=fit_ood(load_predictor(bundle), images)))


def _calibrate_instance_ood(bundle: Path, manifest_csv: Path) -> None:
    """Backbone-feature calibration of an instance bundle from its training images, into its model.json."""
    from core.data.manifest import load_manifest
    from core.io import load_image
    from core.ood import calibrate_bundle

    df = load_manifest(manifest_csv).df
    calibrate_bundle(bundle, [load_image(p).image for p in df["image_path"].head(200)])


def build_demo(*, data_dir: Path, out_dir: Path = DEMO_MODELS, studies=None, progress=None,
               fresh_data: bool = False) -> dict:
    """Generate the synthetic sets, train each demo model, write bundles and evaluation CSVs.

    A set already generated under ``data_dir/<study>-<n>`` is reused (the generator is deterministic: same
    seed, byte-identical files; the CNS set's cine clips take minutes), unless ``fresh_data``. Returns per
    study the shipped bundle, the run's metrics and ``build_minutes`` (generation + training + calibration,
    wall clock)."""
    import time

    from core.data.synthetic import make_sample_data
    from core.training import train
    from core.training.callbacks import TqdmProgress

    progress = progress or TqdmProgress()
    results = {}
    for spec in DEMO_SPECS:
        if studies and spec.study not in studies:
            continue
        started = time.time()
        n_total = spec.n_patients + spec.extra_test_patients
        study_dir = data_dir / f"{spec.study}-{n_total}"
        manifest = study_dir / spec.study / "manifest.csv"
        if fresh_data or not manifest.is_file():
            shutil.rmtree(study_dir, ignore_errors=True)
            manifest = Path(make_sample_data(study_dir, study=spec.study, n_patients=n_total, seed=0)[spec.study])
        full_manifest = manifest
        if spec.extra_test_patients:        # train on the first n_patients; the rest are scored afterwards
            manifest = _first_patients(full_manifest, spec.n_patients)
        run_dir = data_dir / "runs" / spec.study
        shutil.rmtree(run_dir, ignore_errors=True)
        result = train(demo_task(spec.study), manifest, arch=spec.arch, cv=spec.cv, epochs=spec.epochs,
                       out=run_dir, progress=progress, seed=0, input_size=spec.input_size,
                       batch_size=spec.batch_size, arch_kwargs={"width": spec.width} if spec.width else None)
        target = out_dir / spec.study
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        if result["metrics"].get("per_structure") is not None:
            out = _keep_instance_run(result, target, spec=spec, manifest=manifest)
            if spec.extra_test_patients and out.get("bundle"):
                out["held_out"] = score_instance_held_out(target, full_manifest, spec)
            out["build_minutes"] = round((time.time() - started) / 60, 1)
            results[spec.study] = out
            continue
        source = Path(result["bundle"])
        if spec.ship in ("best_fold", "first_fold"):
            best = json.loads((source / "model.json").read_text(encoding="utf-8")).get("best_fold", 0) \
                if spec.ship == "best_fold" else 0
            source = Path(result["run_dir"]) / "folds" / str(best) / "bundle"
        shutil.copytree(source, target / "bundle")
        meta = json.loads((target / "bundle" / "model.json").read_text(encoding="utf-8"))
        oof = pd.read_csv(Path(result["run_dir"]) / "oof_predictions.csv")
        table = patient_table(oof, list(meta["class_names"]), meta.get("positive_label"))
        task = get_task(spec.study)
        if task.uses_rules:
            table = _with_rules(table, task.positive_label)
        table.to_csv(target / "evaluation.csv", index=False, float_format="%.6g")
        minutes = round((time.time() - started) / 60, 1)
        _record_demo_facts(target / "bundle", spec, result["metrics"], minutes)
        _calibrate_ood(target / "bundle", manifest)
        results[spec.study] = {"bundle": str(target / "bundle"), "metrics": result["metrics"],
                               "build_minutes": minutes}
    return results


def keep_first_member(bundle: Path) -> bool:
    """Replace a shipped ensemble bundle by its first member (fold 0's model), in place; False when it is not
    an ensemble. Why: five fold models of one demo cost five times the bytes of the 25 MB demo budget, and the
    shipped figures are the out-of-fold predictions of the fold models one by one, not of their mean. The
    out-of-distribution calibration stays valid: core.ood embeds an ensemble with its first member."""
    from core.models import load_bundle, save_bundle

    model, meta = load_bundle(bundle)
    members = getattr(model, "members", None)
    if not members:
        return False
    data = meta.to_json()
    n = len(members)
    data.update(ensemble_size=1, ensemble_members=[], fold=0,
                ensemble=f"fold 0's model only (the first of the run's {n} fold models)")
    save_bundle(bundle, members[0], data)
    return True


def _first_patients(manifest: Path, n: int) -> Path:
    """A manifest of the first ``n`` patients (in id order) next to ``manifest`` (same image folders)."""
    df = pd.read_csv(manifest)
    keep = sorted(df["patient_id"].astype(str).unique())[:n]
    out = manifest.with_name(f"manifest_first{n}.csv")
    df[df["patient_id"].astype(str).isin(keep)].to_csv(out, index=False)
    return out


def score_instance_held_out(target: Path, full_manifest: Path, spec: DemoSpec) -> dict:
    """Score the shipped instance bundle on the patients after the first ``spec.n_patients`` of
    ``full_manifest`` (never trained or validated on) with the first-trimester paper's metrics; the result
    becomes the top level of ``target/metrics.json`` (the Evaluations page's figures), the training run's own
    figures move to its ``training_run`` key."""
    import torch

    from core.data.manifest import load_manifest
    from core.models import load_bundle
    from core.tasks import get_task
    from core.training.adapters import InstanceAdapter
    from core.training.instance_data import FoldInstances, collate, load_samples

    man = load_manifest(full_manifest)
    df = man.df
    patients = sorted(df["patient_id"].astype(str).unique())[spec.n_patients:]
    df = df[df["patient_id"].astype(str).isin(patients)].reset_index(drop=True)
    model, meta = load_bundle(target / "bundle")
    structures = tuple(meta.structures)
    samples = load_samples(df, structures=structures, short_side=int(meta.input_size))
    loader = torch.utils.data.DataLoader(FoldInstances(samples, list(range(len(samples))), train=False, seed=0,
                                                       in_channels=int(meta.in_channels)),
                                         batch_size=4, shuffle=False, collate_fn=collate)
    adapter = InstanceAdapter(samples, structures, views=dict(get_task(spec.study).views or {}),
                              score_threshold=float(meta.score_threshold))
    test = adapter.evaluate(adapter.predict(model, loader, device=torch.device("cpu"), autocast=None))
    table = test.pop("per_structure")
    path = target / "metrics.json"
    run = json.loads(path.read_text(encoding="utf-8"))
    held = {k: float(v) for k, v in test.items() if isinstance(v, (int, float))}
    out = {**{k: v for k, v in run.items() if k not in ("runs", "n_runs", "per_structure") and not k.endswith("_sd")},
           **held,
           "per_structure": table.reset_index().to_dict(orient="records") if hasattr(table, "reset_index")
           else table, "n_test_patients": len(patients), "n_test_images": len(samples),
           "evaluation": f"patients {spec.n_patients + 1}-{spec.n_patients + len(patients)} of the seed-0 "
                         f"synthetic set, never trained or validated on",
           "training_run": {k: run.get(k) for k in ("mask_map50", "box_map50", "view_accuracy", "n_runs", "cv",
                                                     "runs", "n_test_patients")}}
    path.write_text(json.dumps(out, indent=1, default=float), encoding="utf-8")
    _record_held_out_in_bundle(target / "bundle", out)
    return {k: held.get(k) for k in ("mask_map50", "box_map50", "view_accuracy")} | {"n_test_patients": len(patients)}


def _record_held_out_in_bundle(bundle: Path, metrics: dict) -> None:
    """The held-out figures as the bundle's own metrics (what its model card reports), the training run's
    test-part figures kept under ``run_test``."""
    meta = json.loads((Path(bundle) / "model.json").read_text(encoding="utf-8"))
    old = {k: v for k, v in (meta.get("metrics") or {}).items() if k != "run_test"}
    keep = ("mask_map50", "box_map50", "view_accuracy", "coco_mask_map50", "coco_box_map50", "n_test_patients",
            "n_test_images", "evaluation")
    _update_model_json(bundle, {"metrics": {**{k: metrics[k] for k in keep if k in metrics}, "run_test": old}})


def demo_card_facts(spec: DemoSpec, metrics: dict, minutes: float | None = None) -> dict:
    """What a demo model's card says it was trained on (model.json ``training_data`` and ``demo``)."""
    from dataclasses import asdict

    if spec.cv.startswith("kfold"):
        held_out = (f"{spec.cv.split(':')[1]}-fold cross-validation: the figures are out-of-fold predictions, "
                    f"every patient tested once by the fold model that never saw it")
    else:
        held_out = f"one {spec.cv} split (train/val/test {spec.split_fractions or 'the task protocol'})"
    if spec.extra_test_patients:
        held_out = (f"the task's {spec.cv} protocol on the first {spec.n_patients} patients, then scored on "
                    f"{spec.extra_test_patients} further patients of the same generator, never trained or "
                    f"validated on")
    shipped = {"ensemble": "the mean of the fold models",
               "best_fold": "the fold model with the best validation score (one of the cross-validation's models)",
               "first_fold": "fold 0's model (one of the cross-validation's models)"}.get(spec.ship, spec.ship)
    return {
        "training_data": {"synthetic": True, "source": f"synthetic phantoms (core.data.synthetic.{spec.study}), "
                          f"{spec.n_patients} patients, seed 0: python -m core make-sample-data --study "
                          f"{spec.study} --n-patients {spec.n_patients} --seed 0",
                          "n_patients": spec.n_patients},
        "demo": {**asdict(spec), "seed": 0, "evaluation": held_out, "shipped_model": shipped,
                 "held_out_patients": metrics.get("n_patients"), "build_minutes": minutes,
                 "command": "python -m core demo build"},
    }


def _update_model_json(bundle: Path, updates: dict) -> None:
    """Set top-level keys of a bundle's model.json (atomically: write a sibling, then rename); the weights
    are not touched."""
    import os

    path = Path(bundle) / "model.json"
    meta = json.loads(path.read_text(encoding="utf-8"))
    meta.update(updates)
    tmp = path.with_name(".model.json.demo-tmp")
    tmp.write_text(json.dumps(meta, indent=2, sort_keys=True, default=float), encoding="utf-8")
    os.replace(tmp, path)


def _record_demo_facts(bundle: Path, spec: DemoSpec, metrics: dict, minutes: float | None) -> None:
    """The run's held-out metrics and the card's training facts into the shipped bundle's model.json."""
    meta = json.loads((Path(bundle) / "model.json").read_text(encoding="utf-8"))
    facts = demo_card_facts(spec, metrics, minutes)
    updates = {"training_data": {**(meta.get("training_data") or {}), **facts["training_data"]},
               "demo": facts["demo"]}
    if meta.get("kind") != "instance":
        updates["metrics"] = dict(metrics)
    _update_model_json(bundle, updates)


def _bundle_mb(bundle: Path) -> float:
    return sum(f.stat().st_size for f in Path(bundle).rglob("*") if f.is_file()) / 1e6


def _keep_instance_run(result: dict, target: Path, *, spec: DemoSpec | None = None,
                       manifest: Path | None = None) -> dict:
    """An instance run into sample_data: metrics.json (with the per-structure table and the demo settings;
    per-run histories left out) always, the bundle only when it fits :data:`DEMO_BUNDLE_LIMIT_MB`."""
    from dataclasses import asdict

    metrics = {k: v for k, v in result["metrics"].items() if k != "runs"}
    if spec is not None:
        metrics["demo_spec"] = {**asdict(spec), "seed": 0}
        metrics["task"] = spec.study
    splits = Path(result.get("run_dir", "")) / "splits.json"
    if splits.is_file():         # held-out patients of the (first) run: the figure's sample size
        metrics["n_test_patients"] = len(json.loads(splits.read_text(encoding="utf-8"))["splits"][0]["test"])
    metrics["runs"] = [{k: v for k, v in r.items() if k not in ("history", "per_structure")}
                       for r in result["metrics"].get("runs", [])]
    (target / "metrics.json").write_text(json.dumps(metrics, indent=1, default=float), encoding="utf-8")
    size = _bundle_mb(result["bundle"])
    out = {"metrics": {k: metrics.get(k) for k in ("mask_map50", "box_map50", "view_accuracy", "fps")},
           "bundle_mb": round(size, 1)}
    if size <= DEMO_BUNDLE_LIMIT_MB:
        shutil.copytree(result["bundle"], target / "bundle")
        out["bundle"] = str(target / "bundle")
        if manifest is not None:            # the out-of-distribution check of the instance flow (core.ood)
            _calibrate_instance_ood(target / "bundle", manifest)
        if spec is not None:
            _record_demo_facts(target / "bundle", spec, metrics, None)
    else:
        out["bundle"] = None
        out["skipped"] = f"bundle {size:.0f} MB exceeds the {DEMO_BUNDLE_LIMIT_MB:.0f} MB demo budget; metrics kept"
    return out
