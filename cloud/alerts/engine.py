"""The alert evaluation job: read recent raw data, run the rules, open / refresh / resolve.

``evaluate(engine, now)`` is the callable the scheduler runs. It is idempotent (a second run
over the same data opens nothing and queues nothing) and writes webhook deliveries to the
outbox table only, so a slow receiver never holds it up.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from cloud.alerts import lifecycle, messages, rules
from cloud.alerts.defaults import DEFAULT_RULES
from cloud.alerts.models import SYSTEM, Alert, AlertKind, AlertRule, SensorRole, SensorRoleName
from cloud.alerts.rules import Event, Finding, Rule, Sample
from cloud.alerts.subject import Subject
from cloud.core.time import as_utc
from cloud.devices.models import Device
from cloud.models import DeviceEvent, Reading, Venue

logger = logging.getLogger(__name__)

_ROLE_KINDS: dict[str, AlertKind] = {
    SensorRoleName.FRIDGE: AlertKind.FRIDGE_WARM,
    SensorRoleName.AMBIENT: AlertKind.HEAT,
}
_DOOR_EVENT_TYPES = ("door.opened", "door.closed", "door.forced", "emergency.on", "emergency.off")


@dataclass(frozen=True, slots=True)
class OccupancyNow:
    venue_id: str
    count: int
    capacity: int | None
    at: datetime


# Reads current occupancy with capacity per venue; injected so the rule does not depend on
# how (or whether) the aggregates store it.
OccupancySource = Callable[[Session], Sequence[OccupancyNow]]
# The local hour occupancy resets at when the settings say nothing else (JobSettings').
DEFAULT_QUIET_HOUR: Final = 4


@dataclass(slots=True)
class EvaluationResult:
    opened: list[int] = field(default_factory=list)
    refreshed: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)


def live_occupancy_at(now: datetime, *, quiet_hour: int | None) -> OccupancySource:
    """People inside each venue with a capacity, as of ``now``, by the function the
    dashboard's badge uses (cloud.aggregates.occupancy.live_occupancy): the rule and the
    badge read the same figure, raw rows included, instead of the rule waiting for the
    next scheduled refresh of the occupancy table (which left the badge ~45 s ahead)."""

    def read(session: Session) -> list[OccupancyNow]:
        from cloud.aggregates.models import VenueSettings  # noqa: PLC0415 - see above
        from cloud.aggregates.occupancy import live_occupancy  # noqa: PLC0415
        from cloud.aggregates.timezones import venue_zone  # noqa: PLC0415

        rows = session.exec(
            select(VenueSettings.venue_id, VenueSettings.capacity, Venue.timezone)
            .join(Venue, col(Venue.id) == col(VenueSettings.venue_id))
            .where(col(VenueSettings.capacity).is_not(None))
        ).all()
        conn = session.connection()
        return [
            OccupancyNow(
                venue_id,
                live_occupancy(
                    conn, venue_id, zone=venue_zone(zone), now=now, quiet_hour=quiet_hour
                ).count,
                capacity,
                now,
            )
            for venue_id, capacity, zone in rows
        ]

    return read


def _local_month(venue: Venue, now: datetime) -> int:
    try:
        return now.astimezone(ZoneInfo(venue.timezone)).month
    except (ZoneInfoNotFoundError, ValueError):
        logger.warning("venue %s has unknown time zone %r; using UTC", venue.id, venue.timezone)
        return now.month


class RuleBook:
    """The rule in force per venue and kind: the venue's override, else the district default."""

    def __init__(self, rows: Iterable[AlertRule]) -> None:
        self._rules: dict[tuple[str | None, str], Rule] = {}
        for row in rows:
            self._rules[(row.venue_id, row.kind)] = Rule(
                kind=AlertKind(row.kind),
                threshold=row.threshold,
                duration_s=row.duration_s,
                enabled=row.enabled,
                season_start_month=row.season_start_month,
                season_end_month=row.season_end_month,
            )
        for default in DEFAULT_RULES:  # a deleted default row falls back to the shipped one
            self._rules.setdefault(
                (None, default.kind),
                Rule(
                    kind=default.kind,
                    threshold=default.threshold,
                    duration_s=default.duration_s,
                    season_start_month=default.season[0] if default.season else None,
                    season_end_month=default.season[1] if default.season else None,
                ),
            )

    def get(self, venue_id: str, kind: AlertKind) -> Rule | None:
        rule = self._rules.get((venue_id, kind)) or self._rules[(None, kind)]
        return rule if rule.enabled else None


@dataclass(frozen=True, slots=True)
class _Context:
    session: Session
    now: datetime
    book: RuleBook
    venues: dict[str, Venue]


def _temperature_findings(ctx: _Context) -> list[Finding]:
    roles = ctx.session.exec(select(SensorRole)).all()
    findings: list[Finding] = []
    for role in roles:
        venue = ctx.venues.get(role.venue_id)
        kind = _ROLE_KINDS.get(role.role)
        rule = ctx.book.get(role.venue_id, kind) if venue is not None and kind else None
        if venue is None or kind is None or rule is None:
            continue
        since = ctx.now - rule.duration - rules.MAX_READING_GAP
        rows = ctx.session.exec(
            select(Reading.ts, Reading.value)
            .where(
                Reading.device_id == role.device_id,
                Reading.sensor == role.sensor,
                Reading.metric == "temperature_c",
                col(Reading.ts) >= since,
                col(Reading.ts) <= ctx.now,
            )
            .order_by(col(Reading.ts))
        ).all()
        samples = [Sample(as_utc(ts), value) for ts, value in rows]
        subject = Subject(kind, venue.id, role.device_id, role.sensor)
        if kind == AlertKind.FRIDGE_WARM:
            finding = rules.fridge_warm(rule, subject, samples, now=ctx.now)
        else:
            finding = rules.heat(
                rule,
                subject,
                samples,
                now=ctx.now,
                venue_kind=venue.kind,
                local_month=_local_month(venue, ctx.now),
            )
        if finding is not None:
            findings.append(finding)
    return findings


def _forced_watermarks(session: Session) -> dict[str, datetime]:
    rows = session.exec(
        select(Alert.dedupe_key, func.max(Alert.last_seen_at))
        .where(Alert.kind == AlertKind.DOOR_FORCED)
        .group_by(col(Alert.dedupe_key))
    ).all()
    return {key: as_utc(ts) for key, ts in rows}


def _door_findings(ctx: _Context) -> list[Finding]:
    rows = ctx.session.exec(
        select(DeviceEvent)
        .where(
            col(DeviceEvent.type).in_(_DOOR_EVENT_TYPES),
            col(DeviceEvent.ts) >= ctx.now - rules.DOOR_LOOKBACK,
            col(DeviceEvent.ts) <= ctx.now,
        )
        .order_by(col(DeviceEvent.ts), col(DeviceEvent.seq))
    ).all()
    by_door: dict[tuple[str, str], list[Event]] = defaultdict(list)
    for row in rows:
        by_door[(row.venue_id, row.device_id)].append(Event(as_utc(row.ts), row.type, row.data))
    watermarks = _forced_watermarks(ctx.session)
    findings: list[Finding] = []
    for (venue_id, device_id), events in by_door.items():
        held_rule = ctx.book.get(venue_id, AlertKind.DOOR_HELD_OPEN)
        if held_rule is not None:
            held = Subject(AlertKind.DOOR_HELD_OPEN, venue_id, device_id)
            held_finding = rules.door_held_open(held_rule, held, events, now=ctx.now)
            findings.extend([held_finding] if held_finding else [])
        if ctx.book.get(venue_id, AlertKind.DOOR_FORCED) is not None:
            forced = Subject(AlertKind.DOOR_FORCED, venue_id, device_id)
            after = watermarks.get(forced.key)
            forced_finding = rules.door_forced(forced, events, after=after)
            findings.extend([forced_finding] if forced_finding else [])
    return findings


def _offline_findings(ctx: _Context) -> list[Finding]:
    findings: list[Finding] = []
    for device in ctx.session.exec(select(Device)).all():
        rule = ctx.book.get(device.venue_id, AlertKind.DEVICE_OFFLINE)
        if rule is None:
            continue
        subject = Subject(AlertKind.DEVICE_OFFLINE, device.venue_id, device.id)
        last_seen = as_utc(device.last_seen_at) if device.last_seen_at else None
        finding = rules.device_offline(
            rule, subject, online=device.online, last_seen_at=last_seen, now=ctx.now
        )
        if finding is not None:
            findings.append(finding)
    return findings


def _capacity_findings(ctx: _Context, occupancy: OccupancySource) -> list[Finding]:
    findings: list[Finding] = []
    for row in occupancy(ctx.session):
        rule = ctx.book.get(row.venue_id, AlertKind.OVER_CAPACITY)
        if rule is None or row.venue_id not in ctx.venues:
            continue
        subject = Subject(AlertKind.OVER_CAPACITY, row.venue_id)
        finding = rules.over_capacity(
            rule, subject, count=row.count, capacity=row.capacity, at=ctx.now
        )
        if finding is not None:
            findings.append(finding)
    return findings


def _hour_kwh(session: Session, start: datetime) -> dict[tuple[str, str], float]:
    """kWh per (venue, meter) in [start, start + 1 h): the register's rise within the hour.

    Rise between the first and last reading of the hour: it misses at most one sampling
    interval, the same every day, so the comparison with other days stays fair.
    """
    rows = session.exec(
        select(
            Reading.venue_id,
            Reading.device_id,
            func.max(Reading.value) - func.min(Reading.value),
            func.count(),
        )
        .where(
            Reading.metric == "energy_kwh",
            col(Reading.ts) >= start,
            col(Reading.ts) < start + timedelta(hours=1),
        )
        .group_by(col(Reading.venue_id), col(Reading.device_id))
    ).all()
    return {(venue, device): float(kwh) for venue, device, kwh, n in rows if n >= 2}


def _energy_findings(ctx: _Context) -> list[Finding]:
    hour_end = ctx.now.replace(minute=0, second=0, microsecond=0)
    last_hour = _hour_kwh(ctx.session, hour_end - timedelta(hours=1))
    history: dict[tuple[str, str], list[float]] = defaultdict(list)
    for days in range(1, rules.ENERGY_HISTORY_DAYS + 1):
        start = hour_end - timedelta(hours=1, days=days)
        for meter, kwh in _hour_kwh(ctx.session, start).items():
            history[meter].append(kwh)
    findings: list[Finding] = []
    for (venue_id, device_id), kwh in last_hour.items():
        rule = ctx.book.get(venue_id, AlertKind.ENERGY_SPIKE)
        if rule is None or venue_id not in ctx.venues:
            continue
        subject = Subject(AlertKind.ENERGY_SPIKE, venue_id, device_id)
        finding = rules.energy_spike(
            rule,
            subject,
            hour_kwh=kwh,
            history_kwh=history[(venue_id, device_id)],
            hour_end=hour_end,
        )
        if finding is not None:
            findings.append(finding)
    return findings


def find_conditions(
    session: Session,
    *,
    now: datetime,
    occupancy: OccupancySource | None = None,
    quiet_hour: int | None = DEFAULT_QUIET_HOUR,
) -> list[Finding]:
    """Every rule over the data in ``session`` as of ``now``; writes nothing.

    ``occupancy`` by default is the live figure (:func:`live_occupancy_at`)."""
    occupancy = occupancy or live_occupancy_at(now, quiet_hour=quiet_hour)
    ctx = _Context(
        session=session,
        now=now,
        book=RuleBook(session.exec(select(AlertRule)).all()),
        venues={v.id: v for v in session.exec(select(Venue)).all()},
    )
    findings = [
        *_temperature_findings(ctx),
        *_door_findings(ctx),
        *_offline_findings(ctx),
        *_capacity_findings(ctx, occupancy),
        *_energy_findings(ctx),
    ]
    probes = {
        (r.device_id, r.sensor): r.label
        for r in session.exec(select(SensorRole).where(col(SensorRole.label).is_not(None)))
        if r.label
    }
    return [messages.named(finding, ctx.venues, probes) for finding in findings]


def _reconcile(session: Session, findings: Sequence[Finding], *, now: datetime) -> EvaluationResult:
    result = EvaluationResult()
    active = {
        a.active_key: a
        for a in session.exec(select(Alert).where(col(Alert.active_key).is_not(None))).all()
    }
    for finding in findings:
        alert = active.get(finding.subject.key)
        if finding.active and alert is None:
            alert = lifecycle.open_alert(session, finding, now=now)
            active[finding.subject.key] = alert
            assert alert.id is not None  # flushed by open_alert
            result.opened.append(alert.id)
        elif finding.active and alert is not None:
            if lifecycle.refresh(alert, finding):
                session.add(alert)
                result.refreshed.append(alert.id or 0)
        elif alert is not None:
            alert.last_value = finding.value if finding.value is not None else alert.last_value
            lifecycle.resolve(session, alert, by=SYSTEM, now=now)
            del active[finding.subject.key]
            result.resolved.append(alert.id or 0)
    return result


def evaluate(
    engine: Engine,
    now: datetime,
    *,
    occupancy: OccupancySource | None = None,
    quiet_hour: int | None = DEFAULT_QUIET_HOUR,
) -> EvaluationResult:
    """Run every rule as of ``now`` and apply the result in one transaction; ``quiet_hour``
    is the district's occupancy reset hour (JobSettings.occupancy_quiet_hour)."""
    now = as_utc(now)
    with Session(engine) as session:
        findings = find_conditions(session, now=now, occupancy=occupancy, quiet_hour=quiet_hour)
        result = _reconcile(session, findings, now=now)
        session.commit()
    if result.opened or result.resolved:
        logger.info(
            "alerts: %d opened, %d refreshed, %d resolved",
            len(result.opened),
            len(result.refreshed),
            len(result.resolved),
        )
    return result
