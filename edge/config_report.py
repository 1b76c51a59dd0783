"""How a configuration problem is told to a person: where it is, what to do, who set it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any, Final, TypeAlias

from pydantic_core import ErrorDetails

# (where a layer comes from, e.g. "from the claim"; "" for the file itself), lowest first.
Layers: TypeAlias = list[tuple[str, dict[str, Any]]]

# Never echo these back: a config error ends up in logs and on screens.
_SECRET_PARTS: Final = ("password", "token", "secret")
_DATE_ERRORS: Final = frozenset({"date_from_datetime_parsing", "date_parsing", "date_type"})
# Complete sentences already (custom validators); pydantic would prefix "Value error, ".
_SENTENCES: Final = frozenset({"policy_config", "value_error", "assertion_error"})


def report(source: str, problems: list[str]) -> str:
    """The whole message: what is wrong, one problem per line, and what to do next."""
    lines = [f"{source} is not a valid edge configuration:"]
    lines += [f"  - {problem}" for problem in problems]
    lines.append(
        "Fix these and start again (`yizhan edge check-config FILE` checks a file first); "
        "commented examples: deploy/examples/box.toml (a new box), door.toml (a door)."
    )
    return "\n".join(lines)


def describe(error: ErrorDetails, named: Layers, *, known: Iterable[str]) -> str:
    """``where: what to do (which layer set it)`` for one pydantic error."""
    loc = tuple(error["loc"])
    text = f"{where(loc)}: {_explain(error, known)}"
    origin = _origin(loc, named)
    return f"{text} ({origin})" if origin else text


def where(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(whole config)"


def _explain(error: ErrorDetails, known: Iterable[str]) -> str:
    kind, loc, value = error["type"], tuple(error["loc"]), error.get("input")
    if kind == "missing":
        return _missing(loc)
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(str(loc[-1]) if loc else "", sorted(known), n=1)
        return "is not a setting here; " + (
            f"did you mean {close[0]!r}?" if close else "remove it or fix its spelling"
        )
    if kind in _DATE_ERRORS:
        return f"{value!r} is not a date; write it like 2025-01-28"
    message = str(error["msg"])
    if kind in _SENTENCES:
        return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    secret = any(part in str(key) for key in loc for part in _SECRET_PARTS)
    hidden = secret or isinstance(value, dict | list | tuple)
    return message if hidden else f"{message} (got {value!r})"


def _missing(loc: tuple[int | str, ...]) -> str:
    if loc in {("venue",), ("device",)}:
        return f"is required: claim the box with the code on its label, or set {loc[0]} in the file"
    return "is required; add it"


def _origin(loc: tuple[int | str, ...], named: Layers) -> str:
    # A check of the whole config is about the role and the section it needs.
    path = loc or ("role",)
    for origin, layer in reversed(named):
        if _holds(layer, path):
            return origin
    return ""


def _holds(layer: dict[str, Any], path: tuple[int | str, ...]) -> bool:
    node: Any = layer
    for part in path:
        in_table = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if not (in_table or in_list):
            return False
        node = node[part]
    return True
