"""Float32 matrix products on CPU as oneDNN 1x1 convolutions.

torch's CPU matrix products go to MKL, which on the AMD CPU we measured (Zen 5, AVX-512) runs
them at about half the speed of oneDNN's convolutions: TrDiMP's 7744 x 484 x 512 product took
19 ms as ``torch.mm`` and 8 ms as a 1x1 convolution over a channels-last view of the rows (no
copy). Not for small products: the IoU-Net's ten-row layers ran slower this way. The sums run
in another order, so results differ from ``torch.mm`` by float32 rounding. Elsewhere (CUDA, and
when ``torch.export`` traces a ``.pt2``: its compiler picks its own kernels, and a grouped
convolution would fix the group count) they are matrix products.
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
    TorchScript on CPU), not traced for a compiler that picks its own and needs the loops and
    group counts left to it."""
    return tensor.device.type == "cpu" and not traced()


def linear(rows: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``rows (R, K) @ weight (N, K)^T``: (R, N)."""
    if not cpu_kernels(rows):
        return torch.mm(rows, weight.t())
    count, inner = rows.shape[0], rows.shape[1]
    image = rows.reshape(1, count, 1, inner).permute(0, 3, 1, 2)  # channels-last, no copy
    out = F.conv2d(image, weight.reshape(weight.shape[0], inner, 1, 1))
    return out.permute(0, 2, 3, 1).reshape(count, weight.shape[0])
