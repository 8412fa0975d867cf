"""Where SonoDash keeps its state (store, runs, uploads): ``$SONODASH_HOME``, default ``./var``."""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DATA = REPO_ROOT / "sample_data"


def sonodash_home() -> Path:
    """The state folder, created on first use."""
    home = Path(os.environ.get("SONODASH_HOME", "var")).expanduser()
    home.mkdir(parents=True, exist_ok=True)
    return home
