"""export_model: checkpoint -> one TorchScript file or .pt2 package with parameters; loading
each form (by extension); the exported graphs of the DiMP family running a tracker; failures."""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import checkpoint_files
import numpy as np
import pytest
import torch
import yaml
from torch import nn

from rgbd_tracker_ros.tools.export_model import main
from rgbd_tracker_ros.tracking import registry
from rgbd_tracker_ros.tracking.api import Frame, TrackerState, TrackResult
from rgbd_tracker_ros.tracking.model import (
    TrackerModel,
    export_network,
    record_calls,
    recording_frames,
)
from rgbd_tracker_ros.tracking.networks import checkpoint as ckpt
from rgbd_tracker_ros.tracking.networks.dimp import solvers
from rgbd_tracker_ros.tracking.networks.export import (
    CompiledNetwork,
    ExportedModel,
    ExportError,
    export_methods,
    load_exported,
    load_exported_model,
    network_attributes,
)
from rgbd_tracker_ros.tracking.networks.random_weights import randomise
from rgbd_tracker_ros.tracking.registry import (
    create_tracker,
    get_spec,
    parameter_record,
    tracker_params,
)
from rgbd_tracker_ros.tracking.spec import TrackerSpec


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A random-weight DiMP-50 checkpoint in the official layout, exported through the CLI."""
    folder = tmp_path_factory.mktemp("export")
    torch.manual_seed(0)
    network = ckpt.build_network(ckpt.architecture("dimp50"), ckpt.DIMP50_TRAIN_KWDS).eval()
    checkpoint = checkpoint_files.write_official_layout_checkpoint(
        folder / "dimp50.pth", network=network
    )
    overrides = folder / "overrides.yaml"
    overrides.write_text(yaml.safe_dump({"search_area_scale": 4.5}))
    output = folder / "dimp50.ts"
    status = main(
        ["--checkpoint", str(checkpoint), "--output", str(output), "--params", str(overrides)]
    )
    yield network, checkpoint, output, status
    for path in (checkpoint, output):
        path.unlink(missing_ok=True)


def test_round_trip_runs_like_the_eager_network(exported):
    network, _, output, status = exported
    assert status == 0
    module, tracker, params = load_exported(output, "cpu")
    assert tracker == "dimp"
    assert params == parameter_record(tracker_params("dimp", {"search_area_scale": 4.5}))
    assert module.architecture == "dimp50" and module.filter_size == 4 and not module.uses_depth
    image = torch.rand(1, 3, 96, 96) * 255
    boxes = torch.tensor([[30.0, 28.0, 36.0, 40.0]])
    with torch.no_grad():
        outputs = []
        for net in (network, module):
            feat = net.classification_features(net.extract_backbone(image))
            weights = solvers.initial_filter(net, feat, boxes, 2)
            outputs.append(net.classify(weights, feat))
    scale = outputs[0].abs().max()
    assert (outputs[1] - outputs[0]).abs().max() <= 1e-5 * scale


def test_the_refinement_methods_load_without_the_onednn_rewrite(exported):
    """The network's EXPORT_PLAIN_METHODS come back frozen only: on the refinement's small
    windows torch's oneDNN layout conversions cost more than they save."""
    network, _, output, _ = exported
    module, _, _ = load_exported(output, "cpu")

    def rewritten(method: str) -> bool:
        return "aten::to_mkldnn" in str(getattr(module, method).graph)

    assert set(network.EXPORT_PLAIN_METHODS) == {"iou_features", "predict_iou", "iou_and_gradient"}
    assert rewritten("extract_backbone") and rewritten("classification_features")
    assert not any(rewritten(method) for method in network.EXPORT_PLAIN_METHODS)


def test_half_precision_backbone_keeps_fp32_heads(exported):
    _, _, output, _ = exported
    model = load_exported_model(output, "cpu", half=True)
    reference, _, _ = load_exported(output, "cpu")
    image = torch.rand(1, 3, 64, 64) * 255
    with torch.no_grad():
        half = model.module.extract_backbone(image)
        full = reference.extract_backbone(image)
        features = model.module.classification_features(half)
    assert half["layer3"].dtype == features.dtype == torch.float32  # handed over in fp32
    error = (half["layer3"] - full["layer3"]).abs().max()
    assert 0 < error <= 0.05 * full["layer3"].abs().max()  # computed in fp16


def test_cli_failures_exit_non_zero_with_one_line(exported, tmp_path, capsys):
    _, checkpoint, _, _ = exported
    cases = [
        (["--checkpoint", str(tmp_path / "missing.pth")], "missing.pth: no such checkpoint"),
        (["--checkpoint", str(checkpoint), "--tracker", "det"], "cannot run the 'det' tracker"),
    ]
    bad_params = tmp_path / "bad.yaml"
    bad_params.write_text("no_such_parameter: 1\n")
    cases.append(
        (["--checkpoint", str(checkpoint), "--params", str(bad_params)], "no_such_parameter")
    )
    for args, message in cases:
        output = tmp_path / "out.ts"
        assert main([*args, "--output", str(output)]) == 1
        err = capsys.readouterr().err
        assert err.startswith("export_model: error: ") and message in err
        assert err.count("\n") == 1
        assert not output.exists()


def test_loading_something_else_is_refused(tmp_path):
    with pytest.raises(ExportError, match="no such exported model"):
        load_exported(tmp_path / "absent.ts")
    garbage = tmp_path / "garbage.ts"
    garbage.write_bytes(b"not torchscript")
    with pytest.raises(ExportError, match="not a TorchScript file"):
        load_exported(garbage)
    bare = tmp_path / "bare.ts"
    torch.jit.script(torch.nn.Linear(2, 2)).save(str(bare))
    with pytest.raises(ExportError, match="make it with export_model"):
        load_exported(bare)


# Constructor arguments a crafted checkpoint may carry: each must be refused before any network
# is built (10**8 output channels would ask for terabytes; a tensor where a flag is expected
# cannot even be compared), with one line naming the file and the argument.
HOSTILE_CONSTRUCTOR_ARGUMENTS = [
    ("out_feature_dim", 10**8),
    ("out_feature_dim", 1e8),
    ("out_feature_dim", "many"),
    ("filter_size", -1),
    ("filter_size", True),
    ("num_dist_bins", 0),
    ("optim_iter", 10**9),
    ("bin_displacement", math.nan),
    ("iou_input_dim", [256]),
    ("iou_inter_dim", "256"),
    ("target_mask_act", "tanh"),
    ("clf_feat_blocks", torch.zeros(3)),
    ("merge_type", 5),
]


@pytest.mark.parametrize(("name", "value"), HOSTILE_CONSTRUCTOR_ARGUMENTS)
def test_hostile_constructor_arguments_are_refused_in_one_line(name, value, tmp_path, capsys):
    arch = ckpt.architecture("det_dimp50" if name == "merge_type" else "dimp50")
    path = checkpoint_files.save_training_record(
        tmp_path / "crafted.pth",
        {"layer.weight": torch.zeros(2, 2)},
        arch.constructor,
        {**arch.default_kwds, name: value},
        arch.net_type,
    )
    output = tmp_path / "out.ts"
    assert main(["--checkpoint", str(path), "--output", str(output)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"export_model: error: {path}: ") and err.count("\n") == 1, err
    assert name in err, err
    assert not output.exists()


def test_pt2_without_a_cpp_compiler_is_one_line_before_any_work(
    exported, tmp_path, monkeypatch, capsys
):
    """A machine without a C++ compiler (AOTInductor needs one) is told so, not crashed."""
    _, checkpoint, _, _ = exported
    from torch._inductor import cpp_builder, exc

    def no_compiler() -> str:
        raise exc.InvalidCxxCompiler

    monkeypatch.setattr(cpp_builder, "get_cpp_compiler", no_compiler)
    output = tmp_path / "dimp50.pt2"
    assert main(["--checkpoint", str(checkpoint), "--output", str(output)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "a .pt2 package needs a C++ compiler and none was found" in err
    assert "export a .ts file instead" in err
    assert not output.exists()


# --------------------------------------------------------------------------------------------
# Other forms: the eager checkpoint, the exported graphs of a .pt2, a compiled package


def test_a_checkpoint_runs_eagerly_without_embedded_parameters(exported):
    network, checkpoint, _, _ = exported
    model = load_exported_model(checkpoint, "cpu")
    assert model.tracker is None and model.params == {} and model.architecture == "dimp50"
    assert isinstance(model.module, type(network))
    for name, value in network.state_dict().items():
        assert torch.equal(model.module.state_dict()[name], value), name


def test_trdimp_methods_export_and_track_like_the_eager_network():
    """Every method a TrDiMP tracker calls (the DiMP family's and the transformer memory's)
    exports with its dynamic dimensions; the graphs track like the eager network, through
    memory changes and refinement windows of other sizes than the recorded ones."""
    arch = ckpt.architecture("trdimp")
    network = randomise(ckpt.build_network(arch, arch.default_kwds).eval(), seed=1)
    overrides = {"image_sample_size": 128, "target_not_found_threshold": -1.0, "device": "cpu"}
    params = tracker_params("trdimp", overrides)
    calls = record_calls(get_spec("trdimp"), network, torch.device("cpu"), "trdimp", params)
    with torch.no_grad():
        programs = export_methods(network, calls)
    graphs = CompiledNetwork(
        {name: program.module() for name, program in programs.items()},
        network_attributes(network),
    )
    cpu = torch.device("cpu")
    runs = []
    for net in (network, graphs):
        model = TrackerModel(net, cpu, "trdimp")
        tracker = create_tracker("trdimp", overrides, {"transformer_skipping": 1}, model=model)
        frames, box = recording_frames(7, 160, 120)
        tracker.initialize(frames[0], box)
        runs.append([tracker.track(frame) for frame in frames[1:]])
    for a, b in zip(*runs, strict=True):
        assert a.state == b.state != TrackerState.LOST
        assert np.abs(np.array(a.box_xywh) - np.array(b.box_xywh)).max() <= 1e-3
        assert abs(a.score - b.score) <= 1e-4
    assert {"extract_backbone", "iou_and_gradient", "memory_sums", "decode"} <= set(programs)


class _ToyNet(nn.Module):
    """One method, a dynamic batch: enough to compile and package quickly."""

    EXPORT_DYNAMIC_DIMS: ClassVar[dict[str, dict[str, tuple[int, ...]]]] = {"features": {"0": (0,)}}

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.architecture = "test_toy_net"
        self.gain = 2.0

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.gain * self.conv(images).mean(dim=(2, 3))


@dataclasses.dataclass(frozen=True)
class _ToyParams:
    model_path: str = ""
    device: str = "cpu"
    precision: str = "fp32"
    batch: int = 2


class _ToyTracker:
    """Scores each frame by the network's features of ``batch`` copies of it."""

    def __init__(self, params: _ToyParams, model: TrackerModel) -> None:
        self.net, self.batch = model.net, params.batch

    def initialize(self, frame: Frame, box_xywh) -> None:
        self.box = tuple(box_xywh)

    def track(self, frame: Frame) -> TrackResult:
        image = torch.from_numpy(frame.color).permute(2, 0, 1).float()[None] / 255
        with torch.no_grad():
            features = self.net.features(image.expand(self.batch, -1, -1, -1).contiguous())
        return TrackResult(self.box, float(features.sum()), TrackerState.TRACKING)


def build_toy(params: _ToyParams, model: TrackerModel) -> _ToyTracker:
    return _ToyTracker(params, model)


@pytest.fixture
def toy_spec(monkeypatch):
    """The toy tracker, registered for one test only: it must not count among the package's
    network trackers in later tests."""
    spec = TrackerSpec(
        name="test_toy",
        summary="test tracker",
        factory=f"{__name__}:build_toy",
        params=_ToyParams,
        architectures=("test_toy_net",),
    )
    monkeypatch.setitem(registry._SPECS, spec.name, spec)
    return spec


def test_pt2_package_round_trip_and_refusals(tmp_path, toy_spec):
    """A .pt2 is compiled from the calls of a tracker run, carries its parameters, runs other
    batch sizes, and is refused for another device or precision than it was compiled for."""
    torch.manual_seed(0)
    network = _ToyNet().eval()
    path = export_network(network, "test_toy_net", tmp_path / "toy.pt2", "test_toy")
    model = load_exported_model(path, "cpu")
    assert (model.tracker, model.architecture) == ("test_toy", "test_toy_net")
    assert model.params["batch"] == 2 and model.module.gain == 2.0
    images = torch.rand(5, 3, 240, 320)
    with torch.no_grad():
        torch.testing.assert_close(model.module.features(images), network.features(images))
    tracker = create_tracker("test_toy", {"model_path": str(path), "batch": 3})
    (frame,), box = recording_frames(1)
    tracker.initialize(frame, box)
    assert tracker.track(frame).state == TrackerState.TRACKING
    with pytest.raises(ExportError, match="compiled in fp32"):
        load_exported_model(path, "cpu", half=True)
    with pytest.raises(ExportError, match="compiled for cpu, not cuda"):
        load_exported_model(path, "cuda")
    garbage = tmp_path / "garbage.pt2"
    garbage.write_bytes(b"not a package")
    with pytest.raises(ExportError, match=r"not a \.pt2 package made by export_model"):
        load_exported_model(garbage)


def test_a_package_that_tracks_unlike_the_eager_network_is_not_written(
    tmp_path, monkeypatch, toy_spec
):
    """Inductor can compile a graph wrongly (NaN at another batch size than the example's):
    export compares the package's tracker with the eager one and refuses it, file removed."""
    import rgbd_tracker_ros.tracking.model as model_module

    torch.manual_seed(0)
    network, wrong = _ToyNet().eval(), _ToyNet().eval()

    def save_without_compiling(network, output, *args):
        output.write_bytes(b"stands for a package")
        return output

    def load_wrong(path, device, half):
        return ExportedModel(wrong, "test_toy", "test_toy_net", {})

    monkeypatch.setattr(model_module, "save_compiled", save_without_compiling)
    monkeypatch.setattr(model_module, "load_exported_model", load_wrong)
    output = tmp_path / "toy.pt2"
    with pytest.raises(ExportError, match="does not track like the eager network") as error:
        export_network(network, "test_toy_net", output, "test_toy")
    assert "use a .ts file for test_toy" in str(error.value)
    assert not output.exists()
