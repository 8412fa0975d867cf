"""Lists come from one registry each: CAM methods (core.explain.methods), CV schemes (core.data.splits)."""

import subprocess
import sys

import pytest

from core.data.splits import CV_SCHEMES, cv_choices, list_cv_schemes, make_splits, parse_cv
from core.errors import InputError
from core.explain import CAM_METHOD_NAMES, list_cam_methods
from core.explain.methods import canonical_cam_method


def test_cam_methods_are_one_list_resolved_to_the_library():
    import pytorch_grad_cam

    from core.explain.cam import CAM_METHODS, cam_method

    names = list_cam_methods()
    assert names == ["gradcam", "gradcam++", "hirescam", "layercam", "eigencam", "scorecam"]
    assert tuple(names) == CAM_METHOD_NAMES and list(CAM_METHODS) == names
    assert CAM_METHODS["gradcam++"] is pytorch_grad_cam.GradCAMPlusPlus
    assert cam_method("Grad_CAM") is pytorch_grad_cam.GradCAM and cam_method("gradcampp") is CAM_METHODS["gradcam++"]
    assert canonical_cam_method("HiRes-CAM") == "hirescam"
    with pytest.raises(InputError, match="unknown CAM method 'magic'; choose one of: gradcam, gradcam\\+\\+"):
        canonical_cam_method("magic")


def test_cam_list_is_importable_without_torch_or_opencv():
    code = ("import sys; from core.explain import list_cam_methods; list_cam_methods(); "
            "print(sorted(m for m in ('torch', 'cv2', 'pytorch_grad_cam') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_predict_help_lists_every_cam_method():
    out = subprocess.run([sys.executable, "-m", "core", "predict", "--help"], capture_output=True, text=True,
                         check=True).stdout
    flat = " ".join(out.split())
    assert "explanation: " + ", ".join(list_cam_methods()) in flat


def test_cv_schemes_are_one_list():
    assert list_cv_schemes() == ["kfold:K", "lopo", "holdout", "repeated:N"]
    assert cv_choices() == ["holdout", "kfold:5", "kfold:10", "lopo", "repeated:5"]
    for choice in cv_choices():
        assert parse_cv(choice)[0] in CV_SCHEMES
    with pytest.raises(InputError, match=r"expected kfold:K, lopo, holdout or repeated:N"):
        parse_cv("lopo:3")
    with pytest.raises(InputError, match="K must be at least 2"):
        parse_cv("kfold:1")
    with pytest.raises(InputError, match="N must be at least 1"):
        parse_cv("repeated:0")
    with pytest.raises(InputError, match="expected"):
        parse_cv("kfold:²")


def test_each_scheme_splits_through_its_registry_entry():
    ids = [f"p{i:02d}" for i in range(20)]
    labels = [i % 2 for i in range(20)]
    assert parse_cv(" kfold:4 ") == ("kfold", 4)                  # padded: still k-fold, not holdout
    assert [s.name for s in make_splits(ids, labels=labels, cv=" kfold:4 ")] == ["fold0", "fold1", "fold2", "fold3"]
    assert len(make_splits(ids, labels=labels, cv="lopo")) == 20
    assert [s.name for s in make_splits(ids, labels=labels, cv="repeated:3")] == ["run0", "run1", "run2"]
    (hold,) = make_splits(ids, labels=labels, cv="holdout")
    assert (len(hold.train), len(hold.val), len(hold.test)) == (12, 4, 4)
    for split in make_splits(ids, labels=labels, cv="kfold:4"):
        assert sorted(split.train + split.val + split.test) == ids



def test_family_modules_load_once_for_concurrent_first_lookups(monkeypatch):
    """Page scripts run in threads: a lookup racing the first one must wait for the family imports, not read a
    half-filled registry (an empty architecture list on the Train page)."""
    import threading
    import time

    from core.models import registry

    def slow_family_import(name):             # a family module that takes a while to import, then registers
        time.sleep(0.3)
        registry._REGISTRY["race_test_net"] = registry.ModelSpec(name="race_test_net", builder=object,
                                                                 kind="classification")

    monkeypatch.setattr(registry, "_loaded", False)
    monkeypatch.setattr(registry, "family_modules", lambda: ["fake.family"])
    monkeypatch.setattr(registry.importlib, "import_module", slow_family_import)
    monkeypatch.delitem(registry._REGISTRY, "race_test_net", raising=False)
    seen, start = [], threading.Barrier(6)

    def lookup():
        start.wait()
        seen.append("race_test_net" in registry.list_models("classification"))

    threads = [threading.Thread(target=lookup) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    registry._REGISTRY.pop("race_test_net", None)
    assert seen == [True] * 6
