"""Progress reporting for training runs.

Why callbacks: the command line shows a tqdm bar, the dashboard a progress widget, tests nothing; the trainer
only calls ``callback(event)`` with a small dict and never knows who listens. Events:
``{"event": "fold_start", "fold", "n_folds"}``, ``{"event": "epoch_end", "fold", "n_folds", "epoch", "epochs",
"loss", "val_loss", "monitor", "value"}``, ``{"event": "batch", "fold", "epoch", "step", "steps", "loss"}``,
``{"event": "fold_end", "fold", "n_folds", "best"}``, ``{"event": "fold_skipped", "fold", "n_folds"}``,
``{"event": "load", "done", "total"}`` (manifest rows decoded; cropping to the sac runs the level set on each).
"""

from __future__ import annotations

import sys
from typing import Callable, Iterable


class TqdmProgress:
    """A tqdm bar on stderr over all epochs of all folds, showing fold / epoch / loss / validation metric."""

    def __init__(self, *, disable: bool = False):
        self.disable = disable
        self.bar = None

    def __call__(self, event: dict) -> None:
        from tqdm import tqdm

        kind = event.get("event")
        if kind == "load":
            if self.bar is None:
                self.bar = tqdm(total=int(event["total"]), file=sys.stderr, disable=self.disable,
                                desc="loading images", unit="row", leave=True)
            self.bar.update(int(event["done"]) - self.bar.n)
            if event["done"] >= event["total"]:
                self.bar.close()
                self.bar = None
        elif kind == "fold_start":
            if self.bar is not None:
                self.bar.close()
            self.bar = tqdm(total=int(event.get("epochs", 0)), file=sys.stderr, disable=self.disable,
                            desc=f"fold {event['fold'] + 1}/{event['n_folds']}", unit="epoch", leave=True)
        elif kind == "batch" and self.bar is not None:
            self.bar.set_postfix_str(f"epoch {event['epoch'] + 1} step {event['step']}/{event['steps']} "
                                     f"loss {event['loss']:.4f}", refresh=True)
        elif kind == "epoch_end" and self.bar is not None:
            value = event.get("value")
            shown = "nan" if value is None else f"{value:.4f}"
            self.bar.set_postfix_str(f"epoch {event['epoch'] + 1} loss {event['loss']:.4f} "
                                     f"{event['monitor']} {shown}", refresh=False)
            self.bar.update(1)
        elif kind in ("fold_end", "fold_skipped"):
            if self.bar is not None:
                self.bar.close()
                self.bar = None
            if kind == "fold_skipped" and not self.disable:
                print(f"fold {event['fold'] + 1}/{event['n_folds']}: already finished, kept", file=sys.stderr)


def fan_out(callbacks: Iterable[Callable | None]) -> Callable[[dict], None]:
    """One callable that forwards each event to every non-None callback."""
    cbs = [c for c in callbacks if c is not None]

    def emit(event: dict) -> None:
        for c in cbs:
            c(event)

    return emit
