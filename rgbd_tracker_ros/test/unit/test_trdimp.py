"""TrDiMP / TrSiam: transformer math, checkpoint layout, TorchScript agreement, TrSiam's template.

Everything runs on random weights at small sizes; the formulas in this file are written from
the reference's description (TransformerTrack's relation units), independently of the code.
"""

from __future__ import annotations

import math
from typing import Any

import checkpoint_files
import numpy as np
import pytest
import torch

from rgbd_tracker_ros.tracking.api import Frame, TrackerState
from rgbd_tracker_ros.tracking.model import export_checkpoint
from rgbd_tracker_ros.tracking.networks import checkpoint as ckpt
from rgbd_tracker_ros.tracking.networks.dimp.network import build_dimpnet50
from rgbd_tracker_ros.tracking.networks.export import load_exported_model
from rgbd_tracker_ros.tracking.networks.random_weights import randomise
from rgbd_tracker_ros.tracking.networks.trdimp.memory import FrontStack, TransformerMemory
from rgbd_tracker_ros.tracking.networks.trdimp.network import TrDiMPNet, build_trdimpnet50
from rgbd_tracker_ros.tracking.networks.trdimp.transformer import (
    RelationUnit,
    gaussian_labels,
)
from rgbd_tracker_ros.tracking.registry import create_tracker, tracker_params
from rgbd_tracker_ros.tracking.trdimp.params import TrDiMPParams
from rgbd_tracker_ros.tracking.trdimp.tracker import TrDiMPTracker, TrSiamTracker

FEATURE_DIM = 32
FILTER_SIZE = 4
TEMPERATURE = 30.0


def _randomise(module: torch.nn.Module, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for tensor in module.state_dict().values():
            if tensor.is_floating_point():
                tensor.copy_(0.2 * torch.randn(tensor.shape, generator=generator))


def _instance_l2_norm(x: torch.Tensor) -> torch.Tensor:
    """Per image: scale so that sum(x^2) = scale^2 * C*H*W with scale^2 = 1 / (C * k * k)."""
    scale = math.sqrt(1.0 / (FEATURE_DIM * FILTER_SIZE * FILTER_SIZE))
    numel = x[0].numel()
    energy = (x * x).sum(dim=(1, 2, 3), keepdim=True)
    return x * scale * torch.sqrt(numel / (energy + 1e-5))


def _relation_unit(
    wk: torch.Tensor, bk: torch.Tensor, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor
) -> torch.Tensor:
    """Tokens (L, C): softmax over keys of 30 * cos(WK q, WK k), applied to unprojected values."""
    q = query @ wk.T + bk
    k = key @ wk.T + bk
    q = q / q.norm(dim=1, keepdim=True)
    k = k / k.norm(dim=1, keepdim=True)
    return torch.softmax(TEMPERATURE * q @ k.T, dim=1) @ value


def _tokens(maps: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N*H*W, C): image-major, then row-major pixels."""
    return maps.permute(0, 2, 3, 1).reshape(-1, maps.shape[1])


def _maps(tokens: torch.Tensor, n: int, h: int, w: int) -> torch.Tensor:
    return tokens.reshape(n, h, w, -1).permute(0, 3, 1, 2)


def _direct_transformer(
    state: dict[str, torch.Tensor],
    memory: torch.Tensor,
    queries: torch.Tensor,
    labels: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    n, _, h, w = memory.shape
    prefix = "decoder.layers.0."
    sa = (state[prefix + "self_attn.head.0.WK.weight"], state[prefix + "self_attn.head.0.WK.bias"])
    ca = (
        state[prefix + "cross_attn.head.0.WK.weight"],
        state[prefix + "cross_attn.head.0.WK.bias"],
    )

    x = _tokens(memory)
    encoded = _instance_l2_norm(_maps(x + _relation_unit(*sa, x, x, x), n, h, w))

    e = _tokens(encoded)
    p = labels.reshape(-1, 1).repeat(1, memory.shape[1])  # label broadcast to every channel
    decoded = []
    for z_map in queries:  # the reference decodes one image at a time
        z = _tokens(z_map[None])
        t = _instance_l2_norm(_maps(z + _relation_unit(*sa, z, z, z), 1, h, w))
        t_tok = _tokens(t)
        mask = _relation_unit(*ca, t_tok, e, p)
        t2 = _instance_l2_norm(_maps(t_tok * mask, 1, h, w))
        t3 = _relation_unit(*ca, t_tok, e, e * p)
        t4 = _instance_l2_norm(_maps(t_tok + t3, 1, h, w))
        decoded.append(_instance_l2_norm(t2 + t4))
    return encoded, torch.cat(decoded)


def _small_net(seed: int) -> TrDiMPNet:
    """A TrDiMP network with FEATURE_DIM-wide features and a randomised transformer."""
    net = build_trdimpnet50({"out_feature_dim": FEATURE_DIM}).eval()
    _randomise(net.classifier.transformer, seed=seed)
    return net


def test_transformer_equals_direct_formula_and_shares_self_attention() -> None:
    torch.manual_seed(0)
    net = _small_net(seed=1)
    transformer = net.classifier.transformer
    state = transformer.state_dict()
    encoder_sa = transformer.encoder.layers[0].self_attn
    assert encoder_sa is transformer.decoder.layers[0].self_attn
    assert torch.equal(
        state["encoder.layers.0.self_attn.head.0.WK.weight"],
        state["decoder.layers.0.self_attn.head.0.WK.weight"],
    )

    memory = torch.randn(3, FEATURE_DIM, 5, 5)
    queries = torch.randn(2, FEATURE_DIM, 5, 5)
    boxes = torch.tensor([[20.0, 30.0, 25.0, 15.0], [10.0, 12.0, 30.0, 40.0], [50, 40, 8, 9]])
    labels = gaussian_labels(boxes, 5, 80.0, FILTER_SIZE)
    with torch.no_grad():
        encoded = TransformerMemory(net, memory, labels)
        decoded = net.decode(queries, encoded.decoder)
        expected_encoded, expected_decoded = _direct_transformer(state, memory, queries, labels)
        # WV is loaded but never used: changing it changes nothing.
        encoder_sa.head[0].WV.weight.add_(1.0)
        transformer.decoder.layers[0].cross_attn.head[0].WV.bias.add_(1.0)
        decoded_again = net.decode(queries, TransformerMemory(net, memory, labels).decoder)
        # Attention over query chunks (the memory bound for large memories) changes nothing.
        for unit in transformer.modules():
            if isinstance(unit, RelationUnit):
                unit.query_chunk = 7
        decoded_chunked = net.decode(queries, encoded.decoder)

    torch.testing.assert_close(encoded.encoded, expected_encoded, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(decoded, expected_decoded, rtol=1e-5, atol=1e-6)
    assert torch.equal(decoded, decoded_again)
    torch.testing.assert_close(decoded_chunked, decoded, rtol=1e-6, atol=1e-7)
    # Every output image is L2-normalised to scale^2 * C*H*W = H*W / k^2.
    energy = (decoded * decoded).sum(dim=(1, 2, 3))
    torch.testing.assert_close(energy, torch.full((2,), 25.0 / FILTER_SIZE**2), rtol=1e-4, atol=0)


def test_gaussian_labels_peak_and_width() -> None:
    """Label centre = feature cells from the patch centre, + half a cell for the even filter."""
    image_size, feat = 352.0, 22
    box = torch.tensor([[150.0, 170.0, 40.0, 20.0]])  # centre (170, 180) in the patch
    labels = gaussian_labels(box, feat, image_size, kernel_size=4)
    assert labels.shape == (1, feat, feat)
    cx = feat * (170.0 - image_size / 2) / image_size + 0.5
    cy = feat * (180.0 - image_size / 2) / image_size + 0.5
    sigma = 0.1 * feat
    grid = torch.arange(feat, dtype=torch.float32) - (feat - 1) / 2
    expected = torch.exp(-((grid[:, None] - cy) ** 2) / (2 * sigma**2)) * torch.exp(
        -((grid[None, :] - cx) ** 2) / (2 * sigma**2)
    )
    torch.testing.assert_close(labels[0], expected)
    odd = gaussian_labels(box, feat, image_size, kernel_size=5)
    assert not torch.allclose(odd, labels)


def test_front_stack_is_a_concatenation_in_front_and_a_drop_at_the_back() -> None:
    """In place, moving to a new storage whenever the room in front runs out (room 2 here)."""
    generator = torch.Generator().manual_seed(9)
    expected = torch.randn(3, 2, 2, generator=generator, dtype=torch.float64)
    stack = FrontStack(expected.clone(), room=2)
    for step in range(9):
        item = torch.randn(1, 2, 2, generator=generator, dtype=torch.float64)
        if step % 3 == 2:
            stack.drop_last()
            expected = expected[:-1]
        before = stack.items
        stack.push_front(item)
        expected = torch.cat((item, expected))
        assert torch.equal(stack.items, expected) and stack.items.is_contiguous()
        assert torch.equal(before, expected[1:])  # a view taken before the push is intact
    stack.items.add_(1.0)
    assert torch.equal(stack.items, expected + 1.0)


def test_memory_kept_encoded_equals_encoding_it_again() -> None:
    """Images pushed in front and dropped at the back: the encoding of the memory as it is,
    after many turns of the memory too (taking dropped images out must not drift: a robot
    tracks for hours)."""
    net = _small_net(seed=5)
    generator = torch.Generator().manual_seed(6)
    images = torch.randn(7, FEATURE_DIM, 4, 5, generator=generator)
    labels = torch.rand(7, 4, 5, generator=generator)
    with torch.no_grad():
        memory = TransformerMemory(net, images[:3], labels[:3])
        # Grows to 4, then holds 4: one image in, the oldest out; 25 turns of the memory.
        for step in range(100):
            index = 3 + step % 4
            memory.push(images[index : index + 1], labels[index : index + 1], capacity=4)
        order = [6, 5, 4, 3]
        again = TransformerMemory(net, images[order], labels[order])
    assert torch.equal(memory.features, images[order])
    assert torch.equal(memory.labels, labels[order])
    torch.testing.assert_close(memory.encoded, again.encoded, rtol=1e-6, atol=1e-7)
    for kept, fresh in zip(memory.decoder, again.decoder, strict=True):
        torch.testing.assert_close(kept, fresh, rtol=1e-6, atol=1e-7)


class _CountingNet:
    """A network whose drop computations (``memory_sums``) are counted."""

    def __init__(self, net: TrDiMPNet) -> None:
        self.net = net
        self.drops = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.net, name)

    def memory_sums(self, *args: torch.Tensor) -> list[torch.Tensor]:
        self.drops += 1
        return self.net.memory_sums(*args)


def test_drop_prepared_ahead_equals_the_drop_done_at_the_push() -> None:
    """The tracker has the oldest image's blocks computed on the frames between pushes; the
    memory must then be exactly what a push computing them itself gives, and that push does
    no drop work of its own."""
    net = _small_net(seed=7)
    counting = _CountingNet(net)
    generator = torch.Generator().manual_seed(8)
    images = torch.randn(9, FEATURE_DIM, 4, 5, generator=generator)
    labels = torch.rand(9, 4, 5, generator=generator)
    with torch.no_grad():
        plain = TransformerMemory(net, images[:2], labels[:2])
        prepared = TransformerMemory(counting, images[:2], labels[:2])
        for index in range(2, 9):
            drops = counting.drops
            plain.push(images[index : index + 1], labels[index : index + 1], capacity=4)
            prepared.push(images[index : index + 1], labels[index : index + 1], capacity=4)
            assert counting.drops == drops
            assert torch.equal(prepared.features, plain.features)
            assert torch.equal(prepared.encoded, plain.encoded)
            for a, b in zip(prepared.decoder, plain.decoder, strict=True):
                assert torch.equal(a, b)
            # Frames between pushes: once full, the first prepares, the next find it done.
            prepared.prepare_drop(capacity=4)
            prepared.prepare_drop(capacity=4)
            assert counting.drops == drops + (len(prepared) == 4)
    assert len(plain) == 4


@pytest.mark.parametrize("num_queries", [1, 3])
def test_decoding_images_together_equals_one_by_one(num_queries: int) -> None:
    net = _small_net(seed=2)
    memory = torch.randn(4, FEATURE_DIM, 4, 4)
    labels = torch.rand(4, 4, 4)
    queries = torch.randn(num_queries, FEATURE_DIM, 4, 4)
    with torch.no_grad():
        decoder_memory = TransformerMemory(net, memory, labels).decoder
        together = net.decode(queries, decoder_memory)
        alone = torch.cat([net.decode(q[None], decoder_memory) for q in queries])
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------------------------
# Checkpoint, export, tracking

TRANSFORMER_KEYS = sorted(
    f"classifier.transformer.{part}.head.0.{proj}.{kind}"
    for part in (
        "encoder.layers.0.self_attn",
        "decoder.layers.0.self_attn",
        "decoder.layers.0.cross_attn",
    )
    for proj in ("WK", "WV")
    for kind in ("weight", "bias")
)
SHARED_PREFIXES = (
    "classifier.transformer.encoder.layers.0.self_attn.",
    "classifier.transformer.decoder.layers.0.self_attn.",
)
IMAGE_SIZE = 128  # features 8x8, scores 9x9: a fast CPU run
# Random weights give low scores: localisation must not give up, and the memory, sample
# weights and filter must be updated within a few frames so the test covers those paths.
RUN_OVERRIDES = {
    "image_sample_size": IMAGE_SIZE,
    "target_not_found_threshold": -1.0,
    "distractor_threshold": 100.0,
    "train_skipping": 2,
    "transformer_skipping": 2,
    "transformer_memory_size": 17,
}
NUM_FRAMES = 7


@pytest.fixture(scope="module")
def trdimp_files(tmp_path_factory):
    """A random TrDiMP checkpoint in the official layout and its TorchScript export."""
    folder = tmp_path_factory.mktemp("trdimp")
    torch.manual_seed(3)
    net = build_trdimpnet50(ckpt.architecture("trdimp").default_kwds).eval()
    randomise(net, seed=4)  # features that vary, as a trained network's
    checkpoint = checkpoint_files.write_official_layout_checkpoint(
        folder / "trdimp_net.pth.tar", "trdimp", network=net
    )
    exported = export_checkpoint(checkpoint, folder / "trdimp.ts")
    return net, checkpoint, exported


def test_official_checkpoint_loads_strict_with_shared_self_attention(trdimp_files):
    net, checkpoint, _ = trdimp_files
    raw = ckpt.read_checkpoint(checkpoint)
    assert len(raw.state_dict) == 419
    assert sorted(k for k in raw.state_dict if ".transformer." in k) == TRANSFORMER_KEYS
    shared = [
        k.removeprefix(SHARED_PREFIXES[0])
        for k in raw.state_dict
        if k.startswith(SHARED_PREFIXES[0])
    ]
    assert len(shared) == 4
    for suffix in shared:  # the reference's one module, listed under two names
        assert torch.equal(
            raw.state_dict[SHARED_PREFIXES[0] + suffix], raw.state_dict[SHARED_PREFIXES[1] + suffix]
        )

    loaded = ckpt.load_network(checkpoint)
    assert loaded.architecture.name == "trdimp"
    assert isinstance(loaded.network, TrDiMPNet)
    for key, value in net.state_dict().items():
        assert torch.equal(loaded.network.state_dict()[key], value), key
    transformer = loaded.network.classifier.transformer
    assert transformer.encoder.layers[0].self_attn is transformer.decoder.layers[0].self_attn


def test_checkpoint_missing_a_transformer_entry_is_refused(tmp_path):
    net = build_trdimpnet50({})
    net.classifier.transformer.decoder.layers[0].cross_attn.head[0].WV = None
    path = checkpoint_files.write_official_layout_checkpoint(
        tmp_path / "broken.pth.tar", "trdimp", network=net
    )
    with pytest.raises(ckpt.CheckpointError, match=r"missing.*cross_attn\.head\.0\.WV"):
        ckpt.load_network(path)


def _frames(count: int) -> tuple[list[Frame], tuple[float, float, float, float]]:
    """A textured block drifting over a noise background."""
    rng = np.random.default_rng(5)
    background = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    block = rng.integers(0, 256, (30, 22, 3), dtype=np.uint8)
    frames = []
    for i in range(count):
        image = background.copy()
        x, y = 60 + 2 * i, 40 + i
        image[y : y + 30, x : x + 22] = block
        frames.append(Frame(color=image))
    return frames, (60.0, 40.0, 22.0, 30.0)


def _params(name: str, **overrides) -> TrDiMPParams:
    return tracker_params(name, {**RUN_OVERRIDES, **overrides})


def _run(tracker, frames, box):
    tracker.initialize(frames[0], box)
    return [tracker.track(frame) for frame in frames[1:]]


def test_eager_and_torchscript_tracking_agree(trdimp_files):
    net, _, exported = trdimp_files
    model = load_exported_model(exported)
    assert (model.tracker, model.architecture) == ("trdimp", "trdimp")
    frames, box = _frames(NUM_FRAMES)
    cpu = torch.device("cpu")
    eager = TrDiMPTracker(net, _params("trdimp"), cpu)
    scripted = TrDiMPTracker(model.module, _params("trdimp"), cpu)
    eager_results = _run(eager, frames, box)
    scripted_results = _run(scripted, frames, box)

    # The agreement every speed-up keeps: boxes within 1e-3 px, scores within 1e-4.
    for a, b in zip(eager_results, scripted_results, strict=True):
        assert a.state == b.state != TrackerState.LOST
        np.testing.assert_allclose(b.box_xywh, a.box_xywh, rtol=0, atol=1e-3)
        assert b.score == pytest.approx(a.score, abs=1e-4)
        np.testing.assert_allclose(b.score_map.scores, a.score_map.scores, rtol=0, atol=1e-4)
    # The run went through memory updates (15 first-frame samples + frames 3, 5, 7, capped at 17).
    assert len(eager._transformer_memory) == len(scripted._transformer_memory) == 17
    scale = eager._filter.abs().max().item()
    torch.testing.assert_close(scripted._filter, eager._filter, rtol=0, atol=1e-4 * scale)


class _RecordingNet:
    """Passes calls to the network and records the filter initialisation's inputs."""

    def __init__(self, net) -> None:
        self._net = net
        self.filter_init_calls: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.filter_step_calls = 0

    def __getattr__(self, name):
        return getattr(self._net, name)

    def filter_init(self, feat, boxes):
        self.filter_init_calls.append((feat, boxes))
        return self._net.filter_init(feat, boxes)

    def filter_step(self, *args):
        self.filter_step_calls += 1
        return self._net.filter_step(*args)


def test_trsiam_correlates_with_the_initializer_filter(trdimp_files):
    net, _, _ = trdimp_files
    recorder = _RecordingNet(net)
    tracker = TrSiamTracker(recorder, _params("trsiam"), torch.device("cpu"))
    frames, box = _frames(5)
    tracker.initialize(frames[0], box)
    ((features, boxes),) = recorder.filter_init_calls
    with torch.no_grad():
        template = net.classifier.filter_initializer(features, boxes)
    torch.testing.assert_close(tracker._filter, template, rtol=0, atol=0)
    results = [tracker.track(frame) for frame in frames[1:]]
    assert recorder.filter_step_calls == 0
    assert torch.equal(tracker._filter, template)
    # The transformer memory is still updated (frames 3 and 5).
    assert len(tracker._transformer_memory) == 17
    assert all(r.state != TrackerState.LOST for r in results)
    with pytest.raises(ValueError, match="trsiam"):
        TrSiamTracker(net, _params("trsiam", net_opt_update_iter=2), torch.device("cpu"))


def test_lasot_parameter_set_never_updates_the_memory(trdimp_files):
    net, _, _ = trdimp_files
    frames, box = _frames(4)
    tracker = TrDiMPTracker(net, _params("trdimp", parameter_set="lasot"), torch.device("cpu"))
    memory_before = None
    for i, frame in enumerate(frames):
        if i == 0:
            tracker.initialize(frame, box)
            memory_before = tracker._transformer_memory.decoder[1].clone()
        else:
            assert tracker.track(frame).state != TrackerState.LOST
    assert torch.equal(tracker._transformer_memory.decoder[1], memory_before)
    assert len(tracker._transformer_memory) == 15


def test_bad_parameters_and_networks_are_refused():
    with pytest.raises(ValueError, match="scale_factors"):
        _params("trdimp", scale_factors=[1.0, 1.05])
    with pytest.raises(ValueError, match="parameter_set"):
        _params("trdimp", parameter_set="long_term")
    with pytest.raises(ValueError, match="TrDiMP network"):
        TrDiMPTracker(build_dimpnet50({}), _params("trdimp"), torch.device("cpu"))
    with pytest.raises(ValueError, match="model_path"):
        create_tracker("trdimp", {})


def test_parameters_embedded_at_export_are_used(trdimp_files, tmp_path):
    """TrDiMP and TrSiam run with the parameters the file was exported with, as DiMP does."""
    _, checkpoint, _ = trdimp_files
    for name in ("trdimp", "trsiam"):
        exported = export_checkpoint(
            checkpoint, tmp_path / f"{name}.ts", name, {"search_area_scale": 4.0}
        )
        tracker = create_tracker(name, {"model_path": str(exported), "device": "cpu"})
        assert tracker.params.search_area_scale == 4.0, name
        overridden = create_tracker(
            name, {"model_path": str(exported), "device": "cpu", "search_area_scale": 5.5}
        )
        assert overridden.params.search_area_scale == 5.5, name
