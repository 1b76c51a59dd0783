"""The Node-RED peer's files: valid, pinned, wired, and mapping every item to a whole row.

The suite never runs npm or Node-RED (`python -m yizhan.bench.ingest_peer` does); these read
the committed flow as Node-RED would load it.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from cloud.core.db import table_of
from cloud.models import DeviceEvent, Reading
from yizhan.bench.ingest_peer import NODE_RED_DIR, _peer_env


def _json(name: str) -> Any:
    return json.loads((NODE_RED_DIR / name).read_text(encoding="utf-8"))


def _flow() -> dict[str, dict[str, Any]]:
    return {node["id"]: node for node in _json("flows.json")}


def _function(name: str) -> str:
    [code] = [n["func"] for n in _flow().values() if n["type"] == "function" and n["name"] == name]
    return str(code)


def _rows(code: str) -> dict[str, set[str]]:
    """Each table the row function writes, with the keys of the row it builds for it."""
    rows: dict[str, set[str]] = {}
    table, keys = "", None
    for line in code.splitlines():
        if found := re.search(r"topic: '(\w+)'", line):
            table = found.group(1)
        elif line.strip() == "payload: {":
            keys = rows.setdefault(table, set())
        elif line.strip() == "},":
            keys = None
        elif keys is not None and (key := re.match(r"\s*(\w+):", line)):
            keys.add(key.group(1))
    return rows


def test_the_packages_are_pinned_and_the_lock_matches() -> None:
    package, lock = _json("package.json"), _json("package-lock.json")
    assert re.fullmatch(r"4\.\d+\.\d+", package["dependencies"]["node-red"])
    assert lock["packages"][""]["dependencies"] == package["dependencies"]
    assert (
        lock["packages"]["node_modules/node-red"]["version"] == package["dependencies"]["node-red"]
    )
    vendored = json.loads(
        (NODE_RED_DIR / "node-red-contrib-postgresql" / "package.json").read_text("utf-8")
    )
    assert vendored["node-red"]["nodes"] == {"postgresql": "postgresql.js"}
    locked = lock["packages"]["node_modules/node-red-contrib-postgresql"]
    assert locked["version"] == vendored["version"]
    assert lock["packages"]["node_modules/pg"]["version"].startswith("8.")


def test_every_wire_reaches_a_node_and_config_nodes_exist() -> None:
    flow = _flow()
    for node in flow.values():
        for output in node.get("wires", []):
            assert set(output) <= set(flow), node["id"]
        for config in ("broker", "postgreSQLConfig"):
            if config in node and "z" in node:  # a flow node naming its config node
                assert node[config] in flow, node["id"]


def test_the_flow_subscribes_as_ingest_does_and_writes_through_the_postgresql_node() -> None:
    flow = _flow()
    [source] = [n for n in flow.values() if n["type"] == "mqtt in"]
    assert source["topic"] == "$share/bench/yz/v1/bench/+/+"
    assert source["qos"] == "1"
    assert flow[source["broker"]]["protocolVersion"] == "5"
    assert flow[source["broker"]]["broker"] == "127.0.0.1"
    chain = [source["type"]]
    node = source
    while node["type"] != "postgresql":
        node = flow[node["wires"][0][0]]
        chain.append(node["type"])
    assert chain == ["mqtt in", "json", "function", "join", "function", "postgresql"]
    joins = [n for n in flow.values() if n["type"] == "join"]
    assert {(n["count"], n["timeout"], n["build"]) for n in joins} == {("500", "0.05", "array")}


@pytest.mark.parametrize("model", [Reading, DeviceEvent])
def test_the_row_function_fills_every_column(model: type[Reading | DeviceEvent]) -> None:
    table = table_of(model)
    rows = _rows(_function("one row per item"))
    assert rows[table.name] == {column.name for column in table.columns}


def test_the_insert_is_one_parameterised_idempotent_statement() -> None:
    code = _function("multi-row INSERT")
    assert "ON CONFLICT (device_id, seq) DO NOTHING" in code
    assert "msg.params = params" in code
    assert "'$' + params.length" in code  # values travel as parameters, never in the text


def test_settings_listen_on_loopback_without_editor_or_telemetry() -> None:
    settings = (NODE_RED_DIR / "settings.js").read_text(encoding="utf-8")
    assert "uiHost: '127.0.0.1'" in settings
    assert "httpAdminRoot: false" in settings
    assert "telemetry: { enabled: false" in settings


def test_node_red_reads_the_database_from_libpq_variables() -> None:
    env = _peer_env(
        "postgresql+psycopg://bench:s3cret@127.0.0.1:5433/yizhan_bench_x",
        http_port=18_800,
        mqtt_port=18_830,
    )
    assert {k: env[k] for k in ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD")} == {
        "PGHOST": "127.0.0.1",
        "PGPORT": "5433",
        "PGDATABASE": "yizhan_bench_x",
        "PGUSER": "bench",
        "PGPASSWORD": "s3cret",
    }
    assert (env["YZ_NODE_RED_PORT"], env["YZ_MQTT_PORT"]) == ("18800", "18830")
