"""Every tool of the package explains itself with --help and exits 0 (no ROS graph needed)."""

from __future__ import annotations

import subprocess
import sys

import pytest

TOOLS = {
    "tracker_node": "rgbd_tracker_ros.ros.tracker_node",
    "sequence_player": "rgbd_tracker_ros.ros.sequence_player",
    "make_sequence": "rgbd_tracker_ros.sequences.make_sequence",
    "export_model": "rgbd_tracker_ros.tracking.export_model",
    "evaluate": "rgbd_tracker_ros.evaluation.evaluate",
    "benchmark": "rgbd_tracker_ros.evaluation.benchmark",
}


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_help(tool):
    result = subprocess.run(
        [sys.executable, "-m", TOOLS[tool], "--help"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout and len(result.stdout.splitlines()) >= 3


def test_console_scripts_match_the_tools():
    from pathlib import Path

    setup = (Path(__file__).resolve().parents[1] / "setup.py").read_text()
    for tool, module in TOOLS.items():
        assert f'"{tool} = {module}:main"' in setup
