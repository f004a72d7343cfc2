"""The built-in demo sequence, generated on first use (never committed as binaries)."""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

from rgbd_tracker_ros.paths import data_dir
from rgbd_tracker_ros.sequences.depthtrack import CAMERA_FILE
from rgbd_tracker_ros.sequences.synthetic import SyntheticConfig, generate_sequence

LOG = logging.getLogger(__name__)

# Bump the version when the demo's content changes, so stale caches are not reused.
DEMO_NAME = "demo_v1"


def demo_config() -> SyntheticConfig:
    """150 frames at 640x480: approach from ~3 m, a passing board, out of view and back."""
    return SyntheticConfig(
        seed=11,
        num_frames=150,
        name=DEMO_NAME,
        scale_change=True,
        translation=True,
        partial_occlusion=True,
        out_of_view=True,
        depth_noise=True,
    )


def demo_sequence(root: Path | None = None) -> Path:
    """Path of the demo sequence under ``root`` (default ``paths.data_dir()``), made if missing.

    Generated into a temporary folder and renamed into place, so an interrupted or
    concurrent run never leaves a half-written demo behind.
    """
    root = Path(root) if root is not None else data_dir()
    target = root / DEMO_NAME
    if (target / CAMERA_FILE).is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    LOG.info("generating the demo sequence into %s (once)", target)
    scratch = Path(tempfile.mkdtemp(prefix=f".{DEMO_NAME}-", dir=root))
    try:
        generate_sequence(demo_config(), scratch)
        try:
            scratch.rename(target)
        except OSError:
            # Another process finished first; its copy is identical.
            if not (target / CAMERA_FILE).is_file():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target
