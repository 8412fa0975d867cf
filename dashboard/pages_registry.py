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
    ],
}
