"""The install is what pyproject.toml declares and constraints.txt pins, and nothing more.

A newcomer's `make test` must not depend on a package that only arrives because another one
happens to pull it in (pwdlib came through amqtt), nor on whatever PyPI serves this month.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "constraints.txt"
RUNTIME_PACKAGES = ("protocol", "edge", "cloud", "firmware_sim", "ops", "yizhan")
LOCAL = {*RUNTIME_PACKAGES, "tests"}


def _project() -> dict[str, object]:
    project: dict[str, object] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return project


def _requirements(group: str | None) -> list[Requirement]:
    project = _project()
    if group is None:
        raw = project["dependencies"]
    else:
        extras = project["optional-dependencies"]
        assert isinstance(extras, dict)
        raw = extras[group]
    assert isinstance(raw, list)
    found = []
    for line in raw:
        req = Requirement(line)
        if canonicalize_name(req.name) == canonicalize_name(str(project["name"])):
            # The project's own extras ("yizhan[sim]" in dev): what they require, pinned too.
            found += [r for extra in sorted(req.extras) for r in _requirements(extra)]
        else:
            found.append(req)
    return found


def _locked() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for number, raw in enumerate(LOCK.read_text().splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        assert sep, f"constraints.txt:{number}: {raw!r} is not NAME==VERSION"
        pins[canonicalize_name(name)] = Version(version)
    return pins


def _imported_modules(folder: Path) -> Iterator[tuple[str, Path]]:
    """Top-level names of third-party modules imported anywhere under folder."""
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".", 1)[0]
                if top not in sys.stdlib_module_names and top not in LOCAL:
                    yield top, path


def _declared(groups: tuple[str | None, ...]) -> set[str]:
    return {canonicalize_name(req.name) for group in groups for req in _requirements(group)}


@pytest.mark.parametrize(
    ("folders", "groups"),
    [
        (RUNTIME_PACKAGES, (None,)),
        (("tests",), (None, "dev")),
    ],
    ids=["runtime", "tests"],
)
def test_every_import_is_a_declared_dependency(
    folders: tuple[str, ...], groups: tuple[str | None, ...]
) -> None:
    declared = _declared(groups)
    providers = metadata.packages_distributions()
    undeclared: dict[str, str] = {}
    for folder in folders:
        for module, path in _imported_modules(ROOT / folder):
            dists = {canonicalize_name(dist) for dist in providers.get(module, [])}
            assert dists, f"{path.relative_to(ROOT)} imports {module}, which nothing installs"
            if not dists & declared:
                undeclared[module] = str(path.relative_to(ROOT))
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"


@pytest.mark.parametrize("group", [None, "dev"], ids=["dependencies", "dev"])
def test_the_lock_pins_every_declared_requirement_within_its_range(group: str | None) -> None:
    pins = _locked()
    for req in _requirements(group):
        if req.marker is not None and not req.marker.evaluate({"extra": group or ""}):
            continue
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is declared but not in constraints.txt: run `make lock`"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {req.name}=={pins[name]}, outside pyproject.toml's "
            f"{req.specifier}: run `make lock`"
        )


def test_the_installed_versions_are_the_locked_ones() -> None:
    """`make` installs from the lock; a venv that drifted from it is not what CI tests."""
    drifted = {}
    for name, pinned in _locked().items():
        try:
            installed = Version(metadata.version(name))
        except metadata.PackageNotFoundError:
            continue  # a pin for another platform or Python (constraints never force an install)
        if installed != pinned:
            drifted[name] = f"{installed} installed, {pinned} locked"
    assert not drifted, f"run `make clean test` to reinstall from constraints.txt: {drifted}"
