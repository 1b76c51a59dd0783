"""Request bodies past the API's limit are refused before they are read (issue 15, finding 11)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from starlette.types import Message

from cloud.api.app import create_app
from cloud.api.body_limit import DEFAULT_MAX_BODY_BYTES, BodyLimit
from cloud.settings import CloudSettings

MIB = 1024 * 1024
CHUNK = 64 * 1024


@pytest.fixture
def app(engine: Engine, tmp_path: Any) -> FastAPI:
    return create_app(settings=CloudSettings(data_dir=tmp_path), engine=engine)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


def _call(app: Any, *, path: str, headers: list[tuple[bytes, bytes]]) -> tuple[list[Message], int]:
    """Run one request through ``app`` by hand: the messages sent, and how often it read."""
    sent: list[Message] = []
    reads = 0

    async def receive() -> Message:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"{" * CHUNK, "more_body": True}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("203.0.113.7", 50000),
        "server": ("testserver", 80),
    }
    asyncio.run(app(scope, receive, send))
    return sent, reads


def test_a_declared_100_mb_body_is_refused_unread_and_unauthenticated(app: FastAPI) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"104857600")]

    sent, reads = _call(app, path="/api/v1/venues", headers=headers)

    assert reads == 0
    assert sent[0]["type"] == "http.response.start"
    assert sent[0]["status"] == 413
    body = json.loads(b"".join(m.get("body", b"") for m in sent[1:]))
    assert body["error"]["code"] == "body_too_large"
    assert "1024 KiB" in body["error"]["message"]


def test_a_body_of_unknown_length_is_cut_off_past_the_limit(app: FastAPI) -> None:
    headers = [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")]

    sent, reads = _call(app, path="/api/v1/venues", headers=headers)

    assert reads == DEFAULT_MAX_BODY_BYTES // CHUNK + 1  # the read that passed the limit
    statuses = [m["status"] for m in sent if m["type"] == "http.response.start"]
    assert statuses == [413]  # the app's own answer to the aborted read is dropped


def test_a_chunked_upload_past_the_limit_is_413_over_http(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(2 * DEFAULT_MAX_BODY_BYTES // CHUNK):
            yield b" " * CHUNK

    answer = client.post(
        "/api/v1/auth/token",
        content=chunks(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    # Sent without a length (the test client reads the generator itself, so how much the
    # server read is what the hand-made request above counts).
    assert "content-length" not in answer.request.headers
    assert answer.status_code == 413, answer.text
    assert answer.json()["error"]["code"] == "body_too_large"


def test_a_body_within_the_limit_still_reaches_the_route(client: TestClient) -> None:
    answer = client.post("/api/v1/venues", json={"id": "v-1", "name": "x" * 1000})
    assert answer.status_code == 401  # read, then refused for want of a credential

    login = client.post("/api/v1/auth/token", data={"username": "nobody", "password": "x"})
    assert login.status_code == 401


def test_the_limit_is_per_app(engine: Engine, tmp_path: Any) -> None:
    small = create_app(settings=CloudSettings(data_dir=tmp_path), engine=engine, max_body_bytes=10)
    with TestClient(small) as client:
        answer = client.post("/api/v1/venues", json={"id": "v-1", "name": "eleven+ bytes"})
    assert answer.status_code == 413


def test_a_negative_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        BodyLimit(FastAPI(), max_bytes=-1)


def test_only_the_roster_upload_takes_a_large_body(client: TestClient) -> None:
    big = {"Content-Length": str(20 * MIB)}
    elsewhere = client.post("/api/v1/members/batch", content=b"", headers=big)
    assert elsewhere.status_code == 413
    # The upload path lets the size through to the route, whose principal check answers.
    upload = client.post("/api/v1/members/import", content=b"x" * (2 * MIB))
    assert upload.status_code == 401
    too_big = client.post(
        "/api/v1/members/import", content=b"", headers={"Content-Length": str(201 * MIB)}
    )
    assert too_big.status_code == 413
