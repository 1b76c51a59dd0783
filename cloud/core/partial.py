"""Partial updates (PATCH bodies): a field left out keeps its value; null is not a value."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import model_validator


class NoNulls:
    """Mixin for update models: explicit ``null`` is refused unless the field may be cleared.

    Without it, ``{"kind": null}`` reaches the database as NULL on a NOT NULL column and
    the caller gets a 500 instead of a reason.
    """

    nullable: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _refuse_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            nulls = sorted(k for k, v in data.items() if v is None and k not in cls.nullable)
            if nulls:
                raise ValueError(
                    f"{', '.join(nulls)}: null is not a value here; leave the field out to keep "
                    "its current value"
                )
        return data
