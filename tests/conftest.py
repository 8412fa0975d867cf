"""Shared test settings: tiny inputs, one torch thread per test process, seeded RNGs."""

import os

os.environ.setdefault("SONODASH_HOME", os.path.join(os.path.dirname(__file__), "..", "var", "test-home"))
# Pages open as in `make run` (demo mode, signed in as the demo admin); access tests set "required" themselves.
os.environ.setdefault("SONODASH_AUTH", "demo")

import sys  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _restore_main_module():
    """Streamlit's AppTest runs a page as ``sys.modules["__main__"]`` and leaves it there. Processes started
    with multiprocessing's "spawn" re-run ``__main__`` by its path, so a later test's workers would run that
    page (or crash on an AppTest.from_function script); put pytest's own ``__main__`` back after each test."""
    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Every test gets its own SONODASH_HOME so stores and runs never leak between tests."""
    monkeypatch.setenv("SONODASH_HOME", str(tmp_path / "home"))


@pytest.fixture(scope="session")
def sample_miscarriage(tmp_path_factory):
    """(folder, manifest DataFrame) of 3 synthetic miscarriage patients (6 images with expert masks)."""
    import pandas as pd

    from core.data.synthetic import make_sample_data

    out = tmp_path_factory.mktemp("miscarriage-sample")
    make_sample_data(out, study="miscarriage", n_patients=3, seed=0, progress=False)
    root = out / "miscarriage"
    return root, pd.read_csv(root / "manifest.csv")
