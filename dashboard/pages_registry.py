"""The dashboard's pages, in menu order. One place, so tests and the router agree."""

from dataclasses import dataclass


@dataclass(frozen=True)
class PageSpec:
    file: str
    title: str
    icon: str
    url: str
    default: bool = False


PAGES = {
    "SonoDash": [
        PageSpec("home.py", "Home", ":material/home:", "home", default=True),
        PageSpec("analyze.py", "Analyze", ":material/biotech:", "analyze"),
        PageSpec("compare.py", "CNN versus rules", ":material/compare_arrows:", "compare"),
        PageSpec("evaluations.py", "Evaluations", ":material/monitoring:", "evaluations"),
    ],
    "Models": [
        PageSpec("train.py", "Train", ":material/model_training:", "train"),
        PageSpec("models.py", "Models", ":material/inventory_2:", "models"),
    ],
    "Reader studies": [
        PageSpec("reader_read.py", "Read cases", ":material/visibility:", "read"),
        PageSpec("study_setup.py", "Set up a study", ":material/assignment:", "study-setup"),
        PageSpec("study_results.py", "Study results", ":material/analytics:", "study-results"),
    ],
}
