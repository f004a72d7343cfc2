"""Both packages build with colcon from a clean build folder, as a user's workspace would."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
TOOLS = [
    "tracker_node",
    "sequence_player",
    "make_sequence",
    "export_model",
    "evaluate",
    "benchmark",
    "demo",
]


def test_colcon_builds_both_packages(tmp_path):
    result = subprocess.run(
        ["bash", str(REPO / "scripts" / "build_workspace.sh"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    install = tmp_path / "install"
    generated = "rgbd_tracker_msgs/lib/python3*/site-packages/rgbd_tracker_msgs"
    assert list(install.glob(f"{generated}/msg/_tracked_target.py"))
    assert list(install.glob(f"{generated}/srv/_init_target.py"))
    scripts = install / "rgbd_tracker_ros" / "lib" / "rgbd_tracker_ros"
    assert sorted(p.name for p in scripts.iterdir()) == sorted(TOOLS)
    share = install / "rgbd_tracker_ros" / "share" / "rgbd_tracker_ros"
    assert (share / "package.xml").is_file()
    assert (share / "config" / "tracker.yaml").exists()
    assert (share / "launch" / "tracker.launch.py").exists()
