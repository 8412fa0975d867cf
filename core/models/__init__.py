"""Networks, bundles and prediction (DESIGN.md sections 2 and 4).

Public names are imported lazily so ``import core.models`` (and ``python -m core --help``) does not pay for
torch until something is actually built.

``build_model``, ``list_models``, ``model_kind``, ``register_model``, ``get_model_spec``, ``cam_target_layer``
(registry); ``save_bundle``, ``load_bundle``, ``read_meta``, ``write_meta``, ``BundleError`` (bundle);
``BundleMeta`` (meta: model.json as a typed value); ``training_meta`` (meta_builder); ``load_predictor``,
``Predictor`` (predictor); ``ModelEnsemble`` (ensemble).
"""

import importlib

_EXPORTS = {
    "build_model": "registry", "list_models": "registry", "model_kind": "registry", "register_model": "registry",
    "get_model_spec": "registry", "cam_target_layer": "registry", "MODEL_KINDS": "registry",
    "save_bundle": "bundle", "load_bundle": "bundle", "read_meta": "bundle", "BundleError": "bundle",
    "write_meta": "bundle", "BundleMeta": "meta", "training_meta": "meta_builder",
    "load_predictor": "predictor", "Predictor": "predictor", "Prediction": "predictor",
    "ModelEnsemble": "ensemble",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
