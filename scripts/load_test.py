"""Load test of the Analyze page: many concurrent sessions in one server process (issue 10 item 5).

Each session is a Streamlit ``AppTest`` started from ``dashboard/app.py``, switched to ``pages/analyze.py``,
clicking *Analyze* on a showcase patient again and again, all sessions in threads of this one process, as
the sessions of one ``streamlit run`` server share a process (AppTest runs take turns; see APPTEST_LOCK).
Measured:

- how often a model bundle was loaded (``core.models.load_predictor`` calls): must be once per process,
  because ``dashboard.resources.predictor`` is an ``st.cache_resource``;
- the process's resident memory (VmRSS) after a warm-up round (every session's first analysis) and at the
  end, and the growth in percent;
- analyses served and any exception or error shown on a page.

Usage::

    .venv/bin/python scripts/load_test.py --sessions 20 --analyses 200 [--bundle DIR] [--json]

Without ``--bundle`` it uses the demo bundle (sample_data/models/miscarriage/bundle) when it exists and
otherwise builds a tiny one. It runs against a throw-away ``$SONODASH_HOME`` (a temporary folder) where the
bundle is registered as the miscarriage default, exactly as a user's store would hold it.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "dashboard" / "app.py"
ANALYZE_PAGE = ROOT / "pages" / "analyze.py"


def rss_bytes() -> int:
    """Resident set size of this process (Linux /proc; falls back to the peak from getrusage)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def tiny_bundle(folder: Path) -> Path:
    """A small untrained classifier bundle for the miscarriage task (when no demo bundle exists)."""
    import torch

    from core.models import build_model, save_bundle

    torch.manual_seed(0)
    model = build_model("smallcnn", num_classes=2, in_channels=1, width=4)
    return save_bundle(folder / "tiny-miscarriage", model,
                       {"task": "miscarriage", "class_names": ["live_birth", "miscarriage"], "input_size": 32,
                        "normalization": "unit", "name": "load-test-tiny"})


def register_default(bundle: Path) -> None:
    from core import store
    from core.models import read_meta

    meta = read_meta(bundle)
    store.set_default_bundle("miscarriage", store.register_bundle(bundle, meta))


class LoadCounter:
    """Wraps core.models.load_predictor and counts the calls (thread-safe)."""

    def __init__(self):
        import core.models

        self.module = core.models
        self.original = core.models.load_predictor
        self.calls = 0
        self.lock = threading.Lock()

    def __call__(self, *args, **kwargs):
        with self.lock:
            self.calls += 1
        return self.original(*args, **kwargs)

    def __enter__(self):
        self.module.load_predictor = self
        return self

    def __exit__(self, *exc):
        self.module.load_predictor = self.original


# AppTest swaps a process-global mock Runtime and page registry in and out around every run, so two
# AppTest runs must not overlap: the sessions live side by side (20 session states, interleaved clicks) but
# their script runs take turns. Truly simultaneous analyses on the shared cached model are exercised by
# tests/test_load.py::test_parallel_analyses_on_one_cached_model_keep_their_own_heat_maps.
APPTEST_LOCK = threading.Lock()


def open_session(timeout: float):
    """A session on the Analyze page with the showcase patient and the default model preselected."""
    from streamlit.testing.v1 import AppTest

    with APPTEST_LOCK:
        at = AppTest.from_file(str(APP), default_timeout=timeout).run()
        at.switch_page(str(ANALYZE_PAGE)).run()
    return at


def click_analyze(at) -> None:
    with APPTEST_LOCK:
        button = next(b for b in at.button if b.label == "Analyze")
        button.click().run()


def session_problems(at) -> list[str]:
    problems = [f"exception: {e.value}" for e in at.exception] + [f"error: {e.value}" for e in at.error]
    if not problems and at.session_state["analysis"] is None:
        problems.append("no analysis after clicking Analyze")
    elif not problems and at.session_state["analysis"].probability is None:
        problems.append("analysis without a probability (model not used)")
    return problems


def run_load(*, sessions: int, analyses: int, timeout: float = 600.0, progress=None) -> dict:
    """``sessions`` concurrent sessions doing ``analyses`` analyses in total; see the module docstring.

    The first round (one analysis per session) is the warm-up: model load, imports, caches. Memory growth
    is measured from the end of the warm-up to the end, after a garbage collection at both points.
    """
    per_session = max(1, analyses // sessions)
    served, problems, lock = [0], [], threading.Lock()
    ats = [None] * sessions
    warm = threading.Barrier(sessions + 1)
    resume = threading.Event()

    def worker(i: int) -> None:
        try:
            ats[i] = open_session(timeout)
            for k in range(per_session):
                click_analyze(ats[i])
                found = session_problems(ats[i])
                with lock:
                    served[0] += 1
                    problems.extend(f"session {i} analysis {k}: {p}" for p in found)
                if progress:
                    progress(served[0])
                if k == 0:
                    warm.wait()
                    resume.wait()
        except threading.BrokenBarrierError:
            return
        except Exception as err:  # noqa: BLE001 - reported, not raised, so the other sessions finish
            with lock:
                problems.append(f"session {i}: {type(err).__name__}: {err}")
            warm.abort()

    with LoadCounter() as counter:
        t0 = time.perf_counter()
        threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(sessions)]
        for t in threads:
            t.start()
        try:
            warm.wait()
        except threading.BrokenBarrierError:
            pass
        gc.collect()
        rss_warm = rss_bytes()
        t_warm = time.perf_counter()
        resume.set()
        for t in threads:
            t.join()
        gc.collect()
        rss_end = rss_bytes()
        t_end = time.perf_counter()
    return {"sessions": sessions, "analyses_per_session": per_session, "requests_served": served[0],
            "model_loads": counter.calls, "rss_after_warmup_mb": round(rss_warm / 2**20, 1),
            "rss_end_mb": round(rss_end / 2**20, 1),
            "rss_growth_pct": round(100.0 * (rss_end - rss_warm) / rss_warm, 2),
            "warmup_s": round(t_warm - t0, 1), "after_warmup_s": round(t_end - t_warm, 1),
            "problems": problems}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--analyses", type=int, default=200, help="total over all sessions")
    parser.add_argument("--bundle", default=None, help="model bundle (default: demo bundle or a tiny one)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    home = Path(tempfile.mkdtemp(prefix="sonodash-load-"))
    os.environ["SONODASH_HOME"] = str(home)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.path.insert(0, str(ROOT))
    import torch

    from core.demo import demo_bundle

    torch.set_num_threads(1)
    bundle = Path(args.bundle) if args.bundle else (demo_bundle("miscarriage") or tiny_bundle(home))
    register_default(bundle)
    result = run_load(sessions=args.sessions, analyses=args.analyses,
                      progress=lambda n: print(f"\r{n} analyses", end="", file=sys.stderr))
    print(file=sys.stderr)
    result["bundle"] = str(bundle)
    result["command"] = " ".join([".venv/bin/python", "scripts/load_test.py", *(argv or sys.argv[1:])])
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            if key != "problems":
                print(f"{key}: {value}")
        print(f"problems: {len(result['problems'])}")
        for p in result["problems"][:20]:
            print(f"  {p}")
    ok = not result["problems"] and result["model_loads"] == 1 and result["rss_growth_pct"] < 10
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
