"""Edge and cloud share only the protocol package: neither imports the other."""

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# package -> top-level packages it must never import
FORBIDDEN = {
    "cloud": {"edge", "firmware_sim"},
    "edge": {"cloud"},
}


def imported_modules(source: str, *, package: list[str]) -> Iterator[tuple[int, str]]:
    """Yield (line, absolute module) for each import in `source`, which lives in `package`."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.lineno, node.module or ""
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - (node.level - 1)]
            if node.module:
                yield node.lineno, ".".join([*base, node.module])
            else:
                # `from .. import edge` names modules in its alias list, not in `module`.
                for alias in node.names:
                    yield node.lineno, ".".join([*base, alias.name])


def _package_of(path: Path) -> list[str]:
    """The package a file's relative imports are resolved against."""
    return list(path.relative_to(ROOT).parent.parts)


def _violations(top: str) -> list[str]:
    found = []
    for path in sorted((ROOT / top).rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        for line, name in imported_modules(source, package=_package_of(path)):
            if name.split(".")[0] in FORBIDDEN[top]:
                found.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return found


@pytest.mark.parametrize("top", sorted(FORBIDDEN))
def test_package_does_not_import_the_other_side(top: str) -> None:
    assert (ROOT / top).is_dir()
    assert _violations(top) == []


def test_relative_and_absolute_imports_are_resolved() -> None:
    # Guards the checker itself: a relative import that climbs out of cloud/ must be seen.
    source = (
        "from ...edge import agent\n"
        "from ... import firmware_sim\n"
        "from . import store\n"
        "import edge.access, protocol\n"
        "from cloud.api import routes\n"
        "def f():\n"
        "    import edge\n"
    )
    names = [name for _, name in imported_modules(source, package=["cloud", "ingest"])]
    assert names == [
        "edge",
        "firmware_sim",
        "cloud.ingest.store",
        "edge.access",
        "protocol",
        "cloud.api",
        "edge",
    ]
