"""What the control plane needs of the rest of the box, as small interfaces.

The identity and the settings layers are built by the runner (``edge.provision``,
``edge.settings``); naming only what is used here keeps those packages free to change.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from edge.outbox import NewEvent
from edge.provision.identity import Credentials

EventSink = Callable[[Sequence[NewEvent]], object]


class BoxIdentity(Protocol):
    """The box's claim: its broker credentials and their generation."""

    @property
    def generation(self) -> int: ...

    def stage(self, password: str, generation: int, *, username: str | None = None) -> bool:
        """Keep ``password`` as the next credential, used once the broker refuses the current;
        False (nothing changes) when ``generation`` is not newer than the one in use."""
        ...

    def forget(self) -> object:
        """Delete the claim: the box is unclaimed afterwards."""
        ...


class ClaimedIdentity(BoxIdentity, Credentials, Protocol):
    """The identity the agent is given: what commands change, and what the uplink uses."""


class SettingsLayers(Protocol):
    """The box's settings sources; ``build`` validates a pushed fragment over them."""

    def build(self, pushed: dict[str, Any] | None) -> object:
        """The whole settings with ``pushed`` laid over; raises ``ConfigError`` listing problems."""
        ...


# Keep an applied config (version, pushed settings) on disk, atomically.
StoreApplied = Callable[[int, dict[str, Any]], None]
