"""Blinding is enforced by core.reader_study, not by the pages.

Proof by non-interference: two studies are identical for reader "ann" except for what she must not learn:
study B has every ground truth flipped, different cached AI outputs, and a second reader whose answers differ
from study A. Ann performs the same actions in both through every public ReaderSession method; everything she
receives (ids and timestamps aside) must be identical, except the AI output of the aided phase, which she
is allowed to see and which must then differ. If any method leaked truth, unaided-phase AI output or the other
reader's answers, some output would differ between A and B.
"""

import dataclasses
import inspect

import numpy as np
import pytest
from sqlalchemy import select

from core.accounts import create_user
from core.paths import SAMPLE_DATA
from core.reader_study import AccessDenied, CaseItem, OrganizerSession, ReaderSession, cases_from_manifest
from core.reader_study.ai import precompute
from core.reader_study.schema import CaseAI, StudyCase
from core.store import session_scope

PUBLIC_METHODS = {"studies", "progress", "next_item", "item", "submit", "my_answers", "user_id", "case_list", "set_flag"}
VOLATILE = {"id", "name", "study_id", "case_id", "created", "seconds"}  # the study name differs by design


@pytest.fixture
def two_studies(tmp_path):
    import torch

    from core import store
    from core.models import build_model, save_bundle

    torch.set_num_threads(1)
    torch.manual_seed(0)
    path = save_bundle(tmp_path / "b", build_model("smallcnn", num_classes=2, in_channels=1, width=4),
                       {"task": "miscarriage", "class_names": ["live_birth", "miscarriage"],
                        "positive_label": "miscarriage", "input_size": 32, "normalization": "unit"})
    store.set_default_bundle("miscarriage", store.register_bundle(path))
    org = create_user("org", "organizer-pass", role="organizer")
    ann, ben = create_user("ann", "reader-pass-1"), create_user("ben", "reader-pass-2")
    o = OrganizerSession(org.id)
    cases = cases_from_manifest(SAMPLE_DATA / "miscarriage" / "manifest.csv", task="miscarriage", unit="image",
                                limit=4, seed=0)
    flipped = [dataclasses.replace(c, truth="live_birth" if c.truth == "miscarriage" else "miscarriage")
               for c in cases]
    a = o.create_study("A", task="miscarriage", cases=cases, readers=["ann", "ben"], seed=5, allow_changes=True)
    b = o.create_study("B", task="miscarriage", cases=flipped, readers=["ann", "ben"], seed=5, allow_changes=True)
    precompute(a)
    precompute(b)
    with session_scope() as session:  # study B's AI says the opposite with another overlay
        ids = session.scalars(select(StudyCase.id).where(StudyCase.study_id == b))
        for row in session.scalars(select(CaseAI).where(CaseAI.case_id.in_(list(ids)))):
            row.probability = 1.0 - row.probability
            row.predicted_class = "live_birth" if row.predicted_class == "miscarriage" else "miscarriage"
            row.overlay_png = None
    for sid, label, conf in ((a, "live_birth", 5.0), (b, "miscarriage", 95.0)):
        s = ReaderSession(ben.id)
        while (item := s.next_item(sid)) is not None:
            s.submit(sid, item.case_id, item.phase, label=label, confidence=conf, free_text=f"ben says {label}")
    return a, b, ann


def _plain(value, *, drop_ai: bool):
    """Outputs made comparable: ids and timestamps removed, arrays as bytes; the AI view dropped if asked."""
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name), drop_ai=drop_ai) for f in dataclasses.fields(value)
                if f.name not in VOLATILE and not (drop_ai and f.name == "ai")}
    if isinstance(value, np.ndarray):
        return (value.shape, value.tobytes())
    if isinstance(value, dict):
        return {k: _plain(v, drop_ai=drop_ai) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, (list, tuple)):
        return [_plain(v, drop_ai=drop_ai) for v in value]
    return value


def _script(session: ReaderSession, sid: int) -> list:
    """Ann's actions (identical in both studies); returns every output, tagged with the phase it came from."""
    out = []
    view = [v for v in session.studies() if v.id == sid]
    out.append(("unaided", view))
    out.append(("unaided", session.progress(sid)))
    for number in range(1, 5):
        item = session.next_item(sid)
        out.append(("unaided", item))
        out.append(("unaided", session.item(sid, number, "unaided")))
        out.append(("unaided", session.submit(sid, item.case_id, "unaided", label="miscarriage", confidence=60)))
        out.append(("unaided", session.submit(sid, item.case_id, "unaided", label="live_birth", confidence=40)))
        out.append(("unaided", session.my_answers(sid)))
        aided = session.next_item(sid)
        assert aided.phase == "aided" and aided.ai is not None
        out.append(("aided", aided))
        out.append(("aided", session.submit(sid, aided.case_id, "aided", label="miscarriage", confidence=70)))
    out.append(("aided", session.my_answers(sid)))
    out.append(("aided", session.progress(sid)))
    out.append(("aided", [v for v in session.studies() if v.id == sid]))
    return out


def test_reader_api_surface_is_known():
    """A new public method must be added to the non-interference script below (and thus be checked)."""
    public = {name for name, _ in inspect.getmembers(ReaderSession) if not name.startswith("_")}
    assert public == PUBLIC_METHODS
    fields = {f.name for cls in (CaseItem,) for f in dataclasses.fields(cls)}
    assert not fields & {"truth", "case_key", "paths", "label_truth"}


def test_outputs_do_not_depend_on_truth_other_readers_or_unaided_ai(two_studies):
    a, b, ann = two_studies
    out_a, out_b = _script(ReaderSession(ann.id), a), _script(ReaderSession(ann.id), b)
    assert len(out_a) == len(out_b)
    for (phase, x), (_, y) in zip(out_a, out_b):
        assert _plain(x, drop_ai=True) == _plain(y, drop_ai=True)
        if phase == "unaided" and isinstance(x, CaseItem):
            assert x.ai is None and y.ai is None
    # sanity: the aided phase does show the AI, and it is the study's own (so the comparison above had teeth)
    ai_a = [x.ai.probability for p, x in out_a if isinstance(x, CaseItem) and p == "aided"]
    ai_b = [x.ai.probability for p, x in out_b if isinstance(x, CaseItem) and p == "aided"]
    assert ai_a == pytest.approx([1.0 - v for v in ai_b])
    # and the organizer (not the reader) does see the flipped truths and ben's answers
    truth_a = OrganizerSession(1).answers(a).query("reader == 'ann'")["truth"].tolist()
    truth_b = OrganizerSession(1).answers(b).query("reader == 'ann'")["truth"].tolist()
    assert truth_a != truth_b


def test_aided_output_is_refused_before_the_unaided_answer(two_studies):
    a, _, ann = two_studies
    s = ReaderSession(ann.id)
    item = s.next_item(a)
    assert item.phase == "unaided" and item.ai is None
    with pytest.raises(AccessDenied, match="unaided answer"):
        s.item(a, 1, "aided")
    with pytest.raises(AccessDenied):
        s.submit(a, item.case_id, "aided", label="miscarriage", confidence=50)


def test_unassigned_reader_gets_nothing(two_studies):
    a, _, _ = two_studies
    eve = create_user("eve", "reader-pass-3")
    s = ReaderSession(eve.id)
    assert s.studies() == []
    for call in (lambda: s.progress(a), lambda: s.next_item(a), lambda: s.item(a, 1, "unaided"),
                 lambda: s.my_answers(a), lambda: s.submit(a, 1, "unaided", label="live_birth", confidence=1)):
        with pytest.raises(AccessDenied, match="not a reader"):
            call()


def test_my_answers_never_include_another_readers(two_studies):
    a, _, ann = two_studies
    s = ReaderSession(ann.id)
    assert s.my_answers(a) == []
    item = s.next_item(a)
    s.submit(a, item.case_id, "unaided", label="miscarriage", confidence=33)
    mine = s.my_answers(a)
    assert len(mine) == 1 and mine[0].free_text == "" and mine[0].confidence == 33
    # ben's answer to the same case cannot be reached by case id either
    with pytest.raises(AccessDenied):
        s.submit(a, 10 ** 6, "unaided", label="miscarriage", confidence=1)
