"""The PACS connection (DICOMweb): find studies, bring their images in, send results back.

Public API::

    PacsConfig.from_env() / configured()            # SONODASH_DICOMWEB_URL + credentials + limits
    search_studies(config, patient_id=, study_date=, accession=) -> ([StudyInfo], truncated)   # QIDO-RS
    retrieve_study(study_uid, config) -> RetrievedStudy   # WADO-RS, de-identified, bounded, all or nothing
    build_report(...) / send_results(...) / read_report(ds)   # TID 1500 Comprehensive SR, STOW-RS
    LocalOrthanc                                        # a loopback Orthanc for demos and tests

Every failure is a :class:`PacsError` (an ``InputError``) with a one-line message.
"""

from core.pacs.config import PacsConfig, PacsError, configured, redact_url
from core.pacs.query import StudyInfo, search_studies
from core.pacs.retrieve import InstanceRef, RetrievedStudy, load_retrieved, retrieve_study

__all__ = ["PacsConfig", "PacsError", "configured", "redact_url", "StudyInfo", "search_studies",
           "InstanceRef", "RetrievedStudy", "load_retrieved", "retrieve_study"]
