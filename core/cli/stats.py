"""Diagnostic statistics on any CSV of per-case scores (the README's "Statistics" section lists each option
with the pROC / MRMCaov / statsmodels function it matches).

  python -m core stats roc     --csv CSV --truth COL --score COL [--score2 COL] [options] [--json]
  python -m core stats coords  --csv CSV --truth COL --score COL --x 0.9 [--input specificity] [--ci] [--json]
  python -m core stats compare --csv CSV --truth COL --score COL --score2 COL [--method delong|bootstrap|venkatraman]
                               [--unpaired] [--csv2 CSV2] [--json]
  python -m core stats kappa   --csv CSV --rater1 COL --rater2 COL [--weights linear|quadratic] [--json]
  python -m core stats mrmc    --csv LONG_CSV [--reader COL --modality COL --case COL --truth COL --score COL] [--json]
  python -m core stats power   --auc A --n-cases N [--n-controls M] [--sig-level 0.05] [--power P] [--json]

stats roc prints {"auc", "auc_ci": [lo, hi], "auc2", "auc2_ci", "delong_p", "auc_difference",
"difference_ci", "z", "n", "n_pos", "positive", ...}. Column names match exactly first, then ignoring case and
surrounding spaces. Truth values are 0/1 or two labels; with labels other than 0/1 name the positive one with
--positive (never guessed; the output repeats it). Every score must be a number: a bad row stops with exit
code 2 naming its CSV line.
"""

from __future__ import annotations

NAME = "stats"
HELP = "statistics on a CSV of scores: roc, coords, compare, kappa, mrmc, power"


def _common(p, *, score2: bool = False) -> None:
    p.add_argument("--csv", required=True, metavar="CSV", help="CSV file with a header row")
    p.add_argument("--truth", required=True, metavar="COL", help="column with the true class (0/1 or two labels)")
    p.add_argument("--score", required=True, metavar="COL", help="column with the score")
    p.add_argument("--score2", required=score2, default=None, metavar="COL",
                   help="second score column (same cases; see compare --unpaired / --csv2)")
    p.add_argument("--positive", default=None, metavar="LABEL", help="truth value of the positive class")
    p.add_argument("--direction", default="<", choices=["<", ">", "auto"],
                   help="'<': higher score = positive (default); '>': lower; 'auto': pROC's median rule")
    p.add_argument("--confidence", type=float, default=0.95, help="confidence level of the CIs (default 0.95)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _boot(p) -> None:
    p.add_argument("--boot-n", type=int, default=2000, metavar="N", help="bootstrap replicates (default 2000)")
    p.add_argument("--no-stratified", dest="stratified", action="store_false",
                   help="resample all cases together (default: cases and controls separately, as pROC)")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")


def add_arguments(parser) -> None:
    fmt = parser.formatter_class
    sub = parser.add_subparsers(dest="stats_command", metavar="STAT")
    roc = sub.add_parser("roc", help="AUC with CI; partial AUC; sensitivity at a fixed specificity; paired test",
                         description=__doc__, formatter_class=fmt)
    _common(roc)
    roc.add_argument("--ci-method", default="delong", choices=["delong", "bootstrap"],
                     help="CI of the AUC: DeLong (default) or bootstrap percentile")
    _boot(roc)
    roc.add_argument("--groups", default=None, metavar="COL",
                     help="patient id column: cluster bootstrap over patients (implies --ci-method bootstrap)")
    roc.add_argument("--partial", nargs=2, type=float, default=None, metavar=("LO", "HI"),
                     help="also the partial AUC over this specificity (or --partial-focus) range, bootstrap CI")
    roc.add_argument("--partial-focus", default="specificity", choices=["specificity", "sensitivity"])
    roc.add_argument("--partial-correct", action="store_true", help="McClish-standardised partial AUC")
    roc.add_argument("--specificity", type=float, default=None, metavar="SP",
                     help="also the sensitivity at this specificity (pROC interpolation) with bootstrap CI")
    roc.add_argument("--sensitivity", type=float, default=None, metavar="SE",
                     help="also the specificity at this sensitivity with bootstrap CI")
    coords = sub.add_parser("coords", help="sensitivity / specificity at given coordinates (pROC coords)",
                            formatter_class=fmt)
    _common(coords)
    coords.add_argument("--x", required=True, type=float, nargs="+", metavar="X", help="values of --input")
    coords.add_argument("--input", default="specificity", choices=["specificity", "sensitivity", "threshold"])
    coords.add_argument("--ci", action="store_true", help="bootstrap CIs (pROC ci.coords)")
    _boot(coords)
    cmp_ = sub.add_parser("compare", help="two ROC curves: DeLong (paired/unpaired), bootstrap, Venkatraman",
                          formatter_class=fmt)
    _common(cmp_, score2=True)
    cmp_.add_argument("--method", default="delong", choices=["delong", "bootstrap", "venkatraman"])
    cmp_.add_argument("--unpaired", action="store_true", help="treat the two scores as different samples")
    cmp_.add_argument("--csv2", default=None, metavar="CSV2",
                      help="second sample's CSV (same --truth column, score column --score2); implies --unpaired")
    cmp_.add_argument("--partial", nargs=2, type=float, default=None, metavar=("LO", "HI"),
                      help="bootstrap test of partial AUCs over this specificity range")
    _boot(cmp_)
    kap = sub.add_parser("kappa", help="Cohen's kappa (weighted) with SE and CI", formatter_class=fmt)
    kap.add_argument("--csv", required=True, metavar="CSV")
    kap.add_argument("--rater1", required=True, metavar="COL")
    kap.add_argument("--rater2", required=True, metavar="COL")
    kap.add_argument("--weights", default="none", choices=["none", "linear", "quadratic"])
    kap.add_argument("--labels", default=None, metavar="A,B,C", help="ordinal scale order (default: sorted)")
    kap.add_argument("--confidence", type=float, default=0.95)
    kap.add_argument("--json", action="store_true")
    mr = sub.add_parser("mrmc", help="Obuchowski-Rockette MRMC (random / fixed readers / fixed cases)",
                        formatter_class=fmt)
    mr.add_argument("--csv", required=True, metavar="CSV", help="long format: one row per reader, modality, case")
    for flag in ("reader", "modality", "case", "truth", "score"):
        mr.add_argument(f"--{flag}", default=flag, metavar="COL", help=f"column of the {flag} (default {flag!r})")
    mr.add_argument("--positive", default=None, metavar="LABEL")
    mr.add_argument("--covariance", default="jackknife", choices=["jackknife", "delong"])
    mr.add_argument("--fom", default="auc", choices=["auc", "partial_auc", "sensitivity", "specificity"],
                    help="figure of merit (default auc); sensitivity/specificity of score >= --threshold")
    mr.add_argument("--threshold", type=float, default=0.5, help="decision threshold of --fom sensitivity/specificity")
    mr.add_argument("--limits", nargs=2, type=float, default=(0.9, 1.0), metavar=("LO", "HI"),
                    help="specificity range of --fom partial_auc (default 0.9 1)")
    mr.add_argument("--confidence", type=float, default=0.95)
    mr.add_argument("--json", action="store_true")
    pw = sub.add_parser("power", help="power / sample size of an AUC study (pROC power.roc.test)",
                        formatter_class=fmt)
    pw.add_argument("--auc", type=float, default=None, help="expected AUC (leave out to solve for it)")
    pw.add_argument("--n-cases", type=float, default=None, help="positive cases (leave out to solve)")
    pw.add_argument("--n-controls", type=float, default=None, help="controls (default kappa x cases)")
    pw.add_argument("--kappa", type=float, default=1.0, help="controls per case (default 1)")
    pw.add_argument("--sig-level", type=float, default=0.05, help="alpha (give 'none' via --solve sig_level)")
    pw.add_argument("--power", type=float, default=None, help="target power (leave out to solve for power)")
    pw.add_argument("--solve", default=None, choices=["auc", "n_cases", "sig_level", "power"],
                    help="what to solve for (default: the one left out)")
    pw.add_argument("--alternative", default="two-sided", choices=["two-sided", "one-sided"])
    pw.add_argument("--csv", default=None, metavar="CSV", help="pilot data: two-curve power from DeLong variances")
    pw.add_argument("--truth", default=None, metavar="COL")
    pw.add_argument("--score", default=None, metavar="COL")
    pw.add_argument("--score2", default=None, metavar="COL")
    pw.add_argument("--positive", default=None, metavar="LABEL")
    pw.add_argument("--json", action="store_true")


def run(args) -> int:
    from core.cli import _stats_run
    from core.errors import InputError

    command = getattr(args, "stats_command", None)
    if command is None:
        raise InputError("name a statistic: python -m core stats roc|coords|compare|kappa|mrmc|power ...")
    return getattr(_stats_run, f"run_{command}")(args)
