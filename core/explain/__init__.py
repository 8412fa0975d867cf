"""Explanations: class-activation maps via pytorch-grad-cam, overlays, and the ROAD faithfulness score.

The method list (:func:`list_cam_methods`, :mod:`core.explain.methods`) is importable without OpenCV or torch,
so ``--help`` and page widgets can show it; the overlay functions load OpenCV on first use.
"""

import importlib

from core.explain.methods import list_cam_methods

CAM_METHOD_NAMES = tuple(list_cam_methods())
_LAZY = {"COLORMAPS": "overlay", "overlay_cam": "overlay", "triptych": "overlay"}

__all__ = ["CAM_METHOD_NAMES", "COLORMAPS", "list_cam_methods", "overlay_cam", "triptych"]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
