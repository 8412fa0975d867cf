"""AppTest, page by page, from the entrypoint with the demo models and evaluations registered on first start:
set the widgets a user sets and check what the page shows."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.demo import demo_bundle

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "dashboard" / "app.py")
pytestmark = pytest.mark.skipif(demo_bundle("miscarriage") is None, reason="demo models not built")


def _open(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300).run()
    at.switch_page(str(ROOT / "pages" / page)).run()
    assert not at.exception, at.exception
    return at


def _metric(at, label):
    return next(m for m in at.metric if m.label == label)


def _table(at, index_name) -> dict:
    """{row: first column} of the st.table whose index is called ``index_name``."""
    frame = next(t.value for t in at.table if t.value.index.name == index_name)
    return dict(zip(frame.index, frame.iloc[:, 0]))


def test_analyze_showcase_patient_uses_its_own_values():
    at = _open("analyze.py")
    # MC0001's manifest: GA 8.46 weeks (8w3d), CRL 13.8 mm, FHR 160 bpm, 0.2478 mm / pixel
    shown = {n.label: n.value for n in at.number_input}
    assert (shown["GA weeks"], shown["GA days"], shown["CRL (mm)"], shown["FHR (bpm)"]) == (8, 3, 13.8, 160.0)
    # the viewer's caption names the spacing the analysis will use (the PNG has none of its own)
    captions = " ".join(str(i.proto) for i in at.image)
    assert "0.2478 mm/pixel (from the showcase manifest)" in captions and "no pixel spacing" not in captions
    at.button[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert _table(at, "rule") == {"CRL small": "no", "FHR low": "no", "CRL + FHR both low": "no"}
    assert 0.0 <= float(_table(at, "")["P(miscarriage)"]) <= 1.0
    assert any("GA 8w3d · CRL 13.8 mm · FHR 160 bpm · pixel spacing 0.2478 mm" in m.value for m in at.markdown)
    assert len(at.image) >= 2
    # a changed value: the result is out of date, not shown
    next(n for n in at.number_input if n.label == "FHR (bpm)").set_value(110.0).run()
    assert any("out of date" in w.value for w in at.warning)
    assert not any(t.value.index.name == "rule" for t in at.table)


def test_analyze_save_case_stores_it():
    from core import store

    at = _open("analyze.py")
    at.button[0].click().run()
    # The review's widget keys carry the analysis' token (a new analysis starts a fresh review).
    note = next(t for t in at.text_area if str(t.key).startswith("review_note_"))
    note.input("checked by hand").run()
    save = next(b for b in at.button if b.label == "Save case")
    assert not save.disabled       # the showcase patient is in distribution: the AI's decision is preselected
    save.click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    saved = [s.value for s in at.success if "saved" in s.value]
    assert len(saved) == 1 and saved[0].startswith("Case #") and "listed on the Cases page" in saved[0]
    case_id = int(saved[0].split("#")[1].split()[0])
    cases = store.list_cases().set_index("id")
    assert cases.loc[case_id, "note"] == "checked by hand"
    assert cases.loc[case_id, "study"] == "miscarriage"


def _methods(at) -> set:
    table = next(d.value for d in at.dataframe if "method" in d.value.columns)
    return set(table["method"])


def test_compare_shows_roc_with_rules_and_moves_with_the_threshold():
    at = _open("compare.py")
    assert not at.error
    assert {"CNN @ 0.50", "rule CRL", "rule HR", "rule CRL+HR"} <= _methods(at)
    at.slider(key="compare_threshold").set_value(0.9).run()
    assert "CNN @ 0.90" in _methods(at)
    assert any("DeLong" in m.value for m in at.markdown)


def test_evaluations_overlays_curves_and_exports():
    at = _open("evaluations.py")
    assert not at.error
    at.multiselect(key="eval_chosen").set_value(["demo-miscarriage", "demo-cns"]).run()
    assert not at.exception and not at.error
    assert len(at.get("plotly_chart")) >= 4


def test_models_page_lists_the_demo_models_with_cards():
    at = _open("models.py")
    names = set(at.dataframe[0].value["task"])
    assert {"miscarriage", "cns"} <= names
    assert any("Default model" in s.value for s in at.success)


def test_train_page_lists_showcase_manifests():
    at = _open("train.py")
    options = at.selectbox(key="train_showcase").options
    assert any("miscarriage" in o for o in options)


def test_viewer_spacing_caption_names_the_spacing_used():
    from dashboard.viewer import spacing_caption

    assert spacing_caption(0.1, 0.2478, "from the showcase manifest") == ", 0.1 mm/pixel (from the file)"
    assert spacing_caption(None, 0.2478, "entered") == ", 0.2478 mm/pixel (entered)"
    assert spacing_caption(None, None, "entered") == ", no pixel spacing"
