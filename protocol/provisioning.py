"""Claiming a new box: its factory claim code, the provisioning topics, the sealed bundle.

A box leaves the factory with a serial and a claim secret, printed together as a QR label
(``YZC1-…``). Powered on unclaimed, it connects with the shared, restricted provisioning
account and says hello on ``yz/prov/{serial}/hello`` every few seconds; the hello carries a
*check* of the secret (a hash, useless for claiming) so the cloud can tell a right code from
a wrong one. The technician types or scans the label: the cloud creates the device, its own
broker credentials and API token, and seals them into a bundle with a key derived from the
claim secret. Only someone holding the label, or the box, can open it, so the bundle may be
published where every provisioning client can read it (``yz/prov/{serial}/bundle``).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from typing import Annotated, Final, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from protocol.codec import encode, parse_json, validate_payload
from protocol.errors import PayloadError, ProtocolError, TopicError
from protocol.ids import CLIENT_ID_PATTERN, Identifier, check_id
from protocol.payloads import SCHEMA_VERSION, ShortText, Timestamp

PROVISION_PREFIX: Final = "yz/prov"
CODE_PREFIX: Final = "YZC1"
# RFC 4648 base32 letters: upper case on the label (QR alphanumeric mode), lower in topics.
_B32: Final = "abcdefghijklmnopqrstuvwxyz234567"
SERIAL_CHARS: Final = 10  # 50 bits: unique across any fleet, short on a label
SECRET_CHARS: Final = 20  # 100 bits: not guessable, even without the cloud's attempt limits
CHECK_CHARS: Final = 2  # catches a typo before the cloud is asked
HELLO_QOS: Final = 1
BUNDLE_QOS: Final = 1

Role = Literal["sensor-hub", "door", "kiosk"]
ROLES: Final[tuple[str, ...]] = ("sensor-hub", "door", "kiosk")
# An MQTT client id the broker binds a device account to (dynamic security's ``clientid``).
MqttClientId = Annotated[str, StringConstraints(pattern=CLIENT_ID_PATTERN)]
_CLIENT_ID_SECRET_BYTES: Final = 8  # 64 bits: the provisioning account cannot guess it


def legacy_client_id(device: str) -> str:
    """The client id of a box whose claim named none: what boxes have always connected as."""
    return f"yz-{check_id(device, what='device')}"


def new_client_id(device: str) -> str:
    """A claimed device's own MQTT client id: its name, and a part nobody else knows.

    The broker lets a device account in only with this id, so a stolen box cannot take
    another's. The secret part keeps the provisioning account (whose password is on every
    factory box, and which cannot be bound to one id) from guessing it: a client that
    connects with an id in use takes that session over, whoever it is.
    """
    return f"{legacy_client_id(device)}-{secrets.token_hex(_CLIENT_ID_SECRET_BYTES)}"


Serial = Annotated[str, StringConstraints(pattern=rf"^[a-z2-7]{{{SERIAL_CHARS}}}$")]
ClaimCheck = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]

_CODE_RE = re.compile(
    rf"^{CODE_PREFIX}([A-Z2-7]{{{SERIAL_CHARS}}})([A-Z2-7]{{{SECRET_CHARS}}})([A-Z2-7]{{{CHECK_CHARS}}})$"
)


class ClaimCodeError(ProtocolError):
    """A claim code that is not well formed; the message says what to check."""


class SealError(ProtocolError):
    """A sealed bundle that does not open with this claim secret."""


def _random_b32(n: int) -> str:
    return "".join(secrets.choice(_B32) for _ in range(n))


def _check_chars(serial: str, secret: str) -> str:
    digest = hashlib.sha256(f"yizhan/claim-code/{serial}/{secret}".encode()).digest()
    return (_B32[digest[0] % 32] + _B32[digest[1] % 32]).upper()


@dataclass(frozen=True, slots=True)
class ClaimCode:
    """A box's factory identity: its serial (public) and its claim secret (on the label)."""

    serial: str
    secret: str

    def __post_init__(self) -> None:
        if not re.fullmatch(rf"[a-z2-7]{{{SERIAL_CHARS}}}", self.serial):
            raise ClaimCodeError(f"serial {self.serial[:20]!r} is not {SERIAL_CHARS} base32 chars")
        if not re.fullmatch(rf"[a-z2-7]{{{SECRET_CHARS}}}", self.secret):
            raise ClaimCodeError(f"the claim secret is not {SECRET_CHARS} base32 chars")

    @classmethod
    def generate(cls) -> ClaimCode:
        return cls(_random_b32(SERIAL_CHARS), _random_b32(SECRET_CHARS))

    @classmethod
    def parse(cls, text: str) -> ClaimCode:
        """Read a code as typed or scanned: case, spaces and dashes do not matter."""
        compact = re.sub(r"[\s\-]", "", text).upper()
        if not compact.startswith(CODE_PREFIX):
            raise ClaimCodeError(
                f"{text[:40]!r} is not a yizhan claim code; it starts with {CODE_PREFIX}- "
                "and is printed on the box's label"
            )
        match = _CODE_RE.fullmatch(compact)
        if match is None:
            length = SERIAL_CHARS + SECRET_CHARS + CHECK_CHARS
            raise ClaimCodeError(
                f"the claim code has {len(compact) - len(CODE_PREFIX)} characters after "
                f"{CODE_PREFIX}, it needs {length} of A-Z and 2-7; check it against the label"
            )
        serial, secret, check = match.group(1).lower(), match.group(2).lower(), match.group(3)
        if _check_chars(serial, secret) != check:
            raise ClaimCodeError(
                "the claim code has a typo (its last two characters do not match the rest); "
                "check each character against the label, or scan the QR code"
            )
        return cls(serial, secret)

    def text(self) -> str:
        """The label text, grouped for reading aloud: ``YZC1-SERIAL-XXXXX-…-CC``."""
        secret = self.secret.upper()
        groups = "-".join(secret[i : i + 5] for i in range(0, len(secret), 5))
        check = _check_chars(self.serial, self.secret)
        return f"{CODE_PREFIX}-{self.serial.upper()}-{groups}-{check}"

    def qr_text(self) -> str:
        """The same code without dashes: the shortest QR (alphanumeric mode)."""
        return re.sub("-", "", self.text())

    @property
    def check(self) -> str:
        return claim_check(self.secret)


def claim_check(secret: str) -> str:
    """What a box sends in its hello: proves nothing, but tells a right code from a wrong one.

    A one-way hash of a 100-bit secret: knowing it does not help to claim the box or to open
    its bundle (that key is derived differently, see :func:`bundle_key`).
    """
    return hashlib.sha256(f"yizhan/claim-check/v1/{secret}".encode()).hexdigest()


def bundle_key(code: ClaimCode) -> bytes:
    """The AES-256-GCM key that seals the box's bundle, bound to its serial."""
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=code.serial.encode(),
        info=b"yizhan/bundle/v1",
    )
    return hkdf.derive(code.secret.encode())


def hello_topic(serial: str) -> str:
    return f"{PROVISION_PREFIX}/{_serial(serial)}/hello"


def bundle_topic(serial: str) -> str:
    return f"{PROVISION_PREFIX}/{_serial(serial)}/bundle"


HELLO_FILTER: Final = f"{PROVISION_PREFIX}/+/hello"


def serial_of(topic: str) -> str:
    """The serial in a ``yz/prov/{serial}/{hello|bundle}`` topic, or :class:`TopicError`."""
    parts = topic.split("/")
    if len(parts) != 4 or "/".join(parts[:2]) != PROVISION_PREFIX:
        raise TopicError(f"topic {topic[:120]!r} is not {PROVISION_PREFIX}/{{serial}}/…")
    return _serial(parts[2])


def _serial(value: str) -> str:
    if not re.fullmatch(rf"[a-z2-7]{{{SERIAL_CHARS}}}", value):
        raise TopicError(
            f"serial {value[:20]!r} is not valid: {SERIAL_CHARS} of a-z and 2-7 (see the label)"
        )
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Hello(_Model):
    """Box -> cloud while unclaimed: here I am, this is the check of my claim secret."""

    v: Literal[1] = SCHEMA_VERSION
    serial: Serial
    check: ClaimCheck
    ts: Timestamp
    software: ShortText | None = None
    hardware: ShortText | None = None  # e.g. "Raspberry Pi 4 Model B Rev 1.4"
    # The box connects with the client id its bundle names (Bundle.mqtt_client_id). A box
    # that does not say so is sent no such field (it would refuse the bundle) and is bound
    # to the id it has always used (legacy_client_id).
    accepts_client_id: bool = False


class Bundle(_Model):
    """What a claimed box needs to be itself; sealed with :func:`bundle_key`.

    ``mqtt_host``/``mqtt_port``/``mqtt_tls`` left out (None): keep what the box provisioned
    through. ``ca_pem``: trust this CA for the broker's TLS listener.

    Fields a box does not know are ignored, not refused: the bundle is sealed by the cloud
    (authenticated), and a newer cloud must not make an older box unclaimable. What a box
    must understand is only sent when its hello says it does (``Hello.accepts_client_id``).
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    v: Literal[1] = SCHEMA_VERSION
    serial: Serial
    device: Identifier
    venue: Identifier
    role: Role
    mqtt_username: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    mqtt_password: Annotated[str, StringConstraints(min_length=16, max_length=128)]
    credential_generation: int = Field(default=1, ge=1)
    # None (a cloud older than client-id binding): the box connects as "yz-{device}".
    mqtt_client_id: MqttClientId | None = None
    mqtt_host: ShortText | None = None
    mqtt_port: Annotated[int, Field(ge=1, le=65535)] | None = None
    mqtt_tls: bool | None = None
    ca_pem: Annotated[str, StringConstraints(max_length=16_384)] | None = None
    api_url: ShortText | None = None
    api_token: Annotated[str, StringConstraints(max_length=200)] | None = None
    issued_at: Timestamp


class SealedBundle(_Model):
    """Cloud -> box on ``yz/prov/{serial}/bundle``; readable by every provisioning client,
    openable only with the claim secret."""

    v: Literal[1] = SCHEMA_VERSION
    serial: Serial
    nonce: Annotated[str, StringConstraints(min_length=16, max_length=24)]
    ciphertext: Annotated[str, StringConstraints(min_length=16, max_length=64_000)]


def seal(bundle: Bundle, code: ClaimCode) -> SealedBundle:
    if bundle.serial != code.serial:
        raise SealError(f"bundle for {bundle.serial} cannot be sealed with {code.serial}'s code")
    nonce = os.urandom(12)
    data = AESGCM(bundle_key(code)).encrypt(nonce, encode(bundle), code.serial.encode())
    return SealedBundle(
        serial=code.serial,
        nonce=base64.b64encode(nonce).decode(),
        ciphertext=base64.b64encode(data).decode(),
    )


def open_sealed(sealed: SealedBundle, code: ClaimCode) -> Bundle:
    """The bundle inside, or :class:`SealError` when this is not the box's code."""
    if sealed.serial != code.serial:
        raise SealError(f"the bundle is for box {sealed.serial}, this is {code.serial}")
    try:
        nonce = base64.b64decode(sealed.nonce, validate=True)
        data = base64.b64decode(sealed.ciphertext, validate=True)
        plain = AESGCM(bundle_key(code)).decrypt(nonce, data, code.serial.encode())
    except (InvalidTag, ValueError):
        raise SealError("the bundle does not open with this box's claim secret") from None
    try:
        bundle = Bundle.model_validate_json(plain)
    except ValidationError as exc:
        raise SealError(f"the bundle opened but is not valid: {exc.errors()[0]['msg']}") from None
    check_id(bundle.device, what="device")
    return bundle


def decode_hello(topic: str, payload: bytes) -> Hello:
    """A hello as the cloud receives it; :class:`ProtocolError` says what is wrong."""
    serial = serial_of(topic)
    hello = validate_payload(Hello, parse_json(payload))
    if hello.serial != serial:
        raise PayloadError("serial", f"{hello.serial} does not match the topic's {serial}")
    return hello


def decode_sealed(topic: str, payload: bytes) -> SealedBundle:
    serial = serial_of(topic)
    sealed = validate_payload(SealedBundle, parse_json(payload))
    if sealed.serial != serial:
        raise PayloadError("serial", f"{sealed.serial} does not match the topic's {serial}")
    return sealed
