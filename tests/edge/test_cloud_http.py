"""The box's HTTPS to the cloud API when the union serves it with its own CA (api_ca_file)."""

from __future__ import annotations

import http.server
import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from gpiozero.pins.mock import MockFactory

from edge.clock import utc_now
from edge.cloud_http import cloud_http
from edge.door.runtime import DoorParts, DoorRuntime
from edge.hardware.door import DoorPins
from edge.kiosk.runtime import KioskBoxParts, KioskRuntime
from edge.kiosk.settings import KioskSettings
from edge.settings import ConfigError, EdgeSettings, load_settings
from firmware_sim.camera import VirtualCamera
from ops.pki import PkiFiles, init_pki
from protocol.device_config import config_problems
from tests.edge.kiosk.conftest import PINS as KIOSK_PINS
from tests.edge.kiosk.conftest import edge_wait

TIMEOUT = httpx.Timeout(10.0)
PINS = DoorPins(relay=5, green_led=6, red_led=13, buzzer=19, door_contact=26, exit_button=20)


class _Cloud(http.server.BaseHTTPRequestHandler):
    """Any path: 404 with a JSON body, as the API answers an unknown route."""

    def do_GET(self) -> None:
        body = json.dumps({"detail": "Not Found"}).encode()
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib's name)
        pass


@pytest.fixture
def pki(tmp_path: Path) -> PkiFiles:
    return init_pki(tmp_path / "union-ca", server_names=("127.0.0.1",))


@pytest.fixture
def https_url(pki: PkiFiles) -> Iterator[str]:
    """An HTTPS server on loopback whose certificate the union's own CA signed."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Cloud)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_the_public_cas_alone_refuse_the_unions_certificate(https_url: str) -> None:
    with cloud_http(None, timeout=TIMEOUT) as http, pytest.raises(httpx.ConnectError) as caught:
        http.get(f"{https_url}/healthz")
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)


def test_api_ca_file_lets_the_box_reach_the_api(https_url: str, pki: PkiFiles) -> None:
    with cloud_http(pki.ca_cert, timeout=TIMEOUT) as http:
        assert http.get(f"{https_url}/healthz").status_code == 404  # it got an answer


def _door(tmp_path: Path, url: str, ca_file: Path | None) -> EdgeSettings:
    settings: dict[str, object] = {
        "venue": "station-07",
        "device": "door-01",
        "role": "door",
        "data_dir": tmp_path / "box",
        "door": {
            "policy": {"door_id": "main"},
            "pins": PINS,
            "access": {"sync_url": url, "sync_token": "t" * 40},
        },
    }
    if ca_file is not None:
        settings["api_ca_file"] = ca_file
    return EdgeSettings.model_validate(settings)


@pytest.mark.parametrize("trusted", [True, False], ids=["api_ca_file", "public-cas-only"])
def test_a_door_syncs_over_the_unions_https_only_with_its_ca(
    tmp_path: Path, https_url: str, pki: PkiFiles, trusted: bool
) -> None:
    settings = _door(tmp_path, https_url, pki.ca_cert if trusted else None)
    factory = MockFactory()
    parts = DoorParts(frame_source=VirtualCamera(np.random.default_rng(0)), pin_factory=factory)
    runtime = DoorRuntime(settings, parts=parts, events=lambda _events: None, clock=utc_now)
    try:
        results = runtime.sync_now()
    finally:
        runtime.close()
        factory.close()
    assert results, "the door has a sync_url: it must try"
    details = " ".join(result.detail for result in results)
    # Trusted: the TLS handshake succeeded and the server's 404 is what failed the sync.
    assert ("CERTIFICATE_VERIFY_FAILED" in details) is not trusted, details
    assert all(not result.ok for result in results)


@dataclass(frozen=True)
class _KioskBox:
    device: str
    data_dir: Path
    kiosk: KioskSettings
    api_ca_file: Path | None


@pytest.mark.parametrize("trusted", [True, False], ids=["api_ca_file", "public-cas-only"])
def test_a_kiosk_reaches_the_unions_https_only_with_its_ca(
    tmp_path: Path, https_url: str, pki: PkiFiles, trusted: bool
) -> None:
    kiosk = KioskSettings.model_validate(
        {
            "kiosk_id": "kiosk-1",
            "pins": KIOSK_PINS.model_dump(),
            "screen_port": 0,
            "cloud_url": https_url,
            "cloud_token": "t" * 40,
        }
    )
    box = _KioskBox("kiosk-box", tmp_path, kiosk, pki.ca_cert if trusted else None)
    factory = MockFactory()
    camera = VirtualCamera(np.random.default_rng(0))
    parts = KioskBoxParts(frame_source=camera, pin_factory=factory, wait=edge_wait)
    runtime = KioskRuntime(box, parts=parts, events=lambda _events: None, clock=utc_now)
    try:
        results = runtime.sync_now()  # the same client carries its redemptions
    finally:
        runtime.close()
        factory.close()
    details = " ".join(result.detail for result in results)
    assert results
    assert ("CERTIFICATE_VERIFY_FAILED" in details) is not trusted, details


def test_an_unusable_api_ca_file_is_refused_at_start_by_name(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-ca.pem"
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    for path in (missing, garbage):
        config = tmp_path / "box.toml"
        config.write_text(
            f'venue = "station-07"\ndevice = "hub-01"\napi_ca_file = "{path}"\n',
            encoding="utf-8",
        )
        with pytest.raises(ConfigError, match=f"api_ca_file.*{path.name}"):
            load_settings(config)


def test_the_cloud_cannot_push_a_trust_anchor() -> None:
    problems = config_problems({"api_ca_file": "attacker-ca.pem"})
    assert len(problems) == 1
    assert "api_ca_file" in problems[0]
