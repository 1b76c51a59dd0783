"""Shared pieces for scanner tests: real member codes and scripted frames."""

from datetime import UTC, datetime

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol.membercode import IssuerKey, issue

NOW = datetime(2025, 3, 1, 3, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def member_codes() -> list[str]:
    """Signed codes the size a door sees (QR version 6), each distinct."""
    key = IssuerKey("t1", Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
    return [
        issue(f"rider-{i:04d}", key=key, now=NOW, groups=("rider",), nonce=bytes([i] * 8))
        for i in range(40)
    ]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20250301)
