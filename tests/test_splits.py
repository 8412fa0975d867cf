"""Patient-level splits: no patient ever in two parts, every scheme, stratified and seeded."""

from collections import Counter

import pandas as pd
import pytest

from core.data.splits import Split, fixed_split, make_splits, parse_cv, patient_labels
from core.errors import InputError

IDS = [f"p{i:03d}" for i in range(40)]
LABELS = ["pos" if i % 5 == 0 else "neg" for i in range(40)]   # 8 positives, 32 negatives


def _disjoint(split: Split):
    parts = [set(split.train), set(split.val), set(split.test)]
    for i in range(3):
        for j in range(i + 1, 3):
            assert not parts[i] & parts[j], f"{split.name}: patient in two parts: {parts[i] & parts[j]}"
    assert len(split.train) + len(split.val) + len(split.test) == len(set().union(*parts))


@pytest.mark.parametrize("cv", ["kfold:5", "kfold:10", "kfold:2", "lopo", "holdout", "repeated:5"])
@pytest.mark.parametrize("labels", [LABELS, None])
def test_no_patient_in_two_parts_on_every_scheme(cv, labels):
    splits = make_splits(IDS, labels=labels, cv=cv, seed=3)
    for s in splits:
        _disjoint(s)
        assert set(s.train) | set(s.val) | set(s.test) == set(IDS)
        assert s.train and s.val and s.test


@pytest.mark.parametrize("cv,k", [("kfold:5", 5), ("kfold:10", 10), ("lopo", 40)])
def test_each_patient_tested_exactly_once(cv, k):
    splits = make_splits(IDS, labels=LABELS, cv=cv, seed=0)
    assert len(splits) == k
    tested = Counter(p for s in splits for p in s.test)
    assert set(tested) == set(IDS) and set(tested.values()) == {1}


def test_kfold_proportions_and_stratification():
    splits = make_splits(IDS, labels=LABELS, cv="kfold:4", seed=1)
    lab = dict(zip(IDS, LABELS))
    for s in splits:
        # 1/K test, 1/K validation, rest train
        assert (len(s.test), len(s.val), len(s.train)) == (10, 10, 20)
        assert sum(lab[p] == "pos" for p in s.test) == 2


def test_repeated_has_fixed_test_set_and_varying_train():
    splits = make_splits(IDS, labels=LABELS, cv="repeated:5", seed=0)
    assert len(splits) == 5
    assert len({s.test for s in splits}) == 1
    assert len(splits[0].test) == 2                          # 5 % of 40
    assert len({s.val for s in splits}) > 1
    for s in splits:
        assert len(s.val) == 8 and len(s.train) == 30        # the rest 4:1


def test_holdout_fractions():
    s = make_splits(IDS, labels=LABELS, cv="holdout", seed=0)[0]
    assert (len(s.train), len(s.val), len(s.test)) == (24, 8, 8)


def test_seeded_and_order_independent():
    a = make_splits(IDS, labels=LABELS, cv="kfold:5", seed=7)
    b = make_splits(IDS[::-1], labels=LABELS[::-1], cv="kfold:5", seed=7)
    c = make_splits(IDS, labels=LABELS, cv="kfold:5", seed=8)
    assert [x.to_dict() for x in a] == [x.to_dict() for x in b]
    assert [x.to_dict() for x in a] != [x.to_dict() for x in c]
    assert Split.from_dict(a[0].to_dict()) == a[0]


def test_rare_class_does_not_break_stratification():
    labels = ["pos"] + ["neg"] * 39
    for cv in ("kfold:5", "holdout", "repeated:3", "lopo"):
        for s in make_splits(IDS, labels=labels, cv=cv, seed=0):
            _disjoint(s)


def test_fixed_split_column():
    s = fixed_split(["a", "a", "b", "c", "d"], ["train", "train", "val", "test", "Training"])
    assert s.train == ("a", "d") and s.val == ("b",) and s.test == ("c",)
    _disjoint(s)
    with pytest.raises(InputError, match="patient 'a'"):
        fixed_split(["a", "a", "b"], ["train", "test", "test"])
    with pytest.raises(InputError, match="expected train"):
        fixed_split(["a", "b"], ["train", "banana"])


@pytest.mark.parametrize("bad", ["kfold", "kfold:1", "kfold:x", "loo", "repeated:0", ""])
def test_bad_cv_spec(bad):
    with pytest.raises(InputError):
        parse_cv(bad)


def test_too_few_patients():
    with pytest.raises(InputError, match="at least 5 patients"):
        make_splits(["a", "b"], cv="kfold:5")


def test_patient_labels_positive_wins():
    df = pd.DataFrame({"patient_id": ["a", "a", "b", "b", "b"], "label": ["neg", "pos", "x", "y", "y"]})
    assert patient_labels(df, positive="pos") == {"a": "pos", "b": "y"}
