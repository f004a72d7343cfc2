"""scripts/gpu_check.sh on a machine without a GPU: it says so and writes the CPU-only table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from rgbd_tracker_ros.sequences.synthetic import generate_sequence, preset_config

ROOT = Path(__file__).resolve().parents[3]


def test_cpu_only_fallback_says_no_gpu_and_writes_the_table(tmp_path: Path):
    sequence = generate_sequence(
        preset_config("easy", seed=5, num_frames=4, width=160, height=120, photo_textures=False),
        tmp_path / "seq",
    )
    environment = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHON": sys.executable}
    command = ["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--trackers", "dimp"]
    command += ["--sequence", str(sequence), "--frames", "2", "--image-sample-size", "128"]
    command += ["--output", str(tmp_path / "out")]
    done = subprocess.run(
        command, env=environment, capture_output=True, text=True, timeout=900, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "NO GPU FOUND" in done.stdout
    table = (tmp_path / "out" / "gpu_check.md").read_text()
    assert table.startswith("GPU check: NO GPU FOUND (CPU only)")
    rows = [line for line in table.splitlines() if line.startswith("| dimp")]
    assert [row.split(" | ")[1:4] for row in rows] == [
        ["eager", "fp32", "cpu"],
        ["torchscript", "fp32", "cpu"],
        ["pt2", "fp32", "–"],
    ]
    # The CPU reference is the eager fp32 run itself; TorchScript agrees at the tolerance.
    assert rows[0].split(" | ")[8] == "0.0e+00 / 0.0e+00"
    box, score = (float(v) for v in rows[1].split(" | ")[8].split(" / "))
    assert box <= 1e-3 and score <= 1e-4
    assert "not built: compiled for CUDA only" in rows[2]
