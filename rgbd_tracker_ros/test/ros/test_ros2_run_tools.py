"""Every tool the README shows as ``ros2 run rgbd_tracker_ros <tool>`` is a console script
of the package and answers ``--help`` through the real ``ros2 run`` (ros2cli from the ROS
source overlay, or an apt install), as the README's apt path uses them."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from ros_harness import requires

PACKAGE = Path(__file__).resolve().parents[2]
README = PACKAGE.parent / "README.md"
SHOWN = sorted(set(re.findall(r"ros2 run rgbd_tracker_ros (\w+)", README.read_text())))
SCRIPTS = set(
    re.findall(r'"(\w+) = rgbd_tracker_ros\.tools\.\w+:main"', (PACKAGE / "setup.py").read_text())
)


def test_the_readme_shows_the_tools_a_ros_user_needs():
    assert {"export_model", "evaluate", "benchmark", "sequence_player", "demo"} <= set(SHOWN)
    assert set(SHOWN) <= SCRIPTS, "a tool shown in the README is not a console script"


@requires("ros2run")
@pytest.mark.parametrize("tool", SHOWN)
def test_ros2_run_tool_help(tool):
    result = subprocess.run(
        ["ros2", "run", "rgbd_tracker_ros", tool, "--help"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "usage:" in result.stdout, result.stdout
