"""Every tool of the package explains itself with --help and exits 0 (no ROS graph needed)."""

from __future__ import annotations

import importlib
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
# Nodes take the whole command line, program name first, as rclpy reads --ros-args from it.
NODES = ("sequence_player", "tracker_node")


@pytest.mark.parametrize("tool", TOOLS)
def test_help(tool, capsys):
    # In this process: a subprocess per tool spent seconds each importing torch again.
    main = importlib.import_module(f"rgbd_tracker_ros.tools.{tool}").main
    with pytest.raises(SystemExit) as exit_info:
        main([tool, "--help"] if tool in NODES else ["--help"])
    assert exit_info.value.code in (0, None)
    out = capsys.readouterr().out
    assert "usage:" in out and len(out.splitlines()) >= 3


def test_module_form_runs_as_a_program():
    result = subprocess.run(
        [sys.executable, "-m", "rgbd_tracker_ros.tools.tracker_node", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout


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
