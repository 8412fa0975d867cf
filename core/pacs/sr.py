"""Results back to the PACS: a DICOM Comprehensive SR (TID 1500 measurement report) through STOW-RS.

Why TID 1500 through highdicom: it is the structure PACS viewers (OHIF, the vendors' SR viewers) and
research tools read for image measurements, and highdicom writes and parses it without hand-built content
trees. What the report holds:

- one planar-ROI group per analysed image with a mask: the contour as a POLYLINE on the source instance,
  the biometry in mm the analysis has (area, circumference and mean diameter of the fitted ellipse; the
  gestational sac's mean diameter as LOINC 11850-5; a centre-line length as the task names it, e.g. LOINC
  11961-0 cervix length; HC / BPD when a biometry step supplies ``hc_mm`` / ``bpd_mm``), and the image's
  model probability;
- one patient-level group referencing every source image: the model's probability (DCM 122157) with its
  uncertainty (SD), operating threshold, the model's decision, the clinician's decision, and whether the
  clinician overrode the model (SCT yes/no).
Class names are coded in the private scheme ``99SONODASH`` (no standard codes exist for them).

Which study receives the report (``SONODASH_DICOMWEB_SR_TARGET``): ``deidentified`` (default) writes it
into the de-identified copy of the study, under the de-identified patient, together with the de-identified
source images so its references resolve; no identifier leaves SonoDash. ``original`` writes it into the
original study (patient and study attributes from the PACS's own metadata, references to the original
instances), for sites that want results next to the images; identifiers then stay where they came from.
The clinician's free-text note is never put into the SR (free text may carry identifiers).
"""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np

from core.io.dicom import quiet
from core.pacs.codes import SCHEME, hd as _hd, private_code as _private
from core.pacs.config import PacsConfig, PacsError, require_config
from core.pacs.seg import build_segmentations
from core.pacs.transport import connect, pacs_errors

SERIES_NUMBER = 990


def class_code(name: str):
    """A class label as a code (private scheme; the value is the label itself, at most 64 characters)."""
    return _private(str(name)[:64], str(name)[:64])


def _codes():
    from pydicom.sr.codedict import codes

    return codes


CONCEPTS = {
    "probability_sd": ("PROBSD", "Probability standard deviation"),
    "threshold": ("THRESH", "Operating threshold"),
    "model_decision": ("AIDECISION", "Model decision"),
    "clinician_decision": ("CLINDECISION", "Clinician decision"),
    "override": ("OVERRIDE", "Clinician overrode the model"),
}
LENGTH_CODES = {"cervical length": "CervixLength", "head circumference": "HeadCircumference",
                "biparietal diameter": "BiparietalDiameter"}


def measurement_codes(task=None) -> list:
    """``(biometry key, code, unit)`` for the measurements a task's biometry can hold (data, not study names).

    The fitted ellipse's area, circumference and mean diameter are always reported (the gestational sac's
    mean diameter under LOINC 11850-5); a centre-line length only when the task names one
    (``Task.length_measure``); head biometry (HC, BPD, OFD) only for images that are not a sac or a cervix.
    """
    c = _codes()
    mm, mm2 = c.UCUM.Millimeter, c.UCUM.SquareMillimeter
    kind = getattr(task, "image_kind", None)
    diameter = c.LN.GestationalSacDiameter if kind == "gestational_sac" else c.SCT.Diameter
    rows = [("area_mm2", c.SCT.Area, mm2), ("circumference_mm", c.SCT.Circumference, mm),
            ("mean_diameter_mm", diameter, mm)]
    length_name = (getattr(task, "length_measure", None) or "").lower()
    if length_name:
        rows.append(("length_mm", getattr(c.LN, LENGTH_CODES[length_name]) if length_name in LENGTH_CODES
                     else c.SCT.Length, mm))
    if kind not in ("gestational_sac", "cervix"):
        rows += [("hc_mm", c.LN.HeadCircumference, mm), ("bpd_mm", c.LN.BiparietalDiameter, mm),
                 ("ofd_mm", c.LN.OccipitalFrontalDiameter, mm)]
    rows.append(("cervical_length_mm", c.LN.CervixLength, mm))
    return rows


def _finite(value) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _contour(mask, max_points: int = 256) -> np.ndarray | None:
    """Closed outline (column, row) of the mask's largest region, at most ``max_points`` points."""
    import cv2

    if mask is None or not np.asarray(mask).any():
        return None
    contours, _ = cv2.findContours(np.asarray(mask, dtype=np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    pts = max(contours, key=cv2.contourArea)[:, 0, :].astype(np.float32)
    if len(pts) < 3:
        return None
    step = max(1, int(math.ceil(len(pts) / max_points)))
    pts = pts[::step] + 0.5   # pixel centres (SCOORD image coordinates start at the pixel's corner)
    return np.vstack([pts, pts[:1]])


def _evidence(retrieved, target: str, client, config):
    """Source datasets (headers) by de-identified SOP UID, for the chosen target study."""
    import pydicom
    from pydicom import Dataset

    out = {}
    with quiet():
        for ref in retrieved.instances:
            if target == "deidentified":
                out[ref.sop_uid] = pydicom.dcmread(ref.path, stop_before_pixels=True)
                continue
            orig = retrieved.original.get(ref.sop_uid)
            if orig is None:
                raise PacsError("the original study's UIDs are no longer known (retrieve the study again, in this "
                                "session) to write results into the original study")
            with pacs_errors(config, "read the original study's metadata", client):
                meta = client.retrieve_instance_metadata(*orig)
                # bulk data (the pixels) stays in the PACS: the header is all a reference needs
                out[ref.sop_uid] = Dataset.from_json(meta, bulk_data_uri_handler=lambda *args: None)
    return out


def build_report(analysis, retrieved, *, task=None, clinician_decision: str | None = None,
                 target: str = "deidentified", client=None, config: PacsConfig | None = None,
                 observer: str | None = None, evidence: dict | None = None):
    """The Comprehensive SR (pydicom Dataset) of one analysis of a retrieved study.

    ``clinician_decision``: the class the clinician chose (None = agrees with the model).
    """
    hd = _hd()
    c = _codes()
    if not analysis.images:
        raise PacsError("the analysis has no images to report")
    if target == "original" and client is None:
        config = require_config(config)
        client = connect(config)
    evidence = evidence if evidence is not None else _evidence(retrieved, target, client, config)
    refs = {}
    for r in analysis.images:
        ref = retrieved.ref_for(r.name)
        if ref is None:
            raise PacsError(f"{r.name}: this image did not come from the retrieved PACS study; "
                            f"results can only be sent for PACS images")
        refs[id(r)] = ref
    model = analysis.model or {}
    algorithm = hd.sr.AlgorithmIdentification(name=str(model.get("name") or model.get("architecture") or "SonoDash"),
                                              version=str(model.get("architecture") or "n/a"))
    device = hd.sr.ObserverContext(
        observer_type=c.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=hd.UID(), name="SonoDash", manufacturer_name="SonoDash (research software)",
            model_name=str(model.get("architecture") or "n/a")))
    person = None
    if observer:
        person = hd.sr.ObserverContext(
            observer_type=c.DCM.Person,
            observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(
                name=str(observer)[:63] + ("" if "^" in str(observer) else "^")))   # a user name: one component
    context = hd.sr.ObservationContext(observer_person_context=person, observer_device_context=device)
    groups = [_image_group(hd, r, refs[id(r)], evidence, task, algorithm, k)
              for k, r in enumerate(analysis.images, start=1)]
    groups = [g for g in groups if g is not None]
    groups.append(_patient_group(hd, analysis, refs.values(), evidence, clinician_decision, algorithm))
    report = hd.sr.MeasurementReport(observation_context=context, procedure_reported=c.SCT.Ultrasonography,
                                     imaging_measurements=groups)
    evidence_list = [evidence[ref.sop_uid] for ref in dict.fromkeys(refs.values())]
    with quiet():
        sr = hd.sr.ComprehensiveSR(
            evidence=evidence_list, content=report[0], series_instance_uid=hd.UID(), series_number=SERIES_NUMBER,
            sop_instance_uid=hd.UID(), instance_number=1, manufacturer="SonoDash (research software)",
            series_description="SonoDash AI result (research use)", is_complete=True, is_final=False,
            is_verified=False)
        sr.ContentDate = datetime.now().strftime("%Y%m%d")
    return sr


def _image_group(hd, result, ref, evidence, task, algorithm, k):
    c = _codes()
    measurements = []
    for key, code, unit in measurement_codes(task):
        value = _finite((result.biometry or {}).get(key))
        if value is not None:
            measurements.append(hd.sr.Measurement(name=code, value=value, unit=unit, algorithm_id=algorithm))
    if result.probability is not None:
        measurements.append(hd.sr.Measurement(name=c.DCM.Probability, value=float(result.probability),
                                              unit=c.UCUM.NoUnits, algorithm_id=algorithm))
    if not measurements:
        return None
    frames = [int(result.frame) + 1] if ref.n_frames > 1 else None
    tracking = hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=f"image {k}: {result.name}"
                                        + (f" frame {result.frame}" if frames else ""))
    contour = _contour(result.mask)
    if contour is not None:
        region = hd.sr.ImageRegion(graphic_type=hd.sr.GraphicTypeValues.POLYLINE, graphic_data=contour,
                                   source_image=hd.sr.SourceImageForRegion(
                                       referenced_sop_class_uid=ref.sop_class_uid,
                                       referenced_sop_instance_uid=evidence_uid(evidence, ref),
                                       referenced_frame_numbers=frames))
        return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=tracking, referenced_region=region, measurements=measurements,
            algorithm_id=algorithm)
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=tracking, measurements=measurements, algorithm_id=algorithm,
        source_images=[hd.sr.SourceImageForMeasurementGroup(ref.sop_class_uid, evidence_uid(evidence, ref), frames)])


def evidence_uid(evidence, ref) -> str:
    """The SOP Instance UID the report references for one source (de-identified or original)."""
    return str(evidence[ref.sop_uid].SOPInstanceUID)


def _patient_group(hd, analysis, refs, evidence, clinician_decision, algorithm):
    c = _codes()
    measurements, evaluations = [], []
    if analysis.probability is not None:
        measurements.append(hd.sr.Measurement(name=c.DCM.Probability, value=float(analysis.probability),
                                              unit=c.UCUM.NoUnits, algorithm_id=algorithm))
        sd = _finite((analysis.uncertainty or {}).get("sd"))
        if sd is not None:
            measurements.append(hd.sr.Measurement(name=_private(*CONCEPTS["probability_sd"]), value=sd,
                                                  unit=c.UCUM.NoUnits, algorithm_id=algorithm))
        measurements.append(hd.sr.Measurement(name=_private(*CONCEPTS["threshold"]), value=float(analysis.threshold),
                                              unit=c.UCUM.NoUnits, algorithm_id=algorithm))
    if analysis.predicted_class:
        evaluations.append(hd.sr.QualitativeEvaluation(_private(*CONCEPTS["model_decision"]),
                                                       class_code(analysis.predicted_class)))
    chosen = clinician_decision or analysis.predicted_class
    if chosen:
        evaluations.append(hd.sr.QualitativeEvaluation(_private(*CONCEPTS["clinician_decision"]), class_code(chosen)))
        overrode = bool(analysis.predicted_class) and chosen != analysis.predicted_class
        evaluations.append(hd.sr.QualitativeEvaluation(_private(*CONCEPTS["override"]),
                                                       c.SCT.Yes if overrode else c.SCT.No))
    label = analysis.positive_label or analysis.predicted_class or "result"
    sources = [hd.sr.SourceImageForMeasurementGroup(ref.sop_class_uid, evidence_uid(evidence, ref))
               for ref in dict.fromkeys(refs)]
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=f"patient level: P({label})"),
        finding_type=class_code(label), measurements=measurements or None,
        qualitative_evaluations=evaluations or None, algorithm_id=algorithm, source_images=sources)


def send_results(analysis, retrieved, config: PacsConfig | None = None, *, task=None,
                 clinician_decision: str | None = None, include_images: bool | None = None,
                 include_segmentation: bool = False, client=None, observer: str | None = None) -> dict:
    """Build the SR for the configured target and store it with STOW-RS; returns its UIDs (no identifiers).

    ``include_images`` (default: yes for the de-identified target) also stores the de-identified source images,
    so the de-identified study in the PACS is complete. ``include_segmentation`` adds one DICOM SEG per
    segmented single-frame image (core.pacs.seg).
    """
    import pydicom

    config = require_config(config)
    client = client or connect(config)
    target = config.sr_target
    evidence = _evidence(retrieved, target, client, config)
    # A person's name is an identifier too (Annex E removes operators' names): only the original study gets it.
    sr = build_report(analysis, retrieved, task=task, clinician_decision=clinician_decision, target=target,
                      client=client, config=config, observer=observer if target == "original" else None,
                      evidence=evidence)
    segs = []
    if include_segmentation:
        if target == "deidentified":   # SEG needs the source's pixel module: the stored de-identified files
            with quiet():
                evidence = {ref.sop_uid: pydicom.dcmread(ref.path) for ref in retrieved.instances}
        segs = build_segmentations(analysis, retrieved, evidence, task=task)
    datasets = [sr] + segs
    if include_images if include_images is not None else target == "deidentified":
        datasets = [pydicom.dcmread(ref.path) for ref in retrieved.instances] + datasets
    with pacs_errors(config, "send the results (STOW-RS)", client):
        answer = client.store_instances(datasets)
    failed = answer.get("FailedSOPSequence") if answer is not None else None
    if failed:
        raise PacsError(f"send the results (STOW-RS): the PACS refused {len(failed)} of {len(datasets)} object(s)")
    return {"target": target, "study_uid": str(sr.StudyInstanceUID), "series_uid": str(sr.SeriesInstanceUID),
            "sop_uid": str(sr.SOPInstanceUID), "n_objects": len(datasets),
            "seg_sop_uids": [str(s.SOPInstanceUID) for s in segs]}


def read_report(ds) -> dict:
    """What an SR written by :func:`build_report` says, parsed back with highdicom.

    ``{"patient": {"probability", "probability_sd", "threshold", "model_decision", "clinician_decision",
    "override"}, "images": [{"tracking", "sop_uid", "measurements": {key: value}}]}``; keys as in the
    biometry (``area_mm2``, ``circumference_mm``, ...) plus ``probability``.
    """
    hd = _hd()
    c = _codes()
    sr = hd.sr.ComprehensiveSR.from_dataset(ds, copy=True) if not isinstance(ds, hd.sr.ComprehensiveSR) else ds
    by_code = {}
    kinds = [type("T", (), {"image_kind": kind, "length_measure": "length"}) for kind in (None, "gestational_sac")]
    for key, code, _unit in [row for t in kinds for row in measurement_codes(t)]:
        by_code.setdefault((code.value, code.scheme_designator), key)
    for attr in LENGTH_CODES.values():
        code = getattr(c.LN, attr)
        by_code[(code.value, code.scheme_designator)] = "length_mm"
    by_code[(c.DCM.Probability.value, "DCM")] = "probability"
    private = {v[0]: k for k, v in CONCEPTS.items()}
    out = {"patient": {}, "images": []}
    groups = list(sr.content.get_planar_roi_measurement_groups()) + list(sr.content.get_image_measurement_groups())
    for group in groups:
        values = {}
        for m in group.get_measurements():
            code = (m.name.value, m.name.scheme_designator)
            key = private.get(m.name.value) if m.name.scheme_designator == SCHEME else by_code.get(code)
            if key:
                values[key] = float(m.value)
        evals = {}
        for q in group.get_qualitative_evaluations():
            key = private.get(q.name.value) if q.name.scheme_designator == SCHEME else None
            if key == "override":
                evals[key] = q.value.value == c.SCT.Yes.value
            elif key:
                evals[key] = q.value.meaning
        ident = group.tracking_identifier or ""
        if ident.startswith("patient level"):
            out["patient"] = {**values, **evals}
        else:
            out["images"].append({"tracking": ident, "sop_uid": _group_source(group), "measurements": values})
    return out


def _group_source(group) -> str | None:
    """The SOP Instance UID a measurement group is about (its ROI's image, or its first source image)."""
    try:
        region = getattr(group, "roi", None)
        if region is not None:
            return str(region.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID)
        sources = group.source_images
        return str(sources[0].referenced_sop_instance_uid) if sources else None
    except (AttributeError, IndexError, KeyError):
        return None
