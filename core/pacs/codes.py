"""Codes of SonoDash's private coding scheme ``99SONODASH``, shared by the SR and the SEG writers.

Why a module of its own: class names, the model's decision and segment types have no standard codes; the
SR (:mod:`core.pacs.sr`) and the SEG (:mod:`core.pacs.seg`) must write them the same way, and neither should
import the other for it. highdicom is imported on first use (the PACS pages and commands load it anyway).
"""

from __future__ import annotations

SCHEME = "99SONODASH"


def hd():
    """The highdicom module (imported on first use)."""
    import highdicom

    return highdicom


def private_code(value: str, meaning: str):
    """A coded concept of the private scheme (``value`` at most 16 characters for codes, 64 for class labels)."""
    return hd().sr.CodedConcept(value=value, scheme_designator=SCHEME, meaning=meaning)
