"""The HTTP client of the student CLI (``grader login``, ``submit``, ``status``).

:class:`ApiClient` takes a ``requests.Session`` (the test seam: tests run it
against a real local server). Credentials live in the user's config directory
(``click.get_app_dir("grader")``), readable by the user only.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import requests

DEFAULT_SERVER = "http://127.0.0.1:5000"


class ApiError(Exception):
    """The server answered with an error (``status``) or could not be reached (``status == 0``)."""

    def __init__(self, message: str, status: int = 0, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after


class ApiClient:
    def __init__(self, server: str, token: str | None = None, *, session: requests.Session | None = None,
                 timeout: float = 30.0) -> None:
        self.server = server.rstrip("/")
        self.token = token
        self.http = session or requests.Session()
        self.timeout = timeout

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._raw(method, path, **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        if "json" not in response.headers.get("Content-Type", ""):
            return response.text
        return response.json()

    def login(self, email: str, password: str, label: str = "grader login") -> dict[str, Any]:
        return self.request("POST", "/tokens", json={"email": email, "password": password, "label": label})  # type: ignore[no-any-return]

    def logout(self) -> None:
        self.request("DELETE", "/tokens/current")

    def tokens(self) -> list[dict[str, Any]]:
        return self.request("GET", "/tokens")["tokens"]  # type: ignore[no-any-return]

    def revoke_token(self, token_id: int) -> None:
        self.request("DELETE", f"/tokens/{int(token_id)}")

    def change_password(self, current: str, new: str) -> dict[str, Any]:
        return self.request("POST", "/password", json={"current_password": current,  # type: ignore[no-any-return]
                                                       "new_password": new})

    def me(self) -> dict[str, Any]:
        return self.request("GET", "/me")  # type: ignore[no-any-return]

    def assignments(self) -> list[dict[str, Any]]:
        return self.request("GET", "/assignments")["assignments"]  # type: ignore[no-any-return]

    def submit(self, assignment: str, files: dict[str, bytes]) -> dict[str, Any]:
        upload = [("file", (name, data, "text/x-python")) for name, data in files.items()]
        return self.request("POST", f"/assignments/{assignment}/submissions", files=upload)  # type: ignore[no-any-return]

    def submit_archive(self, filename: str, data: bytes, *, dry_run: bool = False) -> dict[str, Any]:
        """The whole assignment as a zip: ``{"submissions", "ignored", "missing"}`` (``dry_run``: also
        ``"found"``, and nothing is submitted)."""
        return self.request("POST", "/submissions",  # type: ignore[no-any-return]
                            params={"dry_run": "1"} if dry_run else None,
                            files=[("file", (filename, data, "application/zip"))])

    def submission(self, submission_id: int) -> dict[str, Any]:
        return self.request("GET", f"/submissions/{int(submission_id)}")  # type: ignore[no-any-return]

    def submissions(self, assignment: str | None = None) -> list[dict[str, Any]]:
        params = {"assignment": assignment} if assignment else None
        return self.request("GET", "/submissions", params=params)["submissions"]  # type: ignore[no-any-return]

    def status(self) -> dict[str, Any]:
        return self.request("GET", "/status")  # type: ignore[no-any-return]

    def kit(self, assignment: str) -> tuple[bytes, str]:
        """The public kit of an assignment: ``(zip bytes, version)`` (``GET /assignments/<id>/kit``)."""
        response = self._raw("GET", f"/assignments/{assignment}/kit")
        return response.content, response.headers.get("X-Kit-Version", "")

    def kit_version(self, assignment: str) -> str:
        """The version of the server's kit, from a HEAD request (cheap: no body)."""
        return self._raw("HEAD", f"/assignments/{assignment}/kit").headers.get("X-Kit-Version", "")

    def _raw(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """The response of a request to the API (``path`` under /api/v1, or a full URL); an error status is
        an :class:`ApiError` with the server's message (and its Retry-After)."""
        headers = kwargs.pop("headers", {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        url = path if path.startswith("http") else f"{self.server}/api/v1{path}"
        try:
            response = self.http.request(method, url, headers=headers, timeout=self.timeout, **kwargs)
        except requests.exceptions.RequestException as exc:
            raise ApiError(f"cannot reach the grader at {self.server} ({type(exc).__name__})") from None
        if response.status_code >= 400:
            try:
                message = response.json().get("error") or response.reason
            except ValueError:
                message = f"{response.status_code} {response.reason}"
            retry = response.headers.get("Retry-After")
            raise ApiError(str(message), response.status_code, int(retry) if retry and retry.isdigit() else None)
        return response


# --------------------------------------------------------------------------- stored credentials


@dataclass
class Credentials:
    server: str
    token: str | None = None
    email: str | None = None
    expires_at: str | None = None


def config_dir() -> Path:
    return Path(click.get_app_dir("grader"))


def credentials_path() -> Path:
    return config_dir() / "credentials.json"


def load_credentials() -> Credentials:
    """Saved credentials; ``GRADER_SERVER`` and ``GRADER_TOKEN`` override them (for scripts and CI)."""
    data: dict[str, Any] = {}
    try:
        data = json.loads(credentials_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    creds = Credentials(server=str(data.get("server") or DEFAULT_SERVER), token=data.get("token"),
                        email=data.get("email"), expires_at=data.get("expires_at"))
    if os.environ.get("GRADER_SERVER"):
        creds.server = os.environ["GRADER_SERVER"]
    if os.environ.get("GRADER_TOKEN"):
        creds.token, creds.email = os.environ["GRADER_TOKEN"], None
    return creds


def save_credentials(creds: Credentials) -> Path:
    """Write the credentials file with mode 0600 (created that way: never readable by others, even briefly)."""
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"server": creds.server, "token": creds.token, "email": creds.email,
                   "expires_at": creds.expires_at}, f, indent=2)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)
    return path


def forget_credentials() -> bool:
    try:
        credentials_path().unlink()
        return True
    except FileNotFoundError:
        return False
