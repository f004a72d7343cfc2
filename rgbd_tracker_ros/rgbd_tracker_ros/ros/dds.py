"""The Fast DDS profile that lets camera-sized images through shared memory whole.

Without it a best-effort subscriber loses most 640x480 frames (see
``config/fastdds_large_images.xml``). It matters on the publishing side, so every process
of ours that may publish images points Fast DDS at it before ``rclpy.init``, unless the
user already chose a profile.
"""

from __future__ import annotations

import os
from pathlib import Path

from rgbd_tracker_ros.paths import config_dir

PROFILE_ENV = "FASTRTPS_DEFAULT_PROFILES_FILE"  # the name Fast DDS 2.x (ROS 2 Jazzy) reads


def large_image_profile() -> Path:
    return config_dir() / "fastdds_large_images.xml"


def use_large_image_profile() -> str:
    """Set the profile for this process and its children unless one is set; return it."""
    return os.environ.setdefault(PROFILE_ENV, str(large_image_profile()))
