"""export_model: checkpoint -> one TorchScript file with parameters; loading it; failures."""

from __future__ import annotations

import math

import checkpoint_files
import pytest
import torch
import yaml

from rgbd_tracker_ros.tools.export_model import main
from rgbd_tracker_ros.tracking.networks import checkpoint as ckpt
from rgbd_tracker_ros.tracking.networks.dimp import solvers
from rgbd_tracker_ros.tracking.networks.export import (
    ExportError,
    load_exported,
    load_exported_model,
)
from rgbd_tracker_ros.tracking.registry import parameter_record, tracker_params


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
