"""The cloud's hand on boxes' broker accounts: Mosquitto dynamic security, or nothing at all.

Each box gets a client (username = its device id) bound to the box's own client id, and a
role ``device-{id}`` that lets it publish its own uplink topics and read its own ack, config
and commands, nothing else. The binding means a stolen box's password logs in only as that
box: it cannot connect with another box's or a cloud service's client id and so take that
session over. The
plugin's API is JSON over MQTT: commands to ``$CONTROL/dynamic-security/v1``, answers on
``…/v1/response``; see https://mosquitto.org/documentation/dynamic-security/.
"""

from __future__ import annotations

import json
import logging
import queue
import secrets
import ssl
import threading
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any, Final, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from cloud.core.mqtt import session_client_id
from protocol import broker_acl
from protocol.broker_acl import DEVICE_ROLE_PREFIX, as_dynsec, device_role
from protocol.errors import TopicError
from protocol.ids import CLIENT_ID_RE
from protocol.mqtt import stop_loop
from protocol.provisioning import legacy_client_id

logger = logging.getLogger(__name__)

REQUEST_TOPIC: Final = broker_acl.DYNSEC_TOPIC
RESPONSE_TOPIC: Final = broker_acl.DYNSEC_RESPONSE_TOPIC
DEFAULT_TIMEOUT: Final = 5.0
# The plugin's own error texts (mosquitto 2.0, plugins/dynamic-security).
_ROLE_EXISTS: Final = "Role already exists"
_ROLE_NOT_FOUND: Final = "Role not found"
_CLIENT_NOT_FOUND: Final = "Client not found"

Command = dict[str, Any]


class BrokerAdminError(Exception):
    """The broker's accounts could not be changed; the message says what to check."""


class BrokerAdmin(Protocol):
    """Creates, changes and removes boxes' broker accounts."""

    def add_device(
        self, *, username: str, password: str, venue: str, device: str, client_id: str
    ) -> None:
        """Create the box's account and role, bound to ``client_id``; if they exist, reset
        the password, role and binding."""

    def set_password(self, *, username: str, password: str) -> None:
        """Change the password; an account still unbound is bound to the client id its box
        has always used (it was claimed before accounts were bound)."""

    def disconnect(self, *, username: str) -> None:
        """Drop the box's connections; it may log in again."""

    def remove_device(self, *, username: str) -> None:
        """Delete the account (connected clients are dropped) and its role; missing is fine."""

    def close(self) -> None: ...


def device_acls(*, venue: str, device: str) -> list[Command]:
    """One box's role as dynsec ACLs (see protocol.broker_acl.device_acls)."""
    try:
        return as_dynsec(broker_acl.device_acls(venue=venue, device=device))
    except TopicError as exc:
        raise BrokerAdminError(str(exc)) from exc


class OpenBrokerAdmin:
    """An anonymous development broker has no accounts: every call is a no-op."""

    def add_device(
        self,
        *,
        username: str,
        password: str,  # noqa: ARG002
        venue: str,
        device: str,
        client_id: str,  # noqa: ARG002
    ) -> None:
        logger.debug("open broker: no account to create for %s (%s/%s)", username, venue, device)

    def set_password(self, *, username: str, password: str) -> None:  # noqa: ARG002
        logger.debug("open broker: no password to set for %s", username)

    def disconnect(self, *, username: str) -> None:
        logger.debug("open broker: not disconnecting %s", username)

    def remove_device(self, *, username: str) -> None:
        logger.debug("open broker: no account to remove for %s", username)

    def close(self) -> None:
        logger.debug("open broker: nothing to close")


def _subject(command: Command) -> str:
    for key in ("username", "rolename", "groupname"):
        if key in command:
            return f" for {command[key]}"
    return ""


class DynsecAdmin:
    """Talks to Mosquitto's dynamic security plugin, one request at a time (thread-safe)."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str,
        password: str,
        ca_file: Path | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._endpoint = f"{host}:{port}"
        self._username = username
        self._timeout = timeout
        self._lock = threading.Lock()  # one request in flight, so answers arrive in order
        self._ready = threading.Event()  # connected and subscribed to the answers
        self._refusal: str | None = None
        self._answers: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        # Unique per instance: two controllers sharing the account must not kick each other.
        client_id = session_client_id(f"{username}-admin")
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311
        )
        self._client.username_pw_set(username, password)
        if ca_file is not None:
            try:
                self._client.tls_set(ca_certs=str(ca_file))
            except (OSError, ssl.SSLError, ValueError) as exc:
                raise BrokerAdminError(
                    f"cannot use {ca_file} as the broker's CA certificate ({exc}); "
                    "check the broker CA file setting"
                ) from exc
        self._client.reconnect_delay_set(min_delay=1, max_delay=10)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        # Connects in the background and keeps reconnecting, so the cloud may start first.
        self._client.connect_async(host, port, keepalive=30)
        self._client.loop_start()

    def add_device(
        self, *, username: str, password: str, venue: str, device: str, client_id: str
    ) -> None:
        _check_password(username, password)
        _check_client_id(client_id)
        role, acls = device_role(device), device_acls(venue=venue, device=device)
        existing = self._device_client(username)
        (created,) = self._run(
            [{"command": "createRole", "rolename": role, "acls": acls}], tolerate={_ROLE_EXISTS}
        )
        commands: list[Command] = []
        if created.get("error"):
            commands.append({"command": "modifyRole", "rolename": role, "acls": acls})
        account = {
            "username": username,
            "password": password,
            "clientid": client_id,
            "roles": [{"rolename": role}],
        }
        if existing is None:
            commands.append({"command": "createClient", **account})
        else:
            stale = {r["rolename"] for r in existing.get("roles", [])} - {role}
            commands += [
                {"command": "modifyClient", **account},
                # A disconnect that failed half way would leave the account disabled.
                {"command": "enableClient", "username": username},
                *({"command": "deleteRole", "rolename": name} for name in sorted(stale)),
            ]
        self._run(commands)
        logger.info(
            "broker account %s (bound to its client id) ready for device %s in venue %s",
            username, device, venue,
        )  # fmt: skip

    def set_password(self, *, username: str, password: str) -> None:
        _check_password(username, password)
        client = self._require_device_client(username)
        commands: list[Command] = [
            {"command": "setClientPassword", "username": username, "password": password}
        ]
        if not client.get("clientid"):
            # Claimed before binding: its box connects as legacy_client_id and knows no other.
            bound = legacy_client_id(username)
            commands.append({"command": "modifyClient", "username": username, "clientid": bound})
        self._run(commands)
        logger.info("broker password changed for %s", username)

    def disconnect(self, *, username: str) -> None:
        self._require_device_client(username)
        # The plugin has no kick command; disabling drops every connection of the account.
        self._run(
            [
                {"command": "disableClient", "username": username},
                {"command": "enableClient", "username": username},
            ]
        )
        logger.info("broker connections of %s dropped", username)

    def remove_device(self, *, username: str) -> None:
        client = self._device_client(username) or {}
        roles = {device_role(username)} | {r["rolename"] for r in client.get("roles", [])}
        self._run(
            [
                {"command": "deleteClient", "username": username},
                *({"command": "deleteRole", "rolename": role} for role in sorted(roles)),
            ],
            tolerate={_CLIENT_NOT_FOUND, _ROLE_NOT_FOUND},
        )
        logger.info("broker account %s removed", username)

    def close(self) -> None:
        self._client.disconnect()
        stop_loop(self._client)

    def _device_client(self, username: str) -> Command | None:
        """The account as the plugin lists it, None if missing; refuses a service account."""
        (answer,) = self._run(
            [{"command": "getClient", "username": username}], tolerate={_CLIENT_NOT_FOUND}
        )
        if answer.get("error"):
            return None
        client: Command = answer.get("data", {}).get("client", {})
        foreign = [
            str(role.get("rolename"))
            for role in client.get("roles", [])
            if not str(role.get("rolename", "")).startswith(DEVICE_ROLE_PREFIX)
        ]
        # A device id that collides with yz-control or yz-ingest must not take it over.
        if foreign or client.get("groups"):
            raise BrokerAdminError(
                f"broker account {username} is not a device account (roles: "
                f"{', '.join(foreign) or 'none'}); refusing to change it, pick another device id"
            )
        return client

    def _require_device_client(self, username: str) -> Command:
        client = self._device_client(username)
        if client is None:
            raise BrokerAdminError(
                f"the broker has no account {username}; add the device before changing it"
            )
        return client

    def _run(self, commands: list[Command], *, tolerate: Collection[str] = ()) -> list[Command]:
        """Send one batch and return its answers; raise on an error not in `tolerate`."""
        with self._lock:
            deadline = time.monotonic() + self._timeout
            self._await_ready(deadline)
            tag = secrets.token_hex(8)
            tagged = [{**c, "correlationData": f"{tag}:{i}"} for i, c in enumerate(commands)]
            while not self._answers.empty():  # late answers to a request that timed out
                self._answers.get_nowait()
            self._client.publish(REQUEST_TOPIC, json.dumps({"commands": tagged}), qos=1)
            answers = self._await_answers(tagged, deadline)
        for command, answer in zip(commands, answers, strict=True):
            error = answer.get("error")
            if error and error not in tolerate:
                raise BrokerAdminError(
                    f"the broker refused {command['command']}{_subject(command)}: {error}"
                )
        return answers

    def _await_ready(self, deadline: float) -> None:
        if self._ready.wait(max(0.0, deadline - time.monotonic())):
            return
        if self._refusal is not None:
            raise BrokerAdminError(
                f"the broker at {self._endpoint} refused {self._username}: {self._refusal}; "
                "check the control account's password against the broker's accounts.json"
            )
        raise BrokerAdminError(
            f"cannot reach the broker at {self._endpoint} in {self._timeout:g} s; "
            "is it running with the dynamic security plugin?"
        )

    def _await_answers(self, tagged: list[Command], deadline: float) -> list[Command]:
        wanted = [c["correlationData"] for c in tagged]
        while True:
            try:
                payload = self._answers.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise BrokerAdminError(
                    f"the broker did not answer {tagged[0]['command']} in {self._timeout:g} s; "
                    "is it running with the dynamic security plugin?"
                ) from None
            answers = _parse_answers(payload)
            # Every admin client sees every answer; ours carry our tags, in our order.
            if [a.get("correlationData") for a in answers] == wanted:
                return answers

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self._refusal = str(reason)
            logger.warning("the broker refused the admin login %s: %s", self._username, reason)
            return
        self._refusal = None
        client.subscribe(RESPONSE_TOPIC, qos=1)

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _m: int, reasons: Any, _p: Any) -> None:
        if any(reason.is_failure for reason in reasons):
            self._refusal = f"no access to {RESPONSE_TOPIC} (is this the control account?)"
            logger.error("the broker refused %s the dynsec answers topic", self._username)
            return
        self._ready.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self._ready.clear()
        logger.debug("dynsec admin connection lost: %s", reason)

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        self._answers.put(bytes(message.payload))


def _check_password(username: str, password: str) -> None:
    if not password:
        raise BrokerAdminError(f"refusing an empty broker password for {username}")


def _check_client_id(client_id: str) -> None:
    # Empty would leave the account unbound: any client id, so any box's session.
    if not CLIENT_ID_RE.fullmatch(client_id):
        raise BrokerAdminError(
            f"client id {client_id[:70]!r} is not one a device may be bound to: use 1-64 "
            "letters, digits, dashes or underscores"
        )


def _parse_answers(payload: bytes) -> list[Command]:
    try:
        answers = json.loads(payload)["responses"]
    except (ValueError, KeyError, TypeError):
        logger.warning("ignoring a dynsec answer that is not JSON with responses")
        return []
    if not isinstance(answers, list) or not all(isinstance(a, dict) for a in answers):
        return []
    return answers
