"""Test set-up shared by every test: import path, quiet torch, DDS on loopback."""

from __future__ import annotations

import os
import sys
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
if str(PACKAGE_ROOT) not in sys.path:
    sys.path.insert(0, str(PACKAGE_ROOT))

# DDS must never leave the machine; Makefile and .ci/run set these, this is the safety net
# for a bare `pytest` run.
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", str(100 + os.getpid() % 100))

try:
    import torch

    torch.set_num_threads(min(2, torch.get_num_threads()))
except ImportError:  # the pure-NumPy parts are tested without torch too
    pass
