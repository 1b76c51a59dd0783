"""Webhook delivery against a real loopback HTTP server: signed, retried with backoff, given up."""

import hashlib
import hmac
import json
import random
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine

from cloud.alerts.engine import evaluate
from cloud.alerts.settings import AlertSettings
from cloud.alerts.webhook import (
    WebhookConfig,
    WebhookJob,
    backoff,
    make_webhook_job,
    webhook_config,
)
from cloud.settings import CloudSettings, InsecureSettingsError
from tests.cloud.alerts.factories import (
    NOW,
    add,
    deliveries,
    event,
)

SECRET = "Zq8-vT3nLw0_Kc7Rj2Xh5Ym9Pb4Fs6Gd1A"


class Receiver:
    """A loopback server answering 500 to the first ``failures`` POSTs, then 204."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers.items()), body))
                failing = len(receiver.requests) <= receiver.failures
                self.send_response(500 if failing else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:  # quiet: pytest shows failures
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def receiver(request: pytest.FixtureRequest) -> Iterator[Receiver]:
    server = Receiver(failures=getattr(request, "param", 2))
    yield server
    server.close()


def _config(url: str, **overrides: object) -> WebhookConfig:
    values: dict[str, object] = {"url": url, "secret": SECRET.encode(), "timeout_s": 5.0}
    return WebhookConfig(**(values | overrides))  # type: ignore[arg-type]


def _open_forced_alert(engine: Engine) -> None:
    add(engine, event(NOW - timedelta(minutes=1), "door.forced"))
    evaluate(engine, NOW)


def _signature_ok(headers: dict[str, str], body: bytes) -> bool:
    signed = headers["X-Yizhan-Timestamp"].encode() + b"." + body
    expected = "sha256=" + hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers["X-Yizhan-Signature"], expected)


def test_fails_twice_then_delivers_with_backoff_and_a_valid_signature(
    engine: Engine, receiver: Receiver
) -> None:
    _open_forced_alert(engine)
    job = WebhookJob(_config(receiver.url), rng=random.Random(7))

    first = job.run(engine, NOW)
    [row] = deliveries(engine)
    assert first.retrying == [row.id]
    assert row.attempts == 1
    assert row.last_error is not None
    assert row.last_error.startswith("HTTP 500")
    wait = row.next_attempt_at.replace(tzinfo=NOW.tzinfo) - NOW
    assert timedelta(seconds=2.5) <= wait <= timedelta(seconds=5)

    assert job.run(engine, NOW + timedelta(seconds=1)).retrying == []  # not due yet
    second = job.run(engine, NOW + wait)
    assert second.retrying == [row.id]
    third = job.run(engine, NOW + timedelta(minutes=5))

    [row] = deliveries(engine)
    assert third.delivered == [row.id]
    assert (row.attempts, row.done, row.last_error) == (3, True, None)
    assert len(receiver.requests) == 3
    for headers, body in receiver.requests:
        assert _signature_ok(headers, body)
        assert headers["X-Yizhan-Event"] == "opened"
        assert headers["X-Yizhan-Delivery"] == str(row.id)
    sent = json.loads(receiver.requests[-1][1])
    assert sent["event"] == "opened"
    assert sent["delivery_id"] == row.id
    assert sent["alert"]["kind"] == "door_forced"
    assert sent["alert"]["status"] == "open"

    assert job.run(engine, NOW + timedelta(hours=1)).delivered == []  # nothing sent twice


@pytest.mark.parametrize("receiver", [100], indirect=True)
def test_gives_up_after_max_attempts_and_records_it(engine: Engine, receiver: Receiver) -> None:
    _open_forced_alert(engine)
    job = WebhookJob(_config(receiver.url, max_attempts=3), rng=random.Random(1))

    results = [job.run(engine, NOW + timedelta(hours=h)) for h in range(5)]

    [row] = deliveries(engine)
    assert [len(r.retrying) for r in results] == [1, 1, 0, 0, 0]
    assert results[2].gave_up == [row.id]
    assert (row.attempts, row.done, row.delivered_at) == (3, True, None)
    assert row.gave_up_at is not None
    assert "HTTP 500" in (row.last_error or "")
    assert len(receiver.requests) == 3


def test_unreachable_receiver_is_retried(engine: Engine) -> None:
    _open_forced_alert(engine)
    job = WebhookJob(_config("http://127.0.0.1:9/hook", timeout_s=2.0), rng=random.Random(1))

    result = job.run(engine, NOW)

    [row] = deliveries(engine)
    assert result.retrying == [row.id]
    assert "ConnectError" in (row.last_error or "")


@pytest.mark.parametrize("receiver", [1], indirect=True)
def test_later_transitions_wait_for_earlier_ones(engine: Engine, receiver: Receiver) -> None:
    add(engine, event(NOW - timedelta(minutes=2), "door.opened", cause="access"))
    evaluate(engine, NOW)
    add(engine, event(NOW + timedelta(seconds=1), "door.closed", open_s=121.0))
    evaluate(engine, NOW + timedelta(seconds=2))
    assert [d.event for d in deliveries(engine)] == ["opened", "resolved"]
    job = WebhookJob(_config(receiver.url), rng=random.Random(1))

    job.run(engine, NOW + timedelta(seconds=3))  # "opened" fails; "resolved" must wait
    job.run(engine, NOW + timedelta(hours=1))  # "opened" goes through
    job.run(engine, NOW + timedelta(hours=1))  # then "resolved"

    events = [json.loads(body)["event"] for _, body in receiver.requests]
    assert events == ["opened", "opened", "resolved"]


def test_stale_deliveries_expire_unsent(engine: Engine) -> None:
    _open_forced_alert(engine)
    job = WebhookJob(_config("http://127.0.0.1:9/hook"), rng=random.Random(1))

    result = job.run(engine, NOW + timedelta(days=2))

    [row] = deliveries(engine)
    assert result.gave_up == [row.id]
    assert (row.last_error or "").startswith("expired")


def test_backoff_doubles_up_to_the_cap_with_jitter() -> None:
    config = _config("http://x", backoff_base_s=5.0, backoff_max_s=60.0)
    rng = random.Random(3)
    waits = [backoff(n, config=config, rng=rng).total_seconds() for n in (1, 2, 3, 4, 5, 9)]
    caps = [5, 10, 20, 40, 60, 60]
    assert all(cap / 2 <= wait <= cap for wait, cap in zip(waits, caps, strict=True))


def test_no_webhook_url_means_no_job() -> None:
    assert make_webhook_job(CloudSettings(mode="development")) is None


def test_production_refuses_a_placeholder_secret() -> None:
    alerts = AlertSettings(
        webhook_url="https://hooks.example.org/a", webhook_secret=SecretStr("changeme")
    )
    settings = CloudSettings(mode="development", alerts=alerts)
    assert webhook_config(settings) is not None  # development: a laptop demo may
    production = settings.model_copy(update={"mode": "production"})
    with pytest.raises(InsecureSettingsError, match="webhook secret"):
        webhook_config(production)


def test_a_url_without_a_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="webhook_secret"):
        AlertSettings(webhook_url="https://hooks.example.org/a")
