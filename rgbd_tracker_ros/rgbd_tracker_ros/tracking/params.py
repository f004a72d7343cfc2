"""Tracker parameters: defaults from ``config/trackers/<name>.yaml``, overridden per use."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from rgbd_tracker_ros.paths import config_dir


def default_params(name: str) -> dict[str, Any]:
    path = config_dir() / "trackers" / f"{name}.yaml"
    if not path.is_file():
        return {}
    with path.open() as stream:
        loaded = yaml.safe_load(stream) or {}
    if not isinstance(loaded, dict):
        raise ValueError(f"{path}: expected a mapping of parameter names to values")
    return loaded


def merge_params(name: str, overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """Defaults of tracker ``name`` with ``overrides`` applied; unknown names are an error.

    Unknown names are refused so that a typo in a launch file or YAML is caught at start-up
    instead of silently running with the default.
    """
    params = default_params(name)
    unknown = sorted(set(overrides or {}) - set(params))
    if unknown and params:
        raise ValueError(
            f"unknown parameter(s) for tracker {name!r}: {', '.join(unknown)}; "
            f"known: {', '.join(sorted(params))}"
        )
    params.update(overrides or {})
    return params
