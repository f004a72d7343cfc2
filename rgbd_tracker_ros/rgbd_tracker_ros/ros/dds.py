"""The shipped Fast DDS profile, and when the project's own tools apply it.

Fast DDS's default shared-memory segment (512 KB) is smaller than one 640x480 image, so
such images travel as UDP fragments; a best-effort reader loses every image that misses a
fragment (``config/fastdds_large_images.xml`` explains). The profile is a property of the
*publishing* process, so the tracker node never sets it for itself: a user's own Fast DDS
settings (``FASTRTPS_DEFAULT_PROFILES_FILE``, ``FASTDDS_BUILTIN_TRANSPORTS``) always win,
and the launch file and the project's tools (demo, benchmarks, sequence player) apply the
shipped profile only where the user set neither, and say so in their log.

Also here: how the project's own runs (tests, stress tools) keep discovery on this machine,
on every distro, and which domain ids they pick.
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
# ROS_AUTOMATIC_DISCOVERY_RANGE came with Iron; Humble only knows ROS_LOCALHOST_ONLY (which
# Jazzy still honours, with a deprecation warning in every process: so only where needed).
LOCALHOST_ONLY_DISTROS = frozenset({"humble"})
# ROS documents domain ids 0-101 as safe on Linux (higher ones collide with ephemeral ports);
# 0 is every robot's default, so the project's runs stay off it.
FIRST_DOMAIN_ID, LAST_DOMAIN_ID = 1, 101


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


def local_discovery_settings(environ: Mapping[str, str]) -> dict[str, str]:
    """The variables that keep DDS discovery on this machine for the sourced distro."""
    settings = {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    if environ.get("ROS_DISTRO", "") in LOCALHOST_ONLY_DISTROS:
        settings["ROS_LOCALHOST_ONLY"] = "1"
    return settings


def keep_discovery_local(environ: MutableMapping[str, str], override: bool) -> None:
    """Set ``local_discovery_settings``; ``override`` False keeps values already set (a
    test run's own choice), True replaces them (tools that must never leave the host)."""
    for name, value in local_discovery_settings(environ).items():
        if override:
            environ[name] = value
        else:
            environ.setdefault(name, value)


def domain_id_for(pid: int) -> int:
    """A per-process ROS_DOMAIN_ID inside the safe range (scripts/env.sh does the same)."""
    return FIRST_DOMAIN_ID + pid % (LAST_DOMAIN_ID - FIRST_DOMAIN_ID + 1)
