#!/usr/bin/env bash
# Bootstrap the development environment: a venv that is itself a ROS 2 Jazzy prefix
# (rclpy on Fast DDS from PyPI wheels), the Python dependencies (CPU torch), and a
# colcon build of both packages. Idempotent: a second run only checks and rebuilds.
#
# On a machine with an apt ROS 2 install already sourced (ROS_DISTRO set), the venv is made
# with the Python that ROS was built for (3.12 on Jazzy, 3.10 on Humble) and
# --system-site-packages, so it sees the system's rclpy and the rosdep-installed packages
# (NumPy, OpenCV, ... from apt: `rosdep install --from-paths . -y --ignore-src`); pip then
# adds only torch and the test tools, never a second NumPy.
#
# Usage: setup_env.sh            set up (or check) the venv and build
#        setup_env.sh --python   print the Python interpreter it would use, and exit
# Environment: PYTHON (interpreter to use), VENV, TORCH_INDEX_URL (where torch comes from,
# e.g. https://download.pytorch.org/whl/cpu for the CPU-only build), SKIP_BUILD=1.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
STAMP="$VENV/.rgbd_tracker_deps"
DEPS_VERSION=4  # bump when the package lists below change
TORCH="torch==2.13.0"
WHEELS_PYTHON=python3.11  # the ros-jazzy-* wheels are built for CPython 3.11

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
# What the package imports. With an apt ROS these come from apt through the rosdep keys in
# package.xml instead (the distro's NumPy/OpenCV, which its cv_bridge & co. are built for).
PY_DEPS=(
  "numpy>=1.24" "opencv-contrib-python-headless>=4.8" "scipy>=1.10" "pyyaml>=6"
  "matplotlib>=3.7" "tqdm>=4.60" "imageio>=2.31" "scikit-image>=0.21" pyrealsense2
)
# Test and lint tools (pip in both cases).
DEV_DEPS=("pytest>=7" "pytest-timeout>=2" "ruff>=0.5")

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

ros_python_version() {
  # X.Y of the Python the sourced ROS was built for: the folder its rclpy is installed in
  # (lib/python3.12/site-packages on Jazzy, local/lib/python3.10/dist-packages on Humble).
  local prefix rclpy
  local -a prefixes
  IFS=: read -r -a prefixes <<< "${AMENT_PREFIX_PATH:-}"
  for prefix in "${prefixes[@]}" "/opt/ros/${ROS_DISTRO}"; do
    for rclpy in "$prefix"/lib/python3*/site-packages/rclpy "$prefix"/local/lib/python3*/dist-packages/rclpy; do
      if [ -d "$rclpy" ]; then
        basename "$(dirname "$(dirname "$rclpy")")" | sed 's/^python//'
        return
      fi
    done
  done
}

choose_python() {
  # PYTHON if given; else the sourced ROS's own Python; else the one the ROS wheels need.
  if [ -n "${PYTHON:-}" ]; then
    echo "$PYTHON"
  elif [ -n "${ROS_DISTRO:-}" ]; then
    local version
    version="$(ros_python_version)"
    echo "python${version:-3}"
  else
    echo "$WHEELS_PYTHON"
  fi
}

require_python() {
  if ! command -v "$PYTHON" >/dev/null; then
    if [ -n "${ROS_DISTRO:-}" ]; then
      log "error: $PYTHON not found; ROS $ROS_DISTRO is built for it (set PYTHON to override)" >&2
    else
      log "error: $PYTHON not found; the ROS 2 Jazzy wheels need it (or source an apt ROS 2 first)" >&2
    fi
    exit 1
  fi
}

make_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating venv $VENV with $PYTHON"
    if [ -n "${ROS_DISTRO:-}" ]; then
      "$PYTHON" -m venv --system-site-packages "$VENV"
    else
      "$PYTHON" -m venv "$VENV"
    fi
    touch "$VENV/COLCON_IGNORE"  # colcon never crawls the venv for packages
  fi
}

install_torch() {
  # torch first and pinned, so nothing later pulls another build. Where it comes from is
  # the user's choice: PyPI's Linux x86_64 wheel is the CUDA build (several GB with its
  # nvidia-* wheels); TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu is CPU only.
  local pip=("$@")
  if [ -n "${TORCH_INDEX_URL:-}" ]; then
    log "installing $TORCH from $TORCH_INDEX_URL"
    "${pip[@]}" --index-url "$TORCH_INDEX_URL" "$TORCH"
  else
    log "installing $TORCH from the configured index (set TORCH_INDEX_URL to choose CPU or CUDA)"
    "${pip[@]}" "$TORCH"
  fi
}

check_rosdep_keys() {
  # With an apt ROS, package.xml's rosdep keys bring NumPy, OpenCV, ... from apt.
  local fix="rosdep install --from-paths $ROOT -y --ignore-src"
  if ! command -v rosdep >/dev/null; then
    log "warning: rosdep not found; install the package's dependencies with: $fix"
  elif ! rosdep check --from-paths "$ROOT" --ignore-src >/dev/null 2>&1; then
    log "error: system dependencies missing (rosdep check); install them with: $fix" >&2
    exit 1
  fi
}

install_deps() {
  if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$DEPS_VERSION" ]; then
    log "dependencies up to date"
    return
  fi
  local pip=("$VENV/bin/python" -m pip install -q --disable-pip-version-check)
  install_torch "${pip[@]}"
  if [ -z "${ROS_DISTRO:-}" ]; then
    log "installing ROS 2 Jazzy wheels"
    "${pip[@]}" "${ROS_WHEELS[@]}"
    fix_cmake_paths
    log "installing Python dependencies"
    # The contrib build (CSRT/KCF baselines) ships the same cv2 as the plain headless one.
    "$VENV/bin/python" -m pip uninstall -q -y opencv-python-headless >/dev/null 2>&1 || true
    "${pip[@]}" "${PY_DEPS[@]}"
  else
    check_rosdep_keys
    # Only its sample photos are read (synthetic sequences), so none of its dependencies.
    "${pip[@]}" --no-deps "scikit-image>=0.21"
  fi
  "${pip[@]}" "${DEV_DEPS[@]}"
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

PYTHON="$(choose_python)"
if [ "${1:-}" = --python ]; then
  require_python
  echo "$PYTHON"
  exit 0
fi
require_python
[ -n "${ROS_DISTRO:-}" ] || ensure_libusb
make_venv
install_deps
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  log "colcon build"
  "$ROOT/scripts/build_workspace.sh" >/dev/null
  build_ros_overlay
fi
log "ready: source scripts/env.sh"
