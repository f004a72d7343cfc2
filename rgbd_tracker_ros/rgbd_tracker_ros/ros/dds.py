"""The shipped Fast DDS profile, and when the project's own tools apply it.

Fast DDS's default shared-memory segment (512 KB) is smaller than one 640x480 image, so
such images travel as UDP fragments; a best-effort reader loses every image that misses a
fragment (``config/fastdds_large_images.xml`` explains). The profile is a property of the
*publishing* process, so the tracker node never sets it for itself: a user's own Fast DDS
settings (``FASTRTPS_DEFAULT_PROFILES_FILE``, ``FASTDDS_BUILTIN_TRANSPORTS``) always win,
and the launch file and the project's tools (demo, benchmarks, sequence player) apply the
shipped profile only where the user set neither, and say so in their log.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path

from rgbd_tracker_ros.paths import config_dir

PROFILE_ENV = "FASTRTPS_DEFAULT_PROFILES_FILE"  # the name Fast DDS 2.x (ROS 2 Jazzy) reads
BUILTIN_TRANSPORTS_ENV = "FASTDDS_BUILTIN_TRANSPORTS"  # Fast DDS >= 2.13: DEFAULT, LARGE_DATA...
PROFILE_FILE = "fastdds_large_images.xml"


def large_image_profile() -> Path:
    return config_dir() / PROFILE_FILE


@dataclass(frozen=True)
class DdsChoice:
    """The profile to export for the processes a tool starts (None: leave Fast DDS alone)."""

    profile: str | None
    message: str


def choose_profile(environ: Mapping[str, str], shipped: str | Path) -> DdsChoice:
    """What a tool should do about Fast DDS, given the user's environment."""
    user_profile = environ.get(PROFILE_ENV, "")
    if user_profile:
        return DdsChoice(None, f"Fast DDS: your profile {user_profile} (${PROFILE_ENV})")
    transports = environ.get(BUILTIN_TRANSPORTS_ENV, "")
    if transports:
        return DdsChoice(
            None,
            f"Fast DDS: your builtin transports {transports} (${BUILTIN_TRANSPORTS_ENV}); "
            "the shipped large-image profile is not applied",
        )
    return DdsChoice(
        str(shipped),
        f"Fast DDS: the shipped large-image profile {shipped} (set ${PROFILE_ENV} or "
        f"${BUILTIN_TRANSPORTS_ENV} to use your own)",
    )


def apply_large_image_profile(
    log: Callable[[str], None], environ: MutableMapping[str, str] | None = None
) -> str | None:
    """Export the shipped profile (for this process and its children) unless the user
    configured Fast DDS; log what is used. Call before ``rclpy.init``. Returns the profile
    exported, None when the user's settings stand."""
    env = os.environ if environ is None else environ
    choice = choose_profile(env, large_image_profile())
    if choice.profile is not None:
        env[PROFILE_ENV] = choice.profile
    log(choice.message)
    return choice.profile
