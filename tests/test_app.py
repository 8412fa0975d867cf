"""AppTest: the dashboard starts from its entrypoint and every page renders without an exception."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.pages_registry import PAGES

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
ALL_PAGES = [spec for specs in PAGES.values() for spec in specs]


def test_home_renders_from_entrypoint():
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    assert at.title[0].value == "SonoDash"


@pytest.mark.parametrize("spec", ALL_PAGES, ids=[s.url for s in ALL_PAGES])
def test_every_page_renders(spec):
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.switch_page(str(Path(APP).parent.parent / "pages" / spec.file)).run()
    assert not at.exception, at.exception
    if spec.file == "train.py":
        _assert_train_refuses_too_small_showcase(at)
    else:
        assert not at.error, [e.value for e in at.error]


def _assert_train_refuses_too_small_showcase(at):
    """The Train page opens on a showcase set it can train (no error, "Start training" enabled); the CNS
    showcase (5 patients, 5 classes), chosen, is too small for the task's leave-one-patient-out protocol, so
    the page says so (the intended guard, core.data.splits.check_cv_feasible) and disables "Start training"
    -- nothing else may be an error."""
    import pandas as pd

    from core.paths import SAMPLE_DATA
    from core.tasks import get_task

    assert not at.error, [e.value for e in at.error]
    assert any("Manifest OK" in s.value for s in at.success)
    assert not next(b for b in at.button if b.label == "Start training").disabled
    at.selectbox(key="train_showcase").select(str(SAMPLE_DATA / "cns" / "manifest.csv")).run()
    manifest = at.selectbox(key="train_showcase").value
    task = next(s.value for s in at.selectbox if str(s.key).startswith("train_task_"))
    cv = at.selectbox(key=f"train_cv_{task}").value
    n_patients = pd.read_csv(manifest)["patient_id"].nunique()
    n_classes = len(get_task(task).labels)
    assert (task, cv, n_patients, n_classes) == ("cns", "lopo", 5, 5)
    assert [e.value for e in at.error] == [
        "--cv lopo needs at least 10 patients (2 of each of 5 classes); the manifest has 5"]
    start = next(b for b in at.button if b.label == "Start training")
    assert start.disabled
