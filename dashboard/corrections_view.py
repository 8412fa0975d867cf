"""Correction tools of the clinician review: contour vertices, calipers, drawing on the image.

Two ways to the same data, so each suits a task: drawing on the image (streamlit-drawable-canvas: a polygon
redraws the contour, a line is a distance caliper, a circle -- stretched with the edit handles -- an ellipse
caliper) and tables of numbers (every contour vertex and caliper end point, in image pixels, editable to
the pixel). What is drawn lands in the tables; the tables are what is saved. The preview shows the AI
contour (orange), the corrected one (green, numbered vertices) and the calipers (cyan), with mm from the
image's pixel spacing (:mod:`core.corrections`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import streamlit as st

from core.errors import InputError
from core.corrections import draw_corrections, mask_vertices, measure_caliper, polygon_mask
from core.segmentation.biometry import measure

CANVAS_MAX_WIDTH = 512     # fits the main column at 1024 px wide with the sidebar open
TOOLS = {"off": None, "redraw the contour": "polygon", "distance caliper": "line", "ellipse caliper": "circle"}
_ORIGIN = {"left": 0.0, "center": 0.5, "right": 1.0, "top": 0.0, "bottom": 1.0}
_FIELDS = {"distance": ("x0", "y0", "x1", "y1"), "ellipse": ("cx", "cy", "a", "b", "angle_deg")}


def _state(token, n: int, key: str) -> dict:
    """Per-analysis corrections in session state; a new analysis (token) starts afresh."""
    state = st.session_state.get(key)
    if not state or state.get("token") != token:
        state = {"token": token, "vertices": {}, "version": {}, "calipers": {}, "canvas": {}}
        st.session_state[key] = state
    return state


def _rotate(dx: float, dy: float, angle_deg: float) -> tuple[float, float]:
    t = math.radians(angle_deg or 0.0)
    return dx * math.cos(t) - dy * math.sin(t), dx * math.sin(t) + dy * math.cos(t)


def _center(obj: dict) -> tuple[float, float]:
    w, h = obj.get("width", 0) * obj.get("scaleX", 1), obj.get("height", 0) * obj.get("scaleY", 1)
    dx = (0.5 - _ORIGIN.get(obj.get("originX", "left"), 0.0)) * w
    dy = (0.5 - _ORIGIN.get(obj.get("originY", "top"), 0.0)) * h
    rx, ry = _rotate(dx, dy, obj.get("angle", 0))
    return obj.get("left", 0) + rx, obj.get("top", 0) + ry


def canvas_objects(json_data: dict | None, scale: float) -> tuple[list | None, list]:
    """Fabric.js objects (canvas pixels) -> (polygon vertices or None, calipers), in image pixels."""
    vertices, calipers = None, []
    for obj in (json_data or {}).get("objects", []):
        kind, (cx, cy) = obj.get("type"), _center(obj)
        sx, sy, angle = obj.get("scaleX", 1), obj.get("scaleY", 1), obj.get("angle", 0)
        if kind == "Polygon" and obj.get("points"):
            pts = obj["points"]
            mx = (min(p["x"] for p in pts) + max(p["x"] for p in pts)) / 2
            my = (min(p["y"] for p in pts) + max(p["y"] for p in pts)) / 2
            out = []
            for p in pts:
                rx, ry = _rotate((p["x"] - mx) * sx, (p["y"] - my) * sy, angle)
                out.append((round((cx + rx) / scale, 1), round((cy + ry) / scale, 1)))
            vertices = out                       # the last polygon drawn is the contour
        elif kind == "Line":
            ends = [_rotate(obj.get(f"x{i}", 0) * sx, obj.get(f"y{i}", 0) * sy, angle) for i in (1, 2)]
            (ax, ay), (bx, by) = ends
            calipers.append({"kind": "distance", "x0": round((cx + ax) / scale, 1), "y0": round((cy + ay) / scale, 1),
                             "x1": round((cx + bx) / scale, 1), "y1": round((cy + by) / scale, 1)})
        elif kind == "Circle" and obj.get("radius"):
            r = obj["radius"]
            calipers.append({"kind": "ellipse", "cx": round(cx / scale, 1), "cy": round(cy / scale, 1),
                             "a": round(r * sx / scale, 1), "b": round(r * sy / scale, 1),
                             "angle_deg": round(float(angle or 0), 1)})
    return vertices, calipers


def _draw(item, state: dict, i: int, preview: np.ndarray, key: str) -> bool:
    """The drawing canvas for image ``i`` (True when shown): what is drawn becomes vertices / calipers."""
    try:
        from PIL import Image
        from streamlit_drawable_canvas import st_canvas
    except ImportError:
        st.info("Drawing on the image needs streamlit-drawable-canvas; use the tables.")
        return False
    tool = st.radio("Draw on the image", list(TOOLS), horizontal=True, key=f"{key}_tool_{i}",
                    help="Polygon: click the vertices, click the first one again to close it. Line: drag. "
                         "Ellipse: drag a circle, then stretch it with the edit toggle of the canvas toolbar.")
    mode = TOOLS[tool]
    if mode is None:
        return False
    h, w = item.image.shape[:2]
    scale = min(1.0 * CANVAS_MAX_WIDTH / w, 2.0)
    result = st_canvas(background_image=Image.fromarray(preview), width=int(round(w * scale)),
                       height=int(round(h * scale)), drawing_mode=mode, stroke_width=2, stroke_color="#00e5ff",
                       fill_color="rgba(0, 229, 255, 0.10)", key=f"{key}_canvas_{i}_{mode}")
    vertices, calipers = canvas_objects(result.json_data, scale)
    signature = repr((mode, vertices, calipers))
    st.caption("orange: AI contour · green: corrected contour · cyan: calipers and what you draw")
    if state["canvas"].get(i) == signature:
        return True                              # nothing new drawn since the last rerun
    state["canvas"][i] = signature
    changed = False
    if vertices and len(vertices) >= 3:
        state["vertices"][i] = vertices
        changed = True
    for c in calipers:
        if c not in state["calipers"].setdefault(i, []):
            state["calipers"][i].append(c)
            changed = True
    if changed:
        _bump(state, i)
        st.rerun()
    return True


def _bump(state: dict, i: int) -> None:
    state["version"][i] = state["version"].get(i, 0) + 1


def _vertex_table(item, state: dict, i: int, initial: list, key: str) -> list:
    """The contour's vertices; an edit is kept in session state at once (the table is then redrawn from it),
    so switching images or reruns never lose it."""
    current = [tuple(map(float, v)) for v in state["vertices"].get(i, initial)]
    table = st.data_editor(pd.DataFrame(current or [], columns=["x", "y"], dtype=float), num_rows="dynamic",
                           key=f"{key}_vertices_{i}_{state['version'].get(i, 0)}", width="stretch", height=240,
                           column_config={"x": st.column_config.NumberColumn("x (px)", format="%.1f"),
                                          "y": st.column_config.NumberColumn("y (px)", format="%.1f")})
    new = [(float(r.x), float(r.y)) for r in table.dropna().itertuples()]
    if new != current:
        state["vertices"][i] = new
        _bump(state, i)
        st.rerun()
    return current


def _caliper_table(state: dict, i: int, key: str) -> list:
    """Two small tables (distance: end points; ellipse: centre, semi-axes, angle); an edit is kept at once.

    Calipers are numbered C1, C2, ... in the order distances first, then ellipses."""
    current = list(state["calipers"].get(i, []))
    new = []
    c1, c2 = st.columns(2)
    for col, kind in ((c1, "distance"), (c2, "ellipse")):
        fields = _FIELDS[kind]
        rows = pd.DataFrame([{f: c.get(f) for f in fields} for c in current if c.get("kind") == kind],
                            columns=list(fields), dtype=float)
        with col:
            st.caption("Distance: end points (x0, y0) → (x1, y1)" if kind == "distance" else
                       "Ellipse: centre (cx, cy), semi-axes a, b, angle of a (degrees)")
            table = st.data_editor(rows, num_rows="dynamic", width="stretch",
                                   key=f"{key}_{kind}_{i}_{state['version'].get(i, 0)}",
                                   column_config={f: st.column_config.NumberColumn(f, format="%.1f")
                                                  for f in fields})
        new += [{"kind": kind, **{f: float(r[f]) for f in fields}} for r in table.dropna().to_dict("records")]
    if new != current:
        state["calipers"][i] = new
        _bump(state, i)
        st.rerun()
    return current


def _add_buttons(item, state: dict, i: int, mask, key: str) -> None:
    """Quick starts: a distance caliper along the contour's long axis, an ellipse fitted to it."""
    import cv2

    h, w = item.image.shape[:2]
    fitted = None
    if mask is not None and np.count_nonzero(mask) >= 5:
        contours, _ = cv2.findContours(np.asarray(mask).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        contour = max(contours, key=cv2.contourArea)
        if len(contour) >= 5:
            (ex, ey), (d1, d2), ang = cv2.fitEllipse(contour)
            fitted = (ex, ey, d1 / 2, d2 / 2, ang)
    if st.button("Add distance caliper", key=f"{key}_add_d_{i}", width="stretch",
                 help="Along the long axis of the (corrected) contour; adjust the end points in the table"):
        if fitted:
            ex, ey, a, b, ang = fitted
            dx, dy = _rotate(a, 0, ang) if a >= b else _rotate(b, 0, ang + 90)
            new = {"kind": "distance", "x0": ex - dx, "y0": ey - dy, "x1": ex + dx, "y1": ey + dy}
        else:
            new = {"kind": "distance", "x0": w * 0.3, "y0": h * 0.5, "x1": w * 0.7, "y1": h * 0.5}
        state["calipers"].setdefault(i, []).append({k: (round(min(max(v, 0), (w if k[0] == "x" else h) - 1), 1)
                                                        if k != "kind" else v) for k, v in new.items()})
        _bump(state, i)
        st.rerun()
    if st.button("Add ellipse caliper", key=f"{key}_add_e_{i}", width="stretch",
                 help="The ellipse fitted to the (corrected) contour; adjust it in the table"):
        ex, ey, a, b, ang = fitted or (w / 2, h / 2, w / 6, h / 8, 0.0)
        state["calipers"].setdefault(i, []).append({"kind": "ellipse", "cx": round(ex, 1), "cy": round(ey, 1),
                                                    "a": round(a, 1), "b": round(b, 1), "angle_deg": round(ang, 1)})
        _bump(state, i)
        st.rerun()
    if st.button("Undo corrections", key=f"{key}_reset_{i}", width="stretch",
                 help="Back to the AI contour, no calipers (this image)"):
        state["vertices"].pop(i, None)
        state["calipers"].pop(i, None)
        _bump(state, i)
        st.rerun()


def _measure_rows(calipers: list, spacing) -> tuple[list, list]:
    good, rows = [], []
    for n, c in enumerate(calipers, start=1):
        try:
            m = measure_caliper(c, spacing)
        except InputError as err:
            st.error(f"Caliper C{n}: {err}")
            continue
        good.append(c)
        if m["kind"] == "distance":
            text = (f"{m['length_mm']:.1f} mm" if m["length_mm"] is not None else "— mm (no pixel spacing)")
            rows.append({"caliper": f"C{n}", "kind": "distance", "measurement": f"length {text}",
                         "pixels": f"{m['length_px']:.1f} px"})
        else:
            text = (f"axes {m['major_mm']:.1f} × {m['minor_mm']:.1f} mm, circumference "
                    f"{m['circumference_mm']:.1f} mm, area {m['area_mm2']:.0f} mm²"
                    if m["major_mm"] is not None else "— mm (no pixel spacing)")
            rows.append({"caliper": f"C{n}", "kind": "ellipse", "measurement": text,
                         "pixels": f"circumference {m['circumference_px']:.1f} px"})
    return good, rows


def corrections(items: list, *, token, key: str) -> dict:
    """The correction tools for every image; returns what to save: ``{"images": [...], "calipers": [...]}``."""
    state = _state(token, len(items), key)
    images, calipers = [], []
    with st.expander("Corrections: contour and calipers", expanded=False):
        labels = [f"{it.name} · frame {it.frame}" if it.frame else it.name for it in items]
        i = st.selectbox("Image to correct", range(len(items)), format_func=lambda j: labels[j],
                         key=f"{key}_which") if len(items) > 1 else 0
        item = items[i]
        initial = mask_vertices(item.ai_mask) if item.ai_mask is not None else []
        # The tables write every edit into ``state`` at once, so the drawing can be made from it first.
        edited = i in state["vertices"]
        vertices = [tuple(map(float, v)) for v in state["vertices"].get(i, initial)]
        mask, error = item.ai_mask, None
        if edited:
            try:
                mask = polygon_mask(vertices, item.image.shape[:2])
            except InputError as err:
                error, mask = str(err), item.ai_mask
        state.setdefault("edited", {})[i] = (vertices, edited and error is None)
        good, rows = _measure_rows(list(state["calipers"].get(i, [])), item.pixel_spacing_mm)
        state.setdefault("valid", {})[i] = good
        preview = draw_corrections(item.image, mask=mask if edited and error is None else None,
                                   vertices=vertices if edited else None, calipers=good, ai_mask=item.ai_mask)
        if error:
            st.error(f"Corrected contour not used: {error}")
        if not _draw(item, state, i, preview, key):
            st.image(preview, width=min(CANVAS_MAX_WIDTH, 2 * item.image.shape[1]),
                     caption="orange: AI contour · green: corrected contour · cyan: calipers")
        left, right = st.columns([3, 2])
        with left:
            st.markdown("**Contour vertices** (image pixels: add, delete or type to adjust)")
            _vertex_table(item, state, i, initial, key)
        with right:
            if edited and error is None and mask is not None:
                b = measure(mask, spacing_mm=item.pixel_spacing_mm).to_dict()
                mm = (f"; circumference {b['circumference_mm']:.1f} mm, mean diameter {b['mean_diameter_mm']:.1f} mm"
                      if b.get("circumference_mm") is not None else " (no pixel spacing: no mm)")
                st.markdown(f"Corrected contour: area {b['area_px']} px{mm}")
            elif item.ai_mask is not None:
                st.caption("Showing the AI contour's vertices; the AI mask is kept unless you change them.")
            _add_buttons(item, state, i, mask, key)
        st.markdown("**Calipers** (image pixels; mm from the pixel spacing)")
        _caliper_table(state, i, key)
        if rows:
            st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    for j, it in enumerate(items):
        verts, corrected = state.get("edited", {}).get(j, (None, False))
        final = polygon_mask(verts, it.image.shape[:2]) if corrected else it.ai_mask
        images.append({"name": it.name, "frame": it.frame, "image": it.image, "mask": final, "ai_mask": it.ai_mask,
                       "corrected": bool(corrected), "pixel_spacing_mm": it.pixel_spacing_mm,
                       "vertices": [list(v) for v in verts] if corrected else None,
                       "biometry": measure(final, spacing_mm=it.pixel_spacing_mm).to_dict() if final is not None
                       else None})
        calipers.extend({"image": j, **c} for c in state.get("valid", {}).get(j, []))
    return {"images": images, "calipers": calipers}
