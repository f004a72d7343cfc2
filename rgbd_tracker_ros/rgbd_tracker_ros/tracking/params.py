"""The one parameter loader of every tracker: YAML defaults, then layers of overrides, typed.

A tracker's parameters are a frozen dataclass (``TrackerSpec.params``) whose fields are exactly
the keys of ``config/trackers/<name>.yaml``. Loading reads that file, applies each layer of
overrides in order (an exported model's embedded values, a node ``params_file``, ``--param``
flags, a Python mapping) and converts every value to its field's annotated type. An unknown key
or a value of the wrong type is refused with the file (or other source) and the key named, so a
typo never runs silently with the default.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from rgbd_tracker_ros.paths import config_dir

P = TypeVar("P")


class ParameterError(ValueError):
    """A parameter source has an unknown key or a value of the wrong type."""


@dataclasses.dataclass(frozen=True)
class Layer:
    """Override values and where they come from (a file path, ``--param``, ...)."""

    values: Mapping[str, Any]
    source: str


def defaults_file(name: str) -> Path:
    """``config/trackers/<name>.yaml``: every parameter of tracker ``name`` with its comment."""
    return config_dir() / "trackers" / f"{name}.yaml"


def read_mapping(path: str | Path) -> dict[str, Any]:
    """A YAML file holding a mapping (an empty file is an empty mapping)."""
    path = Path(path)
    try:
        loaded = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ParameterError(f"{path}: cannot read parameters: {error}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ParameterError(f"{path}: expected a mapping of parameter names to values")
    return loaded


def load_params(name: str, params_class: type[P], *layers: Layer) -> P:
    """``params_class`` from ``config/trackers/<name>.yaml`` with ``layers`` applied in order.

    A missing YAML is an empty one: then every field needs a default in the dataclass (test
    trackers); the package's trackers keep all values in their YAML.
    """
    path = defaults_file(name)
    defaults = Layer(read_mapping(path) if path.is_file() else {}, str(path))
    merged: dict[str, Any] = {}
    for layer in (defaults, *layers):
        merged = _merge(params_class, merged, layer.values, layer.source, "")
    return _build(params_class, merged, str(path), "")


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """Field types of ``cls`` resolved (the modules use postponed annotations)."""
    return typing.get_type_hints(cls)


def _merge(
    cls: type, base: Mapping[str, Any], values: Mapping[str, Any], source: str, prefix: str
) -> dict[str, Any]:
    """``base`` with ``values`` applied; nested dataclass blocks merge key by key."""
    if not isinstance(values, Mapping):
        raise ParameterError(f"{source}: {prefix or 'parameters'}: expected a mapping")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(map(str, values)) - set(fields))
    if unknown:
        raise ParameterError(
            f"{source}: unknown parameter(s) {', '.join(prefix + k for k in unknown)}; "
            f"known: {', '.join(prefix + k for k in fields)}"
        )
    hints = _hints(cls)
    merged = dict(base)
    for key, value in values.items():
        kind = hints[key]
        if dataclasses.is_dataclass(kind):
            block = base.get(key)
            merged[key] = _merge(
                kind, block if isinstance(block, dict) else {}, value, source, f"{prefix}{key}."
            )
        else:
            merged[key] = _Sourced(value, source)
    return merged


@dataclasses.dataclass(frozen=True)
class _Sourced:
    """A value remembering the source it came from, for the error message."""

    value: Any
    source: str


def _build(cls: type[P], values: Mapping[str, Any], defaults_source: str, prefix: str) -> P:
    hints = _hints(cls)
    kwargs = {}
    missing = []
    for field in dataclasses.fields(cls):
        if field.name not in values:
            if (
                field.default is dataclasses.MISSING
                and field.default_factory is dataclasses.MISSING
            ):
                missing.append(prefix + field.name)
            continue
        raw = values[field.name]
        kind = hints[field.name]
        key = prefix + field.name
        if dataclasses.is_dataclass(kind):
            kwargs[field.name] = _build(kind, raw, defaults_source, f"{key}.")
            continue
        try:
            kwargs[field.name] = convert(raw.value, kind)
        except TypeError as error:
            raise ParameterError(f"{raw.source}: {key}: {error}") from None
    if missing:
        raise ParameterError(f"{defaults_source}: lacks parameter(s) {', '.join(missing)}")
    return cls(**kwargs)


def convert(value: Any, kind: Any) -> Any:
    """``value`` (from YAML, JSON or a ROS parameter) as annotated type ``kind``, or TypeError."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if len(options) != 1:
            raise TypeError(f"unsupported parameter type {kind!r}")
        return convert(value, options[0])
    if dataclasses.is_dataclass(kind):
        raise TypeError(f"expected a mapping, got {value!r}")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"expected a list, got {value!r}")
        if origin is list:
            return [convert(v, args[0]) for v in value]
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(convert(v, args[0]) for v in value)
        if len(value) != len(args):
            raise TypeError(f"expected {len(args)} values, got {value!r}")
        return tuple(convert(v, a) for v, a in zip(value, args, strict=True))
    if origin is dict:
        if not isinstance(value, Mapping):
            raise TypeError(f"expected a mapping, got {value!r}")
        return {str(k): convert(v, args[1]) for k, v in value.items()}
    if kind is bool:
        if not isinstance(value, bool):
            raise TypeError(f"expected true or false, got {value!r}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
            raise TypeError(f"expected an integer, got {value!r}")
        return int(value)
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"expected a number, got {value!r}")
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise TypeError(f"expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported parameter type {kind!r}")
