"""`yizhan cloud token add`: an integration token from the command line, printed once, that
works against the API with exactly its scopes; a mistake is one line."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session, select
from typer.testing import CliRunner

from cloud.auth import store
from cloud.auth.models import ApiToken
from cloud.core.db import make_engine
from cloud.core.time import utc_now
from yizhan.cli import app


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_a_token_is_printed_once_and_holds_exactly_its_scopes(tmp_path: Path) -> None:
    code, out, said = run(
        "cloud", "token", "add", "齐鲁工惠", "--scope", "members:write",
        "--scope", "codes:issue", "--days", "30", "--data-dir", str(tmp_path),
    )  # fmt: skip
    assert code == 0, said
    secret = out.strip()
    assert secret.startswith("yzt_")
    assert "shown this once" in said
    assert secret not in said  # the secret goes to stdout only, for a pipe
    engine = make_engine(f"sqlite:///{tmp_path}/cloud.db")
    try:
        with Session(engine) as session:
            (token,) = session.exec(select(ApiToken)).all()
            assert (token.role, sorted(token.scopes)) == (
                "integration",
                ["codes:issue", "members:write"],
            )
            found = store.find_api_token(session=session, presented=secret, now=utc_now())
            assert found is not None
            assert found.expires_at is not None
    finally:
        engine.dispose()


def test_a_mistyped_or_missing_scope_is_one_line(tmp_path: Path) -> None:
    code, out, said = run(
        "cloud", "token", "add", "x", "--scope", "members:wrte", "--data-dir", str(tmp_path)
    )
    assert code == 2
    assert out == ""
    assert said.count("\n") == 1
    assert "members:wrte" in said
    assert "members:write" in said
    code, _, said = run("cloud", "token", "add", "x", "--data-dir", str(tmp_path))
    assert code == 2
    assert "needs its scopes" in said
