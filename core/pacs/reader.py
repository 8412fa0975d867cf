"""Reader studies built from a PACS query (organizers): each matching study becomes one case.

Why retrieved through the same path as Analyze: reader-study images are shown to readers, so they must be
de-identified and bounded exactly like every other image (core.pacs.retrieve_study); the frozen case then
points at the de-identified files under ``$SONODASH_HOME/pacs``. The case key is a pseudonym derived from the
de-identified study UID, never the accession number or patient ID. The truth comes from the organizer (a
mapping keyed by accession number or StudyInstanceUID, e.g. read from their outcome spreadsheet): a PACS
holds images, not outcomes.
"""

from __future__ import annotations

from core.pacs.config import PacsConfig, PacsError, require_config
from core.pacs.query import search_studies
from core.pacs.retrieve import retrieve_study
from core.reader_study.setup import MAX_IMAGES_PER_CASE, CaseSpec


def cases_from_pacs(config: PacsConfig | None = None, *, truth: dict, patient_id: str | None = None,
                    study_date=None, accession: str | None = None, max_images: int | None = None,
                    progress=None) -> list:
    """``CaseSpec`` list (core.reader_study.setup) for the studies matching the query that ``truth`` labels.

    ``truth``: ``{accession number or StudyInstanceUID: label}``. Studies without a label are left out; when
    none is labelled, or a retrieval fails, one PacsError says so. ``progress(done, total)`` per study.
    """
    config = require_config(config)
    if not isinstance(truth, dict) or not truth:
        raise PacsError("give the truth of the cases as {accession number or StudyInstanceUID: label}")
    studies, truncated = search_studies(config, patient_id=patient_id, study_date=study_date, accession=accession)
    if truncated:
        raise PacsError(f"more than {len(studies)} studies match; narrow the query for a reader study")
    labelled = [(s, truth.get(s.accession) or truth.get(s.study_uid)) for s in studies]
    labelled = [(s, label) for s, label in labelled if label]
    if not labelled:
        raise PacsError(f"none of the {len(studies)} matching studies has a label in the truth table")
    cases = []
    limit = max_images or MAX_IMAGES_PER_CASE
    for k, (study, label) in enumerate(labelled, start=1):
        retrieved = retrieve_study(study.study_uid, config)
        cases.append(CaseSpec(case_key=f"pacs-{retrieved.key[:10]}", truth=str(label),
                              images=[str(ref.path) for ref in retrieved.instances[:limit]]))
        if progress is not None:
            progress(k, len(labelled))
    return cases
