"""Every tool of the package explains itself with --help and exits 0 (no ROS graph needed)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2]
SOURCES = PACKAGE / "rgbd_tracker_ros"
TOOLS = sorted(
    p.stem for p in (SOURCES / "tools").glob("*.py") if p.stem not in ("__init__", "cli")
)


@pytest.mark.parametrize("tool", TOOLS)
def test_help(tool):
    result = subprocess.run(
        [sys.executable, "-m", f"rgbd_tracker_ros.tools.{tool}", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout and len(result.stdout.splitlines()) >= 3


def test_console_scripts_are_tools():
    setup = (PACKAGE / "setup.py").read_text()
    scripts = dict(re.findall(r'"(\w+) = rgbd_tracker_ros\.tools\.(\w+):main"', setup))
    assert {"tracker_node", "sequence_player", "evaluate", "export_model"} <= set(scripts)
    assert all(name == module and module in TOOLS for name, module in scripts.items()), scripts
    assert setup.count(" = rgbd_tracker_ros.") == len(scripts), "a console script outside tools/"


def test_only_tools_parse_arguments():
    parsers = [
        path.relative_to(SOURCES).as_posix()
        for path in SOURCES.rglob("*.py")
        if "argparse" in path.read_text() and path.parent.name != "tools"
    ]
    assert parsers == []
