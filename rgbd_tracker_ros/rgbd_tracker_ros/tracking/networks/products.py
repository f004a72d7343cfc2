"""Float32 matrix products on CPU through oneDNN instead of MKL.

torch's CPU matrix products go to MKL, which on the AMD CPU we measured (Zen 5, AVX-512) runs
them at about half the speed of oneDNN: TrDiMP's 7744 x 484 x 512 product took 19 ms as
``torch.mm`` and 8 ms through oneDNN; the IoU-Net's ten-row layers (10 x 6400 x 256) 365 us
against 115-145 us. The sums run in another order, so results differ from ``torch.mm`` by
float32 rounding. Elsewhere (CUDA, other dtypes, autograd, and when ``torch.export`` traces a
``.pt2``: its compiler picks its own kernels, and a loop over key images would fix their
count) they are the plain torch operations.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def traced() -> bool:
    """Whether ``torch.export`` (or ``torch.compile``) is tracing this code for its compiler."""
    if torch.jit.is_scripting():
        return False
    return torch.compiler.is_compiling()


def cpu_kernels(tensor: torch.Tensor) -> bool:
    """Whether work on ``tensor`` runs through the CPU kernels chosen here (eager or
    TorchScript on CPU), not traced for a compiler that picks its own and needs the loops
    left to it."""
    return tensor.device.type == "cpu" and not traced()


def linear(
    rows: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """``rows (R, K) @ weight (N, K)^T + bias``: (R, N), like ``F.linear``.

    oneDNN's inference-only linear op, on float32 CPU tensors outside autograd; ``weight`` may
    be a transposed view (of a (K, N) matrix), which it reads faster than a copy.
    """
    if not cpu_kernels(rows) or rows.dtype != torch.float32 or torch.is_grad_enabled():
        return F.linear(rows, weight, bias)
    # The op's post-op arguments, unused with "none" (TorchScript needs the list's full type).
    no_scalars: list[int | float | complex | None] = []
    return torch.ops.mkldnn._linear_pointwise(rows, weight, bias, "none", no_scalars, "")
