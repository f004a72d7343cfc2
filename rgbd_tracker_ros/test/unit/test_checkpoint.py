"""Checkpoint loading: no code runs while reading, and every bad input gets a clear error."""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import re
import shlex
from pathlib import Path

import checkpoint_files
import numpy as np
import pytest
import torch

from rgbd_tracker_ros.tracking.networks import checkpoint as ckpt

DIMPNET50 = ("ltr.models.tracking.dimpnet", "dimpnet50")
TINY_STATE = {"layer.weight": torch.zeros(2, 2)}


class WritesMarker:
    """Unpickling an instance runs ``touch <marker>`` (what a malicious checkpoint would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


def _zip_checkpoint(path: Path, marker: Path) -> None:
    torch.save({"net": TINY_STATE, "constructor": WritesMarker(marker)}, path)


def _raw_pickle(path: Path, marker: Path) -> None:
    with path.open("wb") as stream:
        pickle.dump(WritesMarker(marker), stream, protocol=2)


@pytest.mark.parametrize("write", [_zip_checkpoint, _raw_pickle])
def test_code_executing_pickle_is_refused_without_running_it(write, tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pth"
    write(path, marker)
    with pytest.raises(ckpt.CheckpointError, match="refused") as error:
        ckpt.load_network(path)
    assert str(path) in str(error.value) and "system" in str(error.value)
    assert not marker.exists()
    # The payload is real: an unsafe load of the same file does run it.
    unsafe_marker = tmp_path / "unsafe_marker"
    write(path, unsafe_marker)
    # A raw pickle is no valid torch file, but the reduce has run by the time that is noticed.
    with contextlib.suppress(Exception):
        torch.load(path, weights_only=False)
    assert unsafe_marker.exists()


def test_a_pytracking_name_cannot_be_used_to_call_anything(tmp_path):
    """A REDUCE on a stand-in record class only meets an inert class that takes no arguments."""
    path = tmp_path / "reduce.pth"
    payload = (
        b"\x80\x02cltr.admin.settings\nSettings\nq\x00"  # GLOBAL: a known record class
        b"X\x03\x00\x00\x00rmsq\x01\x85q\x02Rq\x03."  # called with ("rms",) by REDUCE
    )
    path.write_bytes(payload)
    with pytest.raises(ckpt.CheckpointError, match=re.escape(str(path))):
        ckpt.read_checkpoint(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such checkpoint file"),
        (b"", "not a PyTorch checkpoint"),
        (b"this is not a checkpoint at all", "not a PyTorch checkpoint"),
        ([1, 2, 3], "expected a checkpoint dict"),
        ({"epoch": 3, "optimizer": {}}, "expected a checkpoint dict with a 'net'"),
        ({"net": {"a": 1}}, "not a state dict of named tensors"),
    ],
)
def test_unreadable_inputs_name_the_file_and_the_problem(content, message, tmp_path):
    path = tmp_path / "input.pth"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        torch.save(content, path)
    with pytest.raises(ckpt.CheckpointError, match=message) as error:
        ckpt.load_network(path)
    assert str(error.value).startswith(str(path))


def test_unknown_constructor_is_refused_naming_it(tmp_path):
    kysnet = ("ltr.models.tracking.kysnet", "kysnet_res50")
    path = checkpoint_files.save_training_record(
        tmp_path / "kys.pth", TINY_STATE, kysnet, {}, "KYSnet"
    )
    with pytest.raises(ckpt.CheckpointError, match=r"kysnet\.kysnet_res50") as error:
        ckpt.load_network(path)
    assert "ltr.models.tracking.dimpnet.dimp50_DeT" in str(error.value)


def test_det_atom_is_refused(tmp_path):
    atom = ("ltr.models.bbreg.atom", "atom_resnet18_DeT")
    path = checkpoint_files.save_training_record(
        tmp_path / "atom.pth", TINY_STATE, atom, {}, "ATOMnet_DeT"
    )
    with pytest.raises(ckpt.CheckpointError, match="atom_resnet18_DeT"):
        ckpt.load_network(path)


def test_unsupported_constructor_arguments_are_refused(tmp_path):
    kwds = {**ckpt.DIMP50_TRAIN_KWDS, "clf_feat_blocks": 2}
    path = checkpoint_files.save_training_record(
        tmp_path / "x.pth", TINY_STATE, DIMPNET50, kwds, "DiMPnet"
    )
    with pytest.raises(ckpt.CheckpointError, match="clf_feat_blocks=2"):
        ckpt.load_network(path)


def test_state_dict_of_another_architecture_is_refused(tmp_path):
    state = {"conv1.weight": torch.zeros(64, 3, 7, 7), "fc.weight": torch.zeros(1000, 2048)}
    path = checkpoint_files.save_training_record(tmp_path / "r.pth", state, DIMPNET50, {}, "ResNet")
    with pytest.raises(ckpt.CheckpointError) as error:
        ckpt.load_network(path)
    message = str(error.value)
    assert "not a dimp50 network (407 entries)" in message
    assert "407 missing" in message and "2 unexpected" in message and "conv1.weight" in message


def test_omitted_constructor_arguments_take_the_reference_defaults(tmp_path):
    """Without ``num_dist_bins`` the reference builds 5 bins, so 100-bin weights do not fit."""
    state = ckpt.build_network(ckpt.architecture("dimp50"), ckpt.DIMP50_TRAIN_KWDS).state_dict()
    kwds = {k: v for k, v in ckpt.DIMP50_TRAIN_KWDS.items() if k != "num_dist_bins"}
    path = checkpoint_files.save_training_record(
        tmp_path / "bins.pth", state, DIMPNET50, kwds, "DiMPnet"
    )
    resized = (
        r"3 resized .*label_map_predictor\.weight \[1, 100, 1, 1\] \(expected \[1, 5, 1, 1\]\)"
    )
    with pytest.raises(ckpt.CheckpointError, match=resized):
        ckpt.load_network(path)
    path.unlink()


def test_records_of_unknown_pytracking_classes_are_read_as_inert_data(tmp_path):
    path = tmp_path / "c.pth"
    unknown = "ltr.data.processing.DiMPProcessing"
    constructor = checkpoint_files.record(
        "ltr.admin.model_constructor.NetConstructor",
        fun_module=DIMPNET50[0],
        fun_name=DIMPNET50[1],
        args=(),
        kwds={"filter_size": 4},
    )
    content = {
        "net": TINY_STATE,
        "constructor": constructor,
        "settings": checkpoint_files.record(
            "ltr.admin.settings.Settings", processing=checkpoint_files.record(unknown)
        ),
    }
    with checkpoint_files.importable_record_classes():
        torch.save(content, path)
    ckpt._RECORD_CLASSES.pop(unknown)  # as in a fresh process, which has never seen the class
    raw = ckpt.read_checkpoint(path)
    assert raw.constructor == DIMPNET50 and raw.kwds == {"filter_size": 4}
    assert list(raw.state_dict) == ["layer.weight"]
    assert unknown in ckpt._RECORD_CLASSES


def test_dispatch_by_state_dict_markers(tmp_path):
    trdimp_state = {"classifier.transformer.encoder.layers.0.norm.x": torch.zeros(1)}
    path = checkpoint_files.save_training_record(
        tmp_path / "t.pth", trdimp_state, DIMPNET50, {}, "DiMPnet"
    )
    assert ckpt.identify_architecture(ckpt.read_checkpoint(path)).name == "trdimp"
    path = checkpoint_files.save_training_record(
        tmp_path / "d.pth", TINY_STATE, DIMPNET50, {}, "DiMPnet"
    )
    assert ckpt.identify_architecture(ckpt.read_checkpoint(path)).name == "dimp50"


def test_det_without_constructor_needs_the_merge_conv_to_be_identified(tmp_path):
    state = {"feature_extractor_depth.conv1.weight": torch.zeros(64, 3, 7, 7)}
    path = checkpoint_files.save_training_record(
        tmp_path / "det.pth", state, None, {}, "DiMPnet_DeT"
    )
    with pytest.raises(ckpt.CheckpointError, match="merge type"):
        ckpt.load_network(path)


def test_legacy_format_without_constructor_loads_as_dimp50(tmp_path, caplog):
    torch.manual_seed(0)
    network = ckpt.build_network(ckpt.architecture("dimp50"), ckpt.DIMP50_TRAIN_KWDS)
    path = checkpoint_files.save_training_record(
        tmp_path / "old.pth", network.state_dict(), None, {}, "DiMPnet", legacy_format=True
    )
    with caplog.at_level(logging.WARNING):
        loaded = ckpt.load_network(path)
    path.unlink()
    assert loaded.architecture.name == "dimp50"
    assert loaded.kwds["num_dist_bins"] == 100 and "no constructor" in caplog.text
    weight = "classifier.filter_optimizer.label_map_predictor.weight"
    assert torch.equal(loaded.network.state_dict()[weight], network.state_dict()[weight])
    assert not loaded.network.training


def test_numpy_numbers_in_training_statistics_are_accepted(tmp_path):
    path = tmp_path / "np.pth"
    stats = {"Loss/total": np.float64(0.25), "count": np.int64(7), "history": np.zeros(3)}
    torch.save({"net": TINY_STATE, "stats": stats}, path)
    assert list(ckpt.read_checkpoint(path).state_dict) == ["layer.weight"]
    # ... but an object array does not smuggle a reducer in.
    marker = tmp_path / "marker"
    torch.save({"net": TINY_STATE, "stats": np.array([WritesMarker(marker)], dtype=object)}, path)
    with pytest.raises(ckpt.CheckpointError, match="refused"):
        ckpt.read_checkpoint(path)
    assert not marker.exists()
