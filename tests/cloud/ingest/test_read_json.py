"""ingest's JSON reader (orjson first) reads every payload exactly as protocol.codec.parse_json.

Both directions: what one accepts the other accepts with an equal object (types included:
1, 1.0 and true stay apart), and what one refuses the other refuses with the same words.
"""

import json
import math
from collections.abc import Callable

from hypothesis import example, given, settings
from hypothesis import strategies as st

from cloud.ingest.inbound import read_json
from protocol.codec import parse_json
from protocol.errors import PayloadError
from protocol.payloads import MAX_PAYLOAD_BYTES

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text()
    | st.sampled_from(["\ud800", "\udfff\ud800", "\x00", "\ufeff"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


def typed(value: object) -> object:
    """``value`` with every number's type beside it, so 1 == 1.0 == True no longer holds."""
    if isinstance(value, dict):
        return ("dict", [(key, typed(item)) for key, item in value.items()])
    if isinstance(value, list):
        return ("list", [typed(item) for item in value])
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    return (type(value).__name__, value)


def outcome(parse: Callable[[bytes], object], payload: bytes) -> tuple[object, ...]:
    try:
        return ("ok", typed(parse(payload)))
    except PayloadError as exc:
        return ("refused", exc.field, str(exc))


@settings(max_examples=400)
@given(json_values, st.sampled_from(["plain", "ascii", "spaced", "bom", "nested"]))
@example({"seq": 10**30}, "plain")
@example({"v": float("nan"), "w": float("inf")}, "plain")
def test_the_readers_agree_on_json_texts(value: object, form: str) -> None:
    text = json.dumps(value, ensure_ascii=form == "ascii", indent=2 if form == "spaced" else None)
    if form == "bom":
        text = "\ufeff" + text
    if form == "nested":
        text = '{"items": [' * 3 + text + "]}" * 3
    payload = text.encode("utf-8", errors="surrogatepass")
    assert outcome(read_json, payload) == outcome(parse_json, payload)


@settings(max_examples=400)
@given(st.binary(max_size=64))
@example(b'{"a": 1, "a": 2.5}')
@example(b'{"a": NaN}')
@example(b'{"a": 1e400}')
@example(b'{"a": -0}')
@example(b'{"a": "\\ud800"}')
@example(b'{"a": "\xff"}')
@example(b"[1]")
@example(b'  {"a": 1}  \n')
@example(b'{"a": 1} x')
@example(b'{"a": 18446744073709551616}')
@example(b'{"a": 1' + b"}" * 2)
@example(b'{"a":' * 2000 + b"1" + b"}" * 2000)
def test_the_readers_agree_on_any_bytes(payload: bytes) -> None:
    assert outcome(read_json, payload) == outcome(parse_json, payload)


def test_an_oversized_payload_is_refused_alike() -> None:
    payload = b'{"pad": "' + b"x" * MAX_PAYLOAD_BYTES + b'"}'
    assert outcome(read_json, payload) == outcome(parse_json, payload)
    assert outcome(read_json, payload)[0] == "refused"
