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
            "score_threshold": 0.3, "metrics": {"mask_map50": 0.5, "box_map50": 0.6, "per_structure": [
                {"structure": s, "TP": 3.0, "FP": 1.0, "FN": 0.0, "TN": 6.0, "accuracy": 0.9, "recall": 1.0,
                 "precision": 0.75, "f1": 0.857, "mask_ap50": 0.7, "box_ap50": 0.8} for s in structures]}}
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
    assert "✅ cranium" in text and "❌ choroid plexus — missing" in text
    assert len(at.image) == 6                                       # the showcase patient's six views
    assert "instance overlay" in str(at.image[0].proto)
    shown = at.multiselect(key="instance_shown")
    assert shown.value == ["cranium", "midline_falx"]
    shown.unselect("midline_falx").run()                             # toggling redraws, keeps the checklist
    assert not at.exception and "✅ midline falx" in " ".join(m.value for m in at.markdown)


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
