"""Who is calling, and which venues they may see: the one authorization value routes use.

Every route takes a :data:`CurrentPrincipal` (or uses :func:`require_roles`) and filters
venue data with :meth:`Principal.venue_filter`; no route decides scope on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

# The roles a box is claimed as (protocol.provisioning.ROLES): what its own token may do.
DOOR: Final = "door"
KIOSK: Final = "kiosk"
SENSOR_HUB: Final = "sensor-hub"


class Role(StrEnum):
    ADMIN = "admin"  # a district administrator: every venue, users, rules
    MANAGER = "manager"  # their own venues only
    TECHNICIAN = "technician"  # devices of every venue (or of their venues when scoped)
    MEMBER = "member"  # their own data only
    SERVICE = "service"  # a device (or the legacy all-venue token) holding an API token
    # The union's own platform: an API token that may do exactly what its scopes say.
    INTEGRATION = "integration"


class Scope(StrEnum):
    """What an integration token may do; nothing else is open to it."""

    MEMBERS_READ = "members:read"  # find and page through the roster
    MEMBERS_WRITE = "members:write"  # upsert, suspend, revoke, reinstate
    CODES_ISSUE = "codes:issue"  # a member's fresh door code, and their phone keys
    BOOKINGS_WRITE = "bookings:write"  # book and cancel rooms, sign members up for activities


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str  # username, or "token:<id>"
    role: Role
    # None: every venue. A manager's (and a scoped technician's) venues otherwise.
    venue_ids: frozenset[str] | None = None
    member_id: str | None = None  # for Role.MEMBER
    # Set when the API token is a box's own (Device.api_token_id): the token acts only as
    # that box, in its role. None for people and for integration tokens.
    device_id: str | None = None
    device_role: str | None = None  # door | kiosk | sensor-hub (None: never claimed)
    scopes: frozenset[Scope] = frozenset()  # Role.INTEGRATION's; people's roles have none
    token_id: str | None = None  # the API token behind the call, if one (for the audit)

    def sees_venue(self, venue_id: str) -> bool:
        return self.venue_ids is None or venue_id in self.venue_ids

    def venue_filter(self) -> frozenset[str] | None:
        """The venue ids to restrict a query to, or None for no restriction."""
        return self.venue_ids

    def may(self, scope: Scope) -> bool:
        """An admin may do what any scope allows; an integration only what its token says."""
        return self.role is Role.ADMIN or (self.role is Role.INTEGRATION and scope in self.scopes)

    @property
    def is_device(self) -> bool:
        return self.device_id is not None

    def acts_as(self, *device_roles: str) -> bool:
        """False for a device's token of another role; people and integrations pass."""
        return self.device_id is None or self.device_role in device_roles

    @property
    def pseudonymize_members(self) -> bool:
        """Managers see visits, not who made them (member ids are hashed for them).

        A box's own token is hashed too: no box needs to read who went where.
        """
        # The union's platform owns the roster: it knows who its members are.
        return self.role not in (Role.ADMIN, Role.SERVICE, Role.INTEGRATION) or self.is_device
