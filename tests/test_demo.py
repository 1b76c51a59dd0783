"""`yizhan demo`: the fleet's readings all stored once, and the dashboard it announces works."""

from __future__ import annotations

import io
import json
import re
import threading
from pathlib import Path

import httpx
from PIL import Image
from rich.console import Console

from ops.broker.process import free_port
from tests.helpers import wait_for
from yizhan.demo import DemoOptions, run_demo


def test_the_demo_stores_what_it_sent_and_its_dashboard_signs_people_in(tmp_path: Path) -> None:
    port = free_port()
    out = io.StringIO()
    console = Console(file=out, width=200)
    options = DemoOptions(
        duration_s=12.0, venues=3, data_dir=tmp_path / "demo", http_port=port, speed=60.0
    )
    stop = threading.Event()
    result: list[str] = []
    runner = threading.Thread(
        target=lambda: result.append(run_demo(options, stop=stop, console=console))
    )
    runner.start()
    try:
        wait_for(
            lambda: "new box" in out.getvalue(),
            timeout=60,
            message="the demo never announced itself",
        )
        text = out.getvalue()
        password = re.search(r"password (\S+)", text)
        label = re.search(r"new box\s+(YZC1-[A-Z0-9-]+)", text)
        assert password is not None, text
        assert label is not None, text
        assert f"http://127.0.0.1:{port}/" in text
        # The demo runs its fleet in this process; on a loaded CI machine a page can wait its
        # turn for the GIL well past httpx's default 5 s.
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", follow_redirects=True, timeout=30
        ) as web:
            signed_in = web.post(
                "/login", data={"username": "manager", "password": password.group(1)}
            )
            assert signed_in.status_code == 200  # followed the redirect to the overview
            assert 'data-venue-row="xuhui-riders"' in signed_in.text
            # The manager runs the station only.
            assert 'data-venue-row="pudong-home"' not in signed_in.text
            # The technician claims the waiting box with its printed label; it then reports
            # readings the fleet's tally must not count as sent by the fleet.
            token = web.post(
                "/api/v1/auth/token", data={"username": "tech", "password": password.group(1)}
            ).json()["access_token"]
            bearer = {"Authorization": f"Bearer {token}"}
            claimed = web.post(
                "/api/v1/devices/claim",
                json={"code": label.group(1), "venue_id": "pudong-home", "role": "sensor-hub"},
                headers=bearer,
            )
            assert claimed.status_code == 201, claimed.text
            device = claimed.json()["id"]
            wait_for(
                lambda: web.get(f"/api/v1/devices/{device}", headers=bearer).json()["online"],
                timeout=60,
                message="the claimed box never came online",
            )
    finally:
        runner.join(timeout=180)
        stop.set()
    assert not runner.is_alive()
    # The station door's screen: its frames saved, the newest named in the terminal.
    latest = re.search(r"door screen: latest frame (\S+\.png)", out.getvalue())
    assert latest is not None, out.getvalue()[-2000:]
    frame = Path(latest.group(1))
    assert frame.parent == tmp_path / "demo" / "door-screen"
    with Image.open(frame) as image:
        assert image.size == (240, 240)
    tally = json.loads(result[0])
    assert tally["readings_sent"] > 0
    assert tally["readings_stored"] == tally["readings_sent"]
    assert tally["duplicates_stored"] == 0
