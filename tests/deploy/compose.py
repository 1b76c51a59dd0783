"""Read deploy/cloud/compose.yaml the way the tests need it: services, commands, variables."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final

import yaml  # type: ignore[import-untyped]

ROOT: Final = Path(__file__).resolve().parents[2]
DEPLOY: Final = ROOT / "deploy" / "cloud"
COMPOSE: Final = DEPLOY / "compose.yaml"
TIMESCALE: Final = DEPLOY / "compose.timescale.yaml"
ENV_TEMPLATE: Final = DEPLOY / "env.template"
# ${VAR}, ${VAR:?message}, ${VAR:-default}: compose's interpolation forms.
VARIABLE: Final = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?+][^}]*)?\}")


def load_compose(path: Path = COMPOSE) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return data


def services(path: Path = COMPOSE) -> dict[str, dict[str, Any]]:
    found = load_compose(path)["services"]
    assert isinstance(found, dict)
    return found


def command(service: str) -> list[str]:
    """The service's command as compose runs it (a list, never a shell string)."""
    argv = services()[service]["command"]
    assert isinstance(argv, list), f"{service}'s command must be a list (no shell)"
    return [str(arg) for arg in argv]


def variables(text: str) -> set[str]:
    return set(VARIABLE.findall(text))


def container_env(site_env: dict[str, str], service: str) -> dict[str, str]:
    """The variables compose gives ``service``: the site's .env (its env_file), then its own
    ``environment:`` on top, interpolated from the .env as compose does."""
    own = services()[service].get("environment") or {}
    assert isinstance(own, dict), f"{service}'s environment must be a mapping"
    merged = dict(site_env)
    for name, value in own.items():
        assert value is not None, f"{service}.{name} has no value: compose would take the host's"
        merged[str(name)] = VARIABLE.sub(lambda m: site_env.get(m.group(1), ""), str(value))
    return merged
