"""Access rules of reader studies: blinding in core, formula-safe exports, the audit trail of a scripted
session, navigation (skip/flag/back), drafts, deletion after export, banner masking, stored-evaluation cases."""

import csv
import io

import numpy as np
import pytest

from core import audit
from core.accounts import create_user
from core.paths import SAMPLE_DATA
from core.reader_study import AccessDenied, OrganizerSession, ReaderSession, StudyError, cases_from_manifest
from core.reader_study.ai import case_ai

MANIFEST = SAMPLE_DATA / "miscarriage" / "manifest.csv"


@pytest.fixture
def bundle(tmp_path):
    import torch

    from core import store
    from core.models import build_model, save_bundle

    torch.manual_seed(0)
    torch.set_num_threads(1)
    path = save_bundle(tmp_path / "bundle", build_model("smallcnn", num_classes=2, in_channels=1, width=4),
                       {"task": "miscarriage", "class_names": ["live_birth", "miscarriage"],
                        "positive_label": "miscarriage", "input_size": 32, "normalization": "unit"})
    store.set_default_bundle("miscarriage", store.register_bundle(path))
    return str(path)


@pytest.fixture
def people():
    return (create_user("org", "organizer-pass", role="organizer"), create_user("ann", "reader-pass-1"),
            create_user("cleo", "clinician-pass", role="clinician"))


def _cases(n=3):
    return cases_from_manifest(MANIFEST, task="miscarriage", unit="image", limit=n, seed=1)


def test_case_ai_and_answer_tables_check_the_caller(people, bundle):
    from core.reader_study.blinding import is_blinded, unfinished_studies

    org, ann, cleo = people
    o = OrganizerSession(org.id)
    sid = o.create_study("blind", task="miscarriage", cases=_cases(), readers=["ann", "cleo"], seed=3)
    case_id = ReaderSession(ann.id).next_item(sid).case_id
    for actor in (ann.id, cleo.id):                 # readers: not before their unaided answer
        with pytest.raises(AccessDenied, match="unaided answer"):
            case_ai(case_id, actor=actor)
    assert case_ai(case_id, actor=org.id)["probability"] is not None      # the organizer may look
    assert unfinished_studies(cleo.id) == ["blind"] and is_blinded(cleo.id) and not is_blinded(org.id)
    with pytest.raises(AccessDenied):               # a clinician reading the study is not an organizer
        OrganizerSession(cleo.id)
    from core.reader_study.analysis import answers_frame, export_csv, results

    for fn in (answers_frame, export_csv, results):
        with pytest.raises(AccessDenied):
            fn(sid, actor=ann.id)
    s = ReaderSession(ann.id)
    s.submit(sid, case_id, "unaided", label="miscarriage", confidence=70)
    assert case_ai(case_id, actor=ann.id)["probability"] is not None      # now the aided phase may show it
    overlay = s.item(sid, 1, "aided").ai.overlay                          # the Grad-CAM overlay of the image ...
    top = max(1, int(0.06 * overlay.shape[0]))
    assert overlay[:top].max() == 0 and overlay[top * 3:].max() > 0     # ... has its burned-in banner masked too
    admin = create_user("root", "admin-password", role="admin")
    OrganizerSession(admin.id)                     # admins may organise too


def test_export_escapes_formula_free_text(people, bundle):
    org, ann, _ = people
    o = OrganizerSession(org.id)
    sid = o.create_study("csv", task="miscarriage", cases=_cases(2), readers=["ann"], design="unaided", seed=1)
    s = ReaderSession(ann.id)
    hostile = ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "plain text"]
    item = s.next_item(sid)
    s.submit(sid, item.case_id, "unaided", label="live_birth", confidence=20, free_text=hostile[0])
    item = s.next_item(sid)
    s.submit(sid, item.case_id, "unaided", label="live_birth", confidence=30, free_text=hostile[1])
    text = o.export_csv(sid)
    rows = sorted(csv.DictReader(io.StringIO(text)), key=lambda r: float(r["confidence"]))
    assert [r["free_text"] for r in rows] == ["'=cmd|' /C calc'!A0", "'+1+1"]
    assert all(not r[c].startswith(("=", "+", "-", "@", "\t", "\r")) for r in rows for c in r)
    assert [float(r["confidence"]) for r in rows] == [20.0, 30.0]      # numbers stay numbers
    from core.text_safety import csv_cell

    assert [csv_cell(v) for v in hostile] == ["'" + v for v in hostile[:5]] + ["plain text"]
    assert csv_cell(-1.5) == -1.5 and csv_cell(float("nan")) == ""


def test_audit_trail_holds_one_row_per_action_of_a_scripted_session(people, bundle):
    from core.accounts import sign_in

    org, ann, _ = people
    before = len(audit.query(limit=10_000))
    assert sign_in("org", "organizer-pass", client="10.1.1.1").account is not None       # 1 sign-in
    assert sign_in("ann", "not-the-password", client="10.1.1.2").account is None         # 2 failure
    o = OrganizerSession(org.id)
    sid = o.create_study("audited", task="miscarriage", cases=_cases(2), readers=["ann"], design="unaided",
                         status="draft", seed=2)                                           # 3 create
    o.update_study(sid, allow_changes=True)                                                # 4 edit
    o.set_status(sid, "open")                                                              # 5 open
    s = ReaderSession(ann.id)
    item = s.next_item(sid)
    s.submit(sid, item.case_id, "unaided", label="live_birth", confidence=10)              # 6 answer
    s.submit(sid, item.case_id, "unaided", label="miscarriage", confidence=60)             # 7 changed answer
    o.export_csv(sid)                                                                      # 8 export
    o.set_status(sid, "closed")                                                            # 9 close
    path = o.delete_study(sid)                                                             # 10 delete
    rows = audit.query(limit=10_000, newest_first=False)[before:]
    assert [(r.actor, r.action) for r in rows] == [
        ("org", "auth.sign_in"), ("ann", "auth.sign_in_failed"), ("org", "study.create"), ("org", "study.edit"),
        ("org", "study.open"), ("ann", "study.answer"), ("ann", "study.answer_change"),
        ("org", "export.study_answers"), ("org", "study.close"), ("org", "study.delete")]
    assert rows[3].detail == {"changed": ["allow_changes"]} and rows[7].detail == {"rows": 2}
    assert all(r.at.tzinfo is not None for r in rows)
    assert "truth" in open(path).readline() and open(path).read().count("\n") == 3        # exported first
    assert not [st for st in o.studies() if st["id"] == sid]
    with pytest.raises(Exception, match="append-only"):      # the store refuses to rewrite history
        from sqlalchemy import text

        from core.store import session_scope

        with session_scope() as session:
            session.execute(text("UPDATE audit_events SET actor = 'someone else'"))


def test_navigation_skip_flag_back_and_strict_order(people, bundle):
    org, ann, _ = people
    o = OrganizerSession(org.id)
    strict = o.create_study("strict", task="miscarriage", cases=_cases(), readers=["ann"], design="unaided", seed=4)
    nav = o.create_study("nav", task="miscarriage", cases=_cases(), readers=["ann"], design="sequential", seed=4,
                         questions={"navigation": True})
    s = ReaderSession(ann.id)
    with pytest.raises(AccessDenied, match="in order"):
        s.item(strict, 2, "unaided")                      # no skipping without navigation
    with pytest.raises(AccessDenied, match="does not allow"):
        s.set_flag(strict, s.next_item(strict).case_id, "unaided")
    third = s.item(nav, 3, "unaided")                     # skip to case 3
    s.set_flag(nav, third.case_id, "unaided")
    s.submit(nav, third.case_id, "unaided", label="miscarriage", confidence=80, seconds=4.0)
    back = s.item(nav, 1, "unaided")                      # and back to case 1
    assert back.previous is None and not back.flagged
    rows = s.case_list(nav)
    assert [(r.number, r.done, r.flagged) for r in rows] == [(1, (), False), (2, (), False), (3, ("unaided",), True)]
    assert s.item(nav, 3, "unaided").flagged
    stored = [a for a in s.my_answers(nav) if a.number == 3][0]
    assert 0.0 <= stored.seconds <= 4.0                   # the visible time, capped by the time since opening


def test_visible_seconds_subtract_hidden_time():
    from core.reader_study.session import _reading_seconds, visible_seconds

    assert visible_seconds(100.0, 160.0, 45_000) == pytest.approx(15.0)   # 60 s drawn, 45 s hidden
    assert visible_seconds(100.0, 110.0, None) == pytest.approx(10.0)
    assert visible_seconds(100.0, 110.0, 99_000) == 0.0
    assert _reading_seconds(500.0, 20.0) == 20.0 and _reading_seconds(None, 7.0) == 7.0
    assert _reading_seconds(float("nan"), 7.0) == 7.0 and _reading_seconds(3.0, 7.0) == 3.0


def test_multiclass_questions_and_banner_masked(people):
    org, ann, _ = people
    cases = cases_from_manifest(SAMPLE_DATA / "first_trimester" / "manifest.csv", task="first_trimester",
                                unit="image", limit=6, seed=0)
    o = OrganizerSession(org.id)
    sid = o.create_study("views", task="first_trimester", cases=cases, readers=["ann"], design="unaided", seed=0)
    study = o.study(sid)
    assert study["questions"]["kind"] == "multiclass" and len(study["labels"]) == 6
    item = ReaderSession(ann.id).next_item(sid)
    from core.io import load_image

    case_path = [c for c in cases if True][0].images[0]
    raw = load_image(case_path, frame_step=10 ** 9).image
    shown = item.images[0]
    top = max(1, int(0.06 * shown.shape[0]))
    assert raw[:top].max() > 200                 # the banner text is burned into the file ...
    assert shown[:top].max() == 0                # ... and masked for the reader
    with pytest.raises(StudyError, match="draft study"):
        o.update_study(sid, allow_changes=True)  # the study is open: no more edits


def test_stored_evaluation_cases_resolve_relative_paths(people, sample_miscarriage):
    import pandas as pd

    from core import store
    from core.reader_study import cases_from_evaluation

    root, manifest = sample_miscarriage
    cases = pd.DataFrame({"case_id": manifest["image_path"], "patient_id": manifest["patient_id"],
                          "truth": manifest["label"], "score": np.linspace(0.1, 0.9, len(manifest))})
    store.save_evaluation("rel", task="miscarriage", cases=cases, meta={"manifest": str(root / "manifest.csv")})
    got = cases_from_evaluation("rel")
    assert len(got) == len(manifest) and all(c.images[0].startswith(str(root)) for c in got)
    store.save_evaluation("lost", task="miscarriage", cases=cases, meta={})
    with pytest.raises(StudyError, match="none of its"):
        cases_from_evaluation("lost")


def test_ordinal_study_gets_weighted_kappas_matching_sklearn(people, bundle):
    from sklearn.metrics import cohen_kappa_score

    from core.reader_study.analysis import ordinal_rating

    org, ann, cleo = people
    o = OrganizerSession(org.id)
    sid = o.create_study("ordinal", task="miscarriage", cases=_cases(6), readers=["ann", "cleo"], design="unaided",
                         seed=9, questions={"ordinal": True})
    ratings = {"ann": [0, 25, 50, 75, 100, 100], "cleo": [0, 50, 50, 100, 75, 25]}
    for user in (ann, cleo):
        s = ReaderSession(user.id)
        while (item := s.next_item(sid)) is not None:     # rate by case position, whatever the reader's order
            s.submit(sid, item.case_id, "unaided", label="miscarriage",
                     confidence=ratings[user.username][_position(item.case_id)])
    res = o.results(sid)
    wk = res["weighted_kappa"].set_index("weights")
    a = [ordinal_rating(c) for c in ratings["ann"]]
    b = [ordinal_rating(c) for c in ratings["cleo"]]
    for weights in ("linear", "quadratic"):
        assert wk.loc[weights, "kappa"] == pytest.approx(cohen_kappa_score(a, b, weights=weights, labels=[1, 2, 3, 4, 5]))
        assert wk.loc[weights, "ci_low"] < wk.loc[weights, "kappa"] < wk.loc[weights, "ci_high"]
    roc = res["roc"]
    assert {(p["reader"], p["phase"]) for p in roc["readers"]} == {("ann", "unaided"), ("cleo", "unaided")}
    assert len(res["cases"]) == 6 and list(res["cases"]["case"]) == [1, 2, 3, 4, 5, 6]


def _position(case_id: int) -> int:
    from core.reader_study.schema import StudyCase
    from core.store import session_scope

    with session_scope(write=False) as session:
        return session.get(StudyCase, case_id).position


def test_sign_in_required_shows_only_the_form(monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("SONODASH_AUTH", "required")
    app = str(SAMPLE_DATA.parent / "dashboard" / "app.py")
    at = AppTest.from_file(app, default_timeout=120).run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Sign in to SonoDash"]
    assert [b.label for b in at.button] == ["Sign in"] and len(at.text_input) == 2      # no page, no menu
    assert not at.sidebar.children or "Signed in" not in str(at.sidebar)
    create_user("nina", "nina-password", role="reader")
    at.text_input(key="signin_user").input("nina")
    at.text_input(key="signin_password").input("wrong-password")
    at.button[0].click().run()
    assert [e.value for e in at.error] == ["Unknown user name or wrong password."]
    at.text_input(key="signin_user").input("nina")
    at.text_input(key="signin_password").input("nina-password")
    at.button[0].click().run()
    assert not at.exception and [t.value for t in at.title] == ["SonoDash"]          # the home page
    assert any("Signed in as **nina** (reader)" in c.value for c in at.sidebar.caption)
