"""Analyze for first-trimester instance bundles (AppTest from the entrypoint), the load_predictor hand-off, the
overlay drawing and the Evaluations per-structure section.

The bundle used here is a constructed detector with known behaviour rather than a trained one (training Mask
R-CNN takes minutes): a MobileNet Mask R-CNN whose box classifier ignores its input and scores every proposal
as cranium (~0.56) and midline falx (~0.38), with full-box masks and three proposals per image. So on any
image it must report the head view with cranium and midline falx found and the choroid plexus missing.
"""

from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "dashboard" / "app.py")
SHOWCASE = ROOT / "sample_data" / "first_trimester" / "images" / "FT0001_head.png"


def rigged_instance_bundle(folder: Path) -> Path:
    """Save the constructed first-trimester detector (see the module docstring) as a bundle in ``folder``."""
    from core.models import save_bundle
    from core.models.registry import build_model
    from core.tasks import get_task

    task = get_task("first_trimester")
    structures = list(task.structures)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = build_model("maskrcnn_mobilenet", num_classes=len(structures), in_channels=3, min_size=256,
                            max_size=342, rpn_post_nms_top_n_test=3)
    heads = model.roi_heads
    with torch.no_grad():
        heads.box_predictor.cls_score.weight.zero_()
        bias = torch.zeros(len(structures) + 1)
        bias[0] = -10.0                                             # background
        bias[1 + structures.index("cranium")] = 5.0
        bias[1 + structures.index("midline_falx")] = 4.6
        heads.box_predictor.cls_score.bias.copy_(bias)
        heads.box_predictor.bbox_pred.weight.zero_()
        heads.box_predictor.bbox_pred.bias.zero_()
        heads.mask_predictor.mask_fcn_logits.weight.zero_()
        heads.mask_predictor.mask_fcn_logits.bias.fill_(5.0)
    meta = {"kind": "instance", "task": "first_trimester", "name": "constructed head detector",
            "structures": structures, "class_names": structures,
            "views": {k: list(v) for k, v in task.views.items()}, "input_size": 256, "normalization": "imagenet",
            "score_threshold": 0.3}
    return save_bundle(folder / "ft-bundle", model, meta)


def register_default(bundle: Path) -> int:
    from core import store
    from core.models import read_meta

    bundle_id = store.register_bundle(bundle, read_meta(bundle))
    store.set_default_bundle("first_trimester", bundle_id)
    return bundle_id


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    torch.set_num_threads(1)
    return rigged_instance_bundle(tmp_path_factory.mktemp("ft"))


def test_load_predictor_hands_instance_bundles_to_the_instance_predictor(bundle):
    from core.io import load_image
    from core.models import load_predictor
    from core.models.instance import InstancePredictor, completeness

    p = load_predictor(bundle)
    assert isinstance(p, InstancePredictor)
    assert load_predictor(bundle) is p                               # cached like every bundle
    image = load_image(SHOWCASE).image
    inst = p.predict_instances([image])[0]
    assert set(inst.names) == {"cranium", "midline_falx"}
    assert inst.masks.shape[1:] == image.shape[:2]                  # masks at the original size
    check = completeness(inst, p.views)
    assert check["view"] == "head" and check["missing"] == ["choroid_plexus"]


def test_draw_instances_colours_only_the_shown_structures(bundle):
    from core.models import load_predictor
    from dashboard.instance_view import draw_instances, structure_colors

    p = load_predictor(bundle)
    image = np.full((120, 160, 3), 40, dtype=np.uint8)
    inst = p.predict_instances([image])[0]
    colors = structure_colors(p.structures)
    assert len(set(colors.values())) == len(p.structures)
    none = draw_instances(image, inst, shown=[], colors=colors)
    assert np.array_equal(none, image)
    cranium = draw_instances(image, inst, shown=["cranium"], colors=colors)
    both = draw_instances(image, inst, shown=["cranium", "midline_falx"], colors=colors)
    assert cranium.shape == image.shape and (cranium != image).any() and (both != cranium).any()
    covered = np.any(inst.masks[np.array(inst.names) == "cranium"], axis=0)
    assert (cranium[covered] != 40).any(axis=1).mean() > 0.9          # the cranium masks are tinted


def _analyze(at_bundle):
    from streamlit.testing.v1 import AppTest

    register_default(at_bundle)
    at = AppTest.from_file(APP, default_timeout=300).run()
    at.switch_page(str(ROOT / "pages" / "analyze.py")).run()
    at.selectbox(key="study").set_value("first_trimester").run()
    assert not at.exception, at.exception
    return at


def test_analyze_first_trimester_shows_overlay_view_and_checklist(bundle):
    at = _analyze(bundle)
    assert at.selectbox(key="model_first_trimester").value == str(bundle.resolve())
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    text = " ".join(m.value for m in at.markdown)
    assert "View category: head" in text and "completeness 2/3" in text
    assert "check_circle:] cranium (0.56)" in text and "cancel:] choroid plexus — missing" in text
    # the showcase patient's six views, one overlay each (the review below draws its own correction canvas)
    assert sum("instance overlay" in str(i.proto) for i in at.image) == 6
    assert "instance overlay" in str(at.image[0].proto)
    shown = at.multiselect(key="instance_shown")
    assert shown.value == ["cranium", "midline_falx"]
    shown.unselect("midline_falx").run()                             # toggling redraws, keeps the checklist
    assert not at.exception and "check_circle:] midline falx (0.38)" in " ".join(m.value for m in at.markdown)


def test_instance_run_on_a_bad_upload_gives_one_error(bundle):
    from streamlit.testing.v1 import AppTest

    script = f"""
from dashboard.instance_view import run
run([("notes.png", b"this is not an image")], {str(bundle)!r})
run([("empty.png", b"")], {str(bundle)!r})
"""
    at = AppTest.from_string(script, default_timeout=120).run()
    assert not at.exception, at.exception
    assert len(at.error) == 2
    assert "notes.png" in at.error[0].value and "empty.png" in at.error[1].value


def test_evaluations_shows_the_per_structure_table_of_a_run_in_the_paper_layout(monkeypatch, tmp_path):
    """A training run's metrics.json (as the instance trainer writes it) in the store folder: the Evaluations
    page shows it with the paper's columns and a mean row; a never-detected structure keeps its NaNs."""
    import json
    import os

    from streamlit.testing.v1 import AppTest

    run = Path(os.environ["SONODASH_HOME"]) / "runs" / "first_trimester-maskrcnn_mobilenet-test"
    run.mkdir(parents=True)
    rows = [{"structure": "cranium", "TP": 4.0, "FP": 1.0, "FN": 1.0, "TN": 4.0, "accuracy": 0.8, "recall": 0.8,
             "precision": 0.8, "f1": 0.8, "mask_ap50": 0.75, "box_ap50": 0.85},
            {"structure": "nasal_bone", "TP": 0.0, "FP": 0.0, "FN": 2.0, "TN": 8.0, "accuracy": 0.8, "recall": 0.0,
             "precision": None, "f1": 0.0, "mask_ap50": 0.25, "box_ap50": 0.35}]
    (run / "metrics.json").write_text(json.dumps({"mask_map50": 0.5, "mask_map50_sd": 0.02, "box_map50": 0.6,
                                                  "n_runs": 5, "cv": "repeated:5", "per_structure": rows}))
    at = AppTest.from_file(APP, default_timeout=300).run()
    at.switch_page(str(ROOT / "pages" / "evaluations.py")).run()
    assert not at.exception, at.exception
    source = at.selectbox(key="instance_source")
    assert f"run: {run.name}" in source.options
    source.set_value(f"run: {run.name}").run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Mask mAP@0.5"] == "0.500 ± 0.020" and metrics["Box mAP@0.5"] == "0.600"
    table = next(df.value for df in at.dataframe if "Mask AP" in df.value.columns)
    assert list(table.columns) == ["Structure", "TP", "FP", "FN", "TN", "Accuracy", "Recall", "Precision", "F1",
                                   "Mask AP", "Box AP"]
    assert list(table["Structure"]) == ["cranium", "nasal bone", "mean"]
    assert np.isnan(table.loc[1, "Precision"]) and table.loc[1, "TP"] == 0
    assert table.loc[2, "Mask AP"] == 0.5 and table.loc[2, "Box AP"] == 0.6 and table.loc[2, "Precision"] == 0.8


@pytest.mark.skipif(not (ROOT / "sample_data" / "models" / "first_trimester" / "metrics.json").is_file(),
                    reason="first-trimester demo metrics not built")
def test_evaluations_on_a_fresh_start_shows_the_demo_runs_per_structure_table():
    from streamlit.testing.v1 import AppTest

    from core.tasks import get_task

    at = AppTest.from_file(APP, default_timeout=300).run()
    at.switch_page(str(ROOT / "pages" / "evaluations.py")).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="instance_source").value == "demo run: first_trimester"
    table = next(df.value for df in at.dataframe if "Mask AP" in df.value.columns)
    structures = [s.replace("_", " ") for s in get_task("first_trimester").structures]
    assert list(table["Structure"]) == structures + ["mean"]
    assert ((table["TP"] + table["FN"] + table["FP"] + table["TN"]) > 0).all()
