"""Network trackers' model files: export for a tracker, and loading one to run it.

A network tracker runs from one TorchScript file (``networks/export.py``) holding the network
and the tracker parameters it was exported with. Loading checks that the file's network is one
the tracker's spec accepts and puts it on the configured device and precision.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from rgbd_tracker_ros.tracking.device import resolve_device
from rgbd_tracker_ros.tracking.networks.checkpoint import load_network
from rgbd_tracker_ros.tracking.networks.export import (
    ExportedModel,
    ExportError,
    load_exported_model,
    save_scripted,
)
from rgbd_tracker_ros.tracking.params import Layer, load_params
from rgbd_tracker_ros.tracking.registry import get_spec, parameter_record, specs
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
) -> Path:
    """Official checkpoint -> TorchScript file for ``tracker`` (default: the architecture's)."""
    loaded = load_network(checkpoint)
    arch = loaded.architecture.name
    spec = get_spec(tracker) if tracker else default_spec(arch)
    if arch not in spec.architectures:
        raise ExportError(
            f"{checkpoint}: a {arch} network cannot run the {spec.name!r} tracker "
            f"(it needs {' or '.join(spec.architectures) or 'no network'})"
        )
    params = load_params(
        spec.name, spec.params, Layer(dict(param_overrides or {}), overrides_source)
    )
    return save_scripted(loaded.network, output, spec.name, arch, parameter_record(params))


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
            f"tracker {tracker!r} needs a trained model: set model_path to a TorchScript file "
            "made from an official checkpoint with `export_model --checkpoint <file> --output "
            f"{tracker}.ts` (ros2 run rgbd_tracker_ros export_model, or python -m "
            "rgbd_tracker_ros.tools.export_model)"
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
