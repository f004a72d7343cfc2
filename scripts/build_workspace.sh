#!/usr/bin/env bash
# colcon build of both packages. Usage: build_workspace.sh [BASE_DIR]  (default: .build)
# BASE_DIR gets build/, install/ and log/. Needs the venv from setup_env.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
BASE="${1:-$ROOT/.build}"
cd "$ROOT"
# shellcheck disable=SC1091
source "$VENV/bin/activate"
if [ -z "${ROS_DISTRO:-}" ]; then
  # ROS from wheels: the venv itself is the underlay prefix.
  export AMENT_PREFIX_PATH="$VENV" CMAKE_PREFIX_PATH="$VENV"
fi
# colcon run by the venv's Python: the tools' scripts then start with it (and see torch),
# also where colcon itself comes from apt.
python -m colcon --log-base "$BASE/log" build \
  --base-paths rgbd_tracker_msgs rgbd_tracker_ros \
  --build-base "$BASE/build" --install-base "$BASE/install" \
  --symlink-install --event-handlers console_cohesion- summary- status- \
  --cmake-args -DPython3_EXECUTABLE="$VENV/bin/python" -DBUILD_TESTING=OFF
