"""DiMP-50 / DeT networks: official-layout loading, eager vs TorchScript, optimizer maths."""

from __future__ import annotations

import copy

import checkpoint_files
import pytest
import torch

from rgbd_tracker_ros.tracking.networks import checkpoint as ckpt
from rgbd_tracker_ros.tracking.networks.dimp import solvers
from rgbd_tracker_ros.tracking.networks.dimp.classifier import (
    DiMPSteepestDescentGN,
    apply_filter,
    apply_filter_transpose,
    leaky_relu_par,
    leaky_relu_par_deriv,
)
from rgbd_tracker_ros.tracking.networks.dimp.network import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    UnsupportedArchitectureError,
    build_det_dimpnet50,
    build_dimpnet50,
)

IMAGE_SIZE = 128  # layer3 8x8, scores 9x9: small enough for a fast CPU test


def reference_iou_features(
    iounet: torch.nn.Module, layers: list[torch.Tensor]
) -> list[torch.Tensor]:
    """The reference's IoU-Net test branch on whole maps: each 3x3 convolution zero-padded by
    one cell, then batch norm (eval) and ReLU."""

    def block(sequential: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        conv, norm = sequential[0], sequential[1]
        return torch.relu(norm(torch.nn.functional.conv2d(x, conv.weight, conv.bias, padding=1)))

    c3 = block(iounet.conv3_2t, block(iounet.conv3_1t, layers[0]))
    c4 = block(iounet.conv4_2t, block(iounet.conv4_1t, layers[1]))
    return [c3, c4]


def whole_map(backbone: dict[str, torch.Tensor]) -> list[int]:
    layer3 = backbone["layer3"]
    return [0, int(layer3.shape[-2]), 0, int(layer3.shape[-1])]


def assert_rel_close(actual: torch.Tensor, expected: torch.Tensor, rtol: float = 1e-5) -> None:
    """Max abs difference within ``rtol`` of the reference's magnitude (the issue's criterion)."""
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    scale = expected.abs().max().item()
    error = (actual - expected).abs().max().item()
    assert error <= rtol * max(scale, 1e-12), f"max error {error:.3g} vs scale {scale:.3g}"


@pytest.fixture(scope="module")
def dimp():
    torch.manual_seed(0)
    net = build_dimpnet50(ckpt.DIMP50_TRAIN_KWDS).eval()
    return net, torch.jit.script(net)


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    return torch.rand(3, 3, IMAGE_SIZE, IMAGE_SIZE, generator=generator) * 255


BOXES = torch.tensor([[40.0, 36.0, 30.0, 44.0], [52.0, 50.0, 24.0, 20.0], [30.0, 60.0, 50.0, 28.0]])
PROPOSALS = torch.tensor(
    [[[40.0, 36.0, 30.0, 44.0], [38.0, 40.0, 34.0, 40.0], [45.0, 30.0, 22.0, 50.0]]]
)


def test_dimp50_official_layout_loads_strict_with_407_entries(dimp, tmp_path):
    net, _ = dimp
    path = checkpoint_files.write_official_layout_checkpoint(
        tmp_path / "dimp50.pth", "dimp50", network=net
    )
    loaded = ckpt.load_network(path)
    path.unlink()
    assert loaded.architecture.name == "dimp50"
    state = loaded.network.state_dict()
    assert len(state) == 407
    assert sum(k.startswith("feature_extractor.") for k in state) == 320
    assert sum(k.startswith("bb_regressor.") for k in state) == 79
    for key, value in net.state_dict().items():
        assert torch.equal(state[key], value), key


@pytest.fixture(scope="module")
def det_max():
    torch.manual_seed(2)
    return build_det_dimpnet50({**ckpt.DIMP50_TRAIN_KWDS, "merge_type": "max"}).eval()


@pytest.mark.parametrize(
    ("merge_type", "entries"), [("max", 727), ("mean", 727), ("mul", 727), ("conv", 731)]
)
def test_det_official_layout_loads_strict_and_merges(
    merge_type, entries, det_max, images, tmp_path
):
    kwds = {**ckpt.DIMP50_TRAIN_KWDS, "merge_type": merge_type}
    net = det_max if merge_type == "max" else build_det_dimpnet50(kwds).eval()
    if merge_type in ("max", "conv"):  # max, mean and mul files differ only in the constructor
        path = checkpoint_files.write_official_layout_checkpoint(
            tmp_path / "det.pth", "det_dimp50", kwds, net
        )
        loaded = ckpt.load_network(path)
        path.unlink()  # 200 MB: do not keep it in pytest's retained tmp folders
        assert loaded.architecture.name == "det_dimp50"
    else:
        net.load_state_dict(det_max.state_dict(), strict=True)
        loaded = ckpt.LoadedNetwork(net, ckpt.architecture("det_dimp50"), kwds)
    assert loaded.network.merge_type == merge_type
    assert len(loaded.network.state_dict()) == entries

    color, depth = images[:1], images[1:2]
    with torch.no_grad():
        merged = loaded.network.extract_backbone(color, depth)
        rgb = net.feature_extractor(net._normalise(color))
        dep = net.feature_extractor_depth(net._normalise(depth))
        rgb_only = loaded.network.extract_backbone(color, None)
        if merge_type == "conv":
            expected = net.merge_layer3(torch.cat((rgb["layer3"], dep["layer3"]), dim=1))
        elif merge_type == "max":
            expected = torch.max(rgb["layer3"], dep["layer3"])
        elif merge_type == "mean":
            expected = 0.5 * rgb["layer3"] + 0.5 * dep["layer3"]
        else:
            expected = rgb["layer3"] * dep["layer3"]
    assert_rel_close(merged["layer3"], expected)
    assert_rel_close(rgb_only["layer2"], rgb["layer2"])


def test_input_normalisation_is_imagenet(dimp, images):
    net, _ = dimp
    mean = torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1)
    with torch.no_grad():
        expected = net.feature_extractor((images[:1] / 255 - mean) / std)["layer3"]
        actual = net.extract_backbone(images[:1])["layer3"]
    assert_rel_close(actual, expected)


def test_every_method_agrees_between_eager_and_torchscript(dimp, images):
    net, scripted = dimp
    sample_weights = torch.tensor([0.5, 0.3, 0.2])
    results = []
    for module in (net, scripted):
        with torch.no_grad():
            backbone = module.extract_backbone(images)
            feat = module.classification_features(backbone)
            initial = module.filter_init(feat, BOXES)
            problem = module.filter_problem(feat, BOXES, sample_weights)
            updated = module.filter_step(initial, feat, problem)
            scores = module.classify(updated, feat)
            first = {name: value[:1] for name, value in backbone.items()}
            modulation = module.iou_modulation(first, BOXES[:1])
            iou_feat = solvers.window_features(module, first, whole_map(first))
            mean_modulation = [m.mean(0) for m in modulation]
            iou = module.predict_iou(mean_modulation, iou_feat, PROPOSALS)
            iou_grad = module.iou_and_gradient(modulation, iou_feat, PROPOSALS)
            refined = solvers.refine_boxes(
                module, modulation, first, PROPOSALS, 3, [1.0], 1.0, False
            )
            relative = solvers.refine_boxes(
                module, modulation, first, PROPOSALS, 3, [2.5e-3, 2e-3], 0.9, True
            )
        outputs = [
            backbone["layer2"],
            backbone["layer3"],
            feat,
            initial,
            *problem,
            updated,
            scores,
            *modulation,
            *iou_feat,
            iou,
            *iou_grad,
            *refined,
            *relative,
        ]
        results.append(outputs)
    assert feat.shape == (3, 512, 8, 8) and initial.shape == (1, 512, 4, 4)
    assert scores.shape == (3, 1, 9, 9) and iou.shape == (1, 3)
    for eager_out, scripted_out in zip(*results, strict=True):
        assert_rel_close(scripted_out, eager_out)


def test_classification_features_have_the_instance_l2_norm(dimp, images):
    net, _ = dimp
    with torch.no_grad():
        feat = net.classification_features(net.extract_backbone(images[:2]))
    energy = (feat * feat).sum(dim=(1, 2, 3))
    torch.testing.assert_close(energy, torch.full((2,), 8 * 8 / 16.0), rtol=1e-4, atol=0)


def test_classify_is_a_zero_padded_cross_correlation():
    generator = torch.Generator().manual_seed(3)
    feat = torch.randn(1, 6, 18, 18, generator=generator, dtype=torch.float64)
    weights = torch.randn(1, 6, 4, 4, generator=generator, dtype=torch.float64)
    scores = apply_filter(feat, weights)
    assert scores.shape == (1, 1, 19, 19)
    i, j = 7, 11
    patch = feat[0, :, i - 2 : i + 2, j - 2 : j + 2]
    torch.testing.assert_close(scores[0, 0, i, j], (patch * weights[0]).sum())
    corner = (feat[0, :, :2, :2] * weights[0, :, 2:, 2:]).sum()
    torch.testing.assert_close(scores[0, 0, 0, 0], corner)


@pytest.fixture
def gn_problem():
    """A float64 filter-learning problem with DiMP-50's predictor layout (100 bins of 0.1)."""
    generator = torch.Generator().manual_seed(4)
    optimizer = DiMPSteepestDescentGN(
        init_step_length=0.9,
        init_filter_reg=0.1,
        init_gauss_sigma=0.9,
        num_dist_bins=100,
        bin_displacement=0.1,
        mask_init_factor=3.0,
    ).double()
    feat = torch.randn(4, 16, 6, 6, generator=generator, dtype=torch.float64)
    weights = 0.1 * torch.randn(1, 16, 4, 4, generator=generator, dtype=torch.float64)
    boxes = torch.tensor(
        [
            [20.0, 30.0, 40.0, 30.0],
            [30.0, 20.0, 30.0, 50.0],
            [10.0, 10.0, 60.0, 60.0],
            [44, 8, 20, 20],
        ],
        dtype=torch.float64,
    )
    sample_weight = torch.tensor([0.4, 0.3, 0.2, 0.1], dtype=torch.float64)
    label, mask, spatial = optimizer.label_mask_weight(boxes, [7, 7], [4, 4])
    sqrt_weight = sample_weight.sqrt().reshape(-1, 1, 1, 1) * spatial
    reg = optimizer.regularization().detach()
    return optimizer, feat, weights, boxes, sample_weight, label, mask, sqrt_weight, reg


@pytest.mark.parametrize("size", [3, 4, 5])
def test_filter_and_its_transpose_for_odd_and_even_sizes(size):
    generator = torch.Generator().manual_seed(5)
    feat = torch.randn(3, 5, 6, 7, generator=generator, dtype=torch.float64)
    weights = torch.randn(1, 5, size, size, generator=generator, dtype=torch.float64)
    scores = apply_filter(feat, weights)
    torch.testing.assert_close(scores, torch.nn.functional.conv2d(feat, weights, padding=size // 2))
    residual = torch.randn(scores.shape, generator=generator, dtype=torch.float64)
    lhs = (scores * residual).sum()
    rhs = (weights * apply_filter_transpose(feat, residual, [size, size])).sum()
    torch.testing.assert_close(lhs, rhs)


def test_gn_hand_written_gradient_equals_autograd(gn_problem):
    optimizer, feat, weights, _, _, label, mask, sqrt_weight, reg = gn_problem
    variable = weights.clone().requires_grad_(True)
    loss = optimizer.loss(variable, feat, label, mask, sqrt_weight, reg)
    (autograd,) = torch.autograd.grad(0.5 * loss, variable)
    manual = optimizer.filter_gradient(weights, feat, label, mask, sqrt_weight, reg)
    torch.testing.assert_close(manual, autograd, rtol=1e-10, atol=1e-12)
    # The mask must actually mix the identity and |.| branches for the test to mean something.
    scores = apply_filter(feat, weights)
    assert (scores < 0).any() and ((mask > 0.05) & (mask < 0.95)).any()


def test_gn_step_uses_the_gauss_newton_step_length(gn_problem):
    optimizer, feat, weights, boxes, sample_weight, label, mask, sqrt_weight, reg = gn_problem

    def residuals(f: torch.Tensor) -> torch.Tensor:
        scores = apply_filter(feat, f)
        # Gauss-Newton linearises the activation with its derivative at the current scores.
        return sqrt_weight * (leaky_relu_par(scores, mask) - label)

    grad = optimizer.filter_gradient(weights, feat, label, mask, sqrt_weight, reg)
    _, jvp = torch.autograd.functional.jvp(residuals, weights, grad)
    deriv = leaky_relu_par_deriv(apply_filter(feat, weights), mask)
    torch.testing.assert_close(jvp, sqrt_weight * deriv * apply_filter(feat, grad))
    alpha = (grad * grad).sum() / ((jvp * jvp).sum() + reg * (grad * grad).sum())
    expected = weights - torch.exp(optimizer.log_step_length) * alpha * grad
    with torch.no_grad():
        problem = optimizer.problem(feat, boxes, sample_weight, [4, 4])
        final = optimizer.step(weights, feat, *problem)
    torch.testing.assert_close(problem, [label, mask, sqrt_weight])
    torch.testing.assert_close(final, expected)
    loss_before = optimizer.loss(weights, feat, label, mask, sqrt_weight, reg)
    assert optimizer.loss(final, feat, label, mask, sqrt_weight, reg) < loss_before


def test_filter_solvers_iterate_the_network_steps(dimp, images):
    net, _ = dimp
    weights = torch.tensor([0.6, 0.3, 0.1])
    with torch.no_grad():
        feat = net.classification_features(net.extract_backbone(images))
        initial = net.filter_init(feat, BOXES)
        uniform = net.filter_problem(feat, BOXES, torch.full((3,), 1 / 3))
        expected = net.filter_step(net.filter_step(initial, feat, uniform), feat, uniform)
        torch.testing.assert_close(solvers.initial_filter(net, feat, BOXES, 2), expected)
        torch.testing.assert_close(solvers.initial_filter(net, feat, BOXES, 0), initial)
        problem = net.filter_problem(feat, BOXES, weights)
        step = net.filter_step(expected, feat, problem)
        torch.testing.assert_close(
            solvers.optimize_filter(net, expected, feat, BOXES, weights, 1), step
        )


def test_zero_weight_empty_slots_leave_the_filter_optimisation_unchanged(dimp, images):
    """The tracker optimises over its whole sample memory (a fixed count, the only one a
    compiled graph is built for): empty slots (zero features, zero box, weight zero) must add
    exact zeros, at the first frame's steps and later ones."""
    net, _ = dimp
    weights = torch.tensor([0.6, 0.3, 0.1])
    with torch.no_grad():
        feat = net.classification_features(net.extract_backbone(images))
        padded_feat = torch.cat((feat, feat.new_zeros((5, *feat.shape[1:]))))
        padded_boxes = torch.cat((BOXES, BOXES.new_zeros((5, 4))))
        padded_weights = torch.cat((weights, weights.new_zeros(5)))
        initial = net.filter_init(feat, BOXES)
        expected = solvers.optimize_filter(net, initial, feat, BOXES, weights, 5)
        padded = solvers.optimize_filter(net, initial, padded_feat, padded_boxes, padded_weights, 5)
        assert torch.isfinite(padded).all()
        torch.testing.assert_close(padded, expected, rtol=1e-5, atol=1e-7)
        uniform = torch.cat((torch.full((3,), 1 / 3), torch.zeros(5)))
        training = (padded_feat, padded_boxes, uniform)
        torch.testing.assert_close(
            solvers.initial_filter(net, feat, BOXES, 3, training),
            solvers.initial_filter(net, feat, BOXES, 3),
            rtol=1e-5,
            atol=1e-7,
        )


def test_iou_gradient_matches_finite_differences(dimp, images):
    net, _ = dimp
    iounet = copy.deepcopy(net.bb_regressor).double()
    with torch.no_grad():
        backbone = {k: v.double() for k, v in net.extract_backbone(images[:1]).items()}
    layers = [backbone["layer2"], backbone["layer3"]]
    modulation = iounet.get_modulation(layers, BOXES[:1].double())
    iou_feat = reference_iou_features(iounet, layers)
    proposals = PROPOSALS.double()
    with torch.no_grad():
        _, grad = iounet.predict_iou_and_gradient(modulation, iou_feat, proposals)
    boxes = proposals.clone().requires_grad_(True)
    iou = iounet.predict_iou(modulation, iou_feat, boxes)
    (autograd,) = torch.autograd.grad(iou.sum(), boxes)
    torch.testing.assert_close(grad, autograd, rtol=1e-9, atol=1e-12)
    step = 1e-4
    for coord in range(4):
        shift = torch.zeros_like(proposals)
        shift[0, 1, coord] = step
        with torch.no_grad():
            up = iounet.predict_iou(modulation, iou_feat, proposals + shift)[0, 1]
            down = iounet.predict_iou(modulation, iou_feat, proposals - shift)[0, 1]
        numeric = (up - down) / (2 * step)
        assert abs(numeric.item() - grad[0, 1, coord].item()) < 1e-5 * max(1.0, abs(numeric.item()))


def test_iou_features_in_a_window_are_the_whole_maps_values(dimp):
    net, _ = dimp
    generator = torch.Generator().manual_seed(7)
    image = torch.rand(1, 3, 256, 256, generator=generator) * 255  # layer3 16x16
    boxes = torch.tensor([[[100.0, 90.0, 40.0, 50.0], [96.0, 94.0, 44.0, 48.0]]])
    whole = [0, 16, 0, 16]
    with torch.no_grad():
        backbone = net.extract_backbone(image)
        modulation = net.iou_modulation(backbone, boxes[0, :1])
        full = reference_iou_features(net.bb_regressor, [backbone["layer2"], backbone["layer3"]])
        for value, reference in zip(
            solvers.window_features(net, backbone, whole), full, strict=True
        ):
            assert_rel_close(value, reference)
        expected = net.iou_and_gradient(modulation, full, boxes)
        for window in ([5, 10, 4, 11], [0, 11, 3, 16], solvers.feature_window(boxes, whole, 16)):
            part = solvers.window_features(net, backbone, window)
            rows, cols = slice(window[0], window[1]), slice(window[2], window[3])
            rows2, cols2 = slice(2 * window[0], 2 * window[1]), slice(2 * window[2], 2 * window[3])
            assert_rel_close(part[0], full[0][:, :, rows2, cols2])
            assert_rel_close(part[1], full[1][:, :, rows, cols])
            assert solvers.inside_window(boxes, window, whole, 16)
            corner = torch.tensor([16.0 * window[2], 16.0 * window[0], 0.0, 0.0])
            in_window = net.iou_and_gradient(modulation, part, boxes - corner)
            for value, reference in zip(in_window, expected, strict=True):
                assert_rel_close(value, reference)
    # A box whose support leaves the window is caught (a map border is no limit).
    assert not solvers.inside_window(boxes + 40.0, [5, 10, 4, 11], whole, 16)
    assert solvers.inside_window(boxes + 200.0, [5, 16, 4, 16], whole, 16)


def test_a_box_leaving_the_window_grows_it_and_the_result_is_the_whole_maps(dimp):
    net, _ = dimp
    generator = torch.Generator().manual_seed(3)
    image = torch.rand(1, 3, 256, 256, generator=generator) * 255  # layer3 16x16
    proposals = torch.tensor([[[100.0, 90.0, 40.0, 50.0], [96.0, 94.0, 44.0, 48.0]]])
    step = [1e4]  # big steps (random weights: tiny gradients): the boxes leave the window
    with torch.no_grad():
        backbone = net.extract_backbone(image)
        modulation = net.iou_modulation(backbone, proposals[0, :1])
        # The whole map's features (the window test above ties them to the reference's).
        full = solvers.window_features(net, backbone, whole_map(backbone))
        boxes, expected_ious = proposals, None
        for _ in range(4):
            expected_ious, grad = net.iou_and_gradient(modulation, full, boxes)
            boxes = boxes + step[0] * grad * boxes[:, :, 2:].repeat(1, 1, 2)
        grown = []
        original = solvers.window_features

        def recording(net_, backbone_, window):
            grown.append(window)
            return original(net_, backbone_, window)

        solvers.window_features = recording
        try:
            refined, ious = solvers.refine_boxes(
                net, modulation, backbone, proposals, 4, step, 1.0, False
            )
        finally:
            solvers.window_features = original
    assert len(grown) > 1 and grown[-1] != whole_map(backbone), grown  # grown, not whole
    assert (boxes - proposals).abs().max() > 16  # the boxes did travel
    # Boxes in the window's frame round differently, and steps this big amplify that.
    assert_rel_close(refined, boxes, rtol=1e-4)
    assert_rel_close(ious, expected_ious, rtol=1e-4)


def test_refinement_steps_and_returned_ious_follow_the_reference(dimp, images):
    net, _ = dimp
    with torch.no_grad():
        backbone = net.extract_backbone(images[:1])
        modulation = net.iou_modulation(backbone, BOXES[:1])
        iou_feat = reference_iou_features(
            net.bb_regressor, [backbone["layer2"], backbone["layer3"]]
        )
        iou, grad = net.iou_and_gradient(modulation, iou_feat, PROPOSALS)
        boxes, ious = solvers.refine_boxes(
            net, modulation, backbone, PROPOSALS, 1, [0.5], 1.0, False
        )
        unchanged, start_ious = solvers.refine_boxes(
            net, modulation, backbone, PROPOSALS, 0, [1.0], 1.0, False
        )
        relative, _ = solvers.refine_boxes(
            net, modulation, backbone, PROPOSALS, 1, [2e-3, 1e-3], 1.0, True
        )
    expected = PROPOSALS + 0.5 * grad * PROPOSALS[:, :, 2:].repeat(1, 1, 2)
    torch.testing.assert_close(boxes, expected)
    torch.testing.assert_close(ious, iou)  # IoUs of the boxes before the (last) update
    torch.testing.assert_close(unchanged, PROPOSALS)
    torch.testing.assert_close(start_ious, iou)
    # Relative space: one step on [cx / w0, cy / h0, log w, log h] (autograd for the chain rule).
    sz_norm = PROPOSALS[:, :1, 2:]
    rel = solvers.rect_to_rel(PROPOSALS, sz_norm).requires_grad_(True)
    rect = solvers.rel_to_rect(rel, sz_norm)
    (rel_grad,) = torch.autograd.grad((rect * grad).sum(), rel)
    step = torch.tensor([2e-3, 2e-3, 1e-3, 1e-3])
    expected = solvers.rel_to_rect(rel.detach() + step * rel_grad, sz_norm)
    torch.testing.assert_close(relative, expected)


@pytest.mark.parametrize(
    "kwds",
    [{"clf_feat_blocks": 1}, {"score_act": "bentpar"}, {"not_an_argument": 3}, {"feat_stride": 8}],
)
def test_unsupported_constructor_arguments_are_refused(kwds):
    with pytest.raises(UnsupportedArchitectureError):
        build_dimpnet50(kwds)


def test_det_weighted_sum_is_refused():
    with pytest.raises(UnsupportedArchitectureError, match="weightedSum"):
        build_det_dimpnet50({"merge_type": "weightedSum"})


def test_scripted_det_agrees_with_eager_for_conv_and_max(images):
    color, depth = images[:1], images[1:2]
    for merge_type in ("conv", "max"):
        torch.manual_seed(6)
        net = build_det_dimpnet50({**ckpt.DIMP50_TRAIN_KWDS, "merge_type": merge_type}).eval()
        scripted = torch.jit.script(net)
        assert scripted.uses_depth and scripted.architecture == "det_dimp50"
        with torch.no_grad():
            for with_depth in (depth, None) if merge_type == "conv" else (depth,):
                eager_out = net.extract_backbone(color, with_depth)
                scripted_out = scripted.extract_backbone(color, with_depth)
                for name in ("layer2", "layer3"):
                    assert_rel_close(scripted_out[name], eager_out[name])
