"""Where trackers run: the device a name means, and how many CPU threads they may use."""

from __future__ import annotations

import cv2
import torch


def resolve_device(spec: str) -> torch.device:
    """'auto' -> CUDA when available else CPU; 'cuda[:N]' must be available."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {spec!r}") from None
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {spec!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {spec!r} requested but CUDA is not available")
    return device


def limit_cpu_threads(threads: int, torch_too: bool = True) -> None:
    """Cap OpenCV's (and torch's intra-op) CPU threads.

    On a small, busy machine more threads than free cores make torch's workers wait on each
    other: the default tracker's median step went from 9 ms to 56 ms (p95 360 ms) with two
    threads on a loaded 2-core machine. Timings also compare better across machines.
    """
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    cv2.setNumThreads(threads)
    if torch_too:
        torch.set_num_threads(threads)
