"""Exceptions raised by the SDK.

    SferenceError
    ├── ApiError                 the server answered with status >= 400
    │   ├── BadRequestError      400
    │   ├── AuthenticationError  401
    │   ├── PermissionDeniedError 403
    │   ├── NotFoundError        404
    │   ├── ConflictError        409
    │   ├── RateLimitError       429
    │   └── ServerError          5xx
    └── ConnectionFailed         no answer at all (refused, DNS, TLS, dropped)
        └── AnswerTimeout        connected, but no answer within the read timeout

``str(ApiError)`` is ``"<status>: <payload>"`` as in sference-sdk 0.0.4 (the payload is the
decoded JSON body, or ``{'detail': '<text>'}``), so code that matches on the prefix keeps working;
``status_code`` and ``body`` carry the same facts as attributes.
"""

from __future__ import annotations

from typing import Any


class SferenceError(Exception):
    """Base of every SDK exception."""


class ApiError(SferenceError):
    def __init__(self, status_code: int, body: Any) -> None:
        super().__init__(f"{status_code}: {body}")
        self.status_code = status_code
        self.body = body

    @property
    def detail(self) -> str:
        """The server's human-readable message."""
        if isinstance(self.body, dict) and "detail" in self.body:
            return str(self.body["detail"])
        return str(self.body)


class BadRequestError(ApiError):
    pass


class AuthenticationError(ApiError):
    pass


class PermissionDeniedError(ApiError):
    pass


class NotFoundError(ApiError):
    pass


class ConflictError(ApiError):
    pass


class RateLimitError(ApiError):
    pass


class ServerError(ApiError):
    pass


class ConnectionFailed(SferenceError):
    """The server could not be reached."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"could not reach {url}: {reason}")
        self.url = url
        self.reason = reason


class AnswerTimeout(ConnectionFailed):
    """The server took the request but did not answer in time (the client's timeout)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(url, reason)
        self.args = (f"no answer from {url} in time: {reason}",)


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitError,
}


def api_error(status_code: int, body: Any) -> ApiError:
    cls = _BY_STATUS.get(status_code) or (ServerError if status_code >= 500 else ApiError)
    return cls(status_code, body)
