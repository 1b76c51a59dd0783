"""docs/examples/union_client.py, the client integration.md hands the app's developers, works
as written against the real API: the flows of the document, end to end."""

from __future__ import annotations

import base64
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloud.auth.principal import Scope
from tests.cloud.members.world import EVERY_SCOPE, Cloud

CLIENT = Path(__file__).resolve().parents[3] / "docs" / "examples" / "union_client.py"


def load_client() -> ModuleType:
    spec = importlib.util.spec_from_file_location("union_client", CLIENT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_documented_flows_run_with_the_reference_client(cloud: Cloud) -> None:
    union_client = load_client()
    token = cloud.token(*EVERY_SCOPE)["Authorization"].removeprefix("Bearer ")
    client = union_client.UnionClient("http://testserver", token=token, http=cloud.http)

    stored = client.put_member(
        "qd-0001", display_name="王师傅", groups=["rider"], valid_until="2027-12-31T16:00:00+00:00"
    )
    assert stored["standing"] == "active"
    batch = client.put_members([{"member_id": f"qd-1{i:03d}"} for i in range(450)])
    assert len(batch["created"]) == 450
    assert sum(1 for _ in client.members(page_size=200)) == 451  # three pages, walked
    code = client.door_code("qd-0001")
    assert code["code"].startswith("YZ1:")
    assert code["refresh_in_s"] > 0

    phone = Ed25519PrivateKey.generate()
    public = base64.b64encode(phone.public_key().public_bytes_raw()).decode()
    cert = client.register_phone("qd-0001", public, label="Huawei")
    assert client.renew_phone("qd-0001", cert["phone_id"])["phone_id"] == cert["phone_id"]
    assert client.revoke_phone("qd-0001", cert["phone_id"])["must_renew"] == []

    client.suspend("qd-0001", note="dues unpaid")
    with pytest.raises(union_client.YizhanError) as refused:
        client.door_code("qd-0001")
    assert (refused.value.status, refused.value.code) == (409, "member_revoked")
    assert client.reinstate("qd-0001")["standing"] == "active"


def test_a_token_without_the_scope_is_an_answer_not_a_retry(cloud: Cloud) -> None:
    union_client = load_client()
    token = cloud.token(Scope.MEMBERS_READ)["Authorization"].removeprefix("Bearer ")
    client = union_client.UnionClient("http://testserver", token=token, http=cloud.http)
    with pytest.raises(union_client.YizhanError) as refused:
        client.put_member("qd-0001")
    assert refused.value.status == 403
    assert "members:write" in refused.value.message
