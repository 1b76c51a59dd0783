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


# --- every arrow pointing down ------------------------------------------------------------

PACKAGES = ("protocol", "edge", "cloud", "firmware_sim", "ops", "yizhan")
# Top-level package -> the other top-level packages it may import.
MAY_IMPORT = {
    "protocol": set(),
    "edge": {"protocol"},
    "cloud": {"protocol"},
    "ops": {"protocol"},
    "firmware_sim": {"protocol", "edge"},
    "yizhan": {"protocol", "edge", "cloud", "ops", "firmware_sim"},
}
# firmware_sim is the hardware behind the drivers: it reaches into edge/ only for the
# drivers' interfaces and settings (which pin is what) and for what a board says of its clock.
FIRMWARE_SIM_REACHES = ("edge.hardware", "edge.kiosk.settings", "edge.clock")
# Inside cloud/: the HTTP API and the pages are on top; `cloud.service` composes the app.
CLOUD_ON_TOP = ("cloud.api", "cloud.web", "cloud.service")
# `cloud.settings` gathers every part's own settings module, the pages' included.
SETTINGS_GATHERER = "cloud.settings"


def _modules() -> dict[str, Path]:
    found = {}
    for top in PACKAGES:
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _graph() -> dict[str, dict[str, int]]:
    """module -> {imported module (ours, resolved to a file): line}, late imports included."""
    modules = _modules()
    graph: dict[str, dict[str, int]] = {}
    for name, path in modules.items():
        edges = graph.setdefault(name, {})
        source = path.read_text(encoding="utf-8")
        for line, imported in imported_modules(source, package=_package_of(path)):
            target = imported
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                edges.setdefault(target, line)
    return graph


def _within(module: str, prefixes: tuple[str, ...] | str) -> bool:
    prefixes = (prefixes,) if isinstance(prefixes, str) else prefixes
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def upward_imports(graph: dict[str, dict[str, int]]) -> list[str]:
    """Every import that points up or sideways across the layers; empty when all point down."""
    found = []
    for module, edges in sorted(graph.items()):
        top = module.split(".")[0]
        for target, line in sorted(edges.items()):
            where = f"{module}:{line} imports {target}"
            target_top = target.split(".")[0]
            if target_top != top and target_top not in MAY_IMPORT[top]:
                found.append(where)
            elif top == "firmware_sim" and target_top == "edge":
                if not _within(target, FIRMWARE_SIM_REACHES):
                    found.append(where)
            elif top == "cloud" and not _within(module, CLOUD_ON_TOP):
                gathered = module == SETTINGS_GATHERER and target.endswith(".settings")
                if _within(target, CLOUD_ON_TOP) and not gathered:
                    found.append(where)
            elif _within(module, "cloud.web") and _within(target, "cloud.api.routes"):
                found.append(f"{where} (a page calls a route)")
    return found


class _Tarjan:
    """Strongly connected groups of a directed graph (Tarjan's algorithm)."""

    def __init__(self, graph: dict[str, dict[str, int]]) -> None:
        self.graph = graph
        self.index: dict[str, int] = {}
        self.low: dict[str, int] = {}
        self.stack: list[str] = []
        self.groups: list[list[str]] = []

    def visit(self, node: str) -> None:
        self.index[node] = self.low[node] = len(self.index)
        self.stack.append(node)
        for target in self.graph.get(node, {}):
            if target not in self.index:
                self.visit(target)
                self.low[node] = min(self.low[node], self.low[target])
            elif target in self.stack:
                self.low[node] = min(self.low[node], self.index[target])
        if self.low[node] == self.index[node]:
            self._close(node)

    def _close(self, root: str) -> None:
        at = len(self.stack) - 1 - self.stack[::-1].index(root)
        group, self.stack[at:] = self.stack[at:], []
        self.groups.append(sorted(group))


def import_cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Groups of modules that import each other, late imports included."""
    tarjan = _Tarjan(graph)
    for node in sorted(graph):
        if node not in tarjan.index:
            tarjan.visit(node)
    return sorted(group for group in tarjan.groups if len(group) > 1)


def test_every_import_points_down() -> None:
    assert upward_imports(_graph()) == []


def test_no_import_cycles_anywhere() -> None:
    assert import_cycles(_graph()) == []


def test_the_checker_sees_an_upward_import_and_a_cycle() -> None:
    """Guards the checker itself with a made-up graph."""
    graph = {
        "cloud.devices.claims": {"cloud.api.schemas": 3},
        "cloud.api.schemas": {"cloud.devices.claims": 9},
        "firmware_sim.door": {"edge.hardware.door": 1, "edge.uplink": 2},
        "cloud.web.pages.member": {"cloud.api.routes.points": 5},
        "ops.broker.probe": {"edge.uplink": 21},
    }
    assert upward_imports(graph) == [
        "cloud.devices.claims:3 imports cloud.api.schemas",
        "cloud.web.pages.member:5 imports cloud.api.routes.points (a page calls a route)",
        "firmware_sim.door:2 imports edge.uplink",
        "ops.broker.probe:21 imports edge.uplink",
    ]
    assert import_cycles(graph) == [["cloud.api.schemas", "cloud.devices.claims"]]
