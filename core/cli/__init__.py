"""The command line, one module per command.

Why this shape: several people add commands at once, so each command lives in its own module in this package
and is found automatically; nobody edits a shared list. A command module defines

    NAME = "make-sample-data"          # the public command name (DESIGN.md section 4)
    HELP = "one line for --help"
    def add_arguments(parser): ...     # argparse flags, exactly as in DESIGN.md
    def run(args) -> int: ...          # 0 on success; raise InputError for bad input

Command modules import heavy libraries (torch, cv2, ...) inside ``run`` so ``--help`` stays fast.
Exit codes: 0 success, 2 bad input (one line on stderr, no traceback), 1 internal error.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import traceback

from core.errors import InputError

# Order of commands in --help: DESIGN.md section 4 first, then the rest alphabetically.
_DESIGN_ORDER = [
    "make-sample-data", "inspect", "train", "segment", "predict", "evaluate", "rules", "stats", "bench", "demo",
]


def _command_modules():
    mods = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(mod, "NAME") and hasattr(mod, "run"):
            mods.append(mod)
    rank = {name: i for i, name in enumerate(_DESIGN_ORDER)}
    return sorted(mods, key=lambda m: (rank.get(m.NAME, len(rank)), m.NAME))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m core",
        description="SonoDash: prenatal-ultrasound AI from the command line (research use only).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _command_modules():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=(mod.__doc__ or mod.HELP).strip(),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as err:  # noqa: BLE001 - the last line of defence: exit 1, traceback only on request
        print(f"internal error: {type(err).__name__}: {err}", file=sys.stderr)
        if "--debug" in sys.argv or __import__("os").environ.get("SONODASH_DEBUG"):
            traceback.print_exc()
        return 1
