"""core.evaluation: diagnostic statistics computed from per-case predictions.

Why lazy exports: submodules pull in scipy and scikit-learn; ``import core.evaluation.instance_metrics`` or a
command's ``--help`` should not pay for that. ``from core.evaluation import delong_ci`` still works (PEP 562).

(``coords`` and ``multiclass_auc`` are also submodule names: import those two functions from their modules,
``from core.evaluation.coords import coords``, so the module and the function are never confused.)

Modules, one responsibility each:
  binary        accuracy, sensitivity, specificity, PPV, NPV, F1 with Wilson / Clopper-Pearson CIs
  delong        AUC variance, CI and the paired test (fast midrank algorithm)
  roc           ROC / PR curves, Youden, sensitivity at specificity, partial AUC
  coords        pROC conventions: direction, interpolated coords, partial AUC
  coords_ci     pROC's bootstrap intervals on them: ci.se / ci.sp / ci.coords, bootstrap (p)AUC CIs
  roc_tests     unpaired DeLong, bootstrap and Venkatraman tests of two ROC curves
  kappa         Cohen's kappa, weighted (linear / quadratic), with Fleiss-Cohen-Everitt SE
  multiclass_auc  Hand-Till one-vs-one and support-weighted AUCs with CIs
  power         power / sample size (Obuchowski, pROC power.roc.test; Hanley-McNeil variance)
  multiclass    one-vs-rest, micro / macro ROC, per-class PR, confusion matrix
  calibration   reliability curve, Brier score, ECE
  decision      decision curves (net benefit)
  bootstrap     patient-cluster bootstrap CIs (vectorised, stratified option, counts replicates lacking a class)
  subgroups     per-group tables, Mann-Whitney U
  rule_metrics  CRL/FHR rules scored as in the paper's Table 3
  baseline      out-of-fold logistic regression on CRL, FHR, GA
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "UndefinedMetricWarning": "_validation",
    "proportion_ci": "binary", "confusion_counts": "binary", "confusion_matrix": "binary",
    "metrics_from_counts": "binary", "binary_metrics": "binary", "single_point_auc": "binary",
    "predictions_at_threshold": "binary",
    "delong_covariance": "delong", "delong_ci": "delong", "delong_test": "delong",
    "roc_curve": "roc", "roc_auc": "roc", "pr_curve": "roc", "youden_threshold": "roc",
    "sensitivity_at_specificity": "roc", "specificity_at_sensitivity": "roc", "partial_auc": "roc",
    "multiclass_roc": "multiclass", "multiclass_pr": "multiclass", "multiclass_metrics": "multiclass",
    "true_class_probability": "multiclass",
    "reliability_curve": "calibration", "brier_score": "calibration", "expected_calibration_error": "calibration",
    "calibration_summary": "calibration",
    "decision_curve": "decision", "net_benefit": "decision",
    "cluster_bootstrap_ci": "bootstrap",
    "likelihood_ratios": "binary", "calibration_slope_intercept": "calibration",
    "ci_coords": "coords_ci", "ci_se": "coords_ci", "ci_sp": "coords_ci", "ci_auc_bootstrap": "coords_ci",
    "partial_auc_proc": "coords",
    "roc_test": "roc_tests", "unpaired_delong_test": "roc_tests", "bootstrap_test": "roc_tests",
    "venkatraman_test": "roc_tests",
    "cohen_kappa": "kappa", "kappa_from_table": "kappa",
    "power_auc": "power", "power_two_aucs": "power", "hanley_mcneil_variance": "power",
    "resolve_column": "subgroups", "subgroup_metrics": "subgroups", "mann_whitney": "subgroups",
    "subgroup_column": "subgroups", "subgroup_choices": "subgroups",
    "mann_whitney_by_group": "subgroups",
    "rule_performance": "rule_metrics", "rules_table": "rule_metrics",
    "out_of_fold_logistic": "baseline", "rules_baseline_frame": "baseline",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'core.evaluation' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
