"""Check that the synthetic miscarriage data reproduce the paper's rule performance (not part of make test).

Why: the miscarriage phantoms are built so that the DeVilbiss CRL+FHR rule ("both low") reaches an AUC of
about 0.65-0.7, as in the paper's Table 3, leaving room for a CNN (0.8-0.9). This script generates
``--n-patients`` patients with :func:`make_sample_data`, loads the manifest with the validating loader,
applies :func:`core.rules.apply_rules` per patient, and prints sensitivity, specificity and the binary-rule
AUC (sens + spec) / 2 for CRL low, FHR low and both low, as one JSON line::

    python -m core.data.synthetic.rule_check --n-patients 300 --seed 0
"""

from __future__ import annotations

import argparse
import json
import tempfile

from core.data.manifest import load_manifest
from core.data.synthetic import make_sample_data
from core.rules import apply_rules


def rule_performance(manifest) -> dict:
    """{rule: {"sensitivity", "specificity", "auc"}} at patient level (miscarriage = positive)."""
    per_patient = manifest.df.drop_duplicates("patient_id")
    y = (per_patient["label"] == "miscarriage").to_numpy()
    out = {"n_patients": int(len(y)), "n_miscarriage": int(y.sum())}
    flags = [apply_rules(r.ga_weeks, r.crl_mm, r.fhr_bpm) for r in per_patient.itertuples()]
    for rule in ("crl_low", "fhr_low", "both_low"):
        pred = [bool(f[rule]) for f in flags]
        sens = sum(p for p, t in zip(pred, y) if t) / max(1, y.sum())
        spec = sum(not p for p, t in zip(pred, y) if not t) / max(1, (~y).sum())
        out[rule] = {"sensitivity": round(sens, 3), "specificity": round(spec, 3),
                     "auc": round((sens + spec) / 2, 3)}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-patients", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        path = make_sample_data(tmp, study="miscarriage", n_patients=args.n_patients, seed=args.seed)["miscarriage"]
        print(json.dumps(rule_performance(load_manifest(path, task="miscarriage"))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
