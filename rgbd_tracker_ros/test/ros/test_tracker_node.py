"""The tracker node over real DDS: plumbing, freshness, init paths, run-time parameters."""

from __future__ import annotations

import math
import time
from itertools import pairwise

import numpy as np
import pytest
from geometry_msgs.msg import Point, PointStamped, TransformStamped
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.time import Time
from ros_harness import (
    OPTICAL_FRAME,
    Graph,
    flat_depth_mm,
    gray_frame,
    requires,
    small_intrinsics,
    wait_for,
)
from std_msgs.msg import Header
from std_srvs.srv import Trigger

from rgbd_tracker_msgs.msg import TrackedTarget
from rgbd_tracker_ros.geometry import back_project
from rgbd_tracker_ros.ros import tf_frames
from rgbd_tracker_ros.ros.conversions import stamp_to_ns
from rgbd_tracker_ros.ros.tracker_node import run


def _first_frame_then_init(graph: Graph, box=(60, 40, 40, 30)):
    color, depth, intr = gray_frame(), flat_depth_mm(), small_intrinsics()
    assert wait_for(lambda: graph.publish(color, depth, intr) and graph.node._latest is not None)
    response = graph.init(box)
    assert response.success, response.message
    header = graph.publish(color, depth, intr)  # the init applies to this frame
    assert wait_for(lambda: graph.targets_for(header))
    assert graph.targets_for(header)[0].target_id == response.target_id
    return color, depth, intr, response


def test_outputs_carry_the_input_stamp_and_frame(graph):
    graph.activate()
    color, depth, intr, response = _first_frame_then_init(graph)
    assert response.target_id == 1
    headers = []
    for _ in range(10):
        headers.append(graph.publish(color, depth, intr))
        time.sleep(0.05)
    assert wait_for(lambda: graph.targets_for(headers[-1]))
    target = graph.targets_for(headers[-1])[0]
    assert target.header.frame_id == OPTICAL_FRAME
    assert target.state == TrackedTarget.TRACKING
    assert target.target_id == 1
    assert (target.x, target.y, target.width, target.height) == (60, 40, 40, 30)
    # 1.5 m flat depth at the principal point's column/row offsets -> known 3D position
    assert target.has_position and target.depth == pytest.approx(1.5, abs=0.01)
    expected_x = (60 + 20 - intr.cx) * 1.5 / intr.fx
    expected_y = (40 + 15 - intr.cy) * 1.5 / intr.fy
    assert target.position.x == pytest.approx(expected_x, abs=0.01)
    assert target.position.y == pytest.approx(expected_y, abs=0.01)
    assert target.metric_width == pytest.approx(40 * 1.5 / intr.fx, rel=0.05)
    assert wait_for(lambda: graph.poses_for(headers[-1])), "poses must carry input stamps"
    assert all(p.header.frame_id == OPTICAL_FRAME for p in graph.record.poses)
    assert all(p.pose.orientation.w == 1.0 for p in graph.record.poses)
    assert wait_for(lambda: graph.record.scores)
    assert graph.record.scores[-1].encoding == "32FC1"


def test_lost_target_is_published_without_a_pose(graph):
    graph.activate()
    color, depth, intr, _ = _first_frame_then_init(graph)
    black = np.zeros_like(color)
    header = graph.publish(black, depth, intr)
    assert wait_for(lambda: graph.targets_for(header))
    assert graph.targets_for(header)[0].state == TrackedTarget.LOST
    # Poses arrive in order: once a later frame's pose is in, a pose for the black one would be.
    later = graph.publish(color, depth, intr)
    assert wait_for(lambda: graph.poses_for(later))
    assert not graph.poses_for(header)


def test_reset_stops_tracking_and_reinit_increments_the_id(graph):
    graph.activate()
    color, depth, intr, _ = _first_frame_then_init(graph)
    client = graph.client_node.create_client(Trigger, "/tracker/reset")
    assert client.wait_for_service(timeout_sec=5)
    future = client.call_async(Trigger.Request())
    assert wait_for(future.done)
    assert future.result().success
    header = graph.publish(color, depth, intr)
    assert wait_for(lambda: graph.targets_for(header))
    assert graph.targets_for(header)[0].state == TrackedTarget.IDLE
    assert graph.init((10, 10, 20, 20)).target_id == 2
    header = graph.publish(color, depth, intr)
    assert wait_for(lambda: graph.targets_for(header))
    assert graph.targets_for(header)[0].target_id == 2


def test_deactivate_frees_the_tracker_and_closes_the_inputs_until_reactivated(graph):
    node = graph.activate()
    color, depth, intr, _ = _first_frame_then_init(graph)
    assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
    assert node._worker is None, "the tracker (and its model) must be released"
    assert node._latest is None, "clicks must wait for a frame the next worker has"
    assert wait_for(lambda: graph.color_pub.get_subscription_count() == 0)
    refused = graph.init((60, 40, 40, 30))
    assert not refused.success and "not active" in refused.message
    assert wait_for(lambda: graph.record.last_diagnostic_values().get("_message") == "inactive")
    header = graph.publish(color, depth, intr)

    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    assert wait_for(lambda: graph.color_pub.get_subscription_count() > 0)
    assert graph.init_client.wait_for_service(timeout_sec=10.0)
    _first_frame_then_init(graph)
    # Results arrive in order: those of later frames are in, so one for it would be too.
    assert not graph.targets_for(header), "an inactive node must not publish results"


def test_slow_tracker_drops_old_frames_and_stays_fresh(graph, tmp_path):
    """A tracker slower than the camera: each result is for the newest frame the node had, the
    frames in between are dropped and counted, and the last frame is never lost.

    Judged on what happened, so it holds on a machine of any speed: frames are fed one at a
    time and the time each reached the worker is known; a result's publish time is its stamp
    plus its latency. The worker takes its next frame right after publishing a result, so that
    frame is at least as new as every frame that reached it before the publish. A queue would
    hand it an older one, and fall further behind with every frame.
    """
    tracker_delay = 0.2  # 5 Hz: frames pile up whenever two arrive within one tracker step
    params_file = tmp_path / "slow.yaml"
    params_file.write_text(f"delay: {tracker_delay}\n")
    node = graph.activate(**{"tracker.params_file": str(params_file)})
    color, depth, intr, _ = _first_frame_then_init(graph)
    before = node._worker.stats()
    fed = []
    start = time.monotonic()
    for i in range(60):  # paced at 30 Hz, or as fast as the machine can feed
        fed.append(graph.feed(color, depth, intr))
        time.sleep(max(0.0, start + (i + 1) / 30 - time.monotonic()))
    newest_processed = wait_for(lambda: graph.targets_for(fed[-1].header))

    stamps = {f.stamp for f in fed}
    results = [t for t in list(graph.record.targets) if stamp_to_ns(t.header.stamp) in stamps]
    processed = [stamp_to_ns(t.header.stamp) for t in results]
    assert processed == sorted(set(processed)), "results out of order or repeated"
    for result, following in pairwise(results):
        # 1 ms of slack covers the float rounding of the latency field (well under 1 us).
        published = stamp_to_ns(result.header.stamp) + round(result.latency * 1e9) - 1_000_000
        newest_before = max((f.stamp for f in fed if f.seen < published), default=0)
        assert stamp_to_ns(following.header.stamp) >= newest_before, "took an older frame"
    assert newest_processed, "the last frame was lost"
    stats = node._worker.stats()
    assert stats.processed - before.processed == len(processed)
    assert stats.dropped - before.dropped == len(fed) - len(processed) > 0, stats
    assert wait_for(
        lambda: graph.record.last_diagnostic_values().get("dropped") == str(stats.dropped)
    )


def test_thresholds_change_at_run_time(graph):
    node = graph.activate()
    color, depth, intr, _ = _first_frame_then_init(graph)
    result = node.set_parameters([Parameter("thresholds.lost_score", value=0.95)])
    assert result[0].successful
    header = graph.publish(color, depth, intr)
    assert wait_for(lambda: graph.targets_for(header))
    assert graph.targets_for(header)[0].state == TrackedTarget.LOST
    bad = node.set_parameters([Parameter("thresholds.occlusion_depth_drop", value=1.5)])
    assert not bad[0].successful
    read_only = node.set_parameters([Parameter("tracker.name", value="det")])
    assert not read_only[0].successful


def _scene_with_an_object():
    color, intr = gray_frame(), small_intrinsics()
    depth = flat_depth_mm(mm=3000)
    depth[50:80, 70:110] = 1000  # a box-shaped object 2 m in front of the wall
    return color, depth, intr


def _tracks_the_object_after(graph: Graph, click) -> None:
    color, depth, intr = _scene_with_an_object()
    assert wait_for(lambda: graph.publish(color, depth, intr) and graph.node._latest is not None)
    click()

    def tracked() -> list[TrackedTarget]:
        return [t for t in list(graph.record.targets) if t.state == TrackedTarget.TRACKING]

    # Frames keep coming, as from a camera, until the node reports the clicked object.
    assert wait_for(lambda: graph.publish(color, depth, intr) and tracked())
    target = tracked()[0]
    assert (target.x, target.y) == pytest.approx((70, 50), abs=2)
    assert (target.width, target.height) == pytest.approx((40, 30), abs=3)
    assert target.depth == pytest.approx(1.0, abs=0.02)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("click.depth_tolerance", -0.1),
        ("click.depth_tolerance", math.nan),
        ("click.default_box_size", 0),
        ("depth.min_depth_m", -1.0),
        ("depth.max_depth_m", math.inf),
        ("thresholds.lost_score", math.nan),
        ("depth.min_valid_pixels", 10**9),
    ],
)
def test_out_of_range_parameters_are_refused_and_clicks_keep_working(graph, name, value):
    node = graph.activate()
    result = node.set_parameters([Parameter(name, value=value)])[0]
    assert not result.successful and name in result.reason, result.reason
    click = graph.client_node.create_publisher(Point, "color/image_raw_mouse_left", 5)
    assert wait_for(lambda: click.get_subscription_count() > 0)
    _tracks_the_object_after(graph, lambda: click.publish(Point(x=90.0, y=65.0, z=0.0)))


def test_an_out_of_range_value_at_start_is_refused_in_one_line(capfd):
    argv = ["tracker_node", "--ros-args", "-p", "click.depth_tolerance:=-1.0"]
    assert run(argv) == 1
    errors = [line for line in capfd.readouterr().err.splitlines() if "cannot start" in line]
    assert len(errors) == 1 and "click.depth_tolerance" in errors[0], errors


def test_numeric_parameters_describe_their_ranges(graph):
    node = graph.start_tracker()
    (tolerance,) = node.describe_parameters(["click.depth_tolerance"])
    assert tolerance.floating_point_range and tolerance.floating_point_range[0].from_value > 0
    (box_size,) = node.describe_parameters(["click.default_box_size"])
    assert box_size.integer_range and box_size.integer_range[0].from_value >= 4


def test_click_in_the_image_starts_tracking_the_region_under_it(graph):
    graph.activate()
    click = graph.client_node.create_publisher(Point, "color/image_raw_mouse_left", 5)
    assert wait_for(lambda: click.get_subscription_count() > 0)
    _tracks_the_object_after(graph, lambda: click.publish(Point(x=90.0, y=65.0, z=0.0)))


def test_click_on_the_debug_image_starts_tracking_too(graph):
    """rqt_image_view publishes clicks on ``<shown topic>_mouse_left``: the node's own
    overlay is the image a user watches, and it has the color image's pixels."""
    graph.activate()
    click = graph.client_node.create_publisher(Point, "/tracker/debug_image_mouse_left", 5)
    assert wait_for(lambda: click.get_subscription_count() > 0)
    _tracks_the_object_after(graph, lambda: click.publish(Point(x=90.0, y=65.0, z=0.0)))


def _rviz_click_publisher(graph: Graph):
    publisher = graph.client_node.create_publisher(PointStamped, "/clicked_point", 5)
    assert wait_for(lambda: publisher.get_subscription_count() > 0)
    return publisher


def test_rviz_click_in_the_optical_frame_starts_tracking_the_object_under_it(graph):
    graph.activate()
    publisher = _rviz_click_publisher(graph)
    x, y, z = back_project(90.0, 65.0, 1.0, small_intrinsics())
    msg = PointStamped(header=Header(frame_id=OPTICAL_FRAME))
    msg.point.x, msg.point.y, msg.point.z = x, y, z
    _tracks_the_object_after(graph, lambda: publisher.publish(msg))


@requires("tf2_ros")
def test_rviz_click_in_another_frame_is_transformed_with_tf2(graph):
    graph.activate()
    publisher = _rviz_click_publisher(graph)
    # The optical frame of a camera looking along base_link's x axis (z forward, y down).
    mounting = TransformStamped()
    mounting.header.frame_id, mounting.child_frame_id = "base_link", OPTICAL_FRAME
    rotation = mounting.transform.rotation
    rotation.x, rotation.y, rotation.z, rotation.w = -0.5, 0.5, -0.5, 0.5
    tf_frames.tf2_ros.StaticTransformBroadcaster(graph.client_node).sendTransform(mounting)
    x, y, z = back_project(90.0, 65.0, 1.0, small_intrinsics())
    msg = PointStamped(header=Header(frame_id="base_link"))
    msg.point.x, msg.point.y, msg.point.z = z, -x, -y

    buffer = graph.node._tf._buffer
    assert wait_for(lambda: buffer.can_transform(OPTICAL_FRAME, "base_link", Time()))
    _tracks_the_object_after(graph, lambda: publisher.publish(msg))


# Without tf2_ros the node says how to get there; with it, which transform is missing.
NO_TRANSFORM = "tf2_ros is not installed" if tf_frames.tf2_ros is None else "no transform to"


@pytest.mark.parametrize(
    ("frame", "point", "message"),
    [
        ("base_link", (1.0, 0.0, 0.0), NO_TRANSFORM),
        (OPTICAL_FRAME, (0.0, 0.0, -1.0), "behind the camera"),
        (OPTICAL_FRAME, (math.nan, 0.0, 1.0), "not finite"),
    ],
)
def test_rviz_click_that_cannot_be_used_is_refused_and_counted(graph, frame, point, message):
    graph.activate()
    publisher = _rviz_click_publisher(graph)
    color, depth, intr = _scene_with_an_object()
    assert wait_for(lambda: graph.publish(color, depth, intr) and graph.node._latest is not None)
    msg = PointStamped(header=Header(frame_id=frame))
    msg.point.x, msg.point.y, msg.point.z = point
    publisher.publish(msg)

    def refused() -> bool:
        values = graph.record.last_diagnostic_values()
        return values.get("errors.click") == "1" and message in values.get("last_error", "")

    assert wait_for(refused), graph.record.last_diagnostic_values()
    header = graph.publish(color, depth, intr)
    assert wait_for(lambda: graph.targets_for(header)), "node stopped answering"
    assert graph.targets_for(header)[0].state == TrackedTarget.IDLE
