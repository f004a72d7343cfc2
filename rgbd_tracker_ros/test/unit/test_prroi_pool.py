"""PrRoIPool: exact bin integrals of the bilinear field, box gradients, TorchScript, devices."""

from __future__ import annotations

import pytest
import torch

from rgbd_tracker_ros.tracking.networks.prroi_pool import (
    PrRoIPool2D,
    prroi_box_gradient,
    prroi_pool2d,
    prroi_pool2d_for_gradient,
)


def bilinear_field(features: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    """F(y, x) = sum_hw f[h, w] tent(y - h) tent(x - w): (C, len(ys), len(xs)), zero outside."""
    rows = torch.arange(features.shape[-2], dtype=features.dtype)
    cols = torch.arange(features.shape[-1], dtype=features.dtype)
    weight_y = (1 - (ys[:, None] - rows[None, :]).abs()).clamp(min=0)  # (Y, H)
    weight_x = (1 - (xs[:, None] - cols[None, :]).abs()).clamp(min=0)  # (X, W)
    return torch.einsum("yh,chw,xw->cyx", weight_y, features, weight_x)


def brute_force_pool(features, roi, pooled, scale, samples):
    """Midpoint-rule average of the field over each bin with ``samples`` points per axis."""
    batch, x0, y0, x1, y1 = (float(v) for v in roi)
    x0, y0, x1, y1 = x0 * scale, y0 * scale, x1 * scale, y1 * scale
    bin_w, bin_h = max(x1 - x0, 0.0) / pooled[1], max(y1 - y0, 0.0) / pooled[0]
    out = torch.zeros(features.shape[1], *pooled, dtype=features.dtype)
    if bin_w * bin_h == 0:
        return out
    offsets = (torch.arange(samples, dtype=features.dtype) + 0.5) / samples
    for i in range(pooled[0]):
        ys = y0 + (i + offsets) * bin_h
        for j in range(pooled[1]):
            xs = x0 + (j + offsets) * bin_w
            out[:, i, j] = bilinear_field(features[int(batch)], ys, xs).mean(dim=(1, 2))
    return out


@pytest.fixture
def features() -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.randn(2, 3, 7, 9, generator=generator, dtype=torch.float64)


# (batch, x0, y0, x1, y1) in image units with scale 1/2: inside, straddling the border, fully
# outside, thin, and degenerate boxes.
ROIS = torch.tensor(
    [
        [0, 2.0, 3.0, 11.0, 9.0],
        [1, -3.0, -1.5, 6.5, 4.0],
        [0, 12.0, 8.0, 21.0, 15.5],
        [1, 25.0, 20.0, 30.0, 24.0],
        [0, 5.3, 5.3, 5.9, 12.1],
        [1, 4.0, 4.0, 4.0, 8.0],
        [0, 6.0, 6.0, 3.0, 9.0],
    ],
    dtype=torch.float64,
)


def test_matches_brute_force_integral_and_fine_sampling_converges(features):
    pooled, scale = (3, 2), 0.5
    exact = prroi_pool2d(features, ROIS, pooled[0], pooled[1], scale)
    assert exact.shape == (len(ROIS), 3, 3, 2)
    errors = []
    for samples in (8, 32, 128):
        approx = torch.stack([brute_force_pool(features, r, pooled, scale, samples) for r in ROIS])
        errors.append((exact - approx).abs().max().item())
    assert errors[2] < 2e-4
    assert errors[2] < errors[1] < errors[0]
    assert torch.count_nonzero(exact[3]) == 0  # beyond one cell outside the map
    # A single-image batch takes a faster path; it must give the same numbers.
    on_second = ROIS[:, 0] == 1
    single_rois = torch.cat((torch.zeros(int(on_second.sum()), 1), ROIS[on_second, 1:]), dim=1)
    single = prroi_pool2d(features[1:2], single_rois.double(), pooled[0], pooled[1], scale)
    torch.testing.assert_close(single, exact[on_second])
    assert torch.count_nonzero(exact[5:]) == 0  # empty bins pool to zero


def test_constant_map_pools_to_the_constant_inside_and_less_at_the_border():
    features = torch.full((1, 1, 6, 6), 2.0, dtype=torch.float64)
    rois = torch.tensor([[0, 1.0, 1.0, 4.0, 5.0], [0, -1.0, 0.0, 2.0, 3.0]], dtype=torch.float64)
    out = prroi_pool2d(features, rois, 2, 2, 1.0)
    torch.testing.assert_close(out[0], torch.full((1, 2, 2), 2.0, dtype=torch.float64))
    # The left half of the second box lies in [-1, 0.5] where the field ramps up from 0.
    assert out[1, 0, :, 0].max() < 2.0
    torch.testing.assert_close(out[1, 0, :, 1], torch.full((2,), 2.0, dtype=torch.float64))


def test_gradients_wrt_box_coordinates_and_features(features):
    index = ROIS[:5, :1]

    def pool(f, b):
        return prroi_pool2d(f, torch.cat((index, b), dim=1), 2, 3, 0.5)

    boxes = ROIS[:5, 1:].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda b: pool(features, b), (boxes,), eps=1e-6, atol=1e-7)
    small = features[:, :1, :4, :5].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda f: pool(f, boxes.detach() / 2), (small,), atol=1e-7)
    grad = torch.autograd.grad(pool(features, boxes).sum(), boxes)[0]
    assert grad[:3].abs().sum() > 0


@pytest.mark.parametrize(
    ("pooled_h", "pooled_w", "scale"), [(2, 3, 0.5), (5, 5, 0.125), (1, 1, 1.0)]
)
def test_closed_form_box_gradient_equals_autograd(features, pooled_h, pooled_w, scale):
    generator = torch.Generator().manual_seed(1)
    rois = ROIS * torch.tensor([1.0, 0.5 / scale, 0.5 / scale, 0.5 / scale, 0.5 / scale])
    rois = rois.to(torch.float64)
    pooled, context = prroi_pool2d_for_gradient(features, rois, pooled_h, pooled_w, scale)
    torch.testing.assert_close(pooled, prroi_pool2d(features, rois, pooled_h, pooled_w, scale))
    weights = torch.randn(pooled.shape, generator=generator, dtype=torch.float64)
    closed_form = prroi_box_gradient(context, weights)
    # The gradient is w.r.t. (x0, y0, width, height), the box's corner and size.
    boxes = torch.cat((rois[:, 1:3], rois[:, 3:5] - rois[:, 1:3]), 1).requires_grad_(True)
    corners = torch.cat((rois[:, :1], boxes[:, :2], boxes[:, :2] + boxes[:, 2:]), 1)
    out = prroi_pool2d(features, corners, pooled_h, pooled_w, scale)
    (autograd,) = torch.autograd.grad((out * weights).sum(), boxes)
    torch.testing.assert_close(closed_form, autograd, rtol=1e-10, atol=1e-12)
    assert closed_form[:3].abs().min() > 0  # boxes on the map move every coordinate
    assert torch.count_nonzero(closed_form[5:]) == 0  # empty boxes: zero gradients


def test_module_scripts_and_matches_eager_in_float32(features):
    module = PrRoIPool2D(5, 5, 1 / 8)
    scripted = torch.jit.script(module)
    feats = features.float()
    rois = (ROIS * torch.tensor([1, 8, 8, 8, 8], dtype=torch.float64)).float()
    torch.testing.assert_close(scripted(feats, rois), module(feats, rois), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(
        module(feats, rois), prroi_pool2d(features, rois.double(), 5, 5, 1 / 8).float()
    )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(features):
    rois = ROIS.float()
    cpu = prroi_pool2d(features.float(), rois, 3, 3, 0.5)
    gpu = prroi_pool2d(features.float().cuda(), rois.cuda(), 3, 3, 0.5)
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-5, atol=1e-5)
