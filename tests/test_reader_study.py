"""Reader studies end to end in core: setup, sequential reading, resume, versions, time, analysis, export."""

import numpy as np
import pytest

from core.accounts import create_user
from core.paths import SAMPLE_DATA
from core.reader_study import (AccessDenied, OrganizerSession, ReaderSession, StudyError, cases_from_manifest)
from core.reader_study.setup import reader_order

MANIFEST = SAMPLE_DATA / "miscarriage" / "manifest.csv"


@pytest.fixture
def bundle(tmp_path):
    """An untrained smallcnn bundle registered as the miscarriage default (the AI output only has to be fixed)."""
    import torch

    from core import store
    from core.models import build_model, save_bundle

    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = build_model("smallcnn", num_classes=2, in_channels=1, width=4)
    path = save_bundle(tmp_path / "bundle", model, {"task": "miscarriage", "class_names": ["live_birth", "miscarriage"],
                                                    "positive_label": "miscarriage", "input_size": 32,
                                                    "normalization": "unit"})
    store.set_default_bundle("miscarriage", store.register_bundle(path))
    return path


@pytest.fixture
def people():
    org = create_user("org", "organizer-pass", role="organizer")
    return org, create_user("ann", "reader-pass-1"), create_user("ben", "reader-pass-2")


def _study(org, design="sequential", n=4, **kw):
    cases = cases_from_manifest(MANIFEST, task="miscarriage", unit="image", limit=n, seed=1)
    return OrganizerSession(org.id).create_study(f"s-{design}-{n}", task="miscarriage", cases=cases,
                                                 readers=["ann", "ben"], design=design, seed=7, **kw)


def test_cases_from_manifest_by_patient_and_image():
    by_patient = cases_from_manifest(MANIFEST, task="miscarriage")
    by_image = cases_from_manifest(MANIFEST, task="miscarriage", unit="image")
    assert len(by_patient) == 5 and all(len(c.images) == 2 for c in by_patient)
    assert len(by_image) == 10 and {c.truth for c in by_image} == {"live_birth", "miscarriage"}
    assert set(by_image[0].clinical) == {"ga_weeks", "crl_mm", "fhr_bpm"}
    cine = cases_from_manifest(SAMPLE_DATA / "cns" / "manifest.csv", task="cns", unit="image")
    assert all(not c.images[0].endswith(".mp4") for c in cine)


def test_case_order_is_per_reader_and_reproducible():
    a, b = reader_order(10, seed=7, user_id=2), reader_order(10, seed=7, user_id=3)
    assert sorted(a) == list(range(10)) and a == reader_order(10, seed=7, user_id=2) and a != b


def test_setup_errors(people, bundle):
    org, ann, _ = people
    cases = cases_from_manifest(MANIFEST, task="miscarriage", unit="image")
    o = OrganizerSession(org.id)
    with pytest.raises(StudyError, match="design"):
        o.create_study("x", task="miscarriage", cases=cases, readers=[], design="crossover")
    with pytest.raises(StudyError, match="only reader or clinician accounts"):
        o.create_study("x", task="miscarriage", cases=cases, readers=["org"])
    with pytest.raises(StudyError, match="does not exist"):
        o.create_study("x", task="miscarriage", cases=cases, readers=["zed"])
    o.create_study("x", task="miscarriage", cases=cases, readers=["ann"])
    with pytest.raises(StudyError, match="already exists"):
        o.create_study("x", task="miscarriage", cases=cases, readers=["ann"])
    with pytest.raises(AccessDenied, match="organizer"):
        OrganizerSession(ann.id)


def test_aided_design_needs_a_model(people):
    org = people[0]
    cases = cases_from_manifest(MANIFEST, task="miscarriage", unit="image")
    with pytest.raises(StudyError, match="needs an AI model"):
        OrganizerSession(org.id).create_study("y", task="miscarriage", cases=cases, readers=["ann"], design="aided")


def test_sequential_reading_resume_and_results(people, bundle):
    org, ann, ben = people
    sid = _study(org)
    o = OrganizerSession(org.id)
    assert o.precompute_ai(sid) == 4 and o.precompute_ai(sid) == 0
    rng = np.random.default_rng(0)
    for reader in (ann, ben):
        s = ReaderSession(reader.id)
        first = s.next_item(sid)
        assert (first.number, first.phase, first.ai) == (1, "unaided", None)
        s.submit(sid, first.case_id, "unaided", label="miscarriage", confidence=80)
        # "closing the browser": a new session resumes at the aided phase of the same case
        s = ReaderSession(reader.id)
        again = s.next_item(sid)
        assert (again.number, again.phase, again.case_id) == (1, "aided", first.case_id)
        assert again.ai is not None and 0.0 <= again.ai.probability <= 1.0 and again.ai.overlay.ndim == 3
        while (item := s.next_item(sid)) is not None:
            s.submit(sid, item.case_id, item.phase, label=str(rng.choice(["live_birth", "miscarriage"])),
                     confidence=float(rng.integers(0, 101)), free_text="ok", region=(30, 5, 10, 40))
        assert s.progress(sid) == {"done": 8, "total": 8}
        assert all(a.region == (10.0, 5.0, 30.0, 40.0) for a in s.my_answers(sid) if a.number > 1)
        assert all(a.seconds is not None and a.seconds >= 0 for a in s.my_answers(sid))
    # every reader saw the same AI output for a case
    a_items = {ReaderSession(ann.id).item(sid, n, "aided").case_id: ReaderSession(ann.id).item(sid, n, "aided").ai.probability
               for n in range(1, 5)}
    b_items = {ReaderSession(ben.id).item(sid, n, "aided").case_id: ReaderSession(ben.id).item(sid, n, "aided").ai.probability
               for n in range(1, 5)}
    assert a_items == b_items
    progress = o.progress(sid)
    assert progress["done"].tolist() == [8, 8] and set(progress["status"]) == {"finished"}
    res = o.results(sid)
    table = res["readers"].set_index(["reader", "phase"])
    assert {("ann", "unaided"), ("ben", "aided"), ("AI", "stand-alone"), ("ann + AI", "second reader")} <= set(table.index)
    answers = o.answers(sid)
    ann_un = answers[(answers.reader == "ann") & (answers.phase == "unaided")]
    expected_acc = float((ann_un.label == ann_un.truth).mean())
    assert table.loc[("ann", "unaided"), "accuracy"] == pytest.approx(expected_acc)
    assert len(res["unaided_vs_aided"]) == 2 and set(res["fleiss"]) == {"unaided", "aided"}
    assert len(res["kappa"]) == 2
    assert set(res["mrmc"]) == {"aided_vs_unaided", "unaided_vs_ai", "aided_vs_ai"}
    csv = o.export_csv(sid)
    assert csv.count("\n") == 1 + 16 and "truth" in csv.splitlines()[0]


def test_changes_are_versioned_and_unaided_locks_once_aided_opens(people, bundle):
    org, ann, _ = people
    sid = _study(org, allow_changes=True)
    s = ReaderSession(ann.id)
    item = s.next_item(sid)
    s.submit(sid, item.case_id, "unaided", label="live_birth", confidence=10)
    second = s.submit(sid, item.case_id, "unaided", label="miscarriage", confidence=70)
    assert second.version == 2
    history = OrganizerSession(org.id).answers(sid, all_versions=True)
    assert history["version"].tolist() == [1, 2] and history["changed_by"].tolist() == ["ann", "ann"]
    assert OrganizerSession(org.id).answers(sid)["label"].tolist() == ["miscarriage"]
    s.item(sid, 1, "aided")  # the AI is now seen: the unaided answer is frozen
    with pytest.raises(AccessDenied, match="no longer be changed"):
        s.submit(sid, item.case_id, "unaided", label="live_birth", confidence=5)


def test_no_changes_when_not_permitted_and_bad_answers(people, bundle):
    org, ann, _ = people
    sid = _study(org, design="unaided")
    s = ReaderSession(ann.id)
    item = s.next_item(sid)
    with pytest.raises(StudyError, match="label"):
        s.submit(sid, item.case_id, "unaided", label="maybe", confidence=50)
    with pytest.raises(StudyError, match="confidence"):
        s.submit(sid, item.case_id, "unaided", label="live_birth", confidence=101)
    with pytest.raises(StudyError, match="region"):
        s.submit(sid, item.case_id, "unaided", label="live_birth", confidence=1, region=(1, 2))
    with pytest.raises(AccessDenied, match="no aided phase"):
        s.submit(sid, item.case_id, "aided", label="live_birth", confidence=1)
    s.submit(sid, item.case_id, "unaided", label="live_birth", confidence=1)
    with pytest.raises(AccessDenied, match="no longer be changed"):
        s.submit(sid, item.case_id, "unaided", label="live_birth", confidence=2)
    OrganizerSession(org.id).set_status(sid, "closed")
    nxt = s.next_item(sid)
    with pytest.raises(AccessDenied, match="closed"):
        s.submit(sid, nxt.case_id, "unaided", label="live_birth", confidence=2)


def test_a_sample_of_cases_keeps_every_class_in_proportion():
    """3 cases from a 30 %-positive set: 2 negatives and 1 positive (a plain random draw has no positive a
    third of the time, and then no sensitivity); shares follow the source; the draw is seeded."""
    from core.reader_study.sources import CaseSpec, _subset

    def make(truth, n):
        return [CaseSpec(case_key=f"{truth}{i}", images=[], truth=truth, clinical={}) for i in range(n)]

    cases = make("live_birth", 224) + make("miscarriage", 96)
    for seed in range(5):
        assert sorted(c.truth for c in _subset(cases, 3, seed)) == ["live_birth", "live_birth", "miscarriage"]
    ten = [c.truth for c in _subset(cases, 10, 0)]
    assert ten.count("miscarriage") == 3 and len({c.case_key for c in _subset(cases, 10, 0)}) == 10
    assert [c.case_key for c in _subset(cases, 10, 4)] == [c.case_key for c in _subset(cases, 10, 4)]
    three = make("a", 5) + make("b", 1) + make("c", 1)
    assert sorted(c.truth for c in _subset(three, 2, 0)) == ["a", "a"]     # fewer cases than classes: by share
