"""Offline redemption limits per venue, in the style of EMV offline risk management.

When the kiosk cannot reach the cloud it cannot see the member's balance, so every
offline redemption is a loan against points the member may not have. Three limits bound
the loan, all checked on the kiosk from its own journal (the counters are rows in the
journal's SQLite file, so a power cut cannot lose or double one):

``max_per_redemption`` (P)
    the price of one item redeemed offline;
``max_per_member_day`` (D)
    the total price of one member's offline redemptions at this kiosk in one local day
    (it does not reset when the kiosk reconnects);
``max_consecutive`` (C)
    one member's offline redemptions at this kiosk since the kiosk last reconnected and
    reconciled (EMV's consecutive-offline counter; reset by a completed reconciliation).

**These counters are per kiosk.** Kiosks cannot talk to each other while the uplink is
down, and an offline kiosk has no way to learn what the member did at another one; a
"per-member" limit enforced offline is therefore necessarily per member *per kiosk*.

**The bound.** Take one member who can reach ``k`` kiosks that are all offline. At one
kiosk, during one outage (no reconciliation in between) that stays within one local day:

* the daily limit caps the sum of prices at ``D``;
* the consecutive limit caps the count at ``C``, and each price is at most ``P``, so the
  sum is at most ``C × P``;

so at most ``min(D, C × P)``. The kiosks' counters are independent, so across ``k``
kiosks the member can take at most ``k × min(D, C × P) = min(k × D, k × C × P)`` in
points. The worst-case *overspend* (points redeemed beyond the member's balance) is at
most that amount — reached when the balance was already zero, for instance because the
member spent it online elsewhere just before the outage. Everything offline is journalled
and reconciled on reconnect with its original transaction id; the cloud ledger refuses
what the balance cannot cover and the kiosk raises ``kiosk.overspend`` for the manager, so
the overspend is bounded, recorded and flagged — never silently accepted.

Two refinements of the same argument: an outage that spans ``d`` local days is bounded by
``k × min(d × D, C × P)`` (the daily counter restarts at midnight, the consecutive one does
not); and over one local day with several outages, ``D`` per kiosk (``k × D`` in all) is
the hard ceiling, because only the consecutive counter resets on reconciliation. To make
the worst case small, keep ``C × P`` at or below ``D``: then one outage costs at most
``k × C × P``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator


class OfflineLimits(BaseModel):
    """``[kiosk.offline]``: a venue's appetite for offline redemptions (points)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = False  # off unless a venue opts in: offline points are a loan
    max_per_redemption: int = Field(default=0, ge=0, le=1_000_000)
    max_per_member_day: int = Field(default=0, ge=0, le=10_000_000)
    max_consecutive: int = Field(default=0, ge=0, le=1000)

    @model_validator(mode="after")
    def _usable_when_enabled(self) -> OfflineLimits:
        if (
            self.enabled
            and min(self.max_per_redemption, self.max_per_member_day, self.max_consecutive) <= 0
        ):
            raise ValueError(
                "kiosk.offline.enabled needs max_per_redemption, max_per_member_day and "
                "max_consecutive above 0; set them or disable offline redemption"
            )
        return self

    def worst_case_overspend(self, kiosks: int, *, days: int = 1) -> int:
        """Points one member can take without the cloud at ``kiosks`` kiosks, one outage."""
        if not self.enabled:
            return 0
        by_count = self.max_consecutive * self.max_per_redemption
        return kiosks * min(days * self.max_per_member_day, by_count)


class Refusal(StrEnum):
    """Why an offline redemption was not allowed (shown on the screen, zh-CN and en)."""

    OFFLINE_DISABLED = "offline_disabled"
    OVER_REDEMPTION_MAX = "over_redemption_max"
    OVER_DAILY_MAX = "over_daily_max"
    OVER_CONSECUTIVE_MAX = "over_consecutive_max"


@dataclass(frozen=True, slots=True)
class OfflineUsage:
    """What one member already redeemed offline at this kiosk (from the journal)."""

    spent_today: int  # points, this local day, refunded ones excluded
    consecutive: int  # redemptions since the last completed reconciliation


def check(limits: OfflineLimits, usage: OfflineUsage, price: int) -> Refusal | None:
    """``None`` if an offline redemption of ``price`` fits every limit, else the first refusal."""
    if not limits.enabled:
        return Refusal.OFFLINE_DISABLED
    if price > limits.max_per_redemption:
        return Refusal.OVER_REDEMPTION_MAX
    if usage.spent_today + price > limits.max_per_member_day:
        return Refusal.OVER_DAILY_MAX
    if usage.consecutive + 1 > limits.max_consecutive:
        return Refusal.OVER_CONSECUTIVE_MAX
    return None


def local_day(at: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The venue's local calendar day containing ``at``, as an aware [start, end) pair."""
    day = at.astimezone(zone).date()
    start = datetime.combine(day, time(), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone)
    return start, end
