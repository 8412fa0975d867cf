"""The studies as data: the numbers of DESIGN.md section 1 reach the recipes."""

import pytest

from core.errors import InputError
from core.tasks import FIRST_TRIMESTER_STRUCTURES, get_task, list_tasks


def test_study_recipes_match_design():
    cns = get_task("cns")
    assert cns.default_arch == "resnet34"
    assert (cns.recipe.lr, cns.recipe.weight_decay, cns.recipe.warmup_epochs) == (5e-4, 0.05, 1)
    assert cns.protocol.cv == "lopo" and cns.protocol.frame_step == 80
    preterm = get_task("preterm")
    assert (preterm.recipe.lr, preterm.recipe.weight_decay, preterm.recipe.batch_size) == (1e-4, 5e-4, 4)
    assert (preterm.recipe.seg_alpha, preterm.recipe.cls_beta) == (0.5, 0.8)
    assert get_task("miscarriage").protocol.cv == "kfold:10"
    assert get_task("first_trimester").num_classes == 17 == len(FIRST_TRIMESTER_STRUCTURES)


def test_generic_task_takes_labels_from_manifest_sorted():
    task = get_task("classification", labels=["b", "a", "b"])
    assert task.labels == ("a", "b") and task.positive_label == "b"


def test_unknown_task_names_the_choices():
    with pytest.raises(InputError, match="unknown task 'nope'.*miscarriage"):
        get_task("nope")
    assert {"miscarriage", "preterm", "cns", "first_trimester", "classification"} <= set(list_tasks())
