"""Task files: a study of your own as a JSON object (:func:`task_from_dict`) or a Python file of Tasks.

Why apart from :mod:`core.tasks`: that module is the table of studies every page and command reads; reading
and checking a user's file (unknown keys refused by name, a failing Python file as one line) is only needed
when ``SONODASH_TASKS`` names one. :func:`core.tasks.load_user_tasks` calls :func:`load_task_file`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import sys
from pathlib import Path

from core.errors import InputError
from core.tasks import TASKS_ENV, Protocol, Recipe, Task, register_task, user_task_names


def task_from_dict(data: dict) -> Task:
    """A :class:`Task` from plain data (a task file's JSON object): nested ``recipe`` / ``protocol`` objects,
    lists for tuples. Unknown keys are refused by name (a typo would otherwise silently train the default)."""
    if not isinstance(data, dict):
        raise InputError(f"a task is a JSON object, got {type(data).__name__}")

    def build(cls, values, where):
        if not isinstance(values, dict):
            raise InputError(f"{where}: expected an object, got {type(values).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError(f"{where}: unknown field(s) {', '.join(unknown)}")
        return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}

    fields = build(Task, data, f"task {data.get('name')!r}")
    if "recipe" in fields:
        fields["recipe"] = Recipe(**build(Recipe, fields["recipe"], "recipe"))
    if "protocol" in fields:
        fields["protocol"] = Protocol(**build(Protocol, fields["protocol"], "protocol"))
    if "views" in fields:
        fields["views"] = {str(k): tuple(v) for k, v in dict(fields["views"]).items()}
    try:
        return Task(**fields)
    except TypeError as err:
        raise InputError(f"task {data.get('name')!r}: {err}") from None


def load_task_file(path) -> list[str]:
    """Register the tasks of one task file; returns their names.

    ``.json``: one task object or a list of them (:func:`task_from_dict`). ``.py``: imported as a module;
    every :class:`Task` in its module-level list ``TASKS`` is registered, and it may call
    :func:`register_task` itself or add a model family with ``@register_model``. A Python task file is code
    you chose to run, like a plugin: point ``SONODASH_TASKS`` only at files you trust.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise InputError(f"{TASKS_ENV}: task file {str(p)!r} not found")
    if p.suffix == ".json":
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise InputError(f"{p}: not a readable JSON task file ({str(err)[:120]})") from None
        items = data if isinstance(data, list) else [data]
        return [register_task(task_from_dict(item), replace_existing=True).name for item in items]
    if p.suffix == ".py":
        before = user_task_names()
        digest = hashlib.blake2b(str(p.resolve()).encode(), digest_size=6).hexdigest()
        module_name = f"sonodash_user_tasks_{digest}"
        spec = importlib.util.spec_from_file_location(module_name, p)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except InputError:
            raise
        except Exception as err:  # noqa: BLE001 - the user's file: one line naming it, exit 2
            sys.modules.pop(module_name, None)
            raise InputError(f"{p}: task file failed ({type(err).__name__}: {err})") from None
        listed = getattr(module, "TASKS", ())
        if not isinstance(listed, (list, tuple)):
            raise InputError(f"{p}: TASKS must be a list of core.tasks.Task")
        for task in listed:
            register_task(task, replace_existing=True)
        return sorted(user_task_names() - before | {t.name for t in listed})
    raise InputError(f"{p}: a task file is .json or .py")
