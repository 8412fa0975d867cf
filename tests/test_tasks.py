"""The studies as data: the numbers of DESIGN.md section 1 reach the recipes."""

import pytest

from core.errors import InputError
from core.task_files import load_task_file
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


@pytest.fixture
def user_tasks(monkeypatch):
    """Registered tasks and loaded task files restored after the test (they are process-wide)."""
    from core import tasks

    monkeypatch.delenv(tasks.TASKS_ENV, raising=False)
    saved, files = dict(tasks._USER), set(tasks._loaded_files)
    yield tasks
    tasks._USER.clear()
    tasks._USER.update(saved)
    tasks._loaded_files.clear()
    tasks._loaded_files.update(files)


def test_register_task_adds_a_study_that_every_lookup_sees(user_tasks):
    t = user_tasks.Task(name="twins_test", kind="classification", title="Twins", labels=("single", "twins"),
                        positive_label="twins", recipe=user_tasks.Recipe(lr=3e-4))
    user_tasks.register_task(t)
    assert get_task("twins_test") is t and get_task("twins_test").recipe.lr == 3e-4
    names = list_tasks()
    assert names.index("twins_test") < names.index("classification")      # studies, user tasks, generic kinds
    user_tasks.register_task(t)                                             # the same task again: fine
    with pytest.raises(InputError, match="already registered"):
        user_tasks.register_task(user_tasks.replace(t, title="other"))
    with pytest.raises(InputError, match="name of a built-in task"):
        user_tasks.register_task(user_tasks.replace(get_task("cns"), title="mine"))
    with pytest.raises(InputError, match="task name 'Bad Name'"):
        user_tasks.register_task(user_tasks.replace(t, name="Bad Name"))
    with pytest.raises(InputError, match="positive_label 'x' is not one of its labels"):
        user_tasks.register_task(user_tasks.replace(t, name="t2", positive_label="x"))
    with pytest.raises(InputError, match="at least two distinct labels"):
        user_tasks.register_task(user_tasks.replace(t, name="t3", labels=("a",), positive_label=None))


def test_json_task_file_from_the_environment(user_tasks, tmp_path, monkeypatch):
    import json

    path = tmp_path / "tasks.json"
    path.write_text(json.dumps([{
        "name": "placenta_test", "kind": "classification", "title": "Placenta previa",
        "labels": ["normal", "previa"], "positive_label": "previa", "default_arch": "smallcnn",
        "recipe": {"lr": 0.002, "input_size": 64, "epochs": 3},
        "protocol": {"cv": "kfold:5", "metrics": ["auc"], "subgroups": ["plane"]},
    }]))
    monkeypatch.setenv(user_tasks.TASKS_ENV, str(path))
    task = get_task("placenta_test")
    assert task.labels == ("normal", "previa") and task.positive_label == "previa"
    assert (task.recipe.lr, task.recipe.input_size, task.recipe.epochs) == (0.002, 64, 3)
    assert task.recipe.optimizer == "adamw"                     # unspecified fields keep Recipe's defaults
    assert task.protocol.cv == "kfold:5" and task.protocol.subgroups == ("plane",)
    assert "placenta_test" in list_tasks()


def test_bad_task_files_are_one_line_input_errors(user_tasks, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "x_test", "kind": "classification", "title": "x", "labels": ["a", "b"], '
                   '"recipe": {"learning_rate": 1}}')
    with pytest.raises(InputError, match="recipe: unknown field\\(s\\) learning_rate"):
        load_task_file(bad)
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(InputError, match="broken.py: task file failed \\(RuntimeError: boom\\)"):
        load_task_file(broken)
    with pytest.raises(InputError, match="not found"):
        load_task_file(tmp_path / "missing.json")
    yaml = tmp_path / "tasks.yaml"
    yaml.write_text("name: x\n")
    with pytest.raises(InputError, match="is .json or .py"):
        load_task_file(yaml)


def test_python_task_file_registers_its_tasks_and_a_model_family(user_tasks, tmp_path, monkeypatch):
    from core.models import registry

    saved = dict(registry._REGISTRY)
    py = tmp_path / "my_study.py"
    py.write_text(
        "from torch import nn\n"
        "from core.models.registry import register_model\n"
        "from core.tasks import Task\n"
        "@register_model('cord_net_test', kind='classification', cam_layer='0')\n"
        "def cord_net(*, num_classes, in_channels=1):\n"
        "    return nn.Sequential(nn.Conv2d(in_channels, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(),\n"
        "                         nn.Linear(4, num_classes))\n"
        "TASKS = [Task(name='cord_test', kind='classification', title='Cord', labels=('a', 'b'),\n"
        "              default_arch='cord_net_test')]\n")
    monkeypatch.setenv(user_tasks.TASKS_ENV, str(py))
    try:
        assert "cord_net_test" in registry.list_models("classification")   # the registry reads the task files
        assert get_task("cord_test").default_arch == "cord_net_test"
        assert registry.build_model("cord_net_test", num_classes=2).sonodash_build["architecture"] == "cord_net_test"
    finally:
        registry._REGISTRY.clear()
        registry._REGISTRY.update(saved)
