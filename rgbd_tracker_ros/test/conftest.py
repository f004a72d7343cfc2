"""Test set-up shared by every test: import path, one torch thread, DDS on loopback.

Tests live in three folders: ``unit/`` (no ROS), ``ros/`` (a ROS graph, launch or colcon: every
test there gets the ``ros`` marker) and ``tools/`` (the command lines; one that needs ROS is
marked ``ros`` itself). ``pytest -m "not ros"`` runs everything that needs no ROS graph.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import pytest
import torch

TEST_ROOT = Path(__file__).resolve().parent
PACKAGE_ROOT = TEST_ROOT.parent
if str(PACKAGE_ROOT) not in sys.path:
    sys.path.insert(0, str(PACKAGE_ROOT))

from rgbd_tracker_ros.ros.dds import (  # noqa: E402 (needs the path)
    apply_large_image_profile,
    domain_id_for,
    keep_discovery_local,
)

# DDS must never leave the machine; scripts/env.sh (make, .ci/run) sets these, this is the
# safety net for a bare `pytest` run.
keep_discovery_local(os.environ, override=False)
os.environ.setdefault("ROS_DOMAIN_ID", str(domain_id_for(os.getpid())))

# Our publishers' images need the large-image DDS profile, as in the tools (ros/dds.py);
# tests of the user's default Fast DDS settings start their processes without it.
apply_large_image_profile(logging.getLogger("conftest").info)

# launch_testing's pytest plugin imports launch, whose logger class makes every logger
# created afterwards non-propagating; the library's module loggers must reach their parents
# (the node's log route, caplog) as they do in any process the package runs in.
logging.setLoggerClass(logging.Logger)

# Small tensors and a 2-core machine: extra intra-op threads only wait on each other.
torch.set_num_threads(1)


def pytest_configure(config):
    config.addinivalue_line("markers", "ros: needs a ROS graph, launch or a colcon build")


def pytest_collection_modifyitems(config, items):
    ros_folder = TEST_ROOT / "ros"
    for item in items:
        if ros_folder in Path(item.fspath).parents:
            item.add_marker(pytest.mark.ros)


@pytest.fixture
def graph():
    """A client node plus a tracker node on one executor (``ros_harness.Graph``)."""
    from ros_harness import Graph

    g = Graph()
    yield g
    g.close()


@pytest.fixture
def make_node():
    """``make(name)`` gives a node spun on one executor thread; all are destroyed after."""
    import rclpy
    from rclpy.node import Node

    from rgbd_tracker_ros.ros.spinning import BackgroundSpinner

    rclpy.init()
    spinner = BackgroundSpinner()
    nodes: list[Node] = []

    def make(name: str) -> Node:
        node = Node(name)
        spinner.add(node)
        nodes.append(node)
        return node

    yield make
    spinner.stop()
    for node in nodes:
        node.destroy_node()
    rclpy.shutdown()


@pytest.fixture(scope="session")
def ostrack_models(tmp_path_factory):
    """Full-size random-weight OSTrack-256 and ViPT checkpoints in the official trainer layout
    and their exported TorchScript files, made once per session (ViT-B is large):
    ``{architecture: (eager network, checkpoint path, exported path)}``."""
    from checkpoint_files import write_official_layout_checkpoint

    from rgbd_tracker_ros.tracking.model import export_checkpoint
    from rgbd_tracker_ros.tracking.networks import checkpoint as ckpt

    folder = tmp_path_factory.mktemp("ostrack_models")
    models = {}
    for seed, arch in enumerate(("ostrack256", "vipt_rgbd")):
        torch.manual_seed(seed)
        spec = ckpt.architecture(arch)
        network = ckpt.build_network(spec, spec.default_kwds).eval()
        path = write_official_layout_checkpoint(folder / f"{arch}.pth", arch, network=network)
        models[arch] = (network, path, export_checkpoint(path, folder / f"{arch}.ts"))
    return models
