"""`yizhan bench worker-app`: the worker's phone app (/m/) over real HTTP, beside the bare API.

The cloud is the real app under uvicorn on a loopback port, in a thread of this process
(:mod:`yizhan.bench.worker_app_world`), on a fresh SQLite file or PostgreSQL database with
``stations`` stations in one district and a few hundred venues elsewhere. Three figures:

1. The station list a rider opens (``/m/?district=…&lat=…&lon=…``, signed out) beside the
   bare API's list of the same venues (``/api/v1/venues``, an admin's token), one request of
   each in turn, so the machine's noise falls on both alike.
2. What the code page costs a prepaid data plan: ``/m/code`` and ``/m/code.json`` as a
   phone gets them (``Accept-Encoding: gzip``), body bytes as they came over the wire.
3. A walk-in from the poster to the open door, machine time only (nobody typing): the
   poster URL, a sign-in code by text, the code entered, the registration, the codes
   fetched, the first one read off its SVG by the door's own QR decoder, and the door's
   DoorController deciding it offline with the cloud issuer's public key.
"""

from __future__ import annotations

import json as jsonlib
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any, Final

import httpx
from sqlalchemy.engine import make_url

from cloud.access.issuer import load_or_create
from cloud.core.db import make_engine
from edge.access.reasons import Reason
from edge.door.controller import DoorController
from edge.scan.decoders import Decoder, make_decoder
from yizhan.bench.ingest import _bench_database, migrate
from yizhan.bench.worker_app_world import (
    CENTRE,
    DISTRICT,
    Cloud,
    WorkerAppBenchError,
    cloud_server,
    cloud_settings,
    door,
    read_code,
    seed,
    station_id,
    utc_now,
)

__all__ = ["TARGETS", "Options", "WorkerAppBenchError", "main", "run_worker_app_bench"]

# The targets: the station list at most 3x the bare list's p95, the code page and
# its codes under 50 kB on the wire, a walk-in at the door in 10 s of machine time.
TARGETS: Final = {"ratio_p95": 3.0, "code_page_bytes": 50_000, "walkin_to_open_s": 10.0}
API_PAGE_MAX: Final = 1000  # /api/v1/venues' largest page: the bare list is one request
OTHER_VENUES: Final = 300  # elsewhere in the city: the district filter must skip them
WARMUP: Final = 3  # requests of each contender before timing (templates, caches, pools)
# WorkerSettings.address_per_hour's ceiling: every bench phone asks from 127.0.0.1.
ADDRESS_PER_HOUR: Final = 100_000
_HTTP_TIMEOUT_S: Final = 60.0
_PHONE: Final = {"Accept-Encoding": "gzip"}  # what a phone's browser sends, give or take br


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    stations: int = 500
    samples: int = 200
    walkins: int = 20
    seed: int = 1


def _percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def _ok(answer: httpx.Response, what: str, *, path: str | None = None) -> httpx.Response:
    if answer.status_code != 200 or (path is not None and answer.url.path != path):
        raise WorkerAppBenchError(
            f"{what}: HTTP {answer.status_code} at {answer.url.path} {answer.text[:300]!r}"
        )
    return answer


# --- 1. the station list beside the bare API ---------------------------------------------


@dataclass
class Lists:
    station_ms: list[float] = field(default_factory=list)
    bare_ms: list[float] = field(default_factory=list)
    station_rows: int = 0
    station_bytes: int = 0
    bare_rows: int = 0
    bare_bytes: int = 0


def _timed(http: httpx.Client, url: str, headers: dict[str, str]) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    answer = http.get(url, headers=headers)
    return (time.perf_counter() - started) * 1000, answer


def time_lists(cloud: Cloud, *, admin: str, stations: int, samples: int) -> Lists:
    """Both lists ``samples`` times, one of each in turn (which goes first alternates)."""
    lat, lon = CENTRE
    station_url = f"{cloud.url}/m/?district={DISTRICT}&lat={lat}&lon={lon}"
    # The API has no district filter; it lists by id, and the district's ids sort first.
    bare_url = f"{cloud.url}/api/v1/venues?limit={stations}"
    contenders = {
        "station": (station_url, _PHONE),
        "bare": (bare_url, {"Authorization": f"Bearer {admin}"}),
    }
    lists = Lists()
    with httpx.Client(timeout=_HTTP_TIMEOUT_S) as http:
        for _ in range(WARMUP):
            for url, headers in contenders.values():
                _ok(http.get(url, headers=headers), f"warming up {url}")
        page = _ok(http.get(station_url, headers=_PHONE), "the station list")
        lists.station_rows = page.text.count("data-station=")
        lists.station_bytes = page.num_bytes_downloaded  # as a phone gets it
        bare = _ok(http.get(bare_url, headers=contenders["bare"][1]), "the API's venue list")
        ids = [v["id"] for v in bare.json()["data"]]
        if ids != [station_id(n) for n in range(stations)]:
            raise WorkerAppBenchError("the API's first venues are not the district's stations")
        lists.bare_rows, lists.bare_bytes = len(ids), bare.num_bytes_downloaded
        order = list(contenders)
        for sample in range(samples):
            for name in order if sample % 2 == 0 else order[::-1]:
                url, headers = contenders[name]
                ms, answer = _timed(http, url, headers)
                _ok(answer, f"{name} list, sample {sample}")
                (lists.station_ms if name == "station" else lists.bare_ms).append(ms)
    return lists


# --- 2. the code page on the wire ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CodePage:
    html_bytes: int
    json_bytes: int  # as sent (gzipped when the phone accepts it)
    json_uncompressed_bytes: int
    json_gzipped: bool
    codes: int


def code_page(phone: httpx.Client) -> CodePage:
    """A signed-in phone opening its code page again: the page, then its codes."""
    html = _ok(phone.get("/m/code"), "the code page", path="/m/code")
    codes = _ok(phone.get("/m/code.json"), "the codes of the code page")
    return CodePage(
        html_bytes=html.num_bytes_downloaded,
        json_bytes=codes.num_bytes_downloaded,
        json_uncompressed_bytes=len(codes.content),
        json_gzipped=codes.headers.get("content-encoding") == "gzip",
        codes=len(codes.json()["codes"]),
    )


# --- 3. walk-ins, poster to open door -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class WalkIn:
    seconds: float
    steps_ms: dict[str, float]
    reason: Reason


def _phone_number(n: int) -> str:
    return f"139{n:08d}"


def _steps(phone: httpx.Client, cloud: Cloud, *, venue_id: str, number: str) -> list[float]:
    """Poster → text → code entered → registration → codes; perf_counter after each."""
    tag = cloud.keys.poster_tag(venue_id, 1)  # printed on the poster, not computed by the phone
    marks = [time.perf_counter()]
    _ok(phone.get(f"/m/join/{venue_id}", params={"p": tag}), "the poster URL")
    marks.append(time.perf_counter())
    form = {"phone": number, "venue_id": venue_id, "poster": tag, "next": "/m/code"}
    _ok(phone.post("/m/signin/code", data=form), "asking for a sign-in code")
    code = cloud.sender.last_code(number)
    if code is None:
        raise WorkerAppBenchError(f"no sign-in code was sent to {number}")
    marks.append(time.perf_counter())
    verified = phone.post("/m/signin/verify", data={**form, "code": code})
    _ok(verified, "entering the sign-in code", path="/m/register")
    marks.append(time.perf_counter())
    registered = phone.post("/m/register", data={"occupation": "rider", "consent": "yes"})
    _ok(registered, "registering", path="/m/code")
    marks.append(time.perf_counter())
    return marks


def walk_in(
    phone: httpx.Client,
    cloud: Cloud,
    controller: DoorController,
    decoder: Decoder,
    *,
    venue_id: str,
    number: str,
) -> WalkIn:
    """One first-timer on a phone of their own (its cookies), from the poster to the door."""
    marks = _steps(phone, cloud, venue_id=venue_id, number=number)
    codes = _ok(phone.get("/m/code.json"), "fetching the codes").json()["codes"]
    marks.append(time.perf_counter())
    text = read_code(codes[0]["svg"], decoder)
    marks.append(time.perf_counter())
    decision = controller.present(text)
    marks.append(time.perf_counter())
    names = ("poster", "text_sent", "code_verified", "registered", "codes", "qr_read", "door")
    steps = {name: (b - a) * 1000 for name, (a, b) in zip(names, pairwise(marks), strict=True)}
    return WalkIn(marks[-1] - marks[0], steps, decision.reason)


def walk_ins(
    cloud: Cloud, controller: DoorController, *, count: int, stations: int
) -> tuple[list[WalkIn], CodePage]:
    """``count`` first-timers at the district's posters, a phone each; the first phone then
    opens its code page again, off the clock."""
    decoder = make_decoder()
    # Stations numbered …9 are members-only (worker_app_world): no guest walks in there.
    venues = [station_id(n) for n in range(min(stations, 9))]
    done: list[WalkIn] = []
    page: CodePage | None = None
    for n in range(count):
        with httpx.Client(
            base_url=cloud.url, headers=_PHONE, follow_redirects=True, timeout=_HTTP_TIMEOUT_S
        ) as phone:
            venue_id = venues[n % len(venues)]
            walked = walk_in(
                phone, cloud, controller, decoder, venue_id=venue_id, number=_phone_number(n)
            )
            done.append(walked)
            if page is None:
                page = code_page(phone)
    if page is None:
        raise WorkerAppBenchError("no walk-in, so no code page to measure")
    return done, page


# --- the run -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Results:
    database: str
    lists: Lists
    page: CodePage
    walked: list[WalkIn]
    load_before: float  # the machine's 1-minute load average when the run began


def run_worker_app_bench(options: Options, *, database_url: str | None = None) -> dict[str, Any]:
    """Seed, serve, measure; the dict is the JSON the command prints."""
    if not 1 <= options.stations <= API_PAGE_MAX:
        raise WorkerAppBenchError(
            f"--stations must be 1 to {API_PAGE_MAX}: the bare API lists at most that a page"
        )
    load_before = os.getloadavg()[0]
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="yz-bench-m-")))
        url = stack.enter_context(_bench_database(database_url, work))
        migrate(url)
        engine = make_engine(url)
        stack.callback(engine.dispose)
        admin = seed(
            engine, stations=options.stations, others=OTHER_VENUES, now=utc_now(),
            rng_seed=options.seed,
        )  # fmt: skip
        key = load_or_create(work / "issuer.json", kid="bench-1")
        settings = cloud_settings(work / "issuer.json", address_per_hour=ADDRESS_PER_HOUR)
        cloud = stack.enter_context(cloud_server(engine, settings))
        lists = time_lists(cloud, admin=admin, stations=options.stations, samples=options.samples)
        controller = stack.enter_context(door(work / "door", key))
        walked, page = walk_ins(cloud, controller, count=options.walkins, stations=options.stations)
        results = Results(make_url(url).get_backend_name(), lists, page, walked, load_before)
        return _judged(_figures(options, results))
    raise AssertionError("unreachable")  # pragma: no cover - ExitStack does not swallow


def _ms(values: Sequence[float], fraction: float) -> float:
    return round(_percentile(values, fraction), 2)


def _list_figures(lists: Lists) -> dict[str, Any]:
    station_p95, bare_p95 = _ms(lists.station_ms, 0.95), _ms(lists.bare_ms, 0.95)
    station_p50, bare_p50 = _ms(lists.station_ms, 0.5), _ms(lists.bare_ms, 0.5)
    return {
        "station_list_p50_ms": station_p50,
        "station_list_p95_ms": station_p95,
        "station_list_rows": lists.station_rows,
        "station_list_wire_bytes": lists.station_bytes,
        "bare_api_p50_ms": bare_p50,
        "bare_api_p95_ms": bare_p95,
        "bare_api_rows": lists.bare_rows,
        "bare_api_wire_bytes": lists.bare_bytes,
        "ratio_p95": round(station_p95 / bare_p95, 2) if bare_p95 else None,
        "ratio_p50": round(station_p50 / bare_p50, 2) if bare_p50 else None,
    }


def _walkin_figures(walked: list[WalkIn]) -> dict[str, Any]:
    seconds = [w.seconds for w in walked]
    steps = {name: [w.steps_ms[name] for w in walked] for name in walked[0].steps_ms}
    return {
        "walkins": len(walked),
        "walkin_to_open_s": round(statistics.median(seconds), 3),
        "walkin_to_open_max_s": round(max(seconds), 3),
        "walkin_decisions": dict(Counter(w.reason.value for w in walked)),
        "walkin_steps_p50_ms": {k: round(statistics.median(v), 2) for k, v in steps.items()},
        "address_limit_raised": True,
        "address_per_hour": ADDRESS_PER_HOUR,
    }


def _figures(options: Options, results: Results) -> dict[str, Any]:
    page = results.page
    return {
        "bench": "worker-app",
        "database": results.database,
        "stations": options.stations,
        "other_venues": OTHER_VENUES,
        "district": DISTRICT,
        "samples": options.samples,
        "warmup": WARMUP,
        "station_list_query": f"/m/?district={DISTRICT}&lat={CENTRE[0]}&lon={CENTRE[1]}",
        "bare_api_query": f"/api/v1/venues?limit={options.stations}",
        **_list_figures(results.lists),
        "code_page_bytes": page.html_bytes + page.json_bytes,
        "code_page_html_bytes": page.html_bytes,
        "code_json_bytes": page.json_bytes,
        "code_json_uncompressed_bytes": page.json_uncompressed_bytes,
        "code_json_gzipped": page.json_gzipped,
        "code_json_codes": page.codes,
        **_walkin_figures(results.walked),
        "server": "uvicorn in a thread of the bench process, loopback HTTP/1.1 keep-alive",
        "cpus": os.cpu_count(),
        "load_avg_1m_start": round(results.load_before, 2),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def _judged(figures: dict[str, Any]) -> dict[str, Any]:
    ratio = figures["ratio_p95"]
    opened = figures["walkin_decisions"].get(Reason.ACCEPTED.value, 0) == figures["walkins"]
    figures["targets"] = {
        "ratio_p95": ratio is not None and ratio <= TARGETS["ratio_p95"],
        "code_page_bytes": figures["code_page_bytes"] <= TARGETS["code_page_bytes"],
        # Every walk-in, the slowest included, opened the door within the target.
        "walkin_to_open_s": opened
        and figures["walkin_to_open_max_s"] <= TARGETS["walkin_to_open_s"],
    }
    figures["target_values"] = dict(TARGETS)
    figures["meets_target"] = all(figures["targets"].values())
    return figures


def _human(r: dict[str, Any]) -> str:
    goals = r["target_values"]
    lines = [
        (
            f"worker-app bench on {r['database']}: {r['stations']} stations in {r['district']}, "
            f"{r['other_venues']} venues elsewhere, {r['samples']} samples of each list"
        ),
        (
            f"  station list  p50 {r['station_list_p50_ms']} ms  p95 {r['station_list_p95_ms']} "
            f"ms  ({r['station_list_rows']} rows, {r['station_list_wire_bytes']:,} B)"
        ),
        (
            f"  bare API      p50 {r['bare_api_p50_ms']} ms  p95 {r['bare_api_p95_ms']} ms  "
            f"({r['bare_api_rows']} venues, {r['bare_api_wire_bytes']:,} B)"
        ),
        f"  ratio p95     {r['ratio_p95']} (target <= {goals['ratio_p95']:g})",
        (
            f"  code page     {r['code_page_bytes']:,} B on the wire: page "
            f"{r['code_page_html_bytes']:,} B + {r['code_json_codes']} codes "
            f"{r['code_json_bytes']:,} B ({r['code_json_uncompressed_bytes']:,} B unzipped); "
            f"target <= {goals['code_page_bytes']:,} B"
        ),
        (
            f"  walk-in       median {r['walkin_to_open_s']} s, max {r['walkin_to_open_max_s']} "
            f"s over {r['walkins']} ({r['walkin_decisions']}); target <= "
            f"{goals['walkin_to_open_s']:g} s"
        ),
    ]
    missed = [name for name, ok in r["targets"].items() if not ok]
    lines.append(f"  missed: {', '.join(missed)}" if missed else "  all targets met")
    return "\n".join(lines)


def main(*, json: bool, options: Options, database_url: str | None) -> dict[str, Any]:
    """Print the figures for a person, then (with ``json``) the JSON as the last line."""
    out = sys.stdout
    out.write(
        f"seeding {options.stations} stations, then {options.samples} samples of each list "
        f"and {options.walkins} walk-ins…\n"
    )
    out.flush()
    result = run_worker_app_bench(options, database_url=database_url)
    text = _human(result)
    if json:
        text += "\n" + jsonlib.dumps(result, ensure_ascii=False)
    out.write(text + "\n")
    out.flush()
    return result
