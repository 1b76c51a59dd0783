"""Every API error carries a stable code the dashboard words in zh-CN and English: the codes
the routes raise, each field of a refused request, and the bare HTTP errors."""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Final

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cloud.api.errors import _FIELD_CODES, HTTP_CODES, http_code, validation_details
from cloud.web.i18n import API_ERRORS, api_errors
from protocol.pushable import CODES as PUSHABLE_CODES
from tests.cloud.members.world import Cloud

CLOUD: Final = Path(__file__).resolve().parents[3] / "cloud"
# Codes only a box, the kiosk, the CLI or the union's platform meets (they read English and
# branch on the code): no dashboard page sends these requests.
NOT_ON_A_PAGE: Final = frozenset(
    {
        "artifact_store_unavailable",
        "bad_file",
        "bad_range",
        "blob_not_found",
        "expires_in_invalid",
        "file_too_large",
        "guest_member",
        "hash_mismatch",
        "ingest_unhealthy",
        "issuer_key_exists",
        "issuer_key_invalid",
        "issuer_key_not_found",
        "malformed",
        "missing_blobs",
        "no_devices",
        "no_issuer",
        "no_target",
        "range_not_satisfiable",
        "release_exists",
        "release_key_missing",
        "release_not_found",
        "rollout_not_found",
        "rotation_broken",
        "rotation_in_progress",
        "rotation_not_chained",
        "serial_not_newer",
        "snapshot_required",
        "stages_incomplete",
        "devices_in_rollout",
        "token_not_found",
        "user_not_found",
        "wrong_device",
        "wrong_rollout_status",
        "booking_not_found",  # the booking pages word it themselves (booking_words)
    }
)


def _raised_codes() -> set[str]:
    """Every literal ``code="…"`` under cloud/ (the routes', the domains' errors)."""
    found: set[str] = set()
    for path in CLOUD.rglob("*.py"):
        found |= set(re.findall(r'\bcode="([a-z_]+)"', path.read_text(encoding="utf-8")))
    return found


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_sentence_has_both_languages_with_the_same_placeholders() -> None:
    for key, (zh, en) in API_ERRORS.items():
        assert zh.strip(), key
        assert en.strip(), key
        assert _fields(zh) == _fields(en), key
        assert not re.search(r"[\u4e00-\u9fff]", en), f"{key}: Chinese in the English sentence"
        assert re.search(r"[\u4e00-\u9fff]", zh), f"{key}: no Chinese in the zh-CN sentence"


def test_every_code_a_page_can_meet_has_a_sentence() -> None:
    worded = {key.removeprefix("api.") for key in API_ERRORS}
    missing = sorted(_raised_codes() - NOT_ON_A_PAGE - worded)
    assert missing == [], f"add these codes to cloud/web/i18n.py API_ERRORS: {missing}"
    # The bare HTTP errors of the statuses a person meets, by code and by status.
    for status in (401, 403, 404, 409, 413, 429):
        assert http_code(status) in worded, status
        assert f"status.{status}" in worded, status
    assert {"network", "non_json", "unknown"} <= worded


def test_every_field_code_has_a_sentence() -> None:
    """The codes of one refused field: a request's (cloud/api/errors.py) and a box's
    settings' (protocol/pushable.py)."""
    worded = {key.removeprefix("api.") for key in API_ERRORS}
    codes = {*_FIELD_CODES.values(), "invalid_value", *PUSHABLE_CODES}
    assert sorted(c for c in codes if f"field.{c}" not in worded) == []


def test_the_page_gets_its_own_language_without_prefixes() -> None:
    zh, en = api_errors("zh-CN"), api_errors("en")
    assert zh.keys() == en.keys() == {k.removeprefix("api.") for k in API_ERRORS}
    assert zh["non_json"] == "服务器暂时无法回应，请稍后重试"
    assert en["non_json"] == "The server did not answer properly; try again shortly"
    assert "标签" in zh["claim_code_invalid"]  # the typo error reads as Chinese


def test_bare_http_codes_do_not_follow_pythons_phrases() -> None:
    # 3.13 renamed 413's phrase; the code a page looks up must not move with it.
    assert http_code(413) == "body_too_large" == HTTP_CODES[413]
    assert http_code(418) == "i_m_a_teapot"
    assert http_code(599) == "http_599"


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sample_interval_s: float = Field(ge=0.05, le=3600)
    name: str = Field(max_length=4)
    mode: int = Field(gt=0)


def test_each_refused_field_gets_a_code_and_its_limit_but_never_the_input() -> None:
    with pytest.raises(ValidationError) as caught:
        _Config.model_validate(
            {"sample_interval_s": -5, "name": "secret-ish", "mode": 0, "smaple": 1}
        )
    details = {d["field"]: d for d in validation_details(caught.value.errors(), prefix="body")}
    small = details["body.sample_interval_s"]
    assert (small["code"], small["params"]) == ("value_too_small", {"limit": 0.05})
    assert details["body.name"]["code"] == "too_long"
    assert details["body.name"]["params"] == {"limit": 4}
    assert details["body.mode"]["params"] == {"limit": 0, "exclusive": True}
    assert details["body.smaple"]["code"] == "unknown_field"
    assert "secret-ish" not in repr(details)
    assert "-5" not in repr(details)


def test_a_refused_request_answers_field_codes(cloud: Cloud) -> None:
    # One cloud for both checks: each opens a migrated database and hashes a password.
    admin = cloud.person("ada")
    answer = cloud.http.patch(
        "/api/v1/venues/v1",
        json={"latitude": 91, "longitude": 121, "name_en": "x" * 121},
        headers=admin,
    )
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_request"
    by_field = {d["field"]: d for d in error["details"]}
    assert by_field["body.latitude"]["code"] == "value_too_large"
    assert by_field["body.latitude"]["params"] == {"limit": 90}
    assert by_field["body.name_en"]["code"] == "too_long"
    # A bare 404 and 405 carry their codes too.
    assert cloud.http.get("/api/v1/nowhere").json()["error"]["code"] == "not_found"
    assert cloud.http.delete("/healthz").json()["error"]["code"] == "method_not_allowed"
    # The English name: given on creation (trimmed), cleared by an empty text.
    made = cloud.http.post(
        "/api/v1/venues",
        json={"id": "v9", "name": "徐汇骑手驿站", "name_en": " Xuhui Riders' Station "},
        headers=admin,
    )
    assert made.status_code == 201, made.text
    assert made.json()["name_en"] == "Xuhui Riders' Station"
    cleared = cloud.http.patch("/api/v1/venues/v9", json={"name_en": ""}, headers=admin)
    assert cleared.status_code == 200, cleared.text
    assert (cleared.json()["name"], cleared.json()["name_en"]) == ("徐汇骑手驿站", None)
