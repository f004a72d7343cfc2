"""The tracker node: RGB-D frames in, tracked target out.

Thin by design: it converts messages, hands frames to the ``TrackingWorker`` (which owns
the tracker thread and the 3D logic) and turns its results into messages. Lifecycle:
configure creates publishers and the ``~/init`` and ``~/reset`` services (which refuse,
with the reason, until the node is active), activate loads the tracker and opens the
inputs (``CameraInputs``: QoS matched to the publishers), deactivate frees the model;
``autostart`` runs configure+activate at start. The package's ``logging`` output goes
through the node's logger (``log_bridge``).

Besides its own messages it speaks the common ones (``detections``: vision_msgs, the
target's TF frame) and, through tf2 (``tf_frames``), gives the pose in ``output_frame``.
"""

from __future__ import annotations

import math
from typing import Any

import rclpy
import yaml
from diagnostic_msgs.msg import DiagnosticStatus
from geometry_msgs.msg import Point, PointStamped, Pose, PoseStamped
from rcl_interfaces.msg import SetParametersResult
from rclpy.exceptions import InvalidParameterValueException
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from std_srvs.srv import Trigger
from visualization_msgs.msg import Marker

from rgbd_tracker_msgs.msg import TrackedTarget
from rgbd_tracker_msgs.srv import InitTarget
from rgbd_tracker_ros.geometry import box_from_click, project, transform_point, validate_init_box
from rgbd_tracker_ros.imaging import ImageDecodeError, draw_overlay
from rgbd_tracker_ros.outcome import Outcome
from rgbd_tracker_ros.ros import detections, diagnostics
from rgbd_tracker_ros.ros import parameters as params
from rgbd_tracker_ros.ros.conversions import (
    color_from_msg,
    depth_from_msg,
    image_msg,
    intrinsics_from_msg,
    stamp_to_sec,
)
from rgbd_tracker_ros.ros.guard import GuardedLifecycleNode, spin
from rgbd_tracker_ros.ros.inputs import CameraInputs, InputConfig, reliability_setting
from rgbd_tracker_ros.ros.log_bridge import route_package_logging, unroute_package_logging
from rgbd_tracker_ros.ros.tf_frames import FrameError, TfFrames, tf2_available
from rgbd_tracker_ros.tracking.api import Frame, Tracker
from rgbd_tracker_ros.tracking.device import limit_cpu_threads, resolve_device
from rgbd_tracker_ros.tracking.params import Layer, read_mapping
from rgbd_tracker_ros.tracking.registry import create_tracker, parameter_names
from rgbd_tracker_ros.worker import (
    FrameBundle,
    TrackerLoadError,
    TrackingWorker,
    WorkerConfig,
    WorkerResult,
)

LOG_THROTTLE_S = 5.0
MODEL_LOAD_TIMEOUT_S = 300.0
MARKER_LIFETIME_NS = 500_000_000


class TrackerNode(GuardedLifecycleNode):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("tracker", **kwargs)
        self._log_route = route_package_logging(self.get_logger())
        params.declare_parameters(self)
        self._settings = params.runtime_settings(self._runtime_values())
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._worker: TrackingWorker | None = None
        self._latest: FrameBundle | None = None
        self._last_stamp_ns: int | None = None
        hold = float(params.value(self, "diagnostics.error_hold"))
        self._errors = diagnostics.ErrorLog(hold)
        self._qos_errors = diagnostics.ErrorLog(hold)
        self._status_error = ""
        self._device = ""
        self._inputs: CameraInputs | None = None
        self._entities: list[Any] = []
        self._target_services: list[Any] = []
        self._tf: TfFrames | None = None
        self._diagnostics = diagnostics.start(
            self, float(params.value(self, "publish.diagnostics_period"))
        )
        if self._diagnostics is not None:
            self._diagnostics.setHardwareID("none")
            self._diagnostics.add("rgbd tracking", self._tracking_status)
            self._diagnostics.add("input", self._input_status)

    # --- lifecycle -----------------------------------------------------------------------

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._target_pub = self.create_lifecycle_publisher(TrackedTarget, "~/target", 10)
        self._pose_pub = self.create_lifecycle_publisher(PoseStamped, "~/target_pose", 10)
        self._score_pub = self.create_lifecycle_publisher(Image, "~/score_map", 2)
        self._debug_pub = self.create_lifecycle_publisher(Image, "~/debug_image", 2)
        self._marker_pub = self.create_lifecycle_publisher(Marker, "~/marker", 10)
        self._publish_score = bool(params.value(self, "publish.score_map"))
        self._publish_marker = bool(params.value(self, "publish.marker"))
        self._publish_debug = bool(params.value(self, "publish.debug_image"))
        self._create_standard_outputs()
        # The services exist from here on, so a call while inactive gets an answer.
        self._target_services = [
            self.create_service(InitTarget, "~/init", self._on_init),
            self.create_service(Trigger, "~/reset", self._on_reset),
        ]
        return super().on_configure(state)

    def _create_standard_outputs(self) -> None:
        """vision_msgs detections and the TF frame, each where its package imports (else off,
        said here once); the pose's frame."""
        wanted_2d = bool(params.value(self, "publish.detections_2d"))
        wanted_3d = bool(params.value(self, "publish.detections_3d"))
        self._detections_2d_pub = self._detections_3d_pub = None
        if (wanted_2d or wanted_3d) and not detections.vision_msgs_available():
            self.get_logger().warn(detections.MISSING_VISION_MSGS)
        elif wanted_2d or wanted_3d:
            if wanted_2d:
                self._detections_2d_pub = self.create_lifecycle_publisher(
                    detections.Detection2DArray, "~/detections_2d", 10
                )
            if wanted_3d:
                self._detections_3d_pub = self.create_lifecycle_publisher(
                    detections.Detection3DArray, "~/detections_3d", 10
                )
        self._target_frame = str(params.value(self, "target_frame"))
        self._broadcast_tf = bool(params.value(self, "publish.tf")) and bool(self._target_frame)
        if self._broadcast_tf and not tf2_available():
            self._broadcast_tf = False
            self.get_logger().warn(
                f"tf2_ros is not installed: TF frame {self._target_frame!r} is off "
                "(sudo apt install ros-$ROS_DISTRO-tf2-ros-py)"
            )
        self._output_frame = str(params.value(self, "output_frame"))

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        settings = params.tracker_settings(self)
        if self._output_frame and not tf2_available():
            return self._activation_failed(
                f"output_frame {self._output_frame!r} needs tf2_ros, which is not installed "
                "(sudo apt install ros-$ROS_DISTRO-tf2-ros-py), or leave output_frame empty "
                "for the camera's optical frame"
            )
        try:
            input_config = self._input_config()
            factory = self._tracker_factory(settings)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            return self._activation_failed(f"tracker parameters: {exc}")
        worker = TrackingWorker(factory, self._on_result, self._worker_config())
        worker.start()
        try:
            if not worker.wait_ready(MODEL_LOAD_TIMEOUT_S):
                worker.stop()
                return self._activation_failed("tracker did not load within the time limit")
        except TrackerLoadError as exc:
            worker.stop()
            return self._activation_failed(f"cannot load tracker {settings.name!r}: {exc}")
        self._worker = worker
        self._status_error = ""
        if self._diagnostics is not None:
            self._diagnostics.setHardwareID(self._device)
        self._create_inputs(input_config)
        uses_tf = self._tf is not None and self._tf.uses_tf
        self.get_logger().info(
            f"tracking with {settings.name!r} on {self._device}; "
            f"input QoS: {input_config.reliability}; sync: {self._inputs.sync_name}; "
            f"clicks in other frames: {'tf2' if uses_tf else 'refused (no tf2_ros)'}; "
            f"pose frame: {self._output_frame or 'optical'}"
        )
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._destroy_inputs()
        self._stop_worker()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        for publisher in (
            self._target_pub,
            self._pose_pub,
            self._score_pub,
            self._debug_pub,
            self._marker_pub,
            self._detections_2d_pub,
            self._detections_3d_pub,
        ):
            if publisher is not None:
                self.destroy_lifecycle_publisher(publisher)
        self._destroy_services()
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.close()
        return super().on_shutdown(state)

    def _activation_failed(self, message: str) -> TransitionCallbackReturn:
        self._status_error = message
        self._count_error("activation", message)
        return TransitionCallbackReturn.FAILURE

    def _tracker_factory(self, settings: params.TrackerSettings):
        """A callable the worker runs on its own thread (which then warms the tracker up)."""
        layers = []
        if settings.params_file:
            layers.append(Layer(read_mapping(settings.params_file), settings.params_file))
        node_values: dict[str, Any] = {}
        if settings.model_path:
            node_values["model_path"] = settings.model_path
        device = resolve_device(settings.device)
        if "device" in parameter_names(settings.name):
            node_values["device"] = str(device)
        layers.append(Layer(node_values, "node parameters tracker.*"))
        self._device = str(device)
        if settings.cpu_threads < 1:
            raise ValueError("tracker.cpu_threads must be at least 1")

        def build() -> Tracker:
            if device.type == "cpu":
                limit_cpu_threads(settings.cpu_threads)
            return create_tracker(settings.name, *layers)

        return build

    def close(self) -> None:
        """Stop inputs and the worker thread (also when the lifecycle never got there)."""
        self._destroy_inputs()
        self._stop_worker()

    def destroy_node(self) -> None:
        self.close()
        unroute_package_logging(self._log_route)
        super().destroy_node()

    def _stop_worker(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None and not worker.stop():
            self.get_logger().warn(
                "tracker thread still busy after stop; it exits after this frame"
            )

    # --- inputs --------------------------------------------------------------------------

    def _input_config(self) -> InputConfig:
        config = InputConfig(
            reliability=params.value(self, "qos.reliability"),
            depth=int(params.value(self, "qos.depth")),
            queue_size=int(params.value(self, "sync.queue_size")),
            slop=float(params.value(self, "sync.slop")),
            use_message_filters=bool(params.value(self, "sync.message_filters")),
        )
        reliability_setting(config.reliability)  # raises ValueError naming the choices
        return config

    def _create_inputs(self, config: InputConfig) -> None:
        self._inputs = CameraInputs(
            self, config, self._on_frames, self._on_clock_jump, self._on_incompatible_qos
        )
        self._inputs.open()
        self._tf = TfFrames(self, broadcast=self._broadcast_tf)
        self._entities = [
            self.create_subscription(
                PointStamped, params.value(self, "click.rviz_topic"), self._on_rviz_click, 5
            ),
            *(
                self.create_subscription(Point, params.value(self, name), self._on_image_click, 5)
                for name in ("click.image_topic", "click.debug_image_topic")
            ),
        ]

    def _destroy_inputs(self) -> None:
        # The last frame went to the released worker: clicks wait for the next one.
        self._latest = None
        inputs, self._inputs = self._inputs, None
        if inputs is not None:
            inputs.close()
        if self._tf is not None:
            self._tf.close()
            self._tf = None
        for subscription in self._entities:
            self.destroy_subscription(subscription)
        self._entities = []

    def _destroy_services(self) -> None:
        for service in self._target_services:
            self.destroy_service(service)
        self._target_services = []

    def _on_clock_jump(self, previous_ns: int, stamp_ns: int) -> None:
        self._last_stamp_ns = None
        self.get_logger().warn(
            f"input stamps jumped back by {(previous_ns - stamp_ns) * 1e-9:.2f} s "
            "(bag loop?); synchroniser reset",
            throttle_duration_sec=LOG_THROTTLE_S,
        )

    def _on_incompatible_qos(self, topic: str, policy: str) -> None:
        setting = params.value(self, "qos.reliability")
        hint = "" if setting == "auto" else "; qos.reliability: auto adapts to the publishers"
        message = (
            f"{topic}: a publisher offers QoS incompatible with this node's subscription "
            f"(policy {policy}, qos.reliability: {setting}); nothing is received from it{hint}"
        )
        self._qos_errors.record("qos", message)
        self.get_logger().warn(message, throttle_duration_sec=LOG_THROTTLE_S)

    def _on_frames(self, color_msg: Image, depth_msg: Image, info_msg: CameraInfo) -> None:
        """Sync callback: convert and hand over; O(1) in the tracker's cost."""
        worker = self._worker
        if worker is None:
            return
        stamp = color_msg.header.stamp
        stamp_ns = stamp.sec * 1_000_000_000 + stamp.nanosec
        if self._last_stamp_ns is not None and stamp_ns <= self._last_stamp_ns:
            self._count_error("stamp_order", f"frame stamp {stamp_ns} ns is not newer; dropped")
            return
        try:
            color = color_from_msg(color_msg)
            depth = depth_from_msg(depth_msg, float(params.value(self, "depth_scale")))
            intrinsics = intrinsics_from_msg(info_msg)
        except ImageDecodeError as exc:
            self._count_error("image", str(exc))
            return
        except ValueError as exc:
            self._count_error("camera_info", f"camera_info: {exc}")
            return
        frame = Frame(color, depth, stamp_to_sec(stamp), intrinsics)
        bundle = FrameBundle(frame, color_msg.header)
        try:
            worker.submit(bundle)
        except ValueError as exc:
            self._count_error("frame", str(exc))
            return
        self._last_stamp_ns = stamp_ns
        self._latest = bundle

    # --- init paths ----------------------------------------------------------------------

    def _on_init(self, request: InitTarget.Request, response: InitTarget.Response):
        box = (request.x, request.y, request.width, request.height)
        stamp = request.header.stamp
        ok, message, target_id = self._start_target(
            box, stamp_to_sec(stamp) if (stamp.sec or stamp.nanosec) else None
        )
        response.success, response.message, response.target_id = ok, message, target_id
        return response

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response):
        worker = self._worker
        if worker is None:
            response.success, response.message = False, self._inactive_reason()
            return response
        stopped = worker.request_reset()
        response.success = True
        response.message = "tracking stopped" if stopped else "was not tracking"
        return response

    def _inactive_reason(self) -> str:
        if self._status_error:
            return f"tracker is not active: {self._status_error}"
        return (
            "tracker is not active; activate it with: ros2 lifecycle set "
            f"{self.get_fully_qualified_name()} activate"
        )

    def _on_rviz_click(self, msg: PointStamped) -> None:
        latest, tf = self._latest, self._tf
        if latest is None or latest.frame.intrinsics is None or tf is None:
            self._count_error("click", "clicked point ignored: no camera frame received yet")
            return
        try:
            x, y, z = tf.in_frame(msg, latest.header.frame_id)
        except FrameError as exc:
            self._count_error("click", str(exc))
            return
        if not (all(math.isfinite(c) for c in (x, y, z)) and z > 0.0):
            self._count_error("click", "clicked point is behind the camera or not finite")
            return
        u, v = project(x, y, z, latest.frame.intrinsics)
        self._start_from_pixel(u, v)

    def _on_image_click(self, msg: Point) -> None:
        self._start_from_pixel(msg.x, msg.y)

    def _start_from_pixel(self, u: float, v: float) -> None:
        latest = self._latest
        if latest is None or latest.frame.intrinsics is None:
            self._count_error("click", "click ignored: no camera frame received yet")
            return
        frame, settings = latest.frame, self._settings
        width, height = frame.size_wh
        if not (math.isfinite(u) and math.isfinite(v) and 0 <= u < width and 0 <= v < height):
            self._count_error("click", f"click ({u:.0f}, {v:.0f}) is outside the image")
            return
        try:
            box = box_from_click(
                frame.depth,
                u,
                v,
                frame.intrinsics,
                default_size=settings.default_box_size,
                depth_tolerance=settings.depth_tolerance,
                min_depth_m=settings.outcome.min_depth_m,
                max_depth_m=settings.outcome.max_depth_m,
            )
        except ValueError as exc:
            self._count_error("click", f"click at ({u:.0f}, {v:.0f}) refused: {exc}")
            return
        _, message, _ = self._start_target(box, frame.stamp)
        self.get_logger().info(
            f"click at ({u:.0f}, {v:.0f}): {message}", throttle_duration_sec=LOG_THROTTLE_S
        )

    def _start_target(
        self, box: tuple[float, float, float, float], stamp: float | None
    ) -> tuple[bool, str, int]:
        worker = self._worker
        if worker is None:
            return False, self._inactive_reason(), 0
        size = worker.frame_size
        if size is None:
            return False, "no camera frame received yet; cannot place the box", 0
        clipped, reason = validate_init_box(box, *size)
        if clipped is None:
            self._count_error("init", f"init rejected: {reason}")
            return False, reason, 0
        target_id = worker.request_init(clipped, stamp)
        message = f"tracking target {target_id} from the next frame"
        return True, f"{message} ({reason})" if reason else message, target_id

    # --- outputs (worker thread) -----------------------------------------------------------

    def _on_result(self, result: WorkerResult) -> None:
        if not self.context.ok():  # shutting down: the publishers are gone
            return
        header: Header = result.header
        outcome = result.outcome
        target = _target_msg(result)
        target.latency = float(self.get_clock().now().nanoseconds * 1e-9 - result.stamp)
        self._target_pub.publish(target)
        pose = self._pose_in_output_frame(header, outcome.position)
        if pose is not None:
            self._pose_pub.publish(pose)
        if outcome.position is not None:
            if self._publish_marker:
                self._marker_pub.publish(_marker_msg(header, outcome))
            tf = self._tf
            if self._broadcast_tf and tf is not None:
                tf.broadcast(
                    detections.target_transform(header, outcome.position, self._target_frame)
                )
        if self._detections_2d_pub is not None:
            self._detections_2d_pub.publish(
                detections.detection_2d_array(header, outcome, result.target_id)
            )
        if self._detections_3d_pub is not None:
            pose_header = pose.header if pose is not None else self._output_header(header)
            self._detections_3d_pub.publish(
                detections.detection_3d_array(
                    pose_header, outcome, result.target_id, pose.pose if pose else None
                )
            )
        if self._publish_score and outcome.score_map is not None:
            self._score_pub.publish(image_msg(outcome.score_map.scores.astype("float32"), header))
        if self._publish_debug and self._debug_pub.get_subscription_count() > 0:
            overlay = draw_overlay(
                result.frame.color, outcome.box_xywh, outcome.state.name, outcome.score
            )
            self._debug_pub.publish(image_msg(overlay, header, "bgr8"))
        if result.error:  # the worker has logged it
            self._count_error("tracker", result.error, log=False)

    def _output_header(self, header: Header) -> Header:
        return Header(stamp=header.stamp, frame_id=self._output_frame or header.frame_id)

    def _pose_in_output_frame(
        self, header: Header, position: tuple[float, float, float] | None
    ) -> PoseStamped | None:
        """The target's pose in ``output_frame`` (tf2 at the frame's stamp), or in the optical
        frame; None without a position or when the transform is not known (counted)."""
        if position is None:
            return None
        translation, rotation = (0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 1.0)
        if self._output_frame and self._output_frame != header.frame_id:
            tf = self._tf
            if tf is None:
                return None
            try:
                translation, rotation = tf.transform(
                    self._output_frame, header.frame_id, Time.from_msg(header.stamp)
                )
                position = transform_point(position, translation, rotation)
            except (FrameError, ValueError) as exc:
                self._count_error("tf", f"pose not published in {self._output_frame!r}: {exc}")
                return None
        pose = Pose()
        pose.position.x, pose.position.y, pose.position.z = position
        o = pose.orientation
        o.x, o.y, o.z, o.w = rotation
        return PoseStamped(header=self._output_header(header), pose=pose)

    # --- parameters, errors, diagnostics ---------------------------------------------------

    def _runtime_values(self, changes: dict[str, Any] | None = None) -> dict[str, Any]:
        values = {name: params.value(self, name) for name in params.runtime_names()}
        values.update(changes or {})
        return values

    def _on_set_parameters(self, changes) -> SetParametersResult:
        runtime = set(params.runtime_names())
        updates = {p.name: p.value for p in changes if p.name in runtime}
        if not updates:
            return SetParametersResult(successful=True)
        try:
            settings = params.runtime_settings(self._runtime_values(updates))
        except (TypeError, ValueError) as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        self._settings = settings
        if self._worker is not None:
            self._worker.config = self._worker_config(settings)
        return SetParametersResult(successful=True)

    def _worker_config(self, settings: params.RuntimeSettings | None = None) -> WorkerConfig:
        return WorkerConfig(outcome=(settings or self._settings).outcome)

    def on_callback_error(self, origin: str, exc: BaseException) -> None:
        """A callback raised (ours or rclpy's own services): count it, log it, carry on."""
        self._count_error("callback", f"{origin} raised {exc!r}; the node carries on")

    def _count_error(self, kind: str, message: str, log: bool = True) -> None:
        self._errors.record(kind, message)
        if log:
            self.get_logger().warn(message, throttle_duration_sec=LOG_THROTTLE_S)

    def _tracking_status(self, stat: diagnostics.DiagnosticStatusWrapper):
        """The tracker: state, rates, latency; WARN while errors are recent."""
        worker = self._worker
        stat.add("tracker", str(params.value(self, "tracker.name")))
        if worker is None:
            level = DiagnosticStatus.ERROR if self._status_error else DiagnosticStatus.OK
            stat.summary(level, self._status_error or "inactive")
        else:
            stats = worker.stats()
            for key, value in (
                ("state", stats.state.name),
                ("target_id", stats.target_id),
                ("input_rate_hz", f"{stats.input_rate:.2f}"),
                ("output_rate_hz", f"{stats.output_rate:.2f}"),
                ("frames_in", stats.frames_in),
                ("processed", stats.processed),
                ("dropped", stats.dropped),
                ("latency_p50_ms", _ms(stats.latency_p50)),
                ("latency_p95_ms", _ms(stats.latency_p95)),
            ):
                stat.add(key, str(value))
            state = stats.state.name.lower()
            if self._errors.recent():
                _, last = self._errors.snapshot()
                stat.summary(DiagnosticStatus.WARN, f"{state}; recent error: {last}")
            else:
                stat.summary(DiagnosticStatus.OK, state)
        counts, last = self._errors.snapshot()
        for kind, count in counts.items():
            stat.add(f"errors.{kind}", str(count))
        stat.add("last_error", last)
        return stat

    def _input_status(self, stat: diagnostics.DiagnosticStatusWrapper):
        """The inputs: per topic its publishers, QoS and last message; WARN when stale or
        when a publisher's QoS cannot be matched."""
        inputs = self._inputs
        stat.add("qos.reliability", str(params.value(self, "qos.reliability")))
        counts, last = self._qos_errors.snapshot()
        stat.add("qos_incompatible_events", str(counts.get("qos", 0)))
        if inputs is None:
            stat.summary(DiagnosticStatus.OK, "inactive")
            return stat
        stat.add("sync", inputs.sync_name)
        reports = inputs.report()
        stale_after = float(params.value(self, "diagnostics.stale_input"))
        for report in reports:
            age = "never" if report.age_s is None else f"{report.age_s:.1f}"
            stat.add(f"{report.name}.topic", report.topic)
            stat.add(f"{report.name}.publishers", str(report.publishers))
            stat.add(f"{report.name}.reliability", report.reliability)
            stat.add(f"{report.name}.messages", str(report.messages))
            stat.add(f"{report.name}.last_message_age_s", age)
        age = inputs.frame_age()
        if age is not None and age > stale_after:
            silent = [r for r in reports if r.age_s is None or r.age_s > stale_after]
            described = "; ".join(
                f"{r.topic}: {r.publishers} publisher(s), subscribed {r.reliability}"
                for r in silent or reports
            )
            stat.summary(DiagnosticStatus.WARN, f"no frames for {age:.1f} s; silent: {described}")
        elif self._qos_errors.recent():
            stat.summary(DiagnosticStatus.WARN, last)
        else:
            stat.summary(DiagnosticStatus.OK, "receiving")
        return stat


def _target_msg(result: WorkerResult) -> TrackedTarget:
    outcome = result.outcome
    msg = TrackedTarget(header=result.header, state=int(outcome.state), score=float(outcome.score))
    msg.target_id = result.target_id
    if outcome.box_xywh is not None:
        msg.x, msg.y, msg.width, msg.height = (float(c) for c in outcome.box_xywh)
    if outcome.depth is not None:
        msg.depth = float(outcome.depth.depth)
    if outcome.position is not None:
        msg.has_position = True
        msg.position.x, msg.position.y, msg.position.z = (float(c) for c in outcome.position)
    if outcome.metric_size is not None:
        msg.metric_width, msg.metric_height = (float(c) for c in outcome.metric_size)
    return msg


def _marker_msg(header: Header, outcome: Outcome) -> Marker:
    marker = Marker(header=header, ns="rgbd_tracker", id=0, type=Marker.CUBE)
    marker.action = Marker.ADD
    marker.pose.position.x, marker.pose.position.y, marker.pose.position.z = outcome.position
    marker.pose.orientation.w = 1.0
    marker.scale.x, marker.scale.y, marker.scale.z = detections.box_extent_3d(outcome.metric_size)
    marker.color.g, marker.color.a = 0.8, 0.5
    marker.lifetime.nanosec = MARKER_LIFETIME_NS
    return marker


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000.0:.1f}"


def run(argv: list[str]) -> int:
    """Spin a ``TrackerNode`` until shutdown; ``argv`` may carry ``--ros-args``.

    Ctrl-C or SIGTERM during start-up (the model may take seconds to load) shuts the context
    down under the half-built node; that is a normal exit, not a traceback.
    """
    rclpy.init(args=argv)
    context = rclpy.get_default_context()
    node: TrackerNode | None = None
    try:
        node = TrackerNode()
        if params.value(node, "autostart"):
            node.trigger_configure()
            node.trigger_activate()
        spin(node, node.on_callback_error)
    except InvalidParameterValueException as exc:
        rclpy.logging.get_logger("tracker").error(f"cannot start: {exc}")
        return 1
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if context.ok():
            raise
    finally:
        if node is not None:
            node.close()
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
