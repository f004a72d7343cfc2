"""Official pytracking / DeT / TrDiMP / pysot / OSTrack / ViPT checkpoints: safe reading and
architecture dispatch.

The released files (``dimp50.pth``, ``DeT_DiMP50_Max.pth``, ``trdimp_net.pth.tar``,
``OSTrack_ep0300.pth.tar``, ``ViPT_deep_rgbd.pth``, ...) are ``torch.save`` pickles of a
training record: ``net`` (the state dict), ``constructor`` (pytracking: a ``NetConstructor``
naming the network function and its keyword arguments; OSTrack/ViPT: None) and training
bookkeeping (``settings``, ``stats``, optimizer state). Unpickling them the usual way would
import pytracking (``ltr``) or OSTrack's ``lib`` and could run arbitrary code, so this module
loads with ``weights_only=True``: only tensors, plain containers, numpy numbers and inert
stand-in classes for the trainers' records are accepted; anything else (a reducer calling
``os.system``, an unknown class) is refused before it runs. A bare ``{'net': ...}`` or a bare
state dict is read the same way.

The ``constructor`` picks the architecture (``ARCHITECTURES``) and its arguments (filter size,
distance bins, DeT merge type, ...); without one, the ``net_type`` and marker entries of the
state dict pick it, with the configuration the reference trains it with (OSTrack's input sizes
show in its position embeddings). The state dict must then match that architecture exactly.
pysot's model zoo files (SiamRPN++ ``model.pth``) are bare state dicts; its training snapshots
wrap one as ``{'state_dict': ...}``, and multi-GPU training prefixes every name with ``module.``:
all three are read as pysot's ``load_pretrain`` reads them, the architecture then told by the
state dict's own names and shapes (``Architecture.markers``).
(The tests write random-weight files in the same layout: ``test/checkpoint_files.py``.)
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import math
import numbers
import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

LOG = logging.getLogger(__name__)

# Top-level packages of the classes pickled in official checkpoints (``dlframework`` is the
# pre-release name of ``ltr`` found in old ATOM-era files; ``lib`` is OSTrack's and ViPT's).
RECORD_PACKAGES = ("ltr", "pytracking", "dlframework", "lib")
KNOWN_RECORD_CLASSES = (
    "ltr.admin.model_constructor.NetConstructor",
    "ltr.admin.stats.AverageMeter",
    "ltr.admin.stats.StatValue",
    "ltr.admin.settings.Settings",
    "ltr.admin.local.EnvironmentSettings",
    "dlframework.common.utils.model_constructor.NetConstructor",
    "dlframework.common.utils.stats.AverageMeter",
    "dlframework.common.utils.stats.StatValue",
    "dlframework.common.utils.settings.Settings",
    "dlframework.common.utils.local.EnvironmentSettings",
    "lib.train.admin.stats.AverageMeter",
    "lib.train.admin.stats.StatValue",
    "lib.train.admin.settings.Settings",
    "lib.train.admin.local.EnvironmentSettings",
)
# Each unknown pytracking class costs one more read of the file; real files hold a handful.
MAX_RECORD_CLASSES = 64

# The DiMP-50 training script's constructor arguments (pytracking ltr/train_settings/dimp/
# dimp50.py): what a released DiMP-family checkpoint carries in ``constructor.kwds``.
DIMP50_TRAIN_KWDS: dict[str, Any] = {
    "filter_size": 4,
    "backbone_pretrained": True,
    "optim_iter": 5,
    "clf_feat_norm": True,
    "clf_feat_blocks": 0,
    "final_conv": True,
    "out_feature_dim": 512,
    "optim_init_step": 0.9,
    "optim_init_reg": 0.1,
    "init_gauss_sigma": 0.9,
    "num_dist_bins": 100,
    "bin_displacement": 0.1,
    "mask_init_factor": 3.0,
    "target_mask_act": "sigmoid",
    "score_act": "relu",
}


# A pysot SiamRPN++ state dict: its first neck convolution, whose width tells the configuration.
PYSOT_MARKER = "neck.downsample2.downsample.0.weight"
PYSOT_FAMILY = "rpn_head."
# pysot saves ``{'state_dict': ...}`` in training snapshots; DataParallel adds this prefix.
PYSOT_STATE_DICT_KEY = "state_dict"
DATA_PARALLEL_PREFIX = "module."
# BatchNorm counters: training bookkeeping unused at inference, absent from files saved before
# torch 0.4.1 (pysot's loader tolerates that), so a missing one is taken from the fresh network.
BATCH_COUNTER_SUFFIX = ".num_batches_tracked"

# The experiment configurations' network values (OSTrack experiments/ostrack/vitb_*_mae_ce_
# 32x4_ep300.yaml, ViPT experiments/vipt/deep_rgbd.yaml); the rest is OSTrackConfig's defaults.
OSTRACK_CONFIGS: dict[str, dict[str, Any]] = {
    "ostrack256": {"template_size": 128, "search_size": 256},
    "ostrack384": {"template_size": 192, "search_size": 384},
    "vipt_rgbd": {"template_size": 128, "search_size": 256},
}


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable, unsafe, or not a supported network."""


class UnsupportedArchitectureError(ValueError):
    """Constructor arguments describe a network this package does not implement."""


@dataclasses.dataclass(frozen=True)
class Allowed:
    """The values a network's constructor argument may take, checked before anything is built.

    ``kind`` is int, float, str or bool (an int is accepted for a float, a bool never for a
    number); numbers must be finite and within ``[low, high]``, strings one of ``choices``;
    ``length`` makes it a list/tuple of exactly that many such values.
    """

    kind: type
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    length: int | None = None

    def describe(self) -> str:
        noun = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
        what = noun.get(self.kind, self.kind.__name__)
        if self.choices:
            what = f"one of {', '.join(map(repr, self.choices))}"
        elif self.low is not None and self.high is not None:
            what += f" from {self.low:g} to {self.high:g}"
        return f"a list of {self.length} times {what}" if self.length is not None else what


def _allowed_scalar(value: Any, allowed: Allowed) -> Any:
    """``value`` converted to ``allowed.kind``, or None when it is not an allowed value."""
    if allowed.kind is bool:
        return value if isinstance(value, bool) else None
    if allowed.kind is str:
        return value if isinstance(value, str) and value in allowed.choices else None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    if allowed.kind is int:
        if not isinstance(value, numbers.Integral):
            return None
        value = int(value)
    else:
        value = float(value)
        if not math.isfinite(value):
            return None
    if (allowed.low is not None and value < allowed.low) or (
        allowed.high is not None and value > allowed.high
    ):
        return None
    return value


def check_constructor_argument(name: str, value: Any, allowed: Allowed) -> Any:
    """``value`` as the network builder needs it, or ``UnsupportedArchitectureError`` saying
    what ``name`` may be (so a crafted checkpoint cannot make the builder allocate terabytes
    or fail with a type error deep inside torch)."""
    if allowed.length is None:
        checked = _allowed_scalar(value, allowed)
        ok = checked is not None
    else:
        items = value if isinstance(value, (list, tuple)) else None
        checked = (
            tuple(_allowed_scalar(item, allowed) for item in items) if items is not None else ()
        )
        ok = items is not None and len(items) == allowed.length and None not in checked
    if not ok:
        raise UnsupportedArchitectureError(
            f"constructor argument {name}={shown_value(value)} is not allowed; it must be "
            f"{allowed.describe()}"
        )
    return checked


def shown_value(value: Any) -> str:
    """A short, safe rendering of a value read from a file (no repr of arbitrary objects)."""
    plain = (numbers.Number, str)
    if isinstance(value, plain) or (
        isinstance(value, (list, tuple)) and all(isinstance(item, plain) for item in value)
    ):
        text = repr(value)
        return text if len(text) <= 60 else text[:57] + "..."
    return f"<{type(value).__name__}>"


class CheckpointRecord:
    """Inert stand-in for a pytracking class pickled in a checkpoint.

    Unpickling only creates it and fills its ``__dict__``; it has no behaviour that could run.
    """

    def __repr__(self) -> str:
        cls = type(self)
        return f"<{cls.__module__}.{cls.__qualname__} record {sorted(vars(self))}>"


_RECORD_CLASSES: dict[str, type] = {}


def _numpy_globals(full_name: str) -> list[tuple[Any, str]]:
    """Allow-list entries for ``full_name`` if it only rebuilds numpy numbers or arrays.

    Training statistics may hold numpy values. Rebuilding one takes a dtype and raw bytes (or,
    for object arrays, items that were themselves unpickled under the same restrictions), so it
    runs no code from the file. Empty for any other name.
    """
    import numpy as np

    core = np._core if hasattr(np, "_core") else np.core
    functions = {"scalar": core.multiarray.scalar, "_reconstruct": core.multiarray._reconstruct}
    module, _, name = full_name.rpartition(".")
    if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name in functions:
        return [(functions[name], full_name)]
    if full_name == "numpy.ndarray":
        return [(np.ndarray, full_name)]
    if full_name == "numpy.dtype" or module == "numpy.dtypes":
        # A dtype is rebuilt by calling numpy.dtype and then setting the state of an instance
        # of its concrete class (numpy.dtypes.Float64DType, ...).
        dtype_classes = [
            (cls, f"numpy.dtypes.{cls.__name__}")
            for cls in vars(np.dtypes).values()
            if isinstance(cls, type) and issubclass(cls, np.dtype)
        ]
        return [(np.dtype, "numpy.dtype"), *dtype_classes]
    return []


def record_class(full_name: str) -> type:
    """The stand-in class for ``full_name`` (``package.module.Class``), created once."""
    if full_name not in _RECORD_CLASSES:
        module, _, name = full_name.rpartition(".")
        _RECORD_CLASSES[full_name] = type(
            name, (CheckpointRecord,), {"__module__": module, "__qualname__": name}
        )
    return _RECORD_CLASSES[full_name]


def record_classes() -> dict[str, type]:
    """Every stand-in class created so far, by full name."""
    return dict(_RECORD_CLASSES)


for _name in KNOWN_RECORD_CLASSES:
    record_class(_name)


# A state-dict entry that identifies an architecture: a key prefix (shape None) or an exact
# key with its shape.
Marker = tuple[str, tuple[int, ...] | None]


@dataclasses.dataclass(frozen=True)
class Architecture:
    """A network this package can build from an official checkpoint."""

    name: str
    # (fun_module, fun_name) of the reference constructor; None where the reference records
    # none (pysot, OSTrack, ViPT: the network is built from the experiment configuration).
    constructor: tuple[str, str] | None
    builder: str  # "module:function" taking the constructor kwds, returning the nn.Module
    net_type: str  # type(net).__name__ in the reference, stored as 'net_type'
    # Entries that tell it from other candidates; all must be present, the most specific wins.
    markers: tuple[Marker, ...] = ()
    # Key prefix every state dict of its family has (told apart from other families by it).
    family: str = "feature_extractor."
    default_kwds: Mapping[str, Any] = dataclasses.field(default_factory=dict)


VIPT_MARKERS: tuple[Marker, ...] = (("backbone.prompt_blocks.", None),)


def _ostrack_family(
    name: str, builder: str, net_type: str, markers: tuple[Marker, ...]
) -> Architecture:
    """An OSTrack-trainer network: no constructor recorded, told apart by the search position
    embeddings' shape (its input size) and its own markers."""
    tokens = (OSTRACK_CONFIGS[name]["search_size"] // 16) ** 2
    return Architecture(
        name=name,
        constructor=None,
        builder=f"rgbd_tracker_ros.tracking.networks.{builder}",
        net_type=net_type,
        markers=(("backbone.pos_embed_x", (1, tokens, 768)), *markers),
        family="box_head.",
        default_kwds=OSTRACK_CONFIGS[name],
    )


ARCHITECTURES: tuple[Architecture, ...] = (
    Architecture(
        name="dimp50",
        constructor=("ltr.models.tracking.dimpnet", "dimpnet50"),
        builder="rgbd_tracker_ros.tracking.networks.dimp.network:build_dimpnet50",
        net_type="DiMPnet",
        default_kwds=DIMP50_TRAIN_KWDS,
    ),
    Architecture(
        name="det_dimp50",
        constructor=("ltr.models.tracking.dimpnet", "dimp50_DeT"),
        builder="rgbd_tracker_ros.tracking.networks.dimp.network:build_det_dimpnet50",
        net_type="DiMPnet_DeT",
        markers=(("feature_extractor_depth.", None),),
        default_kwds={**DIMP50_TRAIN_KWDS, "merge_type": "max"},
    ),
    Architecture(
        name="trdimp",
        constructor=("ltr.models.tracking.dimpnet", "dimpnet50"),
        builder="rgbd_tracker_ros.tracking.networks.trdimp.network:build_trdimpnet50",
        net_type="DiMPnet",
        markers=(("classifier.transformer.", None),),
        default_kwds={
            **DIMP50_TRAIN_KWDS,
            "init_gauss_sigma": 0.25 / 6 * 22,
            "frozen_backbone_layers": ["conv1", "bn1", "layer1", "layer2"],
        },
    ),
    Architecture(
        name="siamrpn_r50_l234_dwxcorr",
        constructor=None,
        builder="rgbd_tracker_ros.tracking.networks.siamrpn.network:build_siamrpn_r50",
        net_type="ModelBuilder",
        markers=((PYSOT_MARKER, (256, 512, 1, 1)),),
        family=PYSOT_FAMILY,
    ),
    Architecture(
        name="siamrpn_r50_l234_dwxcorr_lt",
        constructor=None,
        builder="rgbd_tracker_ros.tracking.networks.siamrpn.network:build_siamrpn_r50_lt",
        net_type="ModelBuilder",
        markers=((PYSOT_MARKER, (128, 512, 1, 1)),),
        family=PYSOT_FAMILY,
    ),
    *(
        _ostrack_family(name, builder, net_type, markers)
        for name, builder, net_type, markers in (
            ("ostrack256", "ostrack.network:build_ostrack256", "OSTrack", ()),
            ("ostrack384", "ostrack.network:build_ostrack384", "OSTrack", ()),
            ("vipt_rgbd", "vipt.network:build_vipt", "ViPTrack", VIPT_MARKERS),
        )
    ),
)


def architecture(name: str) -> Architecture:
    for arch in ARCHITECTURES:
        if arch.name == name:
            return arch
    known = ", ".join(a.name for a in ARCHITECTURES)
    raise ValueError(f"unknown architecture {name!r}; known: {known}")


@dataclasses.dataclass
class RawCheckpoint:
    """What a checkpoint file holds, read without running code."""

    path: Path
    state_dict: dict[str, torch.Tensor]
    constructor: tuple[str, str] | None  # (fun_module, fun_name), None if the file has none
    kwds: dict[str, Any]
    net_type: str | None


@dataclasses.dataclass
class LoadedNetwork:
    network: nn.Module  # in eval mode, on CPU
    architecture: Architecture
    kwds: dict[str, Any]


def _safe_torch_load(path: Path) -> Any:
    """``torch.load(weights_only=True)`` with stand-ins for pytracking record classes.

    Unknown classes of a pytracking package get a stand-in (numpy numbers their rebuilders)
    and the file is read again; any other global (a function, a foreign class) is refused.
    """
    numpy_globals: list[tuple[Any, str]] = []
    for _ in range(MAX_RECORD_CLASSES):
        try:
            allowed = [*_RECORD_CLASSES.values(), *numpy_globals]
            with torch.serialization.safe_globals(allowed):
                return torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as error:
            message = str(error)
            match = re.search(r"GLOBAL (\S+) was not an allowed global", message)
            name = match.group(1) if match else ""
            if name.split(".")[0] in RECORD_PACKAGES:
                record_class(name)
                continue
            extra = _numpy_globals(name) if name else []
            if extra and not set(extra) <= set(numpy_globals):
                numpy_globals.extend(extra)
                continue
            refused = re.search(r"GLOBAL (\S+)", message)
            if refused:
                reason = f"it references {refused.group(1)}, which is not a tensor or a record"
            else:
                reason = _last_line(message)
            raise CheckpointError(
                f"{path}: refused to load: {reason} (only tensors, containers and pytracking "
                "training records are accepted, so that loading never runs code from the file)"
            ) from None
        except Exception as e:  # bytes that are no checkpoint can fail in any way
            raise CheckpointError(
                f"{path}: not a PyTorch checkpoint ({type(e).__name__}: {_last_line(str(e))})"
            ) from None
    raise CheckpointError(f"{path}: refused to load: too many distinct classes to stand in for")


def _last_line(message: str) -> str:
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    informative = [line for line in lines if not line.startswith("Check the documentation")]
    return informative[-1] if informative else "empty or truncated file"


def read_checkpoint(path: str | Path) -> RawCheckpoint:
    """Read ``path`` safely: the state dict and, when present, the constructor."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    content = _safe_torch_load(path)
    if not isinstance(content, Mapping):
        raise CheckpointError(
            f"{path}: expected a checkpoint dict with a 'net' state dict, got {type(content)}"
        )
    if "net" in content:
        state_dict = content["net"]
    elif PYSOT_STATE_DICT_KEY in content:
        state_dict = content[PYSOT_STATE_DICT_KEY]
    elif content and all(isinstance(v, torch.Tensor) for v in content.values()):
        state_dict = content  # a bare state dict
    else:
        raise CheckpointError(
            f"{path}: expected a checkpoint dict with a 'net' or 'state_dict' state dict, or a "
            f"bare state dict; keys: {', '.join(map(str, list(content)[:8]))}"
        )
    if not isinstance(state_dict, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state_dict.items()
    ):
        raise CheckpointError(f"{path}: the weights are not a state dict of named tensors")
    constructor, kwds = _constructor(path, content.get("constructor"))
    net_type = content.get("net_type")
    return RawCheckpoint(
        path=path,
        state_dict={k.removeprefix(DATA_PARALLEL_PREFIX): v for k, v in state_dict.items()},
        constructor=constructor,
        kwds=kwds,
        net_type=net_type if isinstance(net_type, str) else None,
    )


def _constructor(path: Path, record: Any) -> tuple[tuple[str, str] | None, dict[str, Any]]:
    if record is None:
        return None, {}
    attrs = vars(record) if isinstance(record, CheckpointRecord) else {}
    fun_module, fun_name = attrs.get("fun_module"), attrs.get("fun_name")
    kwds, args = attrs.get("kwds", {}), attrs.get("args", ())
    if not (isinstance(fun_module, str) and isinstance(fun_name, str) and isinstance(kwds, dict)):
        raise CheckpointError(
            f"{path}: 'constructor' is not a pytracking NetConstructor (got {record!r})"
        )
    if args:
        raise CheckpointError(
            f"{path}: constructor {fun_module}.{fun_name} has positional arguments {args!r}; "
            "only keyword arguments are supported"
        )
    fun_module = fun_module.removeprefix("dlframework.")
    return (fun_module, fun_name), dict(kwds)


def identify_architecture(raw: RawCheckpoint) -> Architecture:
    """The architecture named by the constructor, told apart by state-dict keys if needed.

    Without a constructor, a recorded ``net_type`` and then the state dict's family narrow the
    candidates; among them the one with the most markers present wins, else one without
    markers, else the first (whose shape check then says what differs).
    """
    candidates = [a for a in ARCHITECTURES if raw.constructor in (None, a.constructor)]
    if not candidates:
        module, name = raw.constructor or ("", "")
        known = ", ".join(
            f"{a.constructor[0]}.{a.constructor[1]}" for a in ARCHITECTURES if a.constructor
        )
        raise CheckpointError(
            f"{raw.path}: the constructor {module}.{name} names a network this package does not "
            f"implement; expected one of: {known}"
        )
    for keep in (
        lambda a: a.net_type == raw.net_type,
        lambda a: any(k.startswith(a.family) for k in raw.state_dict),
    ):
        candidates = [a for a in candidates if keep(a)] or candidates
    marked = [a for a in candidates if a.markers and all(_has(raw, m) for m in a.markers)]
    if marked:
        return max(marked, key=lambda a: len(a.markers))
    unmarked = [a for a in candidates if not a.markers]
    return (unmarked or candidates)[0]


def _has(raw: RawCheckpoint, marker: Marker) -> bool:
    key, shape = marker
    if shape is None:
        return any(k.startswith(key) for k in raw.state_dict)
    return key in raw.state_dict and tuple(raw.state_dict[key].shape) == shape


def _kwds_without_constructor(raw: RawCheckpoint, arch: Architecture) -> dict[str, Any]:
    """Constructor arguments for a file without a constructor: the training-script values."""
    kwds = dict(arch.default_kwds)
    if arch.constructor is None:  # the reference records none: its configuration is the source
        return kwds
    if arch.name == "det_dimp50":
        if "merge_layer2.weight" not in raw.state_dict:
            raise CheckpointError(
                f"{raw.path}: a DeT checkpoint without a constructor: its merge type (max, mean "
                "or mul) cannot be told from the weights"
            )
        kwds["merge_type"] = "conv"
    LOG.warning(
        "%s has no constructor; assuming the %s training-script arguments", raw.path, arch.name
    )
    return kwds


def _import_builder(target: str):
    module_name, function_name = target.split(":")
    return getattr(importlib.import_module(module_name), function_name)


def build_network(arch: Architecture, kwds: Mapping[str, Any]) -> nn.Module:
    """Build ``arch`` with random weights from constructor ``kwds``."""
    return _import_builder(arch.builder)(dict(kwds))


def load_network(path: str | Path) -> LoadedNetwork:
    """Build the checkpoint's network and load its weights strictly; eval mode, on CPU."""
    raw = read_checkpoint(path)
    arch = identify_architecture(raw)
    kwds = raw.kwds if raw.constructor is not None else _kwds_without_constructor(raw, arch)
    try:
        network = build_network(arch, kwds)
    except UnsupportedArchitectureError as error:
        raise CheckpointError(f"{raw.path}: {arch.name} checkpoint: {error}") from None
    except (TypeError, ValueError, RuntimeError, OverflowError, MemoryError) as error:
        # The builders check their arguments first; this names the file if one slipped through.
        raise CheckpointError(
            f"{raw.path}: cannot build the {arch.name} network from its constructor arguments "
            f"({type(error).__name__}: {_last_line(str(error))})"
        ) from None
    state_dict = _with_batch_counters(raw.state_dict, network)
    _check_state_dict(raw, state_dict, arch, network)
    network.load_state_dict(state_dict, strict=True)
    network.eval()
    return LoadedNetwork(network=network, architecture=arch, kwds=dict(kwds))


def _with_batch_counters(
    state_dict: dict[str, torch.Tensor], network: nn.Module
) -> dict[str, torch.Tensor]:
    """``state_dict`` plus the network's own BatchNorm counters when they are all it lacks."""
    expected = network.state_dict()
    missing = set(expected) - set(state_dict)
    if not missing or not all(key.endswith(BATCH_COUNTER_SUFFIX) for key in missing):
        return state_dict
    return {**state_dict, **{key: expected[key] for key in missing}}


def _check_state_dict(
    raw: RawCheckpoint,
    state_dict: Mapping[str, torch.Tensor],
    arch: Architecture,
    network: nn.Module,
) -> None:
    """Refuse a state dict that is not exactly ``arch``'s, saying what differs."""
    expected = network.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    reshaped = [
        f"{key} {list(state_dict[key].shape)} (expected {list(expected[key].shape)})"
        for key in sorted(set(expected) & set(state_dict))
        if state_dict[key].shape != expected[key].shape
    ]
    if not (missing or unexpected or reshaped):
        return
    problems = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("resized", reshaped)):
        if items:
            problems.append(f"{len(items)} {label} (e.g. {', '.join(items[:3])})")
    described = f"net_type {raw.net_type}" if raw.net_type else "no net_type"
    raise CheckpointError(
        f"{raw.path}: the state dict ({len(raw.state_dict)} entries, {described}) is not a "
        f"{arch.name} network ({len(expected)} entries): {'; '.join(problems)}"
    )
