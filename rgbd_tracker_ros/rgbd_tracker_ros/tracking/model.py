"""Network trackers' model files: export for a tracker, and loading one to run it.

A network tracker runs from one file (``networks/export.py``; the form by extension): a
TorchScript file (``.ts``) or an AOTInductor package (``.pt2``) holding the network and the
tracker parameters it was exported with, or an official checkpoint run eagerly. Loading checks
that the file's network is one the tracker's spec accepts and puts it on the configured device
and precision. A ``.pt2`` is compiled from the calls the tracker makes: export runs the tracker
for a few synthetic frames on the eager network and records them.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from rgbd_tracker_ros.tracking.api import Frame, TrackResult
from rgbd_tracker_ros.tracking.device import resolve_device
from rgbd_tracker_ros.tracking.networks.checkpoint import load_network
from rgbd_tracker_ros.tracking.networks.export import (
    ExportedModel,
    ExportError,
    dynamic_dims,
    half_precision_backbone,
    load_exported_model,
    model_form,
    require_cpp_compiler,
    save_compiled,
    save_scripted,
)
from rgbd_tracker_ros.tracking.params import Layer, load_params
from rgbd_tracker_ros.tracking.registry import create_tracker, get_spec, parameter_record, specs
from rgbd_tracker_ros.tracking.spec import TrackerSpec

LOG = logging.getLogger(__name__)

PRECISIONS = ("fp32", "fp16")


@dataclass(frozen=True)
class NetworkParams:
    """The first parameters of every network tracker: which file, where and how it runs.

    They come from the caller only, never from the parameters embedded in the file.
    """

    model_path: str
    device: str
    precision: str

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")


RUNTIME_PARAMS = ("model_path", "device", "precision")


@dataclass(frozen=True)
class TrackerModel:
    """A loaded network (TorchScript module, eval mode) on its device."""

    net: Any
    device: torch.device
    architecture: str


def refuse_other_input(tracker: str, uses_depth: bool, net: Any, counterpart: str) -> None:
    """An RGB tracker cannot feed an RGB-D network nor the reverse: ValueError naming
    ``counterpart``, the tracker that runs ``net``."""
    if bool(net.uses_depth) != uses_depth:
        kind = "an RGB-D" if net.uses_depth else "an RGB-only"
        raise ValueError(
            f"tracker {tracker!r} cannot run {kind} network ({net.architecture}); "
            f"use the {counterpart} tracker"
        )


def export_checkpoint(
    checkpoint: str | Path,
    output: str | Path,
    tracker: str | None = None,
    param_overrides: Mapping[str, Any] | None = None,
    overrides_source: str = "parameter overrides",
    device: str = "cpu",
    precision: str = "fp32",
) -> Path:
    """Official checkpoint -> exported file for ``tracker`` (default: the architecture's).

    ``device`` and ``precision`` only matter for a ``.pt2``, which is compiled for them.
    """
    loaded = load_network(checkpoint)
    return export_network(
        loaded.network,
        loaded.architecture.name,
        output,
        tracker,
        Layer(dict(param_overrides or {}), overrides_source),
        device,
        precision,
        source=str(checkpoint),
    )


def export_network(
    network: nn.Module,
    architecture: str,
    output: str | Path,
    tracker: str | None = None,
    overrides: Layer | None = None,
    device: str = "cpu",
    precision: str = "fp32",
    source: str = "the network",
) -> Path:
    """Eager ``network`` -> exported file for ``tracker``, its form by ``output``'s extension."""
    spec = get_spec(tracker) if tracker else default_spec(architecture)
    if architecture not in spec.architectures:
        raise ExportError(
            f"{source}: a {architecture} network cannot run the {spec.name!r} tracker "
            f"(it needs {' or '.join(spec.architectures) or 'no network'})"
        )
    params = load_params(spec.name, spec.params, *([overrides] if overrides else []))
    record = parameter_record(params)
    form = model_form(output)
    if form == "eager":
        raise ExportError(f"{output}: export to a .ts or .pt2 file (this is a checkpoint name)")
    if form == "torchscript":
        return save_scripted(network, output, spec.name, architecture, record)
    dynamic_dims(network)
    require_cpp_compiler(output)
    target = resolve_device(device)
    network = network.to(target)
    if precision == "fp16":
        half_precision_backbone(network)
    calls = record_calls(spec, network, target, architecture, params)
    save_compiled(network, output, spec.name, architecture, record, calls)
    try:
        _check_compiled(spec, network, output, target, architecture, params, precision)
    except ExportError:
        Path(output).unlink()
        raise
    return Path(output)


# How far a compiled package may stray from the eager network on the recording frames.
COMPILED_BOX_TOLERANCE_PX = 1e-3
COMPILED_SCORE_TOLERANCE = 1e-4


def _check_compiled(
    spec: TrackerSpec,
    network: nn.Module,
    output: str | Path,
    device: torch.device,
    architecture: str,
    params: Any,
    precision: str,
) -> None:
    """Refuse a package whose tracker does not track like the eager network's on the
    recording frames: Inductor has produced wrong code for some graphs (NaN at a batch size
    other than the example's), and a wrong tracker must not pass for a fast one."""
    compiled = load_exported_model(output, device, half=precision == "fp16").module
    runs = [
        _recording_run(spec, TrackerModel(net, device, architecture), params)
        for net in (network, compiled)
    ]
    boxes = np.abs(np.array([r.box_xywh for r in runs[0]]) - [r.box_xywh for r in runs[1]])
    scores = np.abs(np.array([r.score for r in runs[0]]) - [r.score for r in runs[1]])
    box, score = (
        float(np.nan_to_num(boxes, nan=np.inf).max()),
        float(np.nan_to_num(scores, nan=np.inf).max()),
    )
    if box > COMPILED_BOX_TOLERANCE_PX or score > COMPILED_SCORE_TOLERANCE:
        raise ExportError(
            f"{output}: the compiled package does not track like the eager network (largest "
            f"box difference {box:.3g} px, score difference {score:.3g} over "
            f"{RECORDING_FRAMES} frames); not written: use a .ts file for {spec.name}"
        )


class _Recorder:
    """Passes everything to ``network`` and records the arguments of each method call."""

    def __init__(self, network: nn.Module) -> None:
        self._network = network
        self.calls: dict[str, list[tuple[Any, ...]]] = {}

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._network, name)
        if not inspect.ismethod(value):
            return value

        def record(*args: Any) -> Any:
            self.calls.setdefault(name, []).append(args)
            return value(*args)

        return record


# The recording run: a few frames of a textured square drifting and growing, every update on
# (memory and filter steps, transformer memory changes) and nothing found lost.
RECORDING_FRAMES = 4
RECORDING_OVERRIDES = {
    "target_not_found_threshold": -1e9,
    "train_skipping": 1,
    "transformer_skipping": 1,
}


def record_calls(
    spec: TrackerSpec, network: nn.Module, device: torch.device, architecture: str, params: Any
) -> dict[str, list[tuple[Any, ...]]]:
    """The network method calls of ``spec``'s tracker on a few synthetic frames."""
    recorder = _Recorder(network)
    _recording_run(spec, TrackerModel(recorder, device, architecture), params)
    return recorder.calls


def _recording_run(spec: TrackerSpec, model: TrackerModel, params: Any) -> list[TrackResult]:
    """``spec``'s tracker on ``model`` over the recording frames."""
    known = {field.name for field in dataclasses.fields(params)}
    overrides = {k: v for k, v in RECORDING_OVERRIDES.items() if k in known}
    tracker = create_tracker(spec.name, parameter_record(params), overrides, model=model)
    frames, box = recording_frames(RECORDING_FRAMES + 1)
    tracker.initialize(frames[0], box)
    return [tracker.track(frame) for frame in frames[1:]]


def recording_frames(
    count: int, width: int = 320, height: int = 240
) -> tuple[list[Frame], tuple[float, float, float, float]]:
    """A textured square drifting and growing over noise, with depth, and its first box."""
    generator = np.random.default_rng(0)
    background = generator.integers(0, 255, (height, width, 3), dtype=np.uint8)
    side = width // 6
    square = generator.integers(0, 255, (side, side, 3), dtype=np.uint8)
    frames = []
    for index in range(count):
        color = background.copy()
        size = side + 2 * index
        x, y = width * 3 // 8 + 3 * index, height * 3 // 8 + 2 * index
        color[y : y + size, x : x + size] = cv2.resize(square, (size, size))
        depth = np.full((height, width), 3.0, np.float32)
        depth[y : y + size, x : x + size] = 1.5
        frames.append(Frame(color=color, depth=depth))
    x, y = width * 3 // 8, height * 3 // 8
    return frames, (float(x), float(y), float(side), float(side))


def network_trackers() -> list[str]:
    return [spec.name for spec in specs() if spec.needs_weights]


def default_spec(architecture: str) -> TrackerSpec:
    """The first tracker whose spec lists ``architecture``."""
    for spec in specs():
        if architecture in spec.architectures:
            return spec
    raise ExportError(f"no tracker runs a {architecture} network")


def load_tracker_model(spec: TrackerSpec, layers: Sequence[Layer]) -> tuple[Any, TrackerModel]:
    """Parameters and network of ``spec``: YAML < the file's embedded values < ``layers``.

    The exported file carries the parameters it was exported with (export_model --params), so
    a model runs as exported unless the caller overrides a value. Where and how to run it
    (``RUNTIME_PARAMS``) comes from the caller's side only, and a file exported for another
    tracker of the same network (TrDiMP for TrSiam) contributes no parameters.
    """
    requested = load_params(spec.name, spec.params, *layers)
    model, device = _load_exported(spec, requested)
    path = str(Path(requested.model_path).expanduser())
    embedded = Layer(_embedded_params(spec, model, path), f"{path} (embedded at export)")
    params = load_params(spec.name, spec.params, embedded, *layers)
    return params, TrackerModel(model.module, device, model.architecture)


def _embedded_params(spec: TrackerSpec, model: ExportedModel, path: str) -> dict[str, Any]:
    if model.tracker is None:  # an official checkpoint: nothing embedded
        return {}
    if model.tracker != spec.name:
        LOG.info("%s: exported for %r; using %r defaults", path, model.tracker, spec.name)
        return {}
    known = {name for name in spec.params.__dataclass_fields__ if name not in RUNTIME_PARAMS}
    stale = sorted(set(model.params) - known - set(RUNTIME_PARAMS))
    if stale:
        LOG.warning(
            "%s: ignoring parameter(s) no longer known to tracker %r: %s",
            path,
            spec.name,
            ", ".join(stale),
        )
    return {name: value for name, value in model.params.items() if name in known}


def _load_exported(spec: TrackerSpec, params: Any) -> tuple[ExportedModel, torch.device]:
    tracker = spec.name
    if not params.model_path:
        raise ValueError(
            f"tracker {tracker!r} needs a trained model: set model_path to a file made from an "
            "official checkpoint with `export_model --checkpoint <file> --output "
            f"{tracker}.ts` (or .pt2; ros2 run rgbd_tracker_ros export_model, or python -m "
            "rgbd_tracker_ros.tools.export_model), or to the checkpoint itself (eager, slower)"
        )
    path = Path(params.model_path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"tracker {tracker!r}: model file {path} does not exist")
    device = resolve_device(params.device)
    if params.precision == "fp16" and device.type != "cuda":
        raise ValueError(f"tracker {tracker!r}: precision fp16 needs a CUDA device; use fp32")
    model = load_exported_model(path, device, half=params.precision == "fp16")
    if model.architecture not in spec.architectures:
        raise ValueError(
            f"{path}: holds a {model.architecture} network (exported for tracker "
            f"{model.tracker!r}); tracker {tracker!r} needs {' or '.join(spec.architectures)}"
        )
    return model, device
