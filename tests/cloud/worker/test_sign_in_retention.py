"""The sign-in keeps a phone's texts only as long as its limits look back, and no dead code."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlmodel import Session, select

from cloud.service import cloud_jobs, open_database
from cloud.settings import CloudSettings
from cloud.worker.jobs import SIGN_IN_RETENTION
from cloud.worker.models import PhoneCode, SmsSent
from tests.cloud.worker.world import NOW


def test_the_hourly_job_forgets_old_texts_and_dead_codes(tmp_path: Path) -> None:
    settings = CloudSettings(data_dir=tmp_path)
    engine = open_database(settings)
    now = NOW
    with Session(engine) as session:
        session.add_all(
            [
                SmsSent(phone_hash="a" * 64, address="10.0.0.1", sent_at=now - timedelta(days=2)),
                SmsSent(phone_hash="b" * 64, address="10.0.0.1", sent_at=now - timedelta(hours=2)),
                PhoneCode(
                    phone_hash="a" * 64,
                    code_hash="x",
                    created_at=now - timedelta(minutes=10),
                    expires_at=now - timedelta(minutes=5),
                ),
                PhoneCode(
                    phone_hash="b" * 64,
                    code_hash="y",
                    created_at=now - timedelta(minutes=1),
                    expires_at=now + timedelta(minutes=4),
                ),
            ]
        )
        session.commit()
    job = next(
        j for j in cloud_jobs(settings, engine, clock=lambda: now) if j.name == SIGN_IN_RETENTION
    )
    job.run()
    with Session(engine) as session:
        assert [s.phone_hash[0] for s in session.exec(select(SmsSent))] == ["b"]
        assert [c.phone_hash[0] for c in session.exec(select(PhoneCode))] == ["b"]
    engine.dispose()
