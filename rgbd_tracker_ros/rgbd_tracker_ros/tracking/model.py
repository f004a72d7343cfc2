"""Network trackers' model files: which networks a tracker runs, export for a tracker, loading.

A network tracker runs from one TorchScript file (``networks/export.py``) holding the network
and the tracker parameters it was exported with. Loading checks that the file's network is one
the tracker can run and puts it on the configured device and precision.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch

from rgbd_tracker_ros.tracking.device import resolve_device
from rgbd_tracker_ros.tracking.dimp.params import DiMPParams
from rgbd_tracker_ros.tracking.networks.checkpoint import load_network
from rgbd_tracker_ros.tracking.networks.export import (
    ExportedModel,
    ExportError,
    load_exported_model,
    save_scripted,
)
from rgbd_tracker_ros.tracking.params import default_params, merge_params

LOGGER = logging.getLogger(__name__)

# Which architectures each tracker can run (TrSiam is TrDiMP's network without optimisation;
# the SiamRPN++ LT logic runs either pysot model).
TRACKER_ARCHITECTURES: dict[str, tuple[str, ...]] = {
    "dimp": ("dimp50",),
    "det": ("det_dimp50",),
    "trdimp": ("trdimp",),
    "trsiam": ("trdimp",),
    "siamrpn": ("siamrpn_r50_l234_dwxcorr",),
    "siamrpn_lt": ("siamrpn_r50_l234_dwxcorr_lt", "siamrpn_r50_l234_dwxcorr"),
}
ParamsT = TypeVar("ParamsT", bound=DiMPParams)


def export_checkpoint(
    checkpoint: str | Path,
    output: str | Path,
    tracker: str | None = None,
    param_overrides: Mapping[str, Any] | None = None,
) -> Path:
    """Official checkpoint -> TorchScript file for ``tracker`` (default: the architecture's)."""
    loaded = load_network(checkpoint)
    arch = loaded.architecture
    tracker = tracker or arch.tracker
    if tracker not in TRACKER_ARCHITECTURES:
        raise ExportError(
            f"unknown tracker {tracker!r}; one of: {', '.join(sorted(TRACKER_ARCHITECTURES))}"
        )
    if arch.name not in TRACKER_ARCHITECTURES[tracker]:
        raise ExportError(
            f"{checkpoint}: a {arch.name} network cannot run the {tracker!r} tracker "
            f"(it needs {' or '.join(TRACKER_ARCHITECTURES[tracker])})"
        )
    params = merge_params(tracker, param_overrides)
    return save_scripted(loaded.network, output, tracker, arch.name, params)


RUNTIME_PARAMS = ("model_path", "device", "precision")


def load_model(params: DiMPParams, tracker: str) -> tuple[Any, torch.device]:
    """The network of the exported file ``params.model_path`` on the configured device."""
    model, device = _load_exported(params, tracker)
    return model.module, device


def load_tracker_model(
    tracker: str, overrides: Mapping[str, Any], params_class: type[ParamsT]
) -> tuple[Any, ParamsT, torch.device]:
    """Network and parameters for ``tracker``: config defaults < the file's embedded < overrides.

    The exported file carries the parameters it was exported with (export_model --params), so
    a model runs as exported unless the caller overrides a value. Where and how to run it
    (``RUNTIME_PARAMS``) comes from the caller's side only, and a file exported for another
    tracker of the same network (TrDiMP for TrSiam) contributes no parameters.
    """
    requested = params_class.from_mapping(merge_params(tracker, overrides))
    model, device = _load_exported(requested, tracker)
    embedded = _embedded_params(model, tracker, requested.model_path)
    merged = merge_params(tracker, {**embedded, **overrides})
    return model.module, params_class.from_mapping(merged), device


def _embedded_params(model: ExportedModel, tracker: str, path: str) -> dict[str, Any]:
    if model.tracker != tracker:
        LOGGER.info("%s: exported for %r; using %r defaults", path, model.tracker, tracker)
        return {}
    known = default_params(tracker)
    stale = sorted(set(model.params) - set(known))
    if stale:
        LOGGER.warning(
            "%s: ignoring parameter(s) no longer known to tracker %r: %s",
            path,
            tracker,
            ", ".join(stale),
        )
    return {
        name: value
        for name, value in model.params.items()
        if name in known and name not in RUNTIME_PARAMS
    }


def _load_exported(params: DiMPParams, tracker: str) -> tuple[ExportedModel, torch.device]:
    if not params.model_path:
        raise ValueError(
            f"tracker {tracker!r} needs a trained model: set model_path to a TorchScript file "
            "made from an official checkpoint with `export_model --checkpoint dimp50.pth "
            "--output dimp50.ts` (ros2 run rgbd_tracker_ros export_model, or python -m "
            "rgbd_tracker_ros.tools.export_model; DeT: DeT_DiMP50_Max.pth)"
        )
    path = Path(params.model_path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"tracker {tracker!r}: model file {path} does not exist")
    device = resolve_device(params.device)
    if params.precision == "fp16" and device.type != "cuda":
        raise ValueError(f"tracker {tracker!r}: precision fp16 needs a CUDA device; use fp32")
    model = load_exported_model(path, device, half=params.precision == "fp16")
    expected = TRACKER_ARCHITECTURES.get(tracker, ())
    if model.architecture not in expected:
        raise ValueError(
            f"{path}: holds a {model.architecture} network (exported for tracker "
            f"{model.tracker!r}); tracker {tracker!r} needs {' or '.join(expected)}"
        )
    return model, device
