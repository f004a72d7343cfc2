"""Build trackers by name from their specs.

Every sub-package of ``tracking/`` with a ``spec`` module contributes its ``SPECS``; nothing
else lists the trackers. Factories are named as ``module:function`` strings and imported on
first use, so asking for the light default tracker never imports network code.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import pkgutil
from collections.abc import Mapping
from typing import Any

from rgbd_tracker_ros.tracking.api import Tracker
from rgbd_tracker_ros.tracking.params import Layer, load_params
from rgbd_tracker_ros.tracking.spec import TrackerSpec

DEFAULT_TRACKER = "depth_dcf"
OVERRIDES_SOURCE = "parameter overrides"

_SPECS: dict[str, TrackerSpec] = {}
_PACKAGE_SPECS: list[TrackerSpec] = []
_discovered = False


def register(spec: TrackerSpec) -> None:
    """Add ``spec`` (the package's specs are found on their own; tests add theirs here)."""
    known = _SPECS.get(spec.name)
    if known is not None and known != spec:
        raise ValueError(f"tracker {spec.name!r} is described twice")
    _SPECS[spec.name] = spec


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    _discovered = True
    package = importlib.import_module("rgbd_tracker_ros.tracking")
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        module = f"{package.__name__}.{info.name}.spec"
        if info.ispkg and importlib.util.find_spec(module) is not None:
            for spec in importlib.import_module(module).SPECS:
                register(spec)
                _PACKAGE_SPECS.append(spec)


def specs() -> list[TrackerSpec]:
    """Every known tracker (with those registered by tests)."""
    _discover()
    return list(_SPECS.values())


def package_specs() -> list[TrackerSpec]:
    """The trackers this package ships, in package order (what help and README list)."""
    _discover()
    return list(_PACKAGE_SPECS)


def available_trackers() -> list[str]:
    return sorted(spec.name for spec in specs())


def get_spec(name: str) -> TrackerSpec:
    _discover()
    try:
        return _SPECS[name]
    except KeyError:
        raise ValueError(
            f"unknown tracker {name!r}; available: {', '.join(available_trackers())}"
        ) from None


def parameter_names(name: str) -> list[str]:
    """The parameters tracker ``name`` accepts."""
    return [field.name for field in dataclasses.fields(get_spec(name).params)]


def _layers(overrides: tuple[Layer | Mapping[str, Any] | None, ...]) -> list[Layer]:
    return [
        o if isinstance(o, Layer) else Layer(dict(o), OVERRIDES_SOURCE)
        for o in overrides
        if o is not None
    ]


def tracker_params(name: str, *overrides: Layer | Mapping[str, Any] | None) -> Any:
    """Typed parameters of ``name``: its YAML with ``overrides`` applied (an exported model's
    embedded values are not included: they are read when the tracker is built)."""
    spec = get_spec(name)
    return load_params(spec.name, spec.params, *_layers(overrides))


def parameter_record(params: Any) -> dict[str, Any]:
    """Parameters as plain JSON-ready values (lists for tuples), for result records and exports."""
    return _plain(dataclasses.asdict(params))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def create_tracker(
    name: str, *overrides: Layer | Mapping[str, Any] | None, model: Any = None
) -> Tracker:
    """Build tracker ``name``: YAML defaults < (network trackers) the model file's embedded
    parameters < ``overrides`` in order (plain mappings are named "parameter overrides").

    ``model`` (a ``TrackerModel``) runs a network already in memory instead of loading
    ``model_path`` (benchmarks of an eager network).
    """
    spec = get_spec(name)
    layers = _layers(overrides)
    if spec.needs_weights and model is None:
        from rgbd_tracker_ros.tracking.model import load_tracker_model

        params, model = load_tracker_model(spec, layers)
    else:
        params = load_params(spec.name, spec.params, *layers)
    module_name, function_name = spec.factory.split(":")
    factory = getattr(importlib.import_module(module_name), function_name)
    return factory(params, model)


def markdown_table() -> str:
    """The README's table of trackers, one row per spec."""
    rows = ["| name | weights | input | notes |", "|---|---|---|---|"]
    for spec in package_specs():
        weights = spec.checkpoints or ("none (learns online)" if not spec.needs_weights else "")
        rows.append(f"| `{spec.name}` | {weights} | {spec.inputs} | {spec.summary} |")
    return "\n".join(rows) + "\n"
