"""Training: trainer, losses, schedules, patient-level cross-validation, ensembles, distributed launch.

``train(task, manifest, arch, cv, epochs, out, resume, progress) -> dict(run_dir, bundle, metrics)`` is the
public entry point (the ``train`` command and the dashboard call it). Imported lazily so ``import
core.training`` does not load torch.
"""


def train(*args, **kwargs):
    from core.training.run import train as _train

    return _train(*args, **kwargs)


train.__doc__ = "See :func:`core.training.run.train`."
__all__ = ["train"]
