"""Exported models: one self-contained file holding a tracker's network and parameters.

The file's extension says what it holds (``model_form``):

* ``.pt2``: an AOTInductor package (``torch.export`` + Inductor, compiled ahead of time for one
  device type): one compiled graph per network method a tracker calls, exported from example
  calls (:func:`save_compiled`), run through :class:`CompiledNetwork`. The successor of
  TorchScript, which torch deprecates. Needs a C++ compiler (:func:`require_cpp_compiler`);
  networks without ``EXPORT_DYNAMIC_DIMS`` (SiamRPN++) have no ``.pt2`` form.
* ``.pth`` / ``.pth.tar`` / ``.tar``: an official checkpoint, run as the eager PyTorch network
  (no embedded parameters; for comparisons and debugging).
* anything else (``.ts``): a ``torch.jit`` archive of the scripted network. Loading freezes the
  module (weights become constants, batch norms fold into the convolutions) and lets torch pick
  fused kernels for the device (oneDNN on CPU, cuDNN on CUDA), except in the methods the
  network lists in ``EXPORT_PLAIN_METHODS`` (small inputs, where that rewrite costs time).

Exported files carry a JSON record (``METADATA``) naming the tracker, the architecture, the
tracker parameters and the network's plain attributes, so the node runs from the file alone: no
checkpoint, no pickle, no pytracking code. ``half=True`` runs the backbone(s) in fp16 while the
classifier and IoU-Net, whose small optimisation problems need the range, stay in fp32 (a
``.pt2`` gets its precision when it is compiled).

Generic over networks: anything ``torch.jit.script`` / ``torch.export`` accepts that exposes the
methods its tracker calls (``tracking/networks/dimp/network.py`` documents the DiMP-family
interface). A network lists the dimensions that vary between calls (batch sizes, windows) in
``EXPORT_DYNAMIC_DIMS``; every other dimension of a ``.pt2`` graph is fixed to the size it had
in the example calls, i.e. by the parameters the file was exported with.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rgbd_tracker_ros.tracking.networks.checkpoint import load_network

# 3: the IoU-Net features take haloed cuts and TrDiMP pushes memory images in one step
# (network methods changed): files of format 2 are refused with "export again".
EXPORT_FORMAT = 3
METADATA = "rgbd_tracker_ros.json"
COMPILED_SUFFIX = ".pt2"
CHECKPOINT_SUFFIXES = (".pth", ".tar")
# Child modules that ``half=True`` converts: the backbones and DeT's merge convolutions; all of
# OSTrack/ViPT (ViT and centre head; the network returns its maps in fp32).
HALF_PRECISION_PREFIXES = ("feature_extractor", "merge_layer", "backbone", "box_head")


@contextlib.contextmanager
def _ignoring(message: str, category: type[Warning]):
    """Silence one warning of torch's that a user cannot act on."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=message, category=category)
        yield


def _quiet_torchscript_deprecation():
    """TorchScript's deprecation notice: TorchScript is the chosen file format (one
    self-contained file that runs without this package's Python network code)."""
    return _ignoring(r"`torch\.jit\.\w+` is deprecated", DeprecationWarning)


def _quiet_treespec_notice():
    """torch 2.13's own FutureWarning about ``LeafSpec``, raised by its unpickling of a
    package's tree specs when a package is made or loaded (hundreds of lines)."""
    return _ignoring(r"`isinstance\(treespec, LeafSpec\)` is deprecated", FutureWarning)


class ExportError(ValueError):
    """An exported file is missing or unusable, or a network cannot be exported."""


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@dataclasses.dataclass
class ExportedModel:
    """A loaded model: the network (any form), the tracker it was exported for (None for a
    checkpoint), its architecture and the embedded tracker parameters."""

    module: Any
    tracker: str | None
    architecture: str
    params: dict[str, Any]


def model_form(path: str | Path) -> str:
    """'pt2', 'eager' (an official checkpoint) or 'torchscript', from the file's extension."""
    suffix = Path(path).suffix
    if suffix == COMPILED_SUFFIX:
        return "pt2"
    if suffix in CHECKPOINT_SUFFIXES:
        return "eager"
    return "torchscript"


def _metadata(
    network: nn.Module,
    output: Path,
    tracker: str,
    architecture: str,
    params: Mapping[str, Any],
    **extra: Any,
) -> str:
    try:
        return json.dumps(
            {
                "format": EXPORT_FORMAT,
                "tracker": tracker,
                "architecture": architecture,
                "params": dict(params),
                "attributes": network_attributes(network),
                "plain_methods": list(getattr(network, "EXPORT_PLAIN_METHODS", ())),
                "torch_version": torch.__version__,
                **extra,
            }
        )
    except TypeError as error:
        raise ExportError(
            f"{output}: tracker parameters are not JSON-serialisable: {error}"
        ) from None


def save_scripted(
    network: nn.Module,
    output: str | Path,
    tracker: str,
    architecture: str,
    params: Mapping[str, Any],
) -> Path:
    """Script ``network`` (eval mode) and save it with its tracker name and parameters."""
    output = Path(output)
    metadata = _metadata(network, output, tracker, architecture, params)
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
    module: torch.jit.ScriptModule, attributes: list[str], plain_methods: list[str]
) -> torch.jit.ScriptModule:
    """The module frozen with all its methods and ``attributes``, and its methods but
    ``plain_methods`` optimised for inference on its device (the numbers agree with the
    unfrozen module to float rounding)."""
    methods = module._c._method_names()
    optimised = [name for name in methods if name not in plain_methods]
    with _quiet_torchscript_deprecation():
        frozen = torch.jit.freeze(module, preserved_attrs=[*methods, *attributes])
        return torch.jit.optimize_for_inference(frozen, other_methods=optimised)


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
    """Like :func:`load_exported`, also giving the architecture name; the form by extension."""
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"{path}: no such exported model file")
    form = model_form(path)
    if form == "pt2":
        return _load_compiled(path, torch.device(device), half)
    if form == "eager":
        return _load_checkpoint(path, torch.device(device), half)
    extra_files = {METADATA: ""}
    try:
        with _quiet_torchscript_deprecation():
            module = torch.jit.load(str(path), map_location=device, _extra_files=extra_files)
    except (RuntimeError, ValueError) as error:
        raise ExportError(f"{path}: not a TorchScript file ({_first_line(error)})") from None
    metadata = _read_metadata(path, extra_files[METADATA], "a TorchScript file")
    if half:
        half_precision_backbone(module)
    module = _frozen_for_inference(
        module.eval(), list(metadata["attributes"]), list(metadata.get("plain_methods", []))
    )
    return _exported(module, metadata)


def _read_metadata(path: Path, text: str, kind: str) -> dict[str, Any]:
    try:
        metadata = json.loads(text)
    except json.JSONDecodeError:
        raise ExportError(
            f"{path}: {kind} without the {METADATA} record; make it with export_model"
        ) from None
    if metadata.get("format") != EXPORT_FORMAT:
        raise ExportError(
            f"{path}: export format {metadata.get('format')!r}, this package reads "
            f"{EXPORT_FORMAT}; export the checkpoint again"
        )
    return metadata


def _exported(module: Any, metadata: Mapping[str, Any]) -> ExportedModel:
    return ExportedModel(
        module=module,
        tracker=str(metadata["tracker"]),
        architecture=str(metadata["architecture"]),
        params=dict(metadata["params"]),
    )


def _load_checkpoint(path: Path, device: torch.device, half: bool) -> ExportedModel:
    """An official checkpoint as the eager network (no parameters come with it)."""
    loaded = load_network(path)
    network = loaded.network.to(device)
    if half:
        half_precision_backbone(network)
    return ExportedModel(network, None, loaded.architecture.name, {})


# --------------------------------------------------------------------------------------------
# .pt2: AOTInductor packages


class _Method(nn.Module):
    """One method of a network as a module's forward, for ``torch.export``."""

    def __init__(self, network: nn.Module, name: str) -> None:
        super().__init__()
        self.network = network
        self.name = name

    def forward(self, *args: Any) -> Any:
        return getattr(self.network, self.name)(*args)


def _size(value: Any) -> int:
    if isinstance(value, torch.Tensor):
        return value.numel()
    if isinstance(value, (list, tuple)):
        return sum(_size(item) for item in value)
    if isinstance(value, dict):
        return sum(_size(item) for item in value.values())
    return 0


def _dynamic_shapes(value: Any, dims: Mapping[str, Sequence[int]], path: str = "") -> Any:
    """``torch.export`` dynamic shapes for ``value``: the dimensions ``dims`` names by argument
    path ("0", "1.layer2", "2.0", ...) are left to export (``Dim.AUTO``), the others fixed."""
    if isinstance(value, torch.Tensor):
        return {dim: torch.export.Dim.AUTO for dim in dims.get(path, ())} or None
    if isinstance(value, (list, tuple)):
        return type(value)(
            _dynamic_shapes(item, dims, f"{path}.{i}" if path else str(i))
            for i, item in enumerate(value)
        )
    if isinstance(value, dict):
        return {
            key: _dynamic_shapes(item, dims, f"{path}.{key}" if path else key)
            for key, item in value.items()
        }
    return None


def _widened(value: Any, dims: Mapping[str, Sequence[int]], path: str = "") -> Any:
    """``value`` with every dynamic dimension of size 1 repeated to 2: export fixes a
    dimension it only sees at size 1 (the values do not matter to the traced graph)."""
    if isinstance(value, torch.Tensor):
        for dim in dims.get(path, ()):
            if value.shape[dim] == 1:
                value = torch.cat((value, value), dim=dim)
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(
            _widened(item, dims, f"{path}.{i}" if path else str(i)) for i, item in enumerate(value)
        )
    if isinstance(value, dict):
        return {
            key: _widened(item, dims, f"{path}.{key}" if path else key)
            for key, item in value.items()
        }
    return value


def dynamic_dims(network: nn.Module) -> Mapping[str, Mapping[str, Sequence[int]]]:
    """The network's ``EXPORT_DYNAMIC_DIMS``; a network without them has no ``.pt2`` form
    (SiamRPN++: its long-term search changes input sizes a package would not cover)."""
    dims = getattr(network, "EXPORT_DYNAMIC_DIMS", None)
    if dims is None:
        raise ExportError(
            f"{getattr(network, 'architecture', type(network).__name__)} networks have no .pt2 "
            "form (they list no EXPORT_DYNAMIC_DIMS); export a .ts file"
        )
    return dims


def export_methods(
    network: nn.Module, calls: Mapping[str, Sequence[tuple[Any, ...]]]
) -> dict[str, torch.export.ExportedProgram]:
    """``torch.export`` each method in ``calls`` (name -> the arguments of each call a tracker
    made), from its largest call with the dimensions the network lists in
    ``EXPORT_DYNAMIC_DIMS`` left dynamic (and widened where they were 1)."""
    dims = dynamic_dims(network)
    programs = {}
    for name, examples in sorted(calls.items()):
        method_dims = dims.get(name, {})
        args = _widened(tuple(max(examples, key=_size)), method_dims)
        shapes = (_dynamic_shapes(args, method_dims),)
        try:
            programs[name] = torch.export.export(
                _Method(network, name), args, dynamic_shapes=shapes
            )
        except Exception as error:  # export raises many kinds; say which method failed
            raise ExportError(f"{name} cannot be exported: {_first_line(error)}") from None
    return programs


def require_cpp_compiler(output: str | Path) -> None:
    """Refuse a ``.pt2`` up front where AOTInductor would find no C++ compiler to build it."""
    from torch._inductor.cpp_builder import get_cpp_compiler

    try:
        get_cpp_compiler()
    except Exception as error:  # torch raises InvalidCxxCompiler, or a subprocess error
        raise ExportError(
            f"{output}: a .pt2 package needs a C++ compiler and none was found "
            f"({_first_line(error)}); install g++ (or set CXX), or export a .ts file instead"
        ) from None


def save_compiled(
    network: nn.Module,
    output: str | Path,
    tracker: str,
    architecture: str,
    params: Mapping[str, Any],
    calls: Mapping[str, Sequence[tuple[Any, ...]]],
) -> Path:
    """Compile the methods in ``calls`` (see :func:`export_methods`) with AOTInductor (with
    freezing) for the device ``network`` is on, and package them with the tracker's
    parameters."""
    from torch._inductor import aot_compile
    from torch.export.pt2_archive._package import package_pt2

    output = Path(output)
    require_cpp_compiler(output)
    device = next(network.parameters()).device
    half = any(parameter.dtype == torch.float16 for parameter in network.parameters())
    metadata = _metadata(
        network, output, tracker, architecture, params, device=device.type, half=half
    )
    with _quiet_treespec_notice():
        try:
            programs = export_methods(network, calls)
        except ExportError as error:
            raise ExportError(f"{output}: {architecture}.{error}") from None
        files = {
            name: aot_compile(
                program.module(),
                program.example_inputs[0],
                options={"aot_inductor.package": True, "freezing": True},
            )
            for name, program in programs.items()
        }
    output.parent.mkdir(parents=True, exist_ok=True)
    package_pt2(output, aoti_files=files, extra_files={METADATA: metadata})
    return output


class CompiledNetwork:
    """A ``.pt2`` package's compiled methods under the network's method names, and its plain
    attributes: what a tracker calls on an eager or TorchScript network."""

    def __init__(self, methods: Mapping[str, Callable[..., Any]], attributes: Mapping[str, Any]):
        self._methods = dict(methods)
        for name, value in attributes.items():
            setattr(self, name, value)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        methods = self.__dict__.get("_methods", {})
        if name in methods:
            return functools.partial(_call_contiguous, methods[name])
        raise AttributeError(
            f"the compiled package has no method {name!r} (it holds {', '.join(sorted(methods))})"
        )


def _call_contiguous(method: Callable[..., Any], *args: Any) -> Any:
    """A compiled graph is built for dense tensors: hand it no views with other strides."""
    return method(*torch.utils._pytree.tree_map_only(torch.Tensor, torch.Tensor.contiguous, args))


def _load_compiled(path: Path, device: torch.device, half: bool) -> ExportedModel:
    from torch.export.pt2_archive import PT2ArchiveReader
    from torch.export.pt2_archive._package import load_pt2
    from torch.export.pt2_archive.constants import EXTRA_DIR

    try:
        text = PT2ArchiveReader(str(path)).read_string(EXTRA_DIR + METADATA)
    except (RuntimeError, AssertionError) as error:  # not a zip, not a PT2 archive, no record
        message = f"{path}: not a .pt2 package made by export_model ({_first_line(error)})"
        raise ExportError(message) from None
    metadata = _read_metadata(path, text, "a .pt2 package")
    if metadata["device"] != device.type:
        raise ExportError(
            f"{path}: compiled for {metadata['device']}, not {device.type}; export it again "
            f"on a {device.type} machine (export_model --device {device.type})"
        )
    if bool(metadata["half"]) != half:
        wanted = "fp16" if half else "fp32"
        raise ExportError(
            f"{path}: compiled in {'fp16' if metadata['half'] else 'fp32'}; export it again with "
            f"--precision {wanted} for {wanted}"
        )
    with _quiet_treespec_notice():
        contents = load_pt2(path, device_index=-1 if device.index is None else device.index)
    return _exported(CompiledNetwork(contents.aoti_runners, metadata["attributes"]), metadata)
