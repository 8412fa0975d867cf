"""The image viewer of the Analyze page: frame slider and playback, window/level, zoom, frame choice.

Why here and not in the page: the page stays widgets -> one core call -> render. The numbers come from
:mod:`core.frames` (frames, original values, VOI LUT / window, acquisition frame rate); this module only lays
out widgets. What the viewer returns -- the frames to analyse per file -- goes to ``core.pipeline.analyze``
as its ``frames`` argument, so "this frame" on screen is exactly the frame analysed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from core.errors import InputError
from core.frames import animation, open_cine, window_level, zoom as zoom_view

THIS_FRAME, EVERY_FRAME = "this frame", "every kept frame"


def _name(item) -> str:
    return Path(str(item[0] if isinstance(item, tuple) else item)).name


def _digest(item) -> str:
    if isinstance(item, tuple):
        return hashlib.sha1(item[1]).hexdigest()[:16]
    path = Path(str(item))
    stat = path.stat() if path.exists() else None
    return hashlib.sha1(f"{path}|{stat and stat.st_mtime_ns}|{stat and stat.st_size}".encode()).hexdigest()[:16]


@st.cache_data(max_entries=6, show_spinner=False)
def _open(digest: str, name: str, _item):
    """Decoded frames of one input, cached by content (a rerun does not decode the clip again)."""
    data = _item[1] if isinstance(_item, tuple) else _item
    return open_cine(data, name=name)


def open_input(item):
    """The :class:`core.frames.Cine` of an input, or None with one st.error line."""
    try:
        return _open(_digest(item), _name(item), item)
    except InputError as err:
        st.error(str(err))
    except OSError as err:
        st.error(f"{_name(item)}: cannot be read ({type(err).__name__})")
    return None


def _window_widgets(cine, key: str) -> tuple[float, float] | None:
    """Centre and width on the original values; None = the object's own VOI LUT / window (the default)."""
    lo, hi = cine.value_range
    if not hi > lo:
        return None
    voi = cine.voi or {}
    own = voi.get("kind")
    modes = ["object's " + own if own else "as stored (full range)", "manual window"]
    mode = st.radio("Presentation", modes, horizontal=True, key=f"{key}_wl_mode",
                    help="Window/level acts on the original pixel values (after the modality LUT). "
                         "The object's VOI LUT or window is the starting view where the file has one.")
    if mode != "manual window":
        return None
    default_c = float(voi.get("center", (lo + hi) / 2.0))
    default_w = float(voi.get("width", hi - lo))
    c1, c2 = st.columns(2)
    center = c1.slider("Window centre (level)", lo, hi, min(max(default_c, lo), hi), key=f"{key}_level")
    width = c2.slider("Window width", max((hi - lo) / 255.0, 1e-6), 2.0 * (hi - lo),
                      min(max(default_w, (hi - lo) / 255.0), 2.0 * (hi - lo)), key=f"{key}_width")
    return center, width


def _frame_view(cine, k: int, window) -> np.ndarray:
    if window is None or cine.values is None:
        return cine.display[k]
    return window_level(cine.values[k], center=window[0], width=window[1])


def _rate_text(cine) -> str:
    if not cine.fps:
        return "no frame rate in the file (played at 25 frames/s)"
    source = {"FrameTime": "DICOM FrameTime", "CineRate": "DICOM CineRate",
              "RecommendedDisplayFrameRate": "DICOM RecommendedDisplayFrameRate", "video": "the video"}
    return f"{cine.fps:.1f} frames/s from {source.get(cine.fps_source, cine.fps_source)}"


def spacing_caption(own, fallback, source: str) -> str:
    """", 0.248 mm/pixel (from the file)" -- the spacing the analysis uses and its origin, or "no pixel spacing"."""
    if own:
        return f", {float(own):.4g} mm/pixel (from the file)"
    if fallback:
        return f", {float(fallback):.4g} mm/pixel ({source})"
    return ", no pixel spacing"


def viewer(inputs: list, *, key: str = "viewer", spacing_mm: float | None = None,
           spacing_source: str = "entered") -> dict:
    """Draw the viewer for the inputs; returns ``{"frames": {file: [frame, ...]} or None}`` for analyze().

    ``spacing_mm`` / ``spacing_source``: the mm per pixel the analysis will use for a file that carries none
    (the page's mm / pixel value, e.g. from a showcase manifest) and where it came from; the caption names the
    spacing actually used (the file's own calibration wins, as in core.pipeline.analyze)."""
    if not inputs:
        return {"frames": None}
    names = [_name(i) for i in inputs]
    st.markdown("**Viewer**")
    index = 0
    if len(inputs) > 1:
        index = st.selectbox("Image", range(len(inputs)), format_func=lambda i: names[i], key=f"{key}_image")
    item = inputs[index]
    cine = open_input(item)
    if cine is None:
        return {"frames": None}
    k_key = f"{key}_{_digest(item)}"
    left, right = st.columns([3, 2])
    with right:
        frame = 0
        if cine.n > 1:
            frame = st.slider("Frame", 0, int(cine.indices[-1]), step=cine.step, key=f"{k_key}_frame",
                              help=f"{cine.n_source_frames} frames in the file"
                                   + (f"; one every {cine.step} kept here" if cine.step > 1 else ""))
            st.caption(f"{cine.n_source_frames} frames · {_rate_text(cine)}")
        window = _window_widgets(cine, k_key)
        zoom = st.slider("Zoom", 1.0, 8.0, 1.0, step=0.5, key=f"{k_key}_zoom")
        cx = cy = 0.5
        if zoom > 1.0:
            c1, c2 = st.columns(2)
            cx = c1.slider("Pan left-right", 0.0, 1.0, 0.5, step=0.05, key=f"{k_key}_cx")
            cy = c2.slider("Pan up-down", 0.0, 1.0, 0.5, step=0.05, key=f"{k_key}_cy")
        play = cine.n > 1 and st.toggle("Play the clip", key=f"{k_key}_play",
                                        help="Plays every kept frame at the acquisition rate, with this "
                                             "window and zoom.")
        choice = THIS_FRAME
        if cine.n > 1:
            choice = st.radio("Analyse", [THIS_FRAME, EVERY_FRAME], horizontal=True, key=f"{k_key}_which",
                              help=f"'{EVERY_FRAME}': the {cine.n} frames held here, one result per frame.")
    k = cine.indices.index(frame) if frame in cine.indices else 0
    with left:
        if play:
            frames = np.stack([zoom_view(_frame_view(cine, j, window), zoom, cx=cx, cy=cy)[0] for j in range(cine.n)])
            st.image(animation(frames, frame_ms=cine.playback_ms()), width="stretch",
                     caption=f"{cine.name}: playing {cine.n} frames at {_rate_text(cine)}")
        else:
            view, box = zoom_view(_frame_view(cine, k, window), zoom, cx=cx, cy=cy)
            spacing = spacing_caption(cine.pixel_spacing_mm, spacing_mm, spacing_source)
            where = f" · rows {box[0]}–{box[2]}, columns {box[1]}–{box[3]}" if zoom > 1 else ""
            st.image(view, width="stretch",
                     caption=f"{cine.name} · frame {frame} of {cine.n_source_frames}{spacing}{where}")
    frames = {}
    if cine.n > 1:
        frames[cine.name] = [frame] if choice == THIS_FRAME else list(cine.indices)
    return {"frames": frames or None}


def frame_results(analysis) -> None:
    """Which frames were analysed, and one row per analysed image or frame (probability, biometry)."""
    rows = []
    for r in analysis.images:
        b = r.biometry or {}
        rows.append({"file": r.name, "frame": int(r.frame), "probability": r.probability,
                     "area (px)": b.get("area_px"), "circumference (mm)": b.get("circumference_mm"),
                     "mean diameter (mm)": b.get("mean_diameter_mm")})
    table = pd.DataFrame(rows)
    multi = table.groupby("file")["frame"].transform("size") > 1
    shown = ", ".join(f"{f}: frame {', '.join(str(x) for x in g['frame'])}" for f, g in table.groupby("file", sort=False)
                      if len(g) > 1 or g["frame"].iloc[0] != 0)
    if shown:
        st.markdown(f"**Analysed frame(s)** — {shown}")
    if multi.any():
        st.dataframe(table.dropna(axis=1, how="all"), hide_index=True, width="stretch",
                     column_config={"probability": st.column_config.NumberColumn(format="%.3f"),
                                    "circumference (mm)": st.column_config.NumberColumn(format="%.1f"),
                                    "mean diameter (mm)": st.column_config.NumberColumn(format="%.1f")})
