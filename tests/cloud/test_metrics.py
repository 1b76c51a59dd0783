"""/metrics: the Prometheus text of ingest, from the API process and from ingest's own port."""

import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine
from starlette.exceptions import StarletteDeprecationWarning

from cloud.api.app import create_app
from cloud.api.routes.metrics import install_metrics
from cloud.auth.settings import AuthSettings
from cloud.core.db import make_engine
from cloud.devices.settings import BrokerSettings
from cloud.ingest.metrics import (
    CONTENT_TYPE,
    IngestStats,
    MetricsRegistry,
    Sample,
    ingest_samples,
    render,
)
from cloud.ingest.metrics_http import MetricsServer
from cloud.settings import CloudSettings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

TOKEN = "k3J9-x2Qm_Pz7Lw4Vn8Rt1Yb6Hc5Fd0Gs"
SECRET = SecretStr("Zr8-qT3vLx9_Np2Wm6Ks4Hd7Bf1Gy5Jc0")


def _values(body: str) -> dict[str, float]:
    return {
        line.split()[0]: float(line.split()[1])
        for line in body.splitlines()
        if line and not line.startswith("#")
    }


def test_render_writes_help_type_and_value() -> None:
    body = render(
        [
            Sample("a_total", "counter", "Things\nwith a \\ newline", 3),
            Sample("b", "gauge", "Lag", 0.25),
            Sample("c", "gauge", "Not a number", float("nan")),
        ]
    )
    assert body == (
        "# HELP a_total Things\\nwith a \\\\ newline\n# TYPE a_total counter\na_total 3\n"
        "# HELP b Lag\n# TYPE b gauge\nb 0.25\n"
        "# HELP c Not a number\n# TYPE c gauge\nc NaN\n"
    )


def test_ingest_samples_cover_received_stored_rejected_queue_and_lag() -> None:
    stats = IngestStats(received=10, stored=27, duplicates=3, rejected=1, lag_s=0.5)
    values = _values(render(ingest_samples(stats, queue_depth=4, queue_size=100)))
    assert values["yizhan_ingest_received_total"] == 10
    assert values["yizhan_ingest_stored_total"] == 27
    assert values["yizhan_ingest_duplicates_total"] == 3
    assert values["yizhan_ingest_rejected_total"] == 1
    assert values["yizhan_ingest_queue_depth"] == 4
    assert values["yizhan_ingest_queue_capacity"] == 100
    assert values["yizhan_ingest_lag_seconds"] == 0.5


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path}/cloud.db")
    yield engine
    engine.dispose()


def test_api_serves_registered_ingest_metrics_without_a_token(engine: Engine) -> None:
    stats = IngestStats(received=5, stored=15)
    registry = MetricsRegistry()
    registry.add(lambda: ingest_samples(stats, queue_depth=0, queue_size=10))
    settings = CloudSettings(
        mode="production",
        api_token=SecretStr(TOKEN),
        auth=AuthSettings(jwt_secret=SECRET),
        broker=BrokerSettings(security="dynsec", control_password=SecretStr(TOKEN)),
    )
    app = create_app(settings=settings, engine=engine)
    install_metrics(app, registry)

    with TestClient(app) as client:
        response = client.get("/metrics")
        stats.stored = 30  # read live, not copied at install time
        again = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPE
    assert _values(response.text)["yizhan_ingest_stored_total"] == 15
    assert _values(again.text)["yizhan_ingest_stored_total"] == 30


def test_api_without_registered_metrics_answers_empty(engine: Engine) -> None:
    app = create_app(settings=CloudSettings(mode="development"), engine=engine)
    with TestClient(app) as client:
        response = client.get("/metrics")
    assert response.status_code == 200
    assert response.text == ""


def test_ingest_process_serves_metrics_on_its_own_port() -> None:
    stats = IngestStats(received=7)
    registry = MetricsRegistry()
    registry.add(lambda: ingest_samples(stats, queue_depth=2, queue_size=10))
    server = MetricsServer(registry, host="127.0.0.1", port=0)
    server.start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        response = httpx.get(f"{base}/metrics", timeout=10)
        missing = httpx.get(f"{base}/other", timeout=10)
    finally:
        server.close()
    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPE
    assert _values(response.text)["yizhan_ingest_received_total"] == 7
    assert _values(response.text)["yizhan_ingest_queue_depth"] == 2
    assert missing.status_code == 404
