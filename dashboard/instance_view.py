"""Analyze for instance-segmentation studies (first trimester): coloured structure masks, the view, a checklist.

Why a separate flow: a Mask R-CNN bundle does not give one probability per patient; it finds up to 17
structures per image. The clinician's questions are "what did it find, where, how sure" (masks with labels and
scores drawn on the image at its original size, one toggle per structure) and "is the view complete" (the
structures expected for the detected view category, found or missing). The model runs once per click, through
:func:`core.pipeline.analyze` like every other bundle (the command line gives the same detections, frames and
out-of-distribution verdict); the toggles only redraw, so switching structures on and off costs no inference.
"""

from __future__ import annotations

import colorsys

import cv2
import numpy as np
import pandas as pd
import streamlit as st

from core.errors import InputError
from core.pipeline import analyze as analyze_images
from dashboard import resources

MAX_FRAMES = 8          # cine: analyse at most this many frames (one every frame_step) per clip
MASK_ALPHA = 0.45
_NO_MODEL = "(no instance model)"


def is_instance_study(study: str) -> bool:
    """Studies whose task is instance segmentation take this flow (the first-trimester study, user instance tasks)."""
    from core.tasks import get_task

    try:
        return get_task(study).kind == "instance"
    except (InputError, KeyError, ValueError):
        return False


def is_instance_arch(arch) -> bool:
    from core.models.registry import model_kind

    try:
        return model_kind(str(arch)) == "instance"
    except (InputError, KeyError, ValueError):
        return False


def choose_model(study: str) -> str | None:
    """The study's registered instance bundles (default preselected); None when there is none."""
    table = resources.bundles(study)
    table = table[[is_instance_arch(a) for a in table["arch"]]] if not table.empty else table
    if table.empty:
        st.info(f"No instance-segmentation model is registered for {study}. Train one with "
                f"`python -m core train --task {study} --arch maskrcnn_mobilenet` (or on the Train page).")
        return None
    paths = list(table["path"])
    labels = {row.path: f"{row.name} ({row.arch})" + ("  ★ default" if row.is_default_for_task else "")
              for row in table.itertuples()}
    default = next((i for i, row in enumerate(table.itertuples()) if row.is_default_for_task), 0)
    return st.selectbox("Model", paths, index=default, format_func=labels.get, key=f"model_{study}")


def run(inputs: list, model: str, *, errors: list | None = None) -> list | None:
    """Detect the structures in every image (and up to MAX_FRAMES kept frames of a clip) with
    :func:`core.pipeline.analyze`; returns its :class:`core.analysis_result.ImageResult` list (``instances``,
    ``checklist``, ``ms``, ``ood`` per image).

    A file the gate refuses is one line (appended to ``errors`` when given, else one st.error) and the
    others are still analysed; a failure of the model itself is one st.error and None."""
    try:
        predictor = resources.predictor(model)
        if not hasattr(predictor, "predict_instances"):
            raise InputError(f"{model}: not an instance-segmentation bundle")
        analysis = analyze_images(list(inputs), model=predictor, on_error="skip", max_frames=MAX_FRAMES,
                                  cam=None, uncertainty=False, rules=False)
        for problem in analysis.errors:
            if errors is None:
                st.error(problem["error"])
            else:
                errors.append(problem["error"])
        return analysis.images
    except InputError as err:
        st.error(str(err))
    except Exception as err:  # noqa: BLE001 - a page never shows a traceback
        st.error(f"Analysis failed: {type(err).__name__}: {err}")
    return None


# ---------------------------------------------------------------------------------------------- drawing
def structure_colors(structures) -> dict:
    """One distinct RGB colour per structure (hues spread evenly, stable for a given structure list)."""
    n = max(len(structures), 1)
    return {name: tuple(int(255 * c) for c in colorsys.hsv_to_rgb(i / n, 0.85, 1.0))
            for i, name in enumerate(structures)}


def draw_instances(image: np.ndarray, instances, *, shown, colors: dict, alpha: float = MASK_ALPHA) -> np.ndarray:
    """The image (original size) with each shown instance as a translucent coloured mask, its outline and a
    "name score" label at the top-left of its box."""
    out = np.ascontiguousarray(image[..., :3] if image.ndim == 3 else np.repeat(image[..., None], 3, 2)).copy()
    out = out.astype(np.uint8)
    shown = set(shown)
    order = np.argsort(instances.scores, kind="stable")        # most confident drawn last (on top)
    for i in order:
        name = instances.names[i]
        if name not in shown:
            continue
        color = np.array(colors.get(name, (255, 255, 255)), dtype=np.float32)
        mask = np.asarray(instances.masks[i], dtype=bool)
        if mask.shape == out.shape[:2] and mask.any():
            out[mask] = (out[mask] * (1 - alpha) + color * alpha).astype(np.uint8)
            contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            cv2.drawContours(out, contours, -1, tuple(int(c) for c in color), 1)
        _label(out, instances.boxes[i], f"{name} {instances.scores[i]:.2f}", color)
    return out


def _label(out: np.ndarray, box, text: str, color) -> None:
    h, w = out.shape[:2]
    scale = max(0.3, min(h, w) / 700.0)
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    x = int(np.clip(box[0], 0, max(w - tw - 2, 0)))
    y = int(np.clip(box[1], th + base + 2, h - 1))
    cv2.rectangle(out, (x, y - th - base - 2), (x + tw + 2, y), tuple(int(c) for c in color), -1)
    cv2.putText(out, text, (x + 1, y - base - 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)


# --------------------------------------------------------------------------------------------- rendering
def checklist_table(checklist: dict) -> pd.DataFrame:
    """Expected structures of the detected view: found (with the best score) or missing."""
    found = checklist.get("found") or {}
    return pd.DataFrame([{"structure": s.replace("_", " "), "status": "found" if s in found else "missing",
                          "score": round(found[s], 3) if s in found else None}
                         for s in checklist.get("expected") or []], columns=["structure", "status", "score"])


def _checklist(checklist: dict, ood: dict | None = None) -> None:
    view = checklist.get("view")
    if (ood or {}).get("out_of_distribution"):
        # No decision on an image unlike the training data: the AI's view and checklist greyed, with the reason.
        st.warning(f"No view decision: this image looks unlike the model's training data (out-of-distribution "
                   f"score {ood['score']:.1f}; above 1 = unusual). Do not trust the detections.")
        lines = [f"- :gray[{row.structure} — {row.status}]" for row in checklist_table(checklist).itertuples()]
        st.markdown("\n".join([f":gray[AI view category (withheld): {view or 'none'}]", ""] + lines))
        return
    if view is None:
        st.warning("View category: none detected (no structure above the confidence threshold).")
        return
    found, expected = len(checklist.get("found") or {}), len(checklist.get("expected") or [])
    st.markdown(f"**View category: {view}** — completeness {found}/{expected}"
                + (" :green[complete]" if checklist.get("complete") else ""))
    # Material icons, not emoji: browsers without an emoji font would show empty boxes
    lines = [(f"- :green[:material/check_circle:] {row.structure} ({row.score:.2f})" if row.status == "found"
              else f"- :red[:material/cancel:] {row.structure} — missing")
             for row in checklist_table(checklist).itertuples()]
    st.markdown("\n".join(lines))


def render(results: list, structures) -> None:
    """Toggles per structure, then per image: the overlay and the completeness checklist."""
    from core.case_report import png_bytes

    detected = [s for s in structures if any(s in r.instances.names for r in results)]
    shown = st.multiselect("Structures shown", list(structures), default=detected, key="instance_shown",
                           format_func=lambda s: s.replace("_", " "))
    colors = structure_colors(structures)
    for k, r in enumerate(results):
        title = r.name + (f" — frame {r.frame}" if r.frame else "")
        st.markdown(f"**{title}**")
        c1, c2 = st.columns([3, 2])
        overlay = draw_instances(r.image, r.instances, shown=shown, colors=colors)
        c1.image(overlay, caption=f"instance overlay: {len(r.instances)} detection(s), {r.ms:.0f} ms",
                 width="stretch")
        c1.download_button("Download overlay PNG", png_bytes(overlay), file_name=f"instances-{k}.png",
                           mime="image/png", key=f"dl_instances_{k}")
        with c2:
            _checklist(r.checklist, r.ood)


def analyze(study: str, inputs: list) -> None:
    """The whole instance flow of the Analyze page (model choice, button, results kept in session state).

    The results are drawn only while they belong to the images and model on screen (a fingerprint, as in
    analyze_view); otherwise the page says they are out of date."""
    from dashboard.analyze_view import STALE, fingerprint

    model = choose_model(study)
    fp = fingerprint(study, inputs, model=model)
    if st.button("Analyze", type="primary", disabled=not inputs or model is None):
        with st.spinner("Detecting structures…"):
            errors: list = []
            results = run(inputs, model, errors=errors)
            st.session_state.instance_record = {"fingerprint": fp, "study": study, "results": results,
                                                "errors": errors}
            st.session_state.pop("instance_shown", None)    # a new result: show what it detected
            st.session_state.instance_model = model
    record = st.session_state.get("instance_record")
    results = None
    if record and record["fingerprint"] == fp:
        for err in record["errors"]:
            st.error(err)
        results = record["results"]
    elif record and record["study"] == study and record["results"]:
        st.warning(STALE)
    if results:
        structures = resources.predictor(st.session_state.instance_model).structures
        render(results, structures)
        total = sum(r.ms for r in results)
        st.caption(f"{len(results)} image(s)/frame(s), model time {total:.0f} ms "
                   f"({1000 * len(results) / max(total, 1e-9):.1f} FPS)")
        _review(results, study)


def _review(results, study: str) -> None:
    """The clinician review (decision = view category, corrections, save) of dashboard.review_view."""
    from dashboard.review_view import review_instance_view

    predictor = resources.predictor(st.session_state.instance_model)
    unusual = sorted({r.name for r in results if (getattr(r, "ood", None) or {}).get("out_of_distribution")})
    score = max(((getattr(r, "ood", None) or {}).get("score") or 0.0) for r in results)
    reason = (f"{', '.join(unusual)} unlike the model's training data (out-of-distribution score {score:.1f}; "
              f"above 1 = unusual)") if unusual else ""
    review_instance_view(results, study=study, views=list(predictor.views) or list(get_task_labels(study)),
                         withheld=bool(unusual), reason=reason,
                         model_name=predictor.meta.name or predictor.meta.architecture)


def get_task_labels(study: str) -> tuple:
    from core.tasks import get_task

    return get_task(study).labels
