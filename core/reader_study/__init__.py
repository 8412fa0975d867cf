"""Reader studies: blinded reading in the browser, unaided then AI-aided, and the analysis at the end.

Modules, one responsibility each:
  schema     tables (accounts, studies, cases with hidden truth and cached AI output, answers)
  setup      organizer: cases from a manifest or an evaluation, design, readers, per-reader case orders
  ai         the AI output per case, computed once through core.pipeline.analyze and cached
  session    ReaderSession: the only API a reader gets (blinding enforced here)
  organizer  OrganizerSession: role-checked setup, progress, results, CSV export
  analysis   accuracy / AUC with CIs, unaided vs aided, readers vs AI vs reader + AI, agreement, time
  agreement  Cohen's kappa per pair, Fleiss' kappa
  mrmc       Obuchowski-Rockette with Hillis denominator degrees of freedom
"""

from core.reader_study.errors import AccessDenied, StudyError
from core.reader_study.organizer import OrganizerSession
from core.reader_study.session import AIView, CaseItem, CaseRow, MyAnswer, ReaderSession, StudyView
from core.reader_study.setup import DESIGNS, CaseSpec, cases_from_evaluation, cases_from_manifest

__all__ = ["AIView", "AccessDenied", "CaseItem", "CaseRow", "CaseSpec", "DESIGNS", "MyAnswer", "OrganizerSession",
           "ReaderSession", "StudyError", "StudyView", "cases_from_evaluation", "cases_from_manifest"]
