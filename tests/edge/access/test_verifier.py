"""Verifier: every reason reachable, order of checks, rotation, restarts, hostile input."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.access.keys import KeyRing
from edge.access.members import DEFAULT_MAX_OFFLINE_AGE, MemberCache
from edge.access.reasons import SIGNALS, Reason
from edge.access.replay import ReplayCache
from edge.access.verifier import Verifier
from protocol.access import MemberRecord, MemberStatus
from protocol.base45 import ALPHABET, b45decode, b45encode
from protocol.membercode import (
    DEFAULT_SKEW,
    PREFIX,
    IssuerKey,
    Mode,
    certify_phone,
    issue,
    prove,
)

NOW = datetime(2025, 5, 1, 3, 0, tzinfo=UTC)
KEY = IssuerKey("u2025", Ed25519PrivateKey.from_private_bytes(bytes([1]) * 32))
NEW_KEY = IssuerKey("u2026", Ed25519PrivateKey.from_private_bytes(bytes([2]) * 32))
LAPSES = NOW + timedelta(minutes=5)  # m-lapsing's membership runs until then
PHONE = Ed25519PrivateKey.from_private_bytes(bytes([7]) * 32)
CERT = certify_phone(
    "m-phone", key=KEY, phone_public_key=PHONE.public_key(), now=NOW - timedelta(days=1)
)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Door:
    verifier: Verifier
    clock: Clock
    path: Path

    def reopen(self) -> Door:
        """A new Verifier on the same files, as after a restart."""
        return _door(self.path, self.clock, seed=False)


def _door(path: Path, clock: Clock, *, seed: bool = True) -> Door:
    keys = KeyRing({KEY.kid: KEY.public_key()})
    members = MemberCache(path / "members.db")
    if seed:
        members.apply_snapshot(
            1,
            [
                MemberRecord("m-1", MemberStatus.ACTIVE, ("rider",)),
                MemberRecord("m-revoked", MemberStatus.REVOKED),
                MemberRecord("m-lost", MemberStatus.ACTIVE, (), int(NOW.timestamp())),
                MemberRecord("m-lapsing", MemberStatus.ACTIVE, (), None, int(LAPSES.timestamp())),
                MemberRecord("m-lapsed-revoked", MemberStatus.REVOKED, (), None, 0),
            ],
            synced_at=NOW - timedelta(hours=1),
        )
    replay = ReplayCache(path / "replay.db")
    return Door(Verifier(keys, members, replay, clock=clock), clock, path)


@pytest.fixture
def door(tmp_path: Path) -> Iterator[Door]:
    opened = _door(tmp_path, Clock(NOW))
    yield opened
    opened.verifier.members.close()
    opened.verifier.replay.close()


def _code(member: str = "m-1", *, key: IssuerKey = KEY, at: datetime = NOW) -> str:
    return issue(member, key=key, now=at, groups=("rider",))


def _phone_code(*, at: datetime = NOW, cert: bytes = CERT) -> str:
    return prove(cert, phone_key=PHONE, now=at)


# --- accepting and committing -----------------------------------------------------------


def test_mode_1_accepted_with_credential(door: Door) -> None:
    result = door.verifier.verify(_code())
    assert result.reason is Reason.ACCEPTED
    credential = result.credential
    assert credential is not None
    assert credential.mode is Mode.ISSUED
    assert credential.member_id == "m-1"
    assert credential.groups == frozenset({"rider"})
    assert credential.kid == "u2025"
    assert len(credential.replay_key) == 16


def test_mode_2_accepted_with_credential(door: Door) -> None:
    result = door.verifier.verify(_phone_code())
    assert result.reason is Reason.ACCEPTED
    assert result.credential is not None
    assert result.credential.mode is Mode.PHONE_PROOF
    assert result.credential.member_id == "m-phone"


@pytest.mark.parametrize("make", [_code, _phone_code])
def test_replay_refused_only_after_commit(door: Door, make: object) -> None:
    code = make()  # type: ignore[operator]
    first = door.verifier.verify(code)
    assert first.reason is Reason.ACCEPTED
    # Refused by policy (not committed): the same code still passes.
    assert door.verifier.verify(code).reason is Reason.ACCEPTED
    assert first.credential is not None
    assert door.verifier.commit(first.credential)
    again = door.verifier.verify(code)
    assert again.reason is Reason.REPLAYED
    assert again.credential is not None
    assert not door.verifier.commit(first.credential)  # a racing second door stays shut


def test_replay_refused_after_a_restart(door: Door) -> None:
    code = _code()
    result = door.verifier.verify(code)
    assert result.credential is not None
    assert door.verifier.commit(result.credential)
    door.clock.now = NOW + timedelta(seconds=20)
    assert door.reopen().verifier.verify(code).reason is Reason.REPLAYED


def test_replay_remembered_for_the_whole_validity(door: Door) -> None:
    code = _code()
    result = door.verifier.verify(code)
    assert result.credential is not None
    door.verifier.commit(result.credential)
    # Last moment the code could pass: still refused as replayed, never accepted.
    door.clock.now = result.credential.expires_at + DEFAULT_SKEW
    assert door.verifier.verify(code).reason is Reason.REPLAYED
    door.clock.now += timedelta(seconds=1)
    assert door.verifier.verify(code).reason is Reason.EXPIRED


def test_each_fresh_code_of_one_member_passes(door: Door) -> None:
    for _ in range(3):
        result = door.verifier.verify(_code())
        assert result.reason is Reason.ACCEPTED
        assert result.credential is not None
        assert door.verifier.commit(result.credential)


# --- every reason -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "https://qr.alipay.com/fkx12345abcde",
        "wxp://f2f0abcdefghijklmnopqrstuvwxyz",
        "https://u.wechat.com/EAbc123",
        "WIFI:S:station;T:WPA;P:secret;;",
        "BEGIN:VCARD\nFN:Zhang San\nEND:VCARD",
        "00020101021229300012D156000000000510A93FO3230Q31280012D15600000001030812345678",
        "http://example.com/YZ1:ABC",
        " YZ1:" + "A" * 30,
        "yz1:abc",
        "\x00YZ1:",
        "这不是会员码",
    ],
)
def test_other_peoples_qr_codes_are_not_member_codes(door: Door, text: str) -> None:
    result = door.verifier.verify(text)
    assert result.reason is Reason.NOT_MEMBER_CODE
    assert result.credential is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("YZ", Reason.MALFORMED),
        ("YZ1:", Reason.MALFORMED),
        ("YZ2:ABC", Reason.MALFORMED),
        ("YZ1:" + "A" * 500, Reason.MALFORMED),
        ("YZ1:" + b45encode(bytes([9]) + bytes(100)), Reason.UNSUPPORTED),
    ],
)
def test_malformed_and_unsupported(door: Door, text: str, reason: Reason) -> None:
    assert door.verifier.verify(text).reason is reason


def test_not_text_is_malformed(door: Door) -> None:
    assert door.verifier.verify(b"YZ1:ABC").reason is Reason.MALFORMED  # type: ignore[arg-type]
    assert door.verifier.verify(None).reason is Reason.MALFORMED  # type: ignore[arg-type]


def test_unknown_key_and_rotation(door: Door) -> None:
    new_code = _code(key=NEW_KEY)
    assert door.verifier.verify(new_code).reason is Reason.UNKNOWN_KEY
    door.verifier.keys.add(NEW_KEY.kid, NEW_KEY.public_key())
    assert door.verifier.verify(new_code).reason is Reason.ACCEPTED
    assert door.verifier.verify(_code()).reason is Reason.ACCEPTED  # both kids active
    door.verifier.keys.retire(KEY.kid)
    assert door.verifier.verify(_code()).reason is Reason.UNKNOWN_KEY
    assert door.verifier.verify(_phone_code()).reason is Reason.UNKNOWN_KEY


def test_forged_with_another_key_under_our_kid(door: Door) -> None:
    forger = IssuerKey(KEY.kid, Ed25519PrivateKey.from_private_bytes(bytes([9]) * 32))
    result = door.verifier.verify(_code(key=forger))
    assert result.reason is Reason.BAD_SIGNATURE
    assert result.credential is None


def test_forged_phone_proof_by_another_phone(door: Door) -> None:
    thief = Ed25519PrivateKey.from_private_bytes(bytes([8]) * 32)
    result = door.verifier.verify(prove(CERT, phone_key=thief, now=NOW))
    assert result.reason is Reason.BAD_SIGNATURE
    assert result.credential is None


def test_self_certified_phone_is_refused(door: Door) -> None:
    rogue = IssuerKey(KEY.kid, PHONE)
    cert = certify_phone("m-1", key=rogue, phone_public_key=PHONE.public_key(), now=NOW)
    assert door.verifier.verify(_phone_code(cert=cert)).reason is Reason.BAD_SIGNATURE


@pytest.mark.parametrize(
    ("offset", "reason"),
    [
        (timedelta(minutes=5), Reason.EXPIRED),
        (-timedelta(minutes=5), Reason.NOT_YET_VALID),
    ],
)
def test_expired_and_future_dated(door: Door, offset: timedelta, reason: Reason) -> None:
    for code in (_code(at=NOW - offset), _phone_code(at=NOW - offset)):
        result = door.verifier.verify(code)
        assert result.reason is reason
        assert result.credential is not None  # the log can say whose code it was


def test_skew_is_configurable(tmp_path: Path) -> None:
    door = _door(tmp_path, Clock(NOW + timedelta(seconds=75)))
    assert door.verifier.verify(_code()).reason is Reason.ACCEPTED  # 60 s + 30 s skew
    door.verifier.skew = timedelta(0)
    assert door.verifier.verify(_code()).reason is Reason.EXPIRED


def test_revoked(door: Door) -> None:
    result = door.verifier.verify(_code("m-revoked"))
    assert result.reason is Reason.REVOKED
    assert result.credential is not None
    assert "m-revoked" in result.detail


def test_revoked_member_with_a_phone_certificate(door: Door) -> None:
    cert = certify_phone(
        "m-revoked", key=KEY, phone_public_key=PHONE.public_key(), now=NOW - timedelta(days=1)
    )
    assert door.verifier.verify(_phone_code(cert=cert)).reason is Reason.REVOKED


def test_a_withdrawn_phone_certificate_is_revoked_a_newer_one_passes(door: Door) -> None:
    old = certify_phone(
        "m-lost", key=KEY, phone_public_key=PHONE.public_key(), now=NOW - timedelta(days=1)
    )
    result = door.verifier.verify(_phone_code(cert=old))
    assert result.reason is Reason.REVOKED
    assert "withdrawn" in result.detail
    new = certify_phone("m-lost", key=KEY, phone_public_key=PHONE.public_key(), now=NOW)
    assert door.verifier.verify(_phone_code(cert=new)).reason is Reason.ACCEPTED
    # Mode-1 codes of the same member are not affected by a lost phone.
    assert door.verifier.verify(_code("m-lost")).reason is Reason.ACCEPTED


def test_a_lapsed_membership_is_refused_with_its_own_reason_from_that_second(door: Door) -> None:
    assert door.verifier.verify(_code("m-lapsing")).reason is Reason.ACCEPTED
    door.clock.now = LAPSES
    result = door.verifier.verify(_code("m-lapsing", at=LAPSES))
    assert result.reason is Reason.MEMBERSHIP_EXPIRED
    assert result.credential is not None  # the signature held: a real member, lapsed
    assert "renew" in result.detail
    assert SIGNALS[Reason.MEMBERSHIP_EXPIRED].zh.startswith("会员资格已到期")


def test_a_revocation_outranks_a_lapse(door: Door) -> None:
    assert door.verifier.verify(_code("m-lapsed-revoked")).reason is Reason.REVOKED


def test_a_member_not_in_the_cache_is_not_refused(door: Door) -> None:
    assert door.verifier.verify(_code("joined-today")).reason is Reason.ACCEPTED


def test_an_expired_phone_certificate_is_refused_even_with_a_fresh_proof(door: Door) -> None:
    door.clock.now = NOW + timedelta(days=30)
    door.verifier.members.apply_delta(1, 1, [], synced_at=door.clock.now)
    result = door.verifier.verify(_phone_code(at=door.clock.now))
    assert result.reason is Reason.EXPIRED
    assert "certificate" in result.detail


def test_no_keys_fails_secure(tmp_path: Path) -> None:
    door = _door(tmp_path, Clock(NOW))
    for kid in list(door.verifier.keys.keys):
        door.verifier.keys.retire(kid)
    result = door.verifier.verify(_code())
    assert result.reason is Reason.NO_KEYS
    assert result.credential is None
    # Other apps' codes are still named as such: the member learns something useful.
    assert door.verifier.verify("wxp://abc").reason is Reason.NOT_MEMBER_CODE


def test_no_keys_file_fails_secure(tmp_path: Path) -> None:
    keys = KeyRing.load(tmp_path / "missing.json")
    members = MemberCache(tmp_path / "m.db")
    members.apply_snapshot(1, [], synced_at=NOW)
    verifier = Verifier(keys, members, ReplayCache(tmp_path / "r.db"), clock=Clock(NOW))
    assert verifier.verify(_code()).reason is Reason.NO_KEYS


def test_stale_cache_fails_secure(door: Door) -> None:
    door.clock.now = NOW + DEFAULT_MAX_OFFLINE_AGE
    code = _code(at=door.clock.now)
    result = door.verifier.verify(code)
    assert result.reason is Reason.STALE_CACHE
    assert "old" in result.detail
    door.verifier.max_offline_age = timedelta(days=14)
    assert door.verifier.verify(code).reason is Reason.ACCEPTED


def test_never_synced_cache_fails_secure(tmp_path: Path) -> None:
    door = _door(tmp_path, Clock(NOW), seed=False)
    result = door.verifier.verify(_code())
    assert result.reason is Reason.STALE_CACHE
    assert "never synced" in result.detail


def test_a_broken_database_fails_secure(door: Door) -> None:
    door.verifier.members.close()
    result = door.verifier.verify(_code())
    assert result.reason is Reason.STALE_CACHE
    assert "database" in result.detail


def test_order_of_checks(tmp_path: Path) -> None:
    # Stale and keyless at once: keys are named first; a forged code is refused as stale
    # before any signature is checked, so the door says what staff must fix.
    door = _door(tmp_path, Clock(NOW + timedelta(days=30)))
    assert door.verifier.verify(_code()).reason is Reason.STALE_CACHE
    door.verifier.keys.retire(KEY.kid)
    assert door.verifier.verify(_code()).reason is Reason.NO_KEYS
    assert door.verifier.verify("YZ1:!!").reason is Reason.MALFORMED


def test_every_verifier_reason_is_reachable_and_has_a_signal(door: Door) -> None:
    # The reasons this module can answer; the rest belong to policy and the door.
    mine = {
        Reason.ACCEPTED, Reason.MALFORMED, Reason.NOT_MEMBER_CODE, Reason.UNSUPPORTED,
        Reason.UNKNOWN_KEY, Reason.BAD_SIGNATURE, Reason.EXPIRED, Reason.NOT_YET_VALID,
        Reason.REVOKED, Reason.REPLAYED, Reason.STALE_CACHE, Reason.NO_KEYS,
    }  # fmt: skip
    assert mine <= set(SIGNALS)


# --- hostile input ------------------------------------------------------------------------

FUZZ = settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
_counter = itertools.count()


@pytest.fixture(scope="module")
def fuzz_door(tmp_path_factory: pytest.TempPathFactory) -> Door:
    return _door(tmp_path_factory.mktemp("fuzz"), Clock(NOW))


@pytest.fixture(scope="module")
def valid_codes() -> tuple[str, str]:
    return _code(), _phone_code()


def _mutations(code: str) -> st.SearchStrategy[str]:
    raw = b45decode(code.removeprefix(PREFIX))
    flip = st.integers(0, len(raw) * 8 - 1).map(
        lambda bit: (
            PREFIX
            + b45encode(
                raw[: bit // 8] + bytes([raw[bit // 8] ^ (1 << bit % 8)]) + raw[bit // 8 + 1 :]
            )
        )
    )
    splice = st.tuples(st.integers(0, len(raw)), st.integers(0, len(raw)), st.binary(max_size=8))
    spliced = splice.map(lambda t: PREFIX + b45encode(raw[: t[0]] + t[2] + raw[t[1] :]))
    text_edit = st.tuples(st.integers(0, len(code) - 1), st.sampled_from(ALPHABET)).map(
        lambda t: code[: t[0]] + t[1] + code[t[0] + 1 :]
    )
    cut = st.integers(0, len(code) - 1).map(lambda n: code[:n])
    return st.one_of(flip, spliced, text_edit, cut)


@FUZZ
@given(text=st.text(max_size=500))
def test_arbitrary_text_never_raises_never_accepted(fuzz_door: Door, text: str) -> None:
    result = fuzz_door.verifier.verify(text)
    assert result.reason in set(Reason)
    assert result.reason is not Reason.ACCEPTED


@FUZZ
@given(tail=st.text(alphabet=ALPHABET, max_size=420))
def test_prefixed_base45_never_accepted(fuzz_door: Door, tail: str) -> None:
    assert fuzz_door.verifier.verify(PREFIX + tail).reason is not Reason.ACCEPTED


@FUZZ
@given(data=st.data(), which=st.sampled_from([0, 1]))
def test_mutated_valid_codes_are_never_accepted(
    fuzz_door: Door, valid_codes: tuple[str, str], data: st.DataObject, which: int
) -> None:
    code = valid_codes[which]
    mutated = data.draw(_mutations(code))
    result = fuzz_door.verifier.verify(mutated)
    assert (result.reason is Reason.ACCEPTED) == (mutated == code)


def test_zero_false_accepts_over_thousands_of_inputs(
    fuzz_door: Door, valid_codes: tuple[str, str]
) -> None:
    # Exhaustive single-bit flips of both modes, plus every one-character change to A, 0, Z or :.
    accepted = 0
    tried = 0
    for code in valid_codes:
        raw = b45decode(code.removeprefix(PREFIX))
        for bit in range(len(raw) * 8):
            flipped = bytearray(raw)
            flipped[bit // 8] ^= 1 << (bit % 8)
            result = fuzz_door.verifier.verify(PREFIX + b45encode(bytes(flipped)))
            accepted += result.reason is Reason.ACCEPTED
            tried += 1
        for index, char in itertools.product(range(len(PREFIX), len(code)), "A0Z:"):
            edited = code[:index] + char + code[index + 1 :]
            if edited != code:
                accepted += fuzz_door.verifier.verify(edited).reason is Reason.ACCEPTED
                tried += 1
    assert tried > 4000
    assert accepted == 0
