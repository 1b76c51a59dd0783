"""A stolen box's credentials against the broker: every cross-device publish and subscribe.

Counted by observation, not by what the attacker is told: the legitimate reader of each
target topic listens, and a forged message counts as accepted if it reaches anyone. Each
forged publish uses a fresh connection, because Mosquitto drops a client after a refused
publish. A marker sent on an allowed path afterwards proves the readers were listening.

A device account is bound to one client id, so the attacker connects with its own (any
other is refused at once, which would prove nothing) and nobody else can listen as it: a
forgery aimed at its own downlink is watched by the forging connection itself.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ops.broker.probe import Login, Probe, poll_until


@dataclass(frozen=True, slots=True, kw_only=True)
class Account:
    username: str | None
    password: str | None
    client_id: str | None = None  # the id a device account is bound to; None: any


class AttackError(RuntimeError):
    """The attack could not be tried (the attacker's own login failed, say)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """A device the attack is aimed at (or made from), with the account it logs in with."""

    venue: str
    device: str
    account: Account


@dataclass(frozen=True, slots=True, kw_only=True)
class Battlefield:
    """One broker, the attacker's stolen box, two victims and the cloud's own accounts."""

    host: str
    port: int
    ca_file: Path | None
    attacker: Target
    victim: Target  # same venue as the attacker
    stranger: Target  # another venue
    ingest: Account
    control: Account
    provision: Account
    serial: str  # some box's serial, for the provisioning topics


@dataclass(slots=True)
class AttackReport:
    publish_attempts: int = 0
    subscribe_attempts: int = 0
    accepted_publishes: list[str] = field(default_factory=list)
    accepted_subscribes: list[str] = field(default_factory=list)


def _topic(target: Target, kind: str, *, venue: str | None = None) -> str:
    return f"yz/v1/{venue or target.venue}/{target.device}/{kind}"


class _Field:
    def __init__(self, battlefield: Battlefield, stack: ExitStack) -> None:
        self.b = battlefield
        self._stack = stack
        self._count = 0

    def probe(self, account: Account, *, listen: Sequence[str] = ()) -> Probe:
        self._count += 1
        login = Login(
            host=self.b.host,
            port=self.b.port,
            username=account.username,
            password=account.password,
            ca_file=self.b.ca_file,
            client_id=account.client_id or f"yz-attack-{self._count}-{secrets.token_hex(3)}",
        )
        probe = Probe(login)
        self._stack.callback(probe.close)
        answer = probe.connect()
        if answer.is_failure:
            # A refused login publishes nothing; counting it as a blocked attack would lie.
            raise AttackError(f"{account.username} could not log in: {answer}")
        for topic_filter in listen:
            probe.subscribe(topic_filter)
        return probe

    @contextmanager
    def thief(self, *, listen: Sequence[str] = ()) -> Iterator[Probe]:
        """One connection as the attacker, closed after use: its account may be bound to a
        single client id, and a connection left open would reconnect and take the session
        back from the next one."""
        probe = self.probe(self.b.attacker.account, listen=listen)
        try:
            yield probe
        finally:
            probe.close()


def _publish_targets(b: Battlefield) -> list[tuple[str, str]]:
    """(topic, which observer must never see it)."""
    a, v, s = b.attacker, b.victim, b.stranger
    return [
        *[(_topic(v, kind), "ingest") for kind in ("telemetry", "event", "state", "diag")],
        (_topic(s, "telemetry"), "ingest"),
        (_topic(a, "telemetry", venue=s.venue), "ingest"),  # its own id, another venue
        *[(_topic(v, kind), "victim") for kind in ("cmd/unlock", "config", "ack")],
        (f"yz/prov/{b.serial}/bundle", "provision"),
        (f"yz/prov/{b.serial}/hello", "control"),
        ("$CONTROL/dynamic-security/v1", "control"),
    ]


def _subscribe_targets(b: Battlefield) -> list[str]:
    v, s = b.victim, b.stranger
    return [
        _topic(v, "cmd/+"),
        _topic(v, "config"),
        _topic(v, "ack"),
        _topic(v, "#"),
        _topic(s, "cmd/+"),
        f"yz/v1/{v.venue}/+/telemetry",
        "yz/v1/+/+/cmd/+",
        "yz/v1/#",
        "#",
        "$share/g/yz/v1/+/+/telemetry",
        "yz/prov/+/hello",
        "yz/prov/+/bundle",
        "$CONTROL/#",
        "$SYS/#",
    ]


@contextmanager
def _observers(f: _Field) -> Iterator[dict[str, Probe]]:
    b = f.b
    yield {
        "ingest": f.probe(
            b.ingest, listen=[f"yz/v1/+/+/{k}" for k in ("telemetry", "event", "state", "diag")]
        ),
        "victim": f.probe(
            b.victim.account, listen=[_topic(b.victim, k) for k in ("cmd/+", "config", "ack")]
        ),
        "provision": f.probe(b.provision, listen=["yz/prov/+/bundle"]),
        "control": f.probe(
            b.control, listen=["yz/prov/+/hello", "$CONTROL/dynamic-security/v1/response"]
        ),
    }


def _forged(token: str) -> bytes:
    # Valid dynsec JSON too, so a $CONTROL publish that got through would be answered
    # (with this token echoed as correlation data) and seen by the control observer.
    return (
        '{"commands": [{"command": "listClients", "correlationData": "' + token + '"}], '
        '"note": "' + token + '"}'
    ).encode()


def _markers(f: _Field, seen: dict[str, Probe]) -> None:
    """Something each observer is allowed to get, sent last: proof they were listening."""
    b = f.b
    token = secrets.token_hex(8).encode()
    with f.thief() as thief:
        thief.publish(_topic(b.attacker, "telemetry"), token)
    control = f.probe(b.control)
    control.publish(_topic(b.victim, "cmd/unlock"), token)
    control.publish(f"yz/prov/{b.serial}/bundle", token)
    f.probe(b.provision).publish(f"yz/prov/{b.serial}/hello", token)
    for observer in seen.values():
        observer.wait_for_message(token)


def run_attacks(battlefield: Battlefield) -> AttackReport:
    """Try every cross-device publish and subscribe with the attacker's credentials."""
    report = AttackReport()
    with ExitStack() as stack:
        f = _Field(battlefield, stack)
        with _observers(f) as seen:
            forged: list[tuple[str, str, bytes]] = []
            for topic, observer in _publish_targets(battlefield):
                token = secrets.token_hex(8)
                payload = _forged(token)
                with f.thief() as thief:
                    thief.try_publish(topic, payload)
                forged.append((topic, observer, token.encode()))
                report.publish_attempts += 1
            _markers(f, seen)
            for topic, _observer, sent in forged:
                if any(_saw(probe, sent) for probe in seen.values()):
                    report.accepted_publishes.append(topic)
        for kind in ("cmd/unlock", "config", "ack"):
            topic = _topic(battlefield.attacker, kind)
            report.publish_attempts += 1
            if _forged_to_itself(f, topic):
                report.accepted_publishes.append(topic)
        for topic_filter in _subscribe_targets(battlefield):
            report.subscribe_attempts += 1
            with f.thief() as thief:
                if not thief.subscribe(topic_filter).is_failure:
                    report.accepted_subscribes.append(topic_filter)
    return report


def _forged_to_itself(f: _Field, topic: str) -> bool:
    """Whether the attacker's own downlink takes what it publishes there itself.

    One connection subscribes and forges. Mosquitto routes an allowed publish to the
    subscriber before anything else, and drops the connection for a refused one.
    """
    b = f.b
    token = secrets.token_hex(8)
    with f.thief(listen=[_topic(b.attacker, k) for k in ("cmd/+", "config", "ack")]) as probe:
        probe.try_publish(topic, _forged(token))
        poll_until(
            lambda: probe.disconnects or _saw(probe, token.encode()),
            timeout=probe.timeout,
            what=f"the forged {topic} was neither refused nor delivered",
        )
        return _saw(probe, token.encode())


def _saw(probe: Probe, token: bytes) -> bool:
    return any(token in payload for _topic, payload in list(probe.messages))
