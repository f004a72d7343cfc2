"""Test set-up shared by every test: import path, one torch thread, DDS on loopback."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
if str(PACKAGE_ROOT) not in sys.path:
    sys.path.insert(0, str(PACKAGE_ROOT))

from rgbd_tracker_ros.ros.dds import use_large_image_profile  # noqa: E402 (needs the path)

# DDS must never leave the machine; Makefile and .ci/run set these, this is the safety net
# for a bare `pytest` run.
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", str(100 + os.getpid() % 100))

# Our publishers' images need the large-image DDS profile, as in the tools (ros/dds.py).
use_large_image_profile()

# Small tensors and a 2-core machine: extra intra-op threads only wait on each other.
torch.set_num_threads(1)


@pytest.fixture
def graph():
    """A client node plus a tracker node on one executor (``ros_harness.Graph``)."""
    from ros_harness import Graph

    g = Graph()
    yield g
    g.close()
