"""The one list of class-activation-map methods: names, aliases, and the pytorch-grad-cam class of each.

Why a module of its own, without torch: the CLI's ``--help``, the Analyze page's choice box and the
explanation code must offer the same methods, and the first two must not pay for importing torch and the
library to show a list. :mod:`core.explain.cam` resolves a name to the library's class through
:data:`CAM_METHOD_CLASSES`; adding a method is one entry here.

>>> list_cam_methods()[:2]
['gradcam', 'gradcam++']
>>> canonical_cam_method("Grad-CAM++")
'gradcam++'
"""

from __future__ import annotations

from core.errors import InputError

#: method name -> class name in :mod:`pytorch_grad_cam`, in the order offered to users (ScoreCAM last: it runs
#: one forward pass per activation channel, the slowest by far)
CAM_METHOD_CLASSES = {
    "gradcam": "GradCAM",
    "gradcam++": "GradCAMPlusPlus",
    "hirescam": "HiResCAM",
    "layercam": "LayerCAM",
    "eigencam": "EigenCAM",
    "scorecam": "ScoreCAM",
}
_ALIASES = {"gradcampp": "gradcam++", "gradcamplusplus": "gradcam++"}


def list_cam_methods() -> list[str]:
    """Names accepted by ``--cam`` and offered on the Analyze page, in display order."""
    return list(CAM_METHOD_CLASSES)


def canonical_cam_method(name: str) -> str:
    """The registered name for ``name`` (case, "-" and "_" ignored; "gradcampp" means "gradcam++").

    Raises :class:`core.errors.InputError` naming the choices for anything else.
    """
    key = str(name).lower().replace("-", "").replace("_", "")
    key = _ALIASES.get(key, key)
    if key not in CAM_METHOD_CLASSES:
        raise InputError(f"unknown CAM method {name!r}; choose one of: {', '.join(CAM_METHOD_CLASSES)}")
    return key
