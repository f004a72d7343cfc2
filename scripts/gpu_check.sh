#!/usr/bin/env bash
# One-shot GPU check on a bare machine: python3 with a CUDA PyTorch, OpenCV and NumPy; no ROS,
# no venv. Runs the ROS-free core from this checkout and writes one table (every network tracker
# x eager/TorchScript/.pt2 x fp32/fp16: CUDA track() median/p95, init time, peak GPU memory,
# CUDA-vs-CPU and fp16-vs-fp32 differences) to results/gpu_check/gpu_check.md.
#   bash scripts/gpu_check.sh [--output DIR] [--trackers dimp det trdimp] [--frames N] [--budget S]
# Without a GPU it says so and runs the CPU-only part. PYTHON overrides the interpreter.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"

if ! "$PYTHON" -c "import torch, cv2, numpy" 2>/dev/null; then
  echo "gpu_check: $PYTHON needs torch, cv2 (OpenCV) and numpy" >&2
  exit 1
fi
# Two small pure-Python modules the core reads parameters and builds the demo with.
EXTRA=""
if ! "$PYTHON" -c "import yaml, tqdm" 2>/dev/null; then
  EXTRA="$(mktemp -d)"
  trap 'rm -rf "$EXTRA"' EXIT
  echo "[gpu_check] installing pyyaml and tqdm into a temporary folder"
  if ! "$PYTHON" -m pip install --quiet --target "$EXTRA" pyyaml tqdm; then
    echo "gpu_check: needs the Python packages pyyaml and tqdm (pip could not get them)" >&2
    exit 1
  fi
fi

export PYTHONPATH="$ROOT/rgbd_tracker_ros${EXTRA:+:$EXTRA}${PYTHONPATH:+:$PYTHONPATH}"
cd "$ROOT"
"$PYTHON" -m rgbd_tracker_ros.tools.gpu_check "$@"
