"""Checkpoint files in the layout of the official releases, written from any state dict.

No official checkpoint can be downloaded here, so tests build random-weight files exactly as
pytracking's ``LTRTrainer.save_checkpoint`` lays them out (training record, ``NetConstructor``,
stats and settings records) and check that ``tracking.networks.checkpoint`` reads them.
"""

from __future__ import annotations

import contextlib
import sys
import types
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rgbd_tracker_ros.tracking.networks import checkpoint as ckpt


@contextlib.contextmanager
def importable_record_classes() -> Iterator[None]:
    """Make the stand-in classes importable by name while pickling, then remove the modules."""
    added: list[str] = []
    try:
        for full_name, cls in ckpt.record_classes().items():
            parts = full_name.split(".")
            for depth in range(1, len(parts)):
                module_name = ".".join(parts[:depth])
                if module_name not in sys.modules:
                    sys.modules[module_name] = types.ModuleType(module_name)
                    added.append(module_name)
            setattr(sys.modules[".".join(parts[:-1])], parts[-1], cls)
        yield
    finally:
        for module_name in added:
            del sys.modules[module_name]


def record(full_name: str, **attributes: Any) -> ckpt.CheckpointRecord:
    instance = ckpt.record_class(full_name)()
    vars(instance).update(attributes)
    return instance


# The trainers' actor class per network class (recorded as 'actor_type').
ACTORS = {"OSTrack": "OSTrackActor", "ViPTrack": "ViPTActor"}


def save_training_record(
    path: str | Path,
    state_dict: Mapping[str, torch.Tensor],
    constructor: tuple[str, str] | None,
    kwds: Mapping[str, Any],
    net_type: str,
    legacy_format: bool = False,
    records: str = "ltr.admin",
) -> Path:
    """Write ``state_dict`` in the layout of pytracking's ``LTRTrainer.save_checkpoint``.

    ``constructor`` (fun_module, fun_name) becomes a ``NetConstructor`` record with ``kwds``
    (``None``: no constructor, as in a stripped file or any OSTrack/ViPT file). ``records`` is
    the module prefix of the trainer's settings/stats classes (``lib.train.admin`` for
    OSTrack's trainer, a copy of pytracking's, used by ViPT too). ``legacy_format`` writes the
    pre-1.6 (non-zip) serialisation that older released files use.
    """
    net_constructor = None
    if constructor is not None:
        net_constructor = record(
            "ltr.admin.model_constructor.NetConstructor",
            fun_name=constructor[1],
            fun_module=constructor[0],
            args=(),
            kwds=dict(kwds),
        )
    state = {
        "epoch": 50,
        "actor_type": ACTORS.get(net_type, "DiMPActor"),
        "net_type": net_type,
        "net": OrderedDict(state_dict),
        "net_info": None,
        "constructor": net_constructor,
        "optimizer": {"state": {}, "param_groups": [{"lr": 2e-4, "params": [0, 1, 2]}]},
        "stats": OrderedDict(
            train=OrderedDict(
                {
                    "Loss/total": record(f"{records}.stats.AverageMeter", avg=0.5, count=10),
                    "LearningRate/group0": record(f"{records}.stats.StatValue", val=4e-5),
                }
            )
        ),
        "settings": record(
            f"{records}.settings.Settings",
            env=record(f"{records}.local.EnvironmentSettings", workspace_dir="/nonexistent"),
            batch_size=26,
            device=torch.device("cuda:0"),
            search_area_factor={"template": 2.0, "search": 4.0},
        ),
    }
    path = Path(path)
    with importable_record_classes():
        torch.save(state, path, _use_new_zipfile_serialization=not legacy_format)
    return path


def write_official_layout_checkpoint(
    path: str | Path,
    arch_name: str = "dimp50",
    kwds: Mapping[str, Any] | None = None,
    network: nn.Module | None = None,
    legacy_format: bool = False,
) -> Path:
    """A checkpoint of ``arch_name`` as released files are laid out, for tests and benchmarks.

    ``network`` defaults to a randomly initialised network built from ``kwds`` (default: the
    training-script arguments, which the file's constructor records).
    """
    arch = ckpt.architecture(arch_name)
    kwds = dict(arch.default_kwds if kwds is None else kwds)
    if network is None:
        network = ckpt.build_network(arch, kwds)
    # OSTrack's trainer (and ViPT's copy) records no constructor and pickles its own classes.
    records = "ltr.admin" if arch.constructor is not None else "lib.train.admin"
    return save_training_record(
        path, network.state_dict(), arch.constructor, kwds, arch.net_type, legacy_format, records
    )


PYSOT_LAYOUTS = ("bare", "snapshot")


def write_pysot_checkpoint(
    path: str | Path,
    network: nn.Module,
    layout: str = "bare",
    data_parallel: bool = False,
) -> Path:
    """``network``'s weights as pysot writes them.

    ``layout`` 'bare': the model zoo's ``model.pth`` (the state dict itself); 'snapshot': a
    training snapshot ``{'epoch', 'state_dict', 'optimizer'}``. ``data_parallel`` prefixes every
    name with ``module.`` as multi-GPU training does.
    """
    if layout not in PYSOT_LAYOUTS:
        raise ValueError(f"layout must be one of {PYSOT_LAYOUTS}, got {layout!r}")
    prefix = ckpt.DATA_PARALLEL_PREFIX if data_parallel else ""
    state_dict = OrderedDict((prefix + k, v) for k, v in network.state_dict().items())
    content: Mapping[str, Any] = state_dict
    if layout == "snapshot":
        content = {
            "epoch": 20,
            ckpt.PYSOT_STATE_DICT_KEY: state_dict,
            "optimizer": {"state": {}, "param_groups": [{"lr": 5e-3, "params": [0, 1]}]},
        }
    path = Path(path)
    torch.save(content, path)
    return path
