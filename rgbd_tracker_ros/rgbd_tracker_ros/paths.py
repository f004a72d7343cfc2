"""Where the package's data lives, in a source checkout and in a ROS install alike."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_NAME = "rgbd_tracker_ros"


def config_dir() -> Path:
    """The package's ``config/`` folder.

    A source checkout (or a ``--symlink-install`` build, whose modules resolve to the
    sources) has it beside the Python package; a plain install has it in the ament share
    directory.
    """
    source_config = Path(__file__).resolve().parents[1] / "config"
    if source_config.is_dir():
        return source_config
    from ament_index_python.packages import get_package_share_directory

    return Path(get_package_share_directory(PACKAGE_NAME)) / "config"


def data_dir() -> Path:
    """Generated data (demo and benchmark sequences): ``$RGBD_TRACKER_DATA`` or a user cache."""
    override = os.environ.get("RGBD_TRACKER_DATA")
    if override:
        return Path(override)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / PACKAGE_NAME
