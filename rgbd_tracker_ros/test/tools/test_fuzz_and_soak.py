"""The fuzz and soak tools over real (loopback) DDS, against the node in its own process."""

from __future__ import annotations

import math

import numpy as np
import pytest
from geometry_msgs.msg import PoseStamped
from sensor_msgs.msg import Image

from rgbd_tracker_msgs.msg import TrackedTarget
from rgbd_tracker_ros.ros.fuzz import FuzzConfig, Fuzzer, run_fuzz
from rgbd_tracker_ros.ros.soak import SoakConfig, run_soak
from rgbd_tracker_ros.ros.stress import implausible_values, non_finite_fields, repeated_log_lines

pytestmark = pytest.mark.ros


def test_a_short_seeded_fuzz_over_dds_leaves_the_node_alive_finite_and_tracking(tmp_path):
    config = FuzzConfig(
        seed=12, count=3000, max_seconds=100.0, width=160, height=120, output=tmp_path
    )
    report = run_fuzz(config)
    assert report.crashes == 0, report.crash_logs
    assert report.hangs == 0
    assert report.non_finite_outputs == 0, report.output_examples
    assert report.implausible_outputs == 0, report.output_examples
    assert report.tracks_afterwards, report.tracking_after
    assert set(report.inputs) == set(Fuzzer.CATEGORY_NAMES) and min(report.inputs.values()) > 0
    assert report.total_inputs >= 1000, report.inputs  # the time limit may cut a slow run
    assert report.outputs["/tracker/target"] > 100 and report.outputs["/tracker/score_map"] > 0
    # Every repeated message is throttled. Unthrottled, the clock-jump warning alone came back
    # about once per stamp input (hundreds here); a handful of lines per init or activation
    # (lifecycle round trips) is no flood.
    count, line = report.most_repeated_log[0]
    assert count <= 30, (count, line)
    assert (tmp_path / "tracker_node.log").is_file()


def test_a_short_soak_reports_every_window(tmp_path):
    config = SoakConfig(
        seconds=12.0, rate_hz=15.0, width=160, height=120, window_s=5.0, output=tmp_path
    )
    report = run_soak(config)
    assert report.clean, report
    assert [w.start_s for w in report.windows] == [0.0, 5.0, 10.0]
    assert report.frames_in == 180 and 0 < report.frames_out <= 180
    assert report.tracking > 0.5 * report.frames_out
    assert all(w.rss_mb > 0 and w.latency_p50_ms > 0 for w in report.windows)


def test_non_finite_fields_are_found_wherever_they_are():
    target = TrackedTarget(score=0.5)
    assert non_finite_fields(target) == []
    target.position.y = math.inf
    target.width = math.nan
    assert sorted(non_finite_fields(target)) == ["position.y", "width"]
    scores = Image(encoding="32FC1", height=1, width=2, step=8)
    scores.data = np.array([0.5, np.nan], dtype="<f4").tobytes()
    assert non_finite_fields(scores) == ["data (pixels)"]
    pose = PoseStamped()
    pose.pose.position.z = 2e4
    assert implausible_values(pose) == ["pose.position.z"]


def test_repeated_log_lines_mask_numbers_and_the_rclpy_prefix():
    log = "\n".join(
        [
            "[WARN] [1796022060.02] [tracker]: input stamps jumped back by 0.50 s",
            "[WARN] [1796022061.02] [tracker]: input stamps jumped back by 12.25 s",
            "[INFO] [1796022062.02] [tracker]: tracking with 'depth_dcf'",
        ]
    )
    assert repeated_log_lines(log, top=1) == [(2, "input stamps jumped back by # s")]
