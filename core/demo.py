"""Demo models and evaluations: built reproducibly from the synthetic sample data, registered on first start.

Why: a presenter opens the dashboard on a fresh machine and every page must show real curves and a working
analysis at once, with no patient data and no downloads. ``python -m core demo build`` trains small models
on generated synthetic sets (fixed seeds) and writes, per study, ``sample_data/models/<study>/bundle/`` (the
model bundle, with its out-of-distribution calibration) and ``evaluation.csv`` (out-of-fold per-case
predictions, with the CRL/FHR rule flags and the logistic baseline where the study has them). On first
start, :func:`register_demo_assets` puts them into an empty store.

evaluation.csv columns: case_id, patient_id, truth (class name), score (positive-class probability, binary
studies), p_<class> (per-class probabilities, multi-class studies), fold, rule columns, subgroup fields.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from core.models.meta import BundleMeta
from core.paths import SAMPLE_DATA

DEMO_MODELS = SAMPLE_DATA / "models"


@dataclass(frozen=True)
class DemoSpec:
    """How one study's demo model is trained (small: the whole demo stays under 25 MB in git)."""

    study: str
    arch: str
    cv: str
    n_patients: int
    epochs: int
    input_size: int


# The papers' recipes (pretrained VGG19/ResNet34 fine-tuned at lr 1e-4 to 5e-4 for 30-500 epochs with heavy
# augmentation) take hours on a 2-core CPU; the demo models train from scratch, so they use a higher
# learning rate and the light "basic" augmentation. Everything else (splits, losses, class weights, the region
# of interest: the sac's square for miscarriage) is the study's own, and the recipe's from-scratch variant
# (core.tasks, Recipe.scratch: e.g. cosine schedule, final weights) applies on top, as in any run without
# ImageNet weights.
DEMO_RECIPE = {"lr": 1e-3, "weight_decay": 1e-4, "augment": "basic", "warmup_epochs": 0, "patience": 100}

DEMO_SPECS = (
    DemoSpec("miscarriage", "smallcnn", "kfold:5", 160, 8, 96),
    DemoSpec("preterm", "unet_cls", "holdout", 80, 10, 96),
    DemoSpec("cns", "smallcnn", "kfold:5", 60, 8, 96),
    # First trimester: the task's own recipe (SGD lr 5e-3, 256 px), one run of the paper's protocol (fixed 5 %
    # test set, 4:1 train/val). Its metrics (per-structure table) are always kept as metrics.json; its weights
    # only when the bundle fits DEMO_BUNDLE_LIMIT_MB. maskrcnn_lite (2.3 M parameters, ~9 MB) fits; a Mask
    # R-CNN with torchvision's 1024-wide box head (maskrcnn_mobilenet, ~89 MB) would not.
    DemoSpec("first_trimester", "maskrcnn_lite", "repeated:1", 40, 20, 256),
)
DEMO_BUNDLE_LIMIT_MB = 12.0


def demo_task(study: str):
    """The study's task with the demo recipe (see DEMO_RECIPE)."""
    from dataclasses import replace

    from core.tasks import get_task

    task = get_task(study)
    if task.kind == "instance":
        return task         # Mask R-CNN trains with its own recipe (SGD); DEMO_RECIPE is for the classifiers
    overrides = dict(DEMO_RECIPE)
    if task.recipe.augment == "crop_jitter":
        overrides.pop("augment")
    return replace(task, recipe=replace(task.recipe, **overrides))


def demo_bundle(study: str) -> Path | None:
    """The committed demo bundle of ``study``, or None when it has not been built."""
    path = DEMO_MODELS / study / "bundle"
    return path if (path / "model.json").is_file() else None


def evaluation_cases(csv_path, class_names: list[str]) -> pd.DataFrame:
    """An evaluation.csv as the store's ``cases`` table (p_<class> columns -> a ``scores`` list)."""
    df = pd.read_csv(csv_path)
    prob_cols = [f"p_{c}" for c in class_names]
    if all(c in df.columns for c in prob_cols) and len(class_names) > 2:
        df["scores"] = df[prob_cols].to_numpy().tolist()
        df = df.drop(columns=prob_cols)
    return df


def register_demo_assets(*, force: bool = False) -> list[str]:
    """Register the demo bundles (as each study's default) and their evaluations when the store has none.

    Returns the names of what was registered. Safe to call at every start: it does nothing once the store
    holds a bundle, unless ``force``.
    """
    from core import store
    from core.rules import DEFAULT_RULE_TABLE

    if not force and len(store.list_bundles()) > 0:
        return []
    done = []
    for spec in DEMO_SPECS:
        bundle = demo_bundle(spec.study)
        if bundle is None:
            continue
        meta = BundleMeta.from_json((bundle / "model.json").read_text(encoding="utf-8"), where=str(bundle))
        meta = replace(meta, name=meta.name or f"demo {spec.study}")
        bundle_id = store.register_bundle(bundle, meta)
        store.set_default_bundle(spec.study, bundle_id)
        done.append(f"bundle:{spec.study}")
        csv = DEMO_MODELS / spec.study / "evaluation.csv"
        if csv.is_file() and meta.kind != "instance":   # instance metrics live in model.json/metrics.json
            cases = evaluation_cases(csv, list(meta.class_names))
            rules = DEFAULT_RULE_TABLE.to_dict() if spec.study == "miscarriage" else None
            store.save_evaluation(f"demo-{spec.study}", task=spec.study, cases=cases, bundle_path=bundle,
                                  rule_table=rules, replace=True,
                                  meta={"class_names": list(meta.class_names), "source": "demo build",
                                        "positive_label": meta.positive_label, "cv": spec.cv})
            done.append(f"evaluation:demo-{spec.study}")
    return done


# ------------------------------------------------------------------------------------------------- build
def _with_rules(df: pd.DataFrame) -> pd.DataFrame:
    """Add the CRL/FHR rule flags and the out-of-fold logistic baseline (same folds as the CNN)."""
    from core.evaluation.baseline import rules_baseline_frame
    from core.rules import apply_rules

    flags = [apply_rules(r.ga_weeks, crl_mm=r.crl_mm, fhr_bpm=r.fhr_bpm) for r in df.itertuples()]
    df = df.copy()
    df["rule_applicable"] = [f["applicable"] for f in flags]
    for key in ("crl_low", "fhr_low", "both_low"):
        df[key] = [f[key] for f in flags]
    df["baseline_score"] = rules_baseline_frame(df, truth="truth", folds="fold", pos_label="miscarriage")
    return df


def _patient_table(oof: pd.DataFrame, class_names: list[str], positive: str | None) -> pd.DataFrame:
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


def build_demo(*, data_dir: Path, out_dir: Path = DEMO_MODELS, studies=None, progress=None) -> dict:
    """Generate the synthetic sets, train each demo model, write bundles and evaluation CSVs."""
    from core.data.synthetic import make_sample_data
    from core.training import train
    from core.training.callbacks import TqdmProgress

    progress = progress or TqdmProgress()
    results = {}
    for spec in DEMO_SPECS:
        if studies and spec.study not in studies:
            continue
        manifests = make_sample_data(data_dir, study=spec.study, n_patients=spec.n_patients, seed=0)
        manifest = Path(manifests[spec.study])
        run_dir = data_dir / "runs" / spec.study
        shutil.rmtree(run_dir, ignore_errors=True)
        result = train(demo_task(spec.study), manifest, arch=spec.arch, cv=spec.cv, epochs=spec.epochs, out=run_dir,
                       progress=progress, seed=0, input_size=spec.input_size)
        target = out_dir / spec.study
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        if result["metrics"].get("per_structure") is not None:
            results[spec.study] = _keep_instance_run(result, target, spec=spec, manifest=manifest)
            continue
        shutil.copytree(result["bundle"], target / "bundle")
        _calibrate_ood(target / "bundle", manifest)
        meta = json.loads((target / "bundle" / "model.json").read_text(encoding="utf-8"))
        oof = pd.read_csv(Path(result["run_dir"]) / "oof_predictions.csv")
        table = _patient_table(oof, list(meta["class_names"]), meta.get("positive_label"))
        if spec.study == "miscarriage":
            table = _with_rules(table)
        table.to_csv(target / "evaluation.csv", index=False, float_format="%.6g")
        results[spec.study] = {"bundle": str(target / "bundle"), "metrics": result["metrics"]}
    return results


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
    else:
        out["bundle"] = None
        out["skipped"] = f"bundle {size:.0f} MB exceeds the {DEMO_BUNDLE_LIMIT_MB:.0f} MB demo budget; metrics kept"
    return out
