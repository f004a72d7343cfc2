"""Random weights that make a network behave like a trained one numerically, for benchmarks
and tests (no official checkpoint can be downloaded where they run).

PyTorch's default initialisation leaves a deep ResNet's features nearly flat and tiny (every
layer shrinks them), so score maps are almost constant and the IoU-Net's gradients vanish: a
tracker then does not exercise its refinement, and rounding differences look larger than
they are. :func:`randomise` draws He-normal convolution and linear weights, mild batch-norm
statistics and damped residual branches, so features keep an O(1) scale and vary in space.
The DiMP filter optimiser's label, mask and weight predictors keep their training-like
initial values (a Gaussian label around the target), and the IoU predictor is scaled down
so that box refinement moves boxes by a few pixels, as a trained one does.
"""

from __future__ import annotations

import math

import torch
from torch import nn

# Scale of the final IoU predictor: keeps refinement steps (gradient x box size) small.
IOU_PREDICTOR_GAIN = 0.05
# Last batch norm of each residual branch: a small gain keeps the residual sum's scale.
RESIDUAL_GAIN = 0.2


def randomise(network: nn.Module, seed: int) -> nn.Module:
    """Redraw ``network``'s weights in place from ``seed`` (see the module docstring)."""
    generator = torch.Generator().manual_seed(seed)

    def normal(shape: torch.Size, std: float) -> torch.Tensor:
        return std * torch.randn(shape, generator=generator)

    with torch.no_grad():
        for name, module in network.named_modules():
            if "filter_optimizer" in name:
                continue
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                fan_in = module.weight[0].numel()
                module.weight.copy_(normal(module.weight.shape, math.sqrt(2.0 / fan_in)))
                if module.bias is not None:
                    module.bias.copy_(normal(module.bias.shape, 0.05))
            elif isinstance(module, nn.BatchNorm2d):
                gain = RESIDUAL_GAIN if name.endswith("bn3") else 1.0
                spread = torch.rand(module.weight.shape, generator=generator)
                module.weight.copy_(gain * (0.75 + 0.5 * spread))
                module.bias.copy_(normal(module.bias.shape, 0.05))
                module.running_mean.zero_()
                module.running_var.fill_(1.0)
        predictor = getattr(getattr(network, "bb_regressor", None), "iou_predictor", None)
        if predictor is not None:
            predictor.weight.mul_(IOU_PREDICTOR_GAIN)
    return network
