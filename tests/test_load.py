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
