"""Database helpers every cloud layer shares."""

from cloud.core.db import no_nul


def test_no_nul_replaces_what_postgresql_text_cannot_hold() -> None:
    assert no_nul("a\x00b\x00") == "a\ufffdb\ufffd"
    assert no_nul("plain, 中文") == "plain, 中文"
