"""TorchScript export: one self-contained file holding a tracker's network and parameters.

The file is a ``torch.jit`` archive of the scripted network plus a JSON record (``METADATA``
entry of ``_extra_files``) naming the tracker, the architecture, the tracker parameters and the
network's plain attributes, so the node runs from this file alone: no checkpoint, no pickle, no
pytracking code. It loads on CPU or CUDA (``map_location``); ``half=True`` runs the backbone(s)
in fp16 while the classifier and IoU-Net, whose small optimisation problems need the range,
stay in fp32. Loading freezes the module (weights become constants, batch norms fold into the
convolutions) and lets torch pick fused kernels for the device (oneDNN on CPU, cuDNN on CUDA).

Generic over networks: anything ``torch.jit.script`` accepts that exposes the methods its
tracker calls (``tracking/networks/dimp/network.py`` documents the DiMP-family interface).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

EXPORT_FORMAT = 2
METADATA = "rgbd_tracker_ros.json"
# Child modules that ``half=True`` converts: the backbones and DeT's merge convolutions; all of
# OSTrack/ViPT (ViT and centre head; the network returns its maps in fp32).
HALF_PRECISION_PREFIXES = ("feature_extractor", "merge_layer", "backbone", "box_head")


@contextlib.contextmanager
def _quiet_torchscript_deprecation():
    """Silence torch's TorchScript deprecation notice: TorchScript is the chosen file format
    (one self-contained file that runs without this package's Python network code)."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"`torch\.jit\.\w+` is deprecated", category=DeprecationWarning
        )
        yield


class ExportError(ValueError):
    """An exported file is missing or unusable, or a network cannot be exported."""


@dataclasses.dataclass
class ExportedModel:
    module: torch.jit.ScriptModule
    tracker: str
    architecture: str
    params: dict[str, Any]


def save_scripted(
    network: nn.Module,
    output: str | Path,
    tracker: str,
    architecture: str,
    params: Mapping[str, Any],
) -> Path:
    """Script ``network`` (eval mode) and save it with its tracker name and parameters."""
    output = Path(output)
    try:
        metadata = json.dumps(
            {
                "format": EXPORT_FORMAT,
                "tracker": tracker,
                "architecture": architecture,
                "params": dict(params),
                "attributes": network_attributes(network),
                "torch_version": torch.__version__,
            }
        )
    except TypeError as error:
        raise ExportError(
            f"{output}: tracker parameters are not JSON-serialisable: {error}"
        ) from None
    with _quiet_torchscript_deprecation():
        scripted = torch.jit.script(network.eval())
    output.parent.mkdir(parents=True, exist_ok=True)
    scripted.save(str(output), _extra_files={METADATA: metadata})
    return output


def network_attributes(network: nn.Module) -> dict[str, Any]:
    """The network's plain attributes (architecture, strides, ...): what a tracker reads
    besides its methods, kept through freezing."""
    return {
        name: value
        for name, value in vars(network).items()
        if not name.startswith("_")
        and name != "training"
        and isinstance(value, (bool, int, float, str))
    }


def _frozen_for_inference(
    module: torch.jit.ScriptModule, attributes: list[str]
) -> torch.jit.ScriptModule:
    """The module frozen with all its methods and ``attributes``, and optimised for inference
    on its device (the numbers agree with the unfrozen module to float rounding)."""
    methods = module._c._method_names()
    with _quiet_torchscript_deprecation():
        frozen = torch.jit.freeze(module, preserved_attrs=[*methods, *attributes])
        return torch.jit.optimize_for_inference(frozen, other_methods=methods)


def half_precision_backbone(module: nn.Module) -> nn.Module:
    """Convert the backbone(s) of an eager or scripted network to fp16, in place."""
    for name, child in module.named_children():
        if name.startswith(HALF_PRECISION_PREFIXES):
            child.half()
    return module


def load_exported(
    path: str | Path, device: str | torch.device = "cpu", half: bool = False
) -> tuple[torch.jit.ScriptModule, str, dict[str, Any]]:
    """Load an exported file: (module in eval mode on ``device``, tracker name, parameters)."""
    model = load_exported_model(path, device, half)
    return model.module, model.tracker, model.params


def load_exported_model(
    path: str | Path, device: str | torch.device = "cpu", half: bool = False
) -> ExportedModel:
    """Like :func:`load_exported`, also giving the architecture name."""
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"{path}: no such exported model file")
    extra_files = {METADATA: ""}
    try:
        with _quiet_torchscript_deprecation():
            module = torch.jit.load(str(path), map_location=device, _extra_files=extra_files)
    except (RuntimeError, ValueError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise ExportError(f"{path}: not a TorchScript file ({first_line})") from None
    try:
        metadata = json.loads(extra_files[METADATA])
    except json.JSONDecodeError:
        raise ExportError(
            f"{path}: a TorchScript file without the {METADATA} record; make it with export_model"
        ) from None
    if metadata.get("format") != EXPORT_FORMAT:
        raise ExportError(
            f"{path}: export format {metadata.get('format')!r}, this package reads "
            f"{EXPORT_FORMAT}; export the checkpoint again"
        )
    if half:
        half_precision_backbone(module)
    module = _frozen_for_inference(module.eval(), list(metadata["attributes"]))
    return ExportedModel(
        module=module,
        tracker=str(metadata["tracker"]),
        architecture=str(metadata["architecture"]),
        params=dict(metadata["params"]),
    )
