"""The dashboard's pages, in menu order, and who may open each. One place, so tests and the router agree.

Why one table: which role sees which page is a policy decision that must be readable in one screen and
testable; ``dashboard/app.py`` builds the menu from :func:`allowed_urls` and answers every other URL with a
refusal, so page scripts need no access checks of their own. A page missing from :data:`ROLE_PAGES` is open
to admins only (a new page is closed until someone decides who may see it).

Blinding: while a user has an unfinished reader study (``core.reader_study.blinding``), only the pages in
:data:`OPEN_WHILE_READING` stay open, whatever the role: every other page may show AI output or ground truth.
This is an allow-list for the same reason: a new page is hidden from blinded readers until it is listed here.
"""

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
        PageSpec("cases.py", "Cases", ":material/folder_shared:", "cases"),
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
    "Administration": [
        PageSpec("audit.py", "Audit trail and accounts", ":material/policy:", "audit"),
    ],
}

# role -> URLs of the pages it may open ("*" = every page, including pages not listed anywhere here).
ROLE_PAGES = {
    "admin": {"*"},
    "organizer": {"home", "analyze", "compare", "evaluations", "models", "cases", "study-setup", "study-results"},
    "clinician": {"home", "analyze", "compare", "evaluations", "train", "models", "cases", "read"},
    "researcher": {"home", "analyze", "compare", "evaluations", "train", "models", "cases"},
    "reader": {"home", "read"},
}
# Pages that never show AI output or ground truth of a study case: the only ones open during blinded reading.
OPEN_WHILE_READING = {"home", "read"}


def all_specs() -> list[PageSpec]:
    return [spec for specs in PAGES.values() for spec in specs]


def may_open(role: str | None, url: str, *, blinded: bool = False) -> bool:
    """True when ``role`` may open the page at ``url`` (False for an unknown role)."""
    allowed = ROLE_PAGES.get(role or "", set())
    if blinded and url not in OPEN_WHILE_READING:
        return False
    return "*" in allowed or url in allowed


def allowed_urls(role: str | None, *, blinded: bool = False) -> list[str]:
    """URLs of the registered pages ``role`` may open, in menu order."""
    return [s.url for s in all_specs() if may_open(role, s.url, blinded=blinded)]
