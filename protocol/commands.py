"""Cloud -> device commands on ``yz/v1/{venue}/{device}/cmd/{name}``, and their decoder.

Published on the device's own command topic at QoS 1, never retained: a retained unlock
would open the door again on every reconnect. QoS 1 may deliver twice, which is why every
command carries an id the device executes at most once, and an expiry, so a command that sat
in a broker queue while the box was offline does not act hours later. Each name has its own
longest lifetime: an unlock is for someone standing at the door now; a wipe sent at
decommissioning may wait days for a box that is switched off.

The device answers every command it receives with a ``command.result`` event (see
:class:`CommandResult`), through its outbox like any other event.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, ClassVar, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from protocol.codec import check_envelope, parse_json, validate_payload
from protocol.errors import PayloadError
from protocol.ids import Identifier
from protocol.payloads import SCHEMA_VERSION, Timestamp
from protocol.release import ReleaseVersion
from protocol.topics import Kind, Topic

UNLOCK: Final = "unlock"
RESTART: Final = "restart"
ROTATE_CREDENTIALS: Final = "rotate-credentials"
DIAGNOSTICS: Final = "diagnostics"
WIPE: Final = "wipe"
UPDATE: Final = "update"
COMMAND_QOS: Final = 1
UNLOCK_QOS: Final = COMMAND_QOS
# Long enough for a broker round trip over a poor 4G link; short enough that a queued
# command cannot open the door long after the person who asked has left.
MAX_UNLOCK_LIFETIME: Final = timedelta(minutes=10)
# The event a device publishes for every command it received (done, refused or failed).
RESULT_EVENT: Final = "command.result"

# Random, URL-safe: 128 bits as 32 hex characters is what the cloud makes.
CommandId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,64}$")]
IssuedBy = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class _Command(BaseModel):
    """What every command carries; subclasses name themselves and their longest life."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: ClassVar[str]
    max_lifetime: ClassVar[timedelta]

    v: Literal[1] = SCHEMA_VERSION
    device: Identifier
    command_id: CommandId
    issued_at: Timestamp
    expires_at: Timestamp
    # Who asked (a technician's or manager's account), for the device's event log.
    issued_by: IssuedBy

    @model_validator(mode="after")
    def _short_lived(self) -> _Command:
        lifetime = self.expires_at - self.issued_at
        if lifetime <= timedelta(0):
            raise ValueError("expires_at must be after issued_at")
        if lifetime > self.max_lifetime:
            raise ValueError(
                f"a {self.name} command may live at most "
                f"{self.max_lifetime.total_seconds():.0f} s, this one "
                f"{lifetime.total_seconds():.0f} s; issue a fresh one when needed"
            )
        return self


class UnlockCommand(_Command):
    """Open ``door`` once, if received before ``expires_at``."""

    name: ClassVar[str] = UNLOCK
    max_lifetime: ClassVar[timedelta] = MAX_UNLOCK_LIFETIME
    door: Identifier


class RestartCommand(_Command):
    """Stop the agent cleanly and start it again (config and identity re-read)."""

    name: ClassVar[str] = RESTART
    max_lifetime: ClassVar[timedelta] = timedelta(minutes=10)


class DiagnosticsCommand(_Command):
    """Publish a :class:`protocol.health.Diagnostics` report on the device's ``diag`` topic."""

    name: ClassVar[str] = DIAGNOSTICS
    max_lifetime: ClassVar[timedelta] = timedelta(minutes=10)
    log_lines: int = Field(default=200, ge=0, le=1000)


class RotateCredentialsCommand(_Command):
    """Keep this password as the next one; use it once the broker refuses the current one.

    The cloud changes the broker's password only after the device reported it staged
    (a ``command.result`` with ``ok``), so a device is never locked out: until then the old
    password works, after it the new one does, and the device tries both.
    """

    name: ClassVar[str] = ROTATE_CREDENTIALS
    max_lifetime: ClassVar[timedelta] = timedelta(hours=1)
    username: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    password: Annotated[str, StringConstraints(min_length=16, max_length=128)]
    generation: int = Field(ge=2)


class WipeCommand(_Command):
    """Decommissioned: forget members, codes, credentials and identity; become unclaimed."""

    name: ClassVar[str] = WIPE
    max_lifetime: ClassVar[timedelta] = timedelta(days=7)
    reason: Annotated[str, StringConstraints(max_length=200)] = "decommissioned"


HourMinute = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


class UpdateWindow(BaseModel):
    """Local hours (in ``tz``) when a box may restart into a new release; may cross midnight."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: HourMinute
    end: HourMinute
    tz: Annotated[str, StringConstraints(min_length=1, max_length=64)] = "Asia/Shanghai"


class UpdateCommand(_Command):
    """Download, check and install release ``release``, then switch to it inside ``window``.

    The box fetches the signed manifest and the wheels it lacks from the cloud API at once
    (the door keeps deciding meanwhile) and restarts into the release only inside the window,
    or at once when there is none (a technician forced it). It reports each step as an
    ``update.state`` event (protocol/release.py).
    """

    name: ClassVar[str] = UPDATE
    # A box switched off for the weekend still takes Monday's window.
    max_lifetime: ClassVar[timedelta] = timedelta(days=7)
    release: ReleaseVersion
    serial: int = Field(ge=1)
    rollout: Annotated[str, StringConstraints(max_length=40)] = ""
    window: UpdateWindow | None = None


AnyCommand = (
    UnlockCommand
    | RestartCommand
    | DiagnosticsCommand
    | RotateCredentialsCommand
    | WipeCommand
    | UpdateCommand
)
COMMANDS: Final[dict[str, type[_Command]]] = {
    model.name: model
    for model in (
        UnlockCommand,
        RestartCommand,
        DiagnosticsCommand,
        RotateCredentialsCommand,
        WipeCommand,
        UpdateCommand,
    )
}


class CommandResult(BaseModel):
    """The data of a ``command.result`` event: what became of one command on the device."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    command: CommandId
    name: Annotated[str, StringConstraints(max_length=32)]
    ok: bool
    # accepted | done | staged | expired | replayed | refused | failed | unknown_command
    status: Annotated[str, StringConstraints(max_length=32)]
    detail: Annotated[str, StringConstraints(max_length=200)] = ""

    def event_data(self) -> dict[str, Any]:
        return self.model_dump()


def command_topic(venue: str, device: str, name: str) -> Topic:
    return Topic(venue, device, Kind.CMD, name)


def unlock_topic(venue: str, device: str) -> Topic:
    return command_topic(venue, device, UNLOCK)


def decode_command(topic: Topic, payload: bytes) -> AnyCommand:
    """Decode the command received on ``topic``; :class:`PayloadError` says what is wrong.

    The same checks in the same order as every other decoder (protocol/codec.py): size,
    UTF-8, JSON object, schema version, device = the topic's device, then the fields.
    """
    if topic.kind is not Kind.CMD or topic.command is None:
        raise PayloadError("$", f"topic {topic} is not a command topic")
    model = COMMANDS.get(topic.command)
    if model is None:
        raise PayloadError(
            "$", f"command {topic.command!r} is not one of {', '.join(sorted(COMMANDS))}"
        )
    data = parse_json(payload)
    check_envelope(data, topic)
    command = validate_payload(model, data)
    assert isinstance(command, AnyCommand)  # COMMANDS holds exactly the union's members
    return command


def decode_unlock(topic: Topic, payload: bytes) -> UnlockCommand:
    """Decode an unlock received on ``topic``; :class:`PayloadError` says what is wrong."""
    if topic.kind is not Kind.CMD or topic.command != UNLOCK:
        raise PayloadError("$", f"topic {topic} does not carry unlock commands")
    command = decode_command(topic, payload)
    assert isinstance(command, UnlockCommand)
    return command
