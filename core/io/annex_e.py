"""DICOM PS3.15 Annex E, Table E.1-1 (Basic Application Level Confidentiality Profile), as data.

Why taken from a package and not transcribed: a hand-copied table went stale (293 of the 2023 edition's ~606
attributes) and nobody noticed. The table now comes from ``dicom-anonymizer`` (KitwareMedical, pinned in
requirements.txt), which generates its ``dicomfields_<edition>`` modules from the standard's published part 15
XML; the newest edition it ships is used, and :data:`EDITION` records which one, so every de-identified object
says which edition of the table cleaned it (DeidentificationMethod). Only the data module is loaded (by file
path, without importing the package's anonymizer, which would register handlers and log), so nothing of that
package runs here. Bumping the pin and :data:`EDITION` is how the table is updated.

Action codes (PS3.15 E.1.1): D replace with a dummy value, Z replace with an empty value (or a dummy),
X remove, K keep, U replace a UID with a consistently mapped one. Compound codes name the conformance-driven
choice; :mod:`core.io.deid` resolves them conservatively (X/Z -> Z, X/D -> D, X/Z/D -> Z, Z/D -> Z,
X/Z/U* -> keep the sequence but de-identify what it contains). Masked entries (curve group 50xx, overlay data
and comments 60xx) match a tag under a mask; :mod:`core.io.deid` removes those whole groups and all private
tags in code.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

#: the edition of PS3.15 Table E.1-1 in use (the newest dicom-anonymizer ships)
EDITION = "2026c"
PACKAGE = "dicom-anonymizer"

_CATEGORIES = {"D_TAGS": "D", "Z_TAGS": "Z", "X_TAGS": "X", "U_TAGS": "U", "Z_D_TAGS": "Z/D", "X_Z_TAGS": "X/Z",
               "X_D_TAGS": "X/D", "X_Z_D_TAGS": "X/Z/D", "X_Z_U_STAR_TAGS": "X/Z/U*"}
_SEVERITY = ("X", "X/Z", "X/D", "X/Z/D", "X/Z/U*", "Z", "Z/D", "D", "U")  # most severe first, for duplicates


def _load_module(edition: str):
    spec = importlib.util.find_spec("dicomanonymizer")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"{PACKAGE} is not installed; it provides PS3.15 Table E.1-1 (pip install -r "
                          f"requirements.txt)")
    path = Path(list(spec.submodule_search_locations)[0]) / "dicom_anonymization_databases" / \
        f"dicomfields_{edition}.py"
    file_spec = importlib.util.spec_from_file_location(f"_sonodash_ps315_{edition}", path)
    module = importlib.util.module_from_spec(file_spec)
    file_spec.loader.exec_module(module)
    return module


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(PACKAGE)
    except PackageNotFoundError:
        return "unknown"


def _keyword(tag: int) -> str:
    from pydicom.datadict import keyword_for_tag

    return keyword_for_tag(tag) or ""


def _build(edition: str):
    module = _load_module(edition)
    exact: dict[int, tuple[str, str]] = {}
    masked: list[tuple[int, int, str]] = []
    for category, action in _CATEGORIES.items():
        for entry in getattr(module, category):
            if len(entry) == 2:
                tag = (int(entry[0]) << 16) | int(entry[1])
                old = exact.get(tag)
                if old is None or _SEVERITY.index(action) < _SEVERITY.index(old[0]):
                    exact[tag] = (action, _keyword(tag))
            else:
                group, elem, gmask, emask = (int(v) for v in entry)
                masked.append((((group << 16) | elem), ((gmask << 16) | emask), action))
    return exact, tuple(masked)


#: tag (int) -> (Basic Profile action code, DICOM keyword or "" where pydicom's dictionary predates the tag)
BASIC_PROFILE: dict[int, tuple[str, str]]
#: (value, mask, action): a tag t matches when t & mask == value
MASKED: tuple[tuple[int, int, str], ...]
BASIC_PROFILE, MASKED = _build(EDITION)
#: one line naming the table, for DeidentificationMethod (LO: at most 64 characters)
SOURCE = f"PS3.15 {EDITION} Table E.1-1 via {PACKAGE} {_package_version()}"[:64]


def action_for(tag: int) -> str | None:
    """The Basic Profile action of ``tag`` (exact entries first, then masked groups); None when not listed."""
    rule = BASIC_PROFILE.get(int(tag))
    if rule is not None:
        return rule[0]
    for value, mask, action in MASKED:
        if int(tag) & mask == value:
            return action
    return None
