"""The setup scripts' choices, on fake installs (nothing is installed here): which Python the
venv is made with, and how a shell keeps DDS on this machine on each distro."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from rgbd_tracker_ros.ros.dds import (
    FIRST_DOMAIN_ID,
    LAST_DOMAIN_ID,
    domain_id_for,
    keep_discovery_local,
    local_discovery_settings,
)

REPO = Path(__file__).resolve().parents[3]
SETUP = REPO / "scripts" / "setup_env.sh"
ROS_VARIABLES = ("ROS_DISTRO", "AMENT_PREFIX_PATH", "PYTHON", "ROS_DOMAIN_ID", "ROS_LOCALHOST_ONLY")


def _fake_python(bin_dir: Path, name: str) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / name
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o755)


def _fake_ros(root: Path, distro: str, site: str) -> Path:
    """An apt-like ROS prefix whose rclpy lives in ``site`` (relative to the prefix)."""
    prefix = root / "opt" / "ros" / distro
    (prefix / site / "rclpy").mkdir(parents=True)
    return prefix


def _choice(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ROS_VARIABLES}
    environ["PATH"] = f"{tmp_path / 'bin'}:{environ['PATH']}"
    environ["VENV"] = str(tmp_path / "venv")  # must stay untouched
    environ.update(env)
    return subprocess.run(
        ["bash", str(SETUP), "--python"], capture_output=True, text=True, env=environ, timeout=60
    )


@pytest.mark.parametrize(
    ("distro", "site", "python"),
    [
        ("jazzy", "lib/python3.12/site-packages", "python3.12"),  # Ubuntu 24.04
        ("humble", "local/lib/python3.10/dist-packages", "python3.10"),  # Ubuntu 22.04
        ("humble", "lib/python3.10/site-packages", "python3.10"),
    ],
)
def test_a_sourced_apt_ros_gets_its_own_python(tmp_path, distro, site, python):
    prefix = _fake_ros(tmp_path, distro, site)
    _fake_python(tmp_path / "bin", python)
    result = _choice(tmp_path, ROS_DISTRO=distro, AMENT_PREFIX_PATH=f"/nonexistent:{prefix}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == python
    assert not (tmp_path / "venv").exists(), "--python must only print the choice"


def test_without_ros_the_wheels_python_is_used(tmp_path):
    result = _choice(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "python3.11"


def test_python_given_explicitly_wins(tmp_path):
    prefix = _fake_ros(tmp_path, "jazzy", "lib/python3.12/site-packages")
    _fake_python(tmp_path / "bin", "my-python")
    result = _choice(
        tmp_path, ROS_DISTRO="jazzy", AMENT_PREFIX_PATH=str(prefix), PYTHON="my-python"
    )
    assert result.stdout.strip() == "my-python", result.stderr


def test_a_missing_interpreter_is_a_clear_error(tmp_path):
    prefix = _fake_ros(tmp_path, "jazzy", "lib/python3.99/site-packages")
    result = _choice(tmp_path, ROS_DISTRO="jazzy", AMENT_PREFIX_PATH=str(prefix))
    assert result.returncode == 1
    assert "python3.99 not found; ROS jazzy is built for it" in result.stderr


def _env_sh(**env: str) -> dict[str, str]:
    """The ROS_* variables a shell has after sourcing scripts/env.sh with ``env``."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ROS_")}
    environ.update(env)
    script = f"source {REPO / 'scripts' / 'env.sh'} && env"
    result = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, env=environ, timeout=60
    )
    assert result.returncode == 0, result.stderr
    pairs = (line.split("=", 1) for line in result.stdout.splitlines() if line.startswith("ROS_"))
    return dict(pairs)


def test_env_sh_keeps_discovery_local_and_the_domain_in_the_safe_range():
    jazzy = _env_sh()
    assert jazzy["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    assert "ROS_LOCALHOST_ONLY" not in jazzy  # Jazzy warns about it in every process
    assert FIRST_DOMAIN_ID <= int(jazzy["ROS_DOMAIN_ID"]) <= LAST_DOMAIN_ID
    humble = _env_sh(ROS_DISTRO="humble")
    assert humble["ROS_LOCALHOST_ONLY"] == "1"  # Humble has no discovery range
    assert _env_sh(ROS_DOMAIN_ID="7")["ROS_DOMAIN_ID"] == "7"  # a chosen one stays


def test_python_side_matches_env_sh():
    assert local_discovery_settings({}) == {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    assert local_discovery_settings({"ROS_DISTRO": "humble"})["ROS_LOCALHOST_ONLY"] == "1"
    kept = {"ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET", "ROS_DISTRO": "humble"}
    keep_discovery_local(kept, override=False)
    assert kept["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "SUBNET" and kept["ROS_LOCALHOST_ONLY"] == "1"
    forced = {"ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET"}
    keep_discovery_local(forced, override=True)
    assert forced == {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    ids = {domain_id_for(pid) for pid in range(5000)}
    assert ids == set(range(FIRST_DOMAIN_ID, LAST_DOMAIN_ID + 1))
    assert FIRST_DOMAIN_ID >= 1 and LAST_DOMAIN_ID <= 101  # ROS's safe range, off domain 0
