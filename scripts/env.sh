# Source me: activates the venv and the built workspace, and keeps DDS on this machine.
# Usage: source scripts/env.sh   (after scripts/setup_env.sh)
_rgbd_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck disable=SC1091
source "$_rgbd_root/.venv/bin/activate"
if [ -z "${ROS_DISTRO:-}" ]; then
  # The venv is the ROS prefix when ROS comes from wheels.
  export AMENT_PREFIX_PATH="$VIRTUAL_ENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
fi
# colcon's setup scripts read unset variables; allow that while sourcing them.
case $- in *u*) _rgbd_nounset=1; set +u ;; *) _rgbd_nounset= ;; esac
# shellcheck disable=SC1091
source "$_rgbd_root/.build/install/local_setup.bash"
# The ROS source overlay (launch, ros2cli, launch_testing, message_filters, tf2_ros,
# diagnostic_updater) when setup_env.sh built it; on top, as its README asks.
if [ -f "$_rgbd_root/.build/ros_overlay/local_setup.bash" ]; then
  # shellcheck disable=SC1091
  source "$_rgbd_root/.build/ros_overlay/local_setup.bash"
fi
[ -n "$_rgbd_nounset" ] && set -u
# The package's tools by name (ros2 run needs ros2cli, which has no wheel).
export PATH="$_rgbd_root/.build/install/rgbd_tracker_ros/lib/rgbd_tracker_ros:$PATH"
# Fast DDS multicasts discovery out of the network interface by default; keep it on this
# machine (Humble has no ROS_AUTOMATIC_DISCOVERY_RANGE: ROS_LOCALHOST_ONLY there) and give
# each shell its own domain, inside ROS's safe range 0-101 (1-101: 0 is every robot's default).
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
if [ "${ROS_DISTRO:-}" = humble ]; then
  export ROS_LOCALHOST_ONLY="${ROS_LOCALHOST_ONLY:-1}"
fi
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$(( ($$ % 101) + 1 ))}"
unset _rgbd_root _rgbd_nounset
