"""``python -m core``: the SonoDash command line (DESIGN.md section 4)."""

from core.cli import main

raise SystemExit(main())
