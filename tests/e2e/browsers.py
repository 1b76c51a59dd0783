"""What the dashboard's browser tests share: Debian's Chromium under Playwright, where the
screenshots go, and a cloud app served on a free loopback port.

Importing this module skips the importing test module when Playwright is not installed
(and fails it when YIZHAN_REQUIRE_SERVICES says every service must be there).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

import pytest
from fastapi import FastAPI

from cloud.service import api_server
from ops.broker.probe import poll_until
from ops.broker.process import free_port
from tests.fixtures import missing_service, services_required

if importlib.util.find_spec("playwright") is None:
    _NO_PLAYWRIGHT = "playwright is not installed (pip install -e '.[dev]')"
    if services_required():
        pytest.fail(f"{_NO_PLAYWRIGHT} (YIZHAN_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(_NO_PLAYWRIGHT, allow_module_level=True)

from playwright.sync_api import Browser, Playwright, expect, sync_playwright

ARTIFACTS_ENV: Final = "YIZHAN_ARTIFACTS"
START_TIMEOUT_S: Final = 30.0


def chromium_path() -> str:
    found = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(found).exists():
        missing_service("chromium is not installed (apt-get install chromium)")
    return found


@contextmanager
def headless_chromium(*, timeout_ms: int) -> Iterator[Browser]:
    """Debian's Chromium, headless; Playwright never downloads a browser of its own."""
    executable = chromium_path()
    expect.set_options(timeout=timeout_ms)
    driver: Playwright = sync_playwright().start()
    try:
        launched = driver.chromium.launch(executable_path=executable, headless=True)
        yield launched
        launched.close()
    finally:
        driver.stop()


def artifacts_folder(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """Where the screenshots go: $YIZHAN_ARTIFACTS (CI uploads it), else a temporary folder."""
    chosen = os.environ.get(ARTIFACTS_ENV)
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp(f"{name}-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def serving(app: FastAPI, *, name: str) -> Iterator[str]:
    """``app`` under uvicorn on a free loopback port, in a thread; yields its base URL."""
    port = free_port()
    server = api_server(app, host="127.0.0.1", port=port)
    thread = threading.Thread(target=server.run, name=f"{name}-e2e-api", daemon=True)
    thread.start()
    try:
        poll_until(lambda: server.started, timeout=START_TIMEOUT_S, what="the API never started")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
