"""The technician's HTTP client for the cloud API: login, JSON calls, one error type."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Self

import httpx

# Long enough for a claim (the cloud talks to the broker before it answers), short enough
# that a technician at a box is not left staring at a frozen terminal.
_TIMEOUT_S = 20.0


class CloudError(Exception):
    """The cloud refused a call or could not be reached; ``str()`` is fit for a person."""

    def __init__(
        self, message: str, *, status: int = 0, code: str = "", details: Any = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.details = details


@dataclass(frozen=True, slots=True, kw_only=True)
class CloudLogin:
    """Where the cloud is and who is asking: an API/JWT token, or a user and password."""

    url: str
    token: str | None = None
    username: str | None = None
    password: str | None = None


class CloudClient:
    """JSON over HTTPS to ``/api/v1``; every failure becomes a :class:`CloudError`."""

    def __init__(self, login: CloudLogin, *, http: httpx.Client | None = None) -> None:
        self._url = login.url.rstrip("/")
        self._http = http or httpx.Client(base_url=self._url, timeout=_TIMEOUT_S)
        self._token = login.token
        if self._token is None and login.username is not None:
            self._token = self._login(login.username, login.password or "")

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _login(self, username: str, password: str) -> str:
        body = self._send(
            "POST", "/api/v1/auth/token", data={"username": username, "password": password}
        )
        return str(body["access_token"])

    def get(self, path: str, **params: Any) -> Any:
        query = {k: v for k, v in params.items() if v is not None}
        return self._send("GET", f"/api/v1{path}", params=query)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._send("POST", f"/api/v1{path}", json=body or {})

    def put(self, path: str, body: dict[str, Any]) -> Any:
        return self._send("PUT", f"/api/v1{path}", json=body)

    def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        try:
            response = self._http.request(method, path, headers=headers, **kwargs)
        except httpx.TransportError as exc:
            raise CloudError(
                f"cannot reach the cloud at {self._url} ({exc.__class__.__name__}); is "
                "`yizhan cloud serve` running there? Set --cloud or YIZHAN_CLOUD_URL"
            ) from None
        if response.is_success:
            return response.json() if response.content else None
        raise _error(response)


def _error(response: httpx.Response) -> CloudError:
    try:
        body = response.json()
        error = body["error"]
        message, code, details = str(error["message"]), str(error["code"]), error.get("details")
    except (ValueError, KeyError, TypeError):
        message, code, details = response.text[:300] or response.reason_phrase, "", None
    if response.status_code == 401:
        message += "; log in with --user NAME, or set YIZHAN_TOKEN to an API token"
    return CloudError(message, status=response.status_code, code=code, details=details)
