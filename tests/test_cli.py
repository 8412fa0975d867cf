"""The command line's public surface: --help lists the contract's commands, bad input exits 2."""

import subprocess
import sys


def _run(*args):
    return subprocess.run([sys.executable, "-m", "core", *args], capture_output=True, text=True, timeout=300)


def test_help_lists_design_commands():
    out = _run("--help")
    assert out.returncode == 0
    for command in ("make-sample-data", "inspect"):
        assert command in out.stdout


def test_no_command_prints_help_and_exits_2():
    out = _run()
    assert out.returncode == 2 and "usage" in out.stdout.lower()
