"""cloud.service.run_ingest stops its parts in order, also when one of them fails."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine

from cloud import service
from cloud.ingest.metrics import IngestStats
from cloud.settings import CloudSettings


class Part:
    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log
        self.stats = IngestStats()

    def start(self) -> None:
        self.log.append(f"start {self.name}")

    def stop(self) -> None:
        self.log.append(f"stop {self.name}")

    def close(self) -> None:
        self.log.append(f"close {self.name}")


@pytest.fixture
def log(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    log: list[str] = []
    monkeypatch.setattr(service, "build_ingest", lambda *_a, **_k: Part("worker", log))

    def start_jobs(*_a: object) -> Part:
        log.append("start jobs")
        return Part("jobs", log)

    monkeypatch.setattr(service, "start_cloud_jobs", start_jobs)
    return log


@pytest.fixture
def engine() -> Iterator[Engine]:
    # The parts are fakes; the engine is only handed to them.
    engine = create_engine("sqlite://")
    yield engine
    engine.dispose()


def _settings(tmp_path: Path) -> CloudSettings:
    return CloudSettings(data_dir=tmp_path)


def test_the_jobs_stop_first_and_the_metrics_server_last(
    log: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, engine: Engine
) -> None:
    def serve(_worker: object, *, port: int) -> Part:
        log.append(f"serve metrics on {port}")
        return Part("metrics", log)

    monkeypatch.setattr(service, "serve_metrics", serve)
    stop = threading.Event()
    stop.set()

    stats = service.run_ingest(_settings(tmp_path), engine, stop=stop, metrics_port=9)

    assert isinstance(stats, IngestStats)
    assert log == [
        "start worker",
        "start jobs",
        "serve metrics on 9",
        "stop jobs",
        "stop worker",
        "close metrics",
    ]


def test_a_failure_in_the_middle_still_stops_what_was_started(
    log: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, engine: Engine
) -> None:
    def serve(_worker: object, *, port: int) -> Part:
        raise OSError(f"port {port} is taken")

    monkeypatch.setattr(service, "serve_metrics", serve)

    with pytest.raises(OSError, match="taken"):
        service.run_ingest(_settings(tmp_path), engine, stop=threading.Event(), metrics_port=9)

    assert log == ["start worker", "start jobs", "stop jobs", "stop worker"]
