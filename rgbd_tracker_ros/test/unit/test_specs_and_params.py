"""Each tracker is described once (its spec) and loads its parameters through one typed loader."""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path

import pytest
import yaml

from rgbd_tracker_ros.ros.parameters import PARAMETERS
from rgbd_tracker_ros.tracking import params as loader
from rgbd_tracker_ros.tracking.model import default_spec, network_trackers
from rgbd_tracker_ros.tracking.networks.checkpoint import ARCHITECTURES
from rgbd_tracker_ros.tracking.params import Layer, ParameterError, load_params, read_mapping
from rgbd_tracker_ros.tracking.registry import markdown_table, package_specs, tracker_params

REPO = Path(__file__).resolve().parents[3]
SOURCES = REPO / "rgbd_tracker_ros" / "rgbd_tracker_ros"
PACKAGE_SPECS = package_specs()


def _keys(cls: type) -> dict:
    """Field names of ``cls``, nested dataclass blocks as sub-dicts (the YAML's shape)."""
    hints = typing.get_type_hints(cls)
    return {
        f.name: _keys(hints[f.name]) if dataclasses.is_dataclass(hints[f.name]) else None
        for f in dataclasses.fields(cls)
    }


def _shape(values: dict) -> dict:
    return {
        k: _shape(v) if isinstance(v, dict) and k != "opencv_params" else None
        for k, v in values.items()
    }


@pytest.mark.parametrize("spec", PACKAGE_SPECS, ids=lambda s: s.name)
def test_yaml_holds_exactly_the_fields_and_the_dataclass_no_defaults(spec):
    values = read_mapping(loader.defaults_file(spec.name))
    assert _shape(values) == _keys(spec.params)
    defaulted = [
        f.name
        for f in dataclasses.fields(spec.params)
        if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
    ]
    assert defaulted == [], "the YAML is the one source of defaults"
    tracker_params(spec.name)  # and the values load and pass the dataclass's checks


def test_unknown_keys_and_wrong_types_name_the_file_and_the_key(tmp_path):
    overrides = tmp_path / "mine.yaml"
    overrides.write_text("learning_rat: 0.05\n")
    with pytest.raises(
        ParameterError, match=rf"^{re.escape(str(overrides))}: unknown .*learning_rat"
    ):
        tracker_params("depth_dcf", Layer(read_mapping(overrides), str(overrides)))
    overrides.write_text("num_scales: three\n")
    with pytest.raises(
        ParameterError, match=rf"^{re.escape(str(overrides))}: num_scales: expected"
    ):
        tracker_params("depth_dcf", Layer(read_mapping(overrides), str(overrides)))
    overrides.write_text("- not a mapping\n")
    with pytest.raises(ParameterError, match="expected a mapping"):
        read_mapping(overrides)
    # The later layer wins; each value keeps its own source for the error message.
    params = tracker_params("depth_dcf", {"learning_rate": 0.05}, {"learning_rate": 0.07})
    assert params.learning_rate == 0.07


def test_a_bad_default_file_is_named(tmp_path, monkeypatch):
    @dataclasses.dataclass(frozen=True)
    class Two:
        count: int
        ratio: float

    yaml_file = tmp_path / "two.yaml"
    monkeypatch.setattr(loader, "defaults_file", lambda name: yaml_file)
    yaml_file.write_text(yaml.safe_dump({"count": 1}))
    with pytest.raises(ParameterError, match=rf"^{re.escape(str(yaml_file))}: lacks .*ratio"):
        load_params("two", Two)
    yaml_file.write_text(yaml.safe_dump({"count": 1.5, "ratio": 1}))
    with pytest.raises(
        ParameterError, match=rf"^{re.escape(str(yaml_file))}: count: expected an integer"
    ):
        load_params("two", Two)
    yaml_file.write_text(yaml.safe_dump({"count": 2, "ratio": 1}))
    assert load_params("two", Two) == Two(2, 1.0)


def test_conversion_is_strict():
    convert = loader.convert
    assert convert(3, float) == 3.0 and isinstance(convert(3, float), float)
    assert convert(4.0, int) == 4 and convert(None, float | None) is None
    assert convert([1, 2], tuple[float, ...]) == (1.0, 2.0)
    assert convert([1, 0.5], tuple[int, float]) == (1, 0.5)
    for value, kind in [
        (True, float),
        ("1", float),
        (1, bool),
        (1, str),
        (2.5, int),
        ([1], tuple[int, int]),
    ]:
        with pytest.raises(TypeError):
            convert(value, kind)


def test_registry_export_help_and_readme_come_from_the_specs():
    names = [s.name for s in PACKAGE_SPECS]
    assert len(set(names)) == len(names) and "depth_dcf" in names
    assert network_trackers() == [s.name for s in PACKAGE_SPECS if s.architectures]
    expected = {
        "dimp50": "dimp",
        "det_dimp50": "det",
        "trdimp": "trdimp",  # not trsiam, which runs the same network
        "siamrpn_r50_l234_dwxcorr": "siamrpn",  # not siamrpn_lt, which runs it too
        "siamrpn_r50_l234_dwxcorr_lt": "siamrpn_lt",
    }
    for arch in ARCHITECTURES:  # every network has a tracker: the first spec that lists it
        spec = default_spec(arch.name)
        assert arch.name in spec.architectures
        assert spec.name == expected.get(arch.name, spec.name)
    help_text = PARAMETERS["tracker.name"][1]
    assert all(name in help_text for name in names)
    assert markdown_table() in (REPO / "README.md").read_text()


def test_networks_never_import_trackers():
    tracker_packages = {p.parent.name for p in (SOURCES / "tracking").glob("*/spec.py")}
    for path in (SOURCES / "tracking" / "networks").rglob("*.py"):
        imported = re.findall(r"rgbd_tracker_ros\.tracking\.(\w+)", path.read_text())
        assert not set(imported) & tracker_packages, path
