"""package.xml says what `rosdep install --from-paths src -y --ignore-src` installs: every key
must be real (test/rosdep_keys.yaml says where each was checked), every import must be covered
by one, and no key may be left over (python3-scipy once was, while imageio was missing).
The licence declared is the LICENSE shipped."""

from __future__ import annotations

import ast
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

TEST = Path(__file__).resolve().parents[1]
PACKAGE = TEST.parent
REPO = PACKAGE.parent
MANIFESTS = {"rgbd_tracker_ros": PACKAGE, "rgbd_tracker_msgs": REPO / "rgbd_tracker_msgs"}
TABLE = yaml.safe_load((TEST / "rosdep_keys.yaml").read_text())
RUN_TAGS = ("depend", "exec_depend")
ALL_TAGS = (*RUN_TAGS, "build_depend", "buildtool_depend", "build_export_depend", "test_depend")


def _keys(package: str, tags: tuple[str, ...] = ALL_TAGS) -> set[str]:
    root = ET.parse(MANIFESTS[package] / "package.xml").getroot()
    return {element.text.strip() for tag in tags for element in root.iter(tag)}


def _module_keys() -> dict[str, str]:
    """Top-level module -> the rosdep key (or workspace package) that provides it."""
    provides = {module: key for key, modules in TABLE["system"].items() for module in modules}
    for key, (_, *modules) in TABLE["ros"].items():
        provides.update(dict.fromkeys(modules, key))
    return provides | {name: name for name in MANIFESTS}


def _imports(paths: list[Path]) -> dict[str, set[str]]:
    """Third-party top-level modules imported by ``paths`` -> the files importing them."""
    # This package itself, and the test helpers imported by plain name.
    local = {"rgbd_tracker_ros", *(p.stem for p in TEST.glob("*.py"))}
    found: dict[str, set[str]] = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in local | {"__future__"}:
                    found.setdefault(top, set()).add(path.relative_to(REPO).as_posix())
    return found


def _runtime_sources() -> list[Path]:
    return [*(PACKAGE / "rgbd_tracker_ros").rglob("*.py"), *(PACKAGE / "launch").glob("*.py")]


@pytest.mark.parametrize("package", sorted(MANIFESTS))
def test_every_key_is_a_checked_rosdep_key(package):
    known = set(TABLE["system"]) | set(TABLE["ros"]) | set(MANIFESTS)
    assert _keys(package) - known == set(), "check the key in rosdistro, add it to the table"


def test_every_import_has_its_key_and_every_key_an_import():
    provides, pip_only = _module_keys(), set(TABLE["pip"])
    runtime = _imports(_runtime_sources())
    unknown = set(runtime) - set(provides) - pip_only
    assert not unknown, {m: runtime[m] for m in unknown}
    needed = {provides[module] for module in runtime if module in provides}
    declared = _keys("rgbd_tracker_ros", RUN_TAGS)
    assert needed - declared == set(), "imported at run time but not in depend/exec_depend"
    assert declared - needed == set(), "declared but never imported"


def test_test_imports_and_commands_are_test_dependencies():
    provides, pip_only = _module_keys(), set(TABLE["pip"])
    tests = sorted(TEST.rglob("*.py"))
    imported = _imports(tests)
    unknown = set(imported) - set(provides) - pip_only
    assert not unknown, {m: imported[m] for m in unknown}
    declared = _keys("rgbd_tracker_ros")
    assert {provides[m] for m in imported if m in provides} - declared == set()
    # The ros2 verbs the tests run (ros2 launch, ros2 run, ...) come from their packages.
    cli_tests = [p.read_text() for p in tests if '"ros2"' in p.read_text()]
    cli = {key for key in TABLE["ros"] if key.startswith("ros2")}
    used = {key for key in cli if any(f'"{key[4:]}"' in text for text in cli_tests)}
    assert used == _keys("rgbd_tracker_ros", ("test_depend",)) & cli


def test_licence_declared_is_the_licence_shipped():
    licence = (REPO / "LICENSE").read_text()
    assert "Apache License" in licence and "Version 2.0, January 2004" in licence
    for package, folder in MANIFESTS.items():
        root = ET.parse(folder / "package.xml").getroot()
        assert [e.text for e in root.iter("license")] == ["Apache-2.0"], package
    setup = (PACKAGE / "setup.py").read_text()
    assert 'license="Apache-2.0"' in setup
