"""An averaging ensemble of fold models that behaves like one network.

Why: the CNS protocol keeps the best-on-validation model of every fold and averages them; the dashboard's
uncertainty is the spread of the members. Averaging happens on *probabilities* (not logits), and the
ensemble returns log-probabilities (classes) or logits of the mean probability (masks, single-logit heads),
so ``softmax`` / ``sigmoid`` of its output is exactly the mean member probability and every consumer
(predictor, Grad-CAM, evaluation) treats it like any other network of its kind.
"""

from __future__ import annotations

import torch
from torch import nn

_EPS = 1e-7


def _mean_probability_logits(outputs: list[torch.Tensor]) -> torch.Tensor:
    """Average member probabilities; return logits whose softmax/sigmoid is that average.

    One channel (binary mask, single-logit head): sigmoid. Several: softmax over the channel axis.
    """
    if outputs[0].shape[1] == 1:
        p = torch.stack([torch.sigmoid(o) for o in outputs]).mean(0)
        return torch.logit(p.clamp(_EPS, 1 - _EPS))
    p = torch.stack([torch.softmax(o, dim=1) for o in outputs]).mean(0)
    return torch.log(p.clamp_min(_EPS))


class ModelEnsemble(nn.Module):
    """``members`` of one architecture; forward returns the same structure as one member."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)

    def member_outputs(self, x: torch.Tensor) -> list:
        """Every member's raw output (for uncertainty: the spread of member probabilities)."""
        return [m(x) for m in self.members]

    def forward(self, x: torch.Tensor):
        outs = self.member_outputs(x)
        if isinstance(outs[0], dict):
            merged = {}
            for key in outs[0]:
                merged[key] = _mean_probability_logits([o[key] for o in outs])
            return merged
        return _mean_probability_logits(outs)
