"""The exception tree of the service.

Services raise these; one handler in ``api/errors.py`` renders every one of them as
``{"status_code": int, "detail": str, "extra": ...}``.

    ServiceError
    ├── BadRequest            400  invalid input (``extra`` lists field errors)
    ├── Unauthorized          401  missing, unknown, revoked or expired credential
    ├── Forbidden             403  authenticated, but the key lacks the scope
    ├── NotFound              404  unknown id, or an object of another user
    ├── Conflict              409  the object is in a state that forbids the action
    ├── PayloadTooLarge       413  request body above the configured limit
    ├── UnsupportedMediaType  415  body is not JSON
    ├── TooManyRequests       429  a per-user limit is reached (``Retry-After``; ``extra`` names it)
    └── ServiceUnavailable    503  store or engine not ready

``domain.states.IllegalTransition`` (a ``Conflict``) is raised by guarded state changes that
matched no row; callers translate it or treat it as "someone else got there first".
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    status_code = 500

    def __init__(self, detail: str, *, extra: Any = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class BadRequest(ServiceError):
    status_code = 400


class Unauthorized(ServiceError):
    status_code = 401


class Forbidden(ServiceError):
    status_code = 403


class NotFound(ServiceError):
    status_code = 404


class Conflict(ServiceError):
    status_code = 409


class PayloadTooLarge(ServiceError):
    status_code = 413


class UnsupportedMediaType(ServiceError):
    status_code = 415


class TooManyRequests(ServiceError):
    """``extra``: ``{"limit": <its name>, "max": <the user's value>, ...}``; ``retry_after``: seconds."""

    status_code = 429

    def __init__(self, detail: str, *, limit: str, maximum: int, retry_after: int, **more: int) -> None:
        super().__init__(detail, extra={"limit": limit, "max": maximum, **more})
        self.retry_after = max(1, retry_after)


class ServiceUnavailable(ServiceError):
    status_code = 503
