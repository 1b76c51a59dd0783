"""Issue 15, finding 5: a flood of refused messages costs a counter, not a row each."""

from datetime import datetime, timedelta

from sqlalchemy import Engine, text

from cloud.ingest.inbound import Inbound, classify
from cloud.ingest.rejections import MAX_KINDS_PER_MINUTE
from cloud.ingest.store import IngestStore
from tests.cloud.test_ingest_store import NOW, message, reading

TELEMETRY = "yz/v1/v1/d1/telemetry"


class _Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def _garbage(number: int, topic: str = TELEMETRY) -> Inbound:
    # Differs every time, as a real flood does: the reason names the character position.
    return classify(0, topic, b"x" * (number % 50 + 1) + b"{not json")


def _rows(engine: Engine) -> list[tuple[str, str | None, str, int, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT topic, device_id, field_path, count, payload FROM rejected_message"
                " ORDER BY id"
            )
        ).all()
    return [tuple(row) for row in rows]


def test_a_flood_of_garbage_makes_one_row_per_minute_with_a_count(engine: Engine) -> None:
    clock = _Clock()
    store = IngestStore(engine, clock=clock)
    for start in range(0, 1000, 250):  # several transactions, as a writer takes them
        result = store.write([_garbage(n) for n in range(start, start + 250)])
        assert result.rejected == 250  # every message is still counted

    rows = _rows(engine)
    assert len(rows) == 1
    topic, device, field, count, payload = rows[0]
    assert (topic, device, field, count) == (TELEMETRY, "d1", "$", 1000)
    assert payload == "x{not json"  # the first one is the sample

    clock.now = NOW + timedelta(minutes=1)
    store.write([_garbage(1)])
    assert [row[3] for row in _rows(engine)] == [1000, 1]


def test_other_kinds_and_other_senders_get_rows_of_their_own(engine: Engine) -> None:
    store = IngestStore(engine, clock=_Clock())
    bad_value = message("telemetry", [reading(1, value=900.0), reading(2, value=950.0)])
    store.write([_garbage(1), classify(0, TELEMETRY, b"[1]"), bad_value])
    # A topic that names no device is counted per topic.
    store.write([classify(0, "nonsense/a", b"x"), classify(0, "nonsense/a", b"y")])
    store.write([classify(0, "nonsense/b", b"x")])

    by_field = {(row[0], row[2]): row[3] for row in _rows(engine)}
    # "not JSON" and "not an object" are two kinds of refusal of one field.
    assert sorted(row[3] for row in _rows(engine) if row[2] == "$") == [1, 1]
    assert by_field[(TELEMETRY, "items.0.value")] == 2  # same kind, values differ
    assert by_field[("nonsense/a", "topic")] == 2
    assert by_field[("nonsense/b", "topic")] == 1


def test_a_sender_inventing_new_kinds_is_capped_per_minute(engine: Engine) -> None:
    store = IngestStore(engine, clock=_Clock())
    # Each message has its own unknown field: a new field and reason every time (letters,
    # since digits are blanked when telling kinds apart).
    floods = [
        classify(
            0,
            TELEMETRY,
            ('{"v":1,"device":"d1","items":[{}],"' + "ab"[n % 2] * (n + 1) + '":1}').encode(),
        )
        for n in range(MAX_KINDS_PER_MINUTE * 3)
    ]
    assert store.write(floods).rejected == MAX_KINDS_PER_MINUTE * 3
    rows = _rows(engine)
    assert len(rows) <= MAX_KINDS_PER_MINUTE + 1
    assert sum(row[3] for row in rows) == MAX_KINDS_PER_MINUTE * 3
    overflow = [row for row in rows if row[2] == "*"]
    assert len(overflow) == 1
