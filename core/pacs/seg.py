"""The segmentation as DICOM SEG (optional, beside the SR): one binary SEG per analysed single-frame image.

Why SEG and not only the SR's contour: viewers (OHIF, 3D Slicer) display a SEG as an overlay and research
pipelines read masks from it. The SEG goes to the same study as the SR (its source is the de-identified
instance by default, the original one when ``SONODASH_DICOMWEB_SR_TARGET=original``). Multi-frame sources
(cine) are left out: the analysis keeps one frame in N, and a SEG of a few frames of a clip would look like a
segmentation of the clip.
"""

from __future__ import annotations

import numpy as np

from core.io.dicom import quiet
from core.pacs.codes import private_code
from core.pacs.config import PacsError


def _segment_type(task):
    from pydicom.sr.codedict import codes

    kind = getattr(task, "image_kind", None) or "structure"
    if kind == "cervix":
        return codes.SCT.Cervix, "cervix"
    name = str(kind).replace("_", " ")
    return private_code(f"SEG-{kind.upper()}"[:16], name), name


def build_segmentations(analysis, retrieved, evidence: dict, *, task=None, series_number: int = 991) -> list:
    """SEG datasets for the analysis's masks; ``evidence`` maps de-identified SOP UID -> source dataset."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    seg_type, label = _segment_type(task)
    model = analysis.model or {}
    algorithm = hd.AlgorithmIdentificationSequence(
        name=str(analysis.segmenter or model.get("name") or "SonoDash")[:64], version=str(model.get("architecture") or "1"),
        family=codes.DCM.ArtificialIntelligence)
    series_uid, out = hd.UID(), []
    for r in analysis.images:
        ref = retrieved.ref_for(r.name)
        if ref is None or r.mask is None or not np.asarray(r.mask).any() or ref.n_frames > 1:
            continue
        source = evidence[ref.sop_uid]
        desc = hd.seg.SegmentDescription(
            segment_number=1, segment_label=label, segmented_property_category=codes.SCT.AnatomicalStructure,
            segmented_property_type=seg_type, algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm)
        try:
            with quiet():
                seg = hd.seg.Segmentation(
                    source_images=[source], pixel_array=np.asarray(r.mask, dtype=np.uint8)[None],
                    segmentation_type=hd.seg.SegmentationTypeValues.BINARY, segment_descriptions=[desc],
                    series_instance_uid=series_uid, series_number=series_number, sop_instance_uid=hd.UID(),
                    instance_number=len(out) + 1, manufacturer="SonoDash (research software)",
                    manufacturer_model_name="SonoDash", software_versions="research", device_serial_number="n/a",
                    series_description="SonoDash segmentation (research use)")
        except Exception as err:  # noqa: BLE001 - highdicom checks the source in many ways
            raise PacsError(f"{r.name}: the segmentation cannot be encoded as DICOM SEG ({type(err).__name__})") from None
        out.append(seg)
    return out
