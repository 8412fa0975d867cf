"""Concurrent Analyze sessions share one model load (short version of scripts/load_test.py).

4 AppTest sessions in threads x 5 analyses each of a showcase patient against a tiny registered bundle: the
bundle is loaded exactly once in the process (``st.cache_resource``), every click gives an analysis with a
probability, and no session shows an exception or an error. The 20-session / 200-analysis memory figure
comes from the script (no timing or memory assertion here: the test machine is shared).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "load_test.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("sonodash_load_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def clean_resource_cache():
    """Start from an empty st.cache_resource so the count is this test's own."""
    import streamlit as st

    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


def test_concurrent_sessions_load_the_model_once(tmp_path, clean_resource_cache):
    import torch

    load = _load_script()
    torch.set_num_threads(1)
    bundle = load.tiny_bundle(tmp_path)
    load.register_default(bundle)
    result = load.run_load(sessions=4, analyses=20, timeout=300)
    assert result["problems"] == []
    assert result["requests_served"] == 20
    assert result["model_loads"] == 1


def test_parallel_analyses_on_one_cached_model_keep_their_own_heat_maps(tmp_path):
    """Sessions share one predictor object; Grad-CAM hooks on it must never record another session's pass.

    Reference: each image analysed alone. Then 6 threads analyse the same images at once on the same
    predictor; probabilities, CAMs and uncertainties must equal the serial ones.
    """
    import threading

    import numpy as np
    import torch

    from core.models import load_predictor
    from core.pipeline import analyze

    torch.set_num_threads(1)
    predictor = load_predictor(_load_script().tiny_bundle(tmp_path))
    rng = np.random.default_rng(4)
    images = [rng.integers(0, 256, (40, 48), dtype=np.uint8) for _ in range(6)]
    images = [np.where(np.hypot(*np.mgrid[:40, :48] - np.array([[[20]], [[10 + 5 * i]]])) < 8, 230, im)
              .astype(np.uint8) for i, im in enumerate(images)]

    def one(i):
        a = analyze([images[i]], {"ga_weeks": 7}, model=predictor, cam="gradcam", faithfulness=True)  # as the page
        return a.probability, a.images[0].cam, a.uncertainty["sd"]

    reference = [one(i) for i in range(len(images))]
    mismatches, errors = [], []

    def worker(k):
        for r in range(3):
            i = (k + r) % len(images)
            try:
                p, cam, sd = one(i)
            except Exception as err:  # noqa: BLE001 - collected and reported below
                errors.append(f"{type(err).__name__}: {err}")
                continue
            p0, cam0, sd0 = reference[i]
            if abs(p - p0) > 1e-5 or np.abs(cam - cam0).max() > 1e-4 or abs(sd - sd0) > 1e-5:
                mismatches.append((k, i, float(np.abs(cam - cam0).max())))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and mismatches == []
