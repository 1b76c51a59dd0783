"""`yizhan release publish` against a releases API on a real port: wheels by their hash,
what the API holds already is skipped, the API's refusals are a line each."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from protocol.release import Release, verify_release
from tests.release.api_server import ReleasesApi
from tests.release.conftest import TOKEN, yizhan


def _publish(folder: Path, api: str, token_file: Path) -> tuple[int, str]:
    return yizhan("release", "publish", folder, "--api", api, "--token-file", token_file)


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return path


def test_publish_uploads_the_wheels_then_the_signed_manifest(
    signed_dir: Path, api: ReleasesApi, token_file: Path
) -> None:
    release = Release.model_validate_json((signed_dir / "release.json").read_bytes())
    held = release.wheels[0]
    api.state.blobs[held.sha256] = (signed_dir / held.name).read_bytes()

    code, output = _publish(signed_dir, api.url, token_file)
    assert code == 0, output
    total = sum(wheel.size for wheel in release.wheels[1:])
    assert f"uploaded {len(release.wheels) - 1} wheels" in output
    assert "skipped 1 the API holds" in output
    assert held.sha256 not in api.state.puts
    for wheel in release.wheels:
        assert hashlib.sha256(api.state.blobs[wheel.sha256]).hexdigest() == wheel.sha256
    assert sum(len(api.state.blobs[sha]) for sha in api.state.puts) == total
    stored = verify_release(api.state.manifests[7], api.state.key)
    assert stored == release


def test_the_api_s_refusal_is_one_line_with_its_code(
    signed_dir: Path, api: ReleasesApi, token_file: Path
) -> None:
    assert _publish(signed_dir, api.url, token_file)[0] == 0
    code, output = _publish(signed_dir, api.url, token_file)  # the same serial again
    assert code == 1
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert errors == ["error: the API answered 409 release_exists: a release with serial 7 exists"]
    assert "Traceback" not in output


def test_a_wrong_token_and_no_api_are_one_line_each(
    signed_dir: Path, api: ReleasesApi, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("yzt_not-it")
    code, output = _publish(signed_dir, api.url, wrong)
    assert code == 1
    # HEAD, the first call, has no body to say more in.
    assert output == (
        "error: the API answered 401: Unauthorized; check the token (--token-file or "
        "YZ_API_TOKEN)\n"
    )
    api.stop()
    code, output = _publish(signed_dir, api.url, wrong)
    assert code == 1
    assert f"cannot reach the API at {api.url} (ConnectError)" in output
    assert len(output.strip().splitlines()) == 1


def test_publish_refuses_what_is_not_ready(
    release_dir: Path, api: ReleasesApi, token_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, output = _publish(release_dir, api.url, token_file)
    assert code == 2
    assert "has no manifest.json: sign it first" in output
    monkeypatch.delenv("YZ_API_TOKEN", raising=False)
    code, output = yizhan("release", "publish", release_dir, "--api", api.url)
    assert code == 2
    assert "no API token: give --token-file FILE or set YZ_API_TOKEN" in output
    assert api.state.puts == []
