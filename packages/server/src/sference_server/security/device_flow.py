"""RFC 8628 device authorisation, and the tokens it hands out.

A CLI asks for a code (``start``), shows the user a short code and a console URL, and polls
(``poll``). A signed-in user approves the code in the console (``approve``), which shows where
and when the code was asked for. The CLI then holds a 24 h access token (sent as
``Authorization: Bearer``) and a refresh token that rotates on every use; presenting a refresh
token a second time revokes the whole grant (it was stolen or replayed). A grant lasts
``sign_in_seconds`` from its approval however often it refreshes, and no token outlives it.
Errors follow RFC 6749 §5.2 / RFC 8628 §3.5.

Each client address may ask for ``codes_per_address`` codes and make ``tokens_per_address``
token requests (polls, refreshes), counts that halve every minute (``throttle.DecayingScores``).
Asking for a code and refreshing also delete what has expired: codes past their expiry, tokens
past theirs and the tokens of revoked grants. A rotated refresh token stays until it expires, so
its replay is still recognised.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass
from typing import Any

from ..domain.versions import CURRENT
from ..ids import uuid7
from ..store import oauth as store
from ..store.database import Database
from ..timeutil import now
from .principal import Principal
from .throttle import DecayingScores, address_key, reached

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
REFRESH_GRANT = "refresh_token"
CODE_SECONDS = 600
ACCESS_SECONDS = 24 * 3600
REFRESH_SECONDS = 30 * 24 * 3600
LIMIT_HALF_LIFE = 60.0
ACCESS_PREFIX = "sfa_"
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"  # no vowels (no words), no look-alikes


class OAuthError(Exception):
    def __init__(self, error: str, description: str, *, status: int = 400, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class PendingDevice:
    user_code: str
    client_id: str
    label: str | None
    expires_in: int
    requested_at: float
    requested_ip: str | None
    requested_agent: str | None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _user_code() -> str:
    letters = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(8))
    return f"{letters[:4]}-{letters[4:]}"


def normalise_user_code(code: str) -> str:
    letters = "".join(c for c in code.upper() if c.isalpha())
    return f"{letters[:4]}-{letters[4:]}" if len(letters) == 8 else code.strip().upper()


@dataclass(frozen=True)
class DeviceLimits:
    codes_per_address: float = 10.0
    tokens_per_address: float = 60.0
    sign_in_seconds: float = 30 * 24 * 3600.0


class DeviceFlow:
    def __init__(self, db: Database, *, interval: float, limits: DeviceLimits | None = None) -> None:
        self.db = db
        self.interval = interval
        self.limits = limits or DeviceLimits()
        self.requests = DecayingScores(db, half_life=LIMIT_HALF_LIFE, prefixes=("device_",))

    def _count(self, kind: str, address: str, limit: float, refusal: str) -> None:
        """Count a request of ``kind`` from ``address``; refuse it (uncounted) over ``limit``."""
        key = f"device_{kind}:{address_key(address)}"
        score = self.requests.read([key])[key]
        if reached(score, limit):
            wait = LIMIT_HALF_LIFE * math.log2(score / max(limit - 0.5, 0.5))
            raise OAuthError("slow_down", refusal, status=429 if kind == "code" else 400, retry_after=math.ceil(wait))
        self.requests.add([key])

    def start(
        self,
        client_id: str,
        label: str | None,
        verification_uri: str,
        *,
        address: str = "unknown",
        agent: str | None = None,
    ) -> dict[str, Any]:
        if not client_id or len(client_id) > 64:
            raise OAuthError("invalid_client", "client_id is required (at most 64 characters)")
        self._count("code", address, self.limits.codes_per_address, "too many sign-ins from this address; wait")
        device_code, created = secrets.token_urlsafe(32), now()
        with self.db.write() as conn:
            store.delete_expired(conn, now=created)
        for _ in range(5):  # a user code collision is rare; try again if it happens
            user_code = _user_code()
            with self.db.write() as conn:
                if store.device_by_user_code(conn, user_code) is not None:
                    continue
                store.insert_device_code(
                    conn,
                    {
                        "id": uuid7(),
                        "device_code_hash": _digest(device_code),
                        "user_code": user_code,
                        "client_id": client_id,
                        "label": (label or "")[:200] or None,
                        "status": "pending",
                        "interval": self.interval,
                        "created_at": created,
                        "expires_at": created + CODE_SECONDS,
                        "requested_ip": address[:64],
                        "requested_agent": (agent or "")[:300] or None,
                    },
                )
            return {
                "device_code": device_code,
                "user_code": user_code,
                "verification_uri": verification_uri,
                "expires_in": CODE_SECONDS,
                "interval": int(self.interval),
            }
        raise OAuthError("server_error", "could not allocate a user code")

    def pending(self, user_code: str) -> PendingDevice | None:
        with self.db.read() as conn:
            row = store.device_by_user_code(conn, normalise_user_code(user_code))
        if row is None or row.status != "pending" or row.expires_at <= now():
            return None
        return PendingDevice(
            row.user_code,
            row.client_id,
            row.label,
            int(row.expires_at - now()),
            row.created_at,
            row.requested_ip,
            row.requested_agent,
        )

    def decide(self, user_code: str, user_id: str, *, approve: bool) -> bool:
        with self.db.write() as conn:
            row = store.device_by_user_code(conn, normalise_user_code(user_code))
            if row is None or row.expires_at <= now():
                return False
            status = "approved" if approve else "denied"
            return store.set_device(conn, row.id, expect="pending", status=status, user_id=user_id)

    def devices(self, user_id: str) -> list[Any]:
        """The user's signed-in devices (grants neither revoked nor past their lifetime), newest first."""
        with self.db.read() as conn:
            grants = store.list_grants(conn, user_id)
        return [g for g in grants if g.created_at + self.limits.sign_in_seconds > now()]

    def sign_out_device(self, user_id: str, grant_id: str) -> None:
        """Revoke one of the user's devices (another user's grant id changes nothing)."""
        with self.db.write() as conn:
            if any(g.id == grant_id for g in store.list_grants(conn, user_id)):
                store.revoke_grant(conn, grant_id, now=now())

    def exchange(self, body: dict[str, Any], *, address: str = "unknown") -> dict[str, Any]:
        grant_type = body.get("grant_type")
        client_id = body.get("client_id")
        if not isinstance(client_id, str) or not client_id:
            raise OAuthError("invalid_client", "client_id is required")
        self._count("token", address, self.limits.tokens_per_address, "too many token requests from this address")
        if grant_type == DEVICE_GRANT:
            return self._poll(client_id, str(body.get("device_code") or ""))
        if grant_type == REFRESH_GRANT:
            return self._refresh(client_id, str(body.get("refresh_token") or ""))
        raise OAuthError("unsupported_grant_type", f"grant_type must be {DEVICE_GRANT} or {REFRESH_GRANT}")

    def _poll(self, client_id: str, device_code: str) -> dict[str, Any]:
        current = now()
        with self.db.write() as conn:
            row = store.device_by_hash(conn, _digest(device_code))
            if row is None or row.client_id != client_id:
                raise OAuthError("invalid_grant", "unknown device_code")
            if row.expires_at <= current:
                raise OAuthError("expired_token", "the device code expired; start the sign-in again")
            if row.status == "denied":
                raise OAuthError("access_denied", "the sign-in was denied in the console")
            if row.status == "used":
                raise OAuthError("invalid_grant", "this device code was already exchanged")
            # Record the poll whatever it answers (so the pace is enforced): errors are raised
            # only after this transaction commits.
            store.touch_device(conn, row.id, now=current)
            if row.last_polled_at is not None and current - row.last_polled_at < row.interval - 0.5:
                refusal = OAuthError("slow_down", f"poll at most every {row.interval:g} s")
            elif row.status == "pending":
                refusal = OAuthError("authorization_pending", "the user has not yet approved this device code")
            else:
                store.set_device(conn, row.id, expect="approved", status="used")
                grant_id = uuid7()
                store.insert_grant(
                    conn,
                    {
                        "id": grant_id,
                        "user_id": row.user_id,
                        "client_id": client_id,
                        "label": row.label,
                        "created_at": current,
                    },
                )
                return self._issue(conn, grant_id, current, ends_at=current + self.limits.sign_in_seconds)
        raise refusal

    def _refresh(self, client_id: str, refresh_token: str) -> dict[str, Any]:
        current = now()
        with self.db.write() as conn:
            row = store.token_with_grant(conn, _digest(refresh_token))
            if row is None or row.kind != "refresh" or row.client_id != client_id:
                raise OAuthError("invalid_grant", "unknown refresh_token")
            if row.revoked_at is not None or row.disabled_at is not None:
                raise OAuthError("invalid_grant", "this sign-in was revoked; sign in again")
            ends_at = row.granted_at + self.limits.sign_in_seconds
            if row.expires_at <= current or ends_at <= current:
                raise OAuthError("invalid_grant", "this sign-in expired; sign in again")
            if store.rotate(conn, _digest(refresh_token), now=current):
                store.delete_expired(conn, now=current)
                return self._issue(conn, row.grant_id, current, ends_at=ends_at)
            store.revoke_grant(conn, row.grant_id, now=current)  # committed before the refusal below
        raise OAuthError("invalid_grant", "refresh token reused; the sign-in was revoked")

    @staticmethod
    def _issue(conn: Any, grant_id: str, current: float, *, ends_at: float) -> dict[str, Any]:
        """New tokens of the grant, none of them valid past ``ends_at`` (the grant's end)."""
        access, refresh = ACCESS_PREFIX + secrets.token_urlsafe(32), secrets.token_hex(32)
        access_ends = min(current + ACCESS_SECONDS, ends_at)
        store.insert_tokens(
            conn,
            [
                {
                    "token_hash": _digest(access),
                    "grant_id": grant_id,
                    "kind": "access",
                    "created_at": current,
                    "expires_at": access_ends,
                },
                {
                    "token_hash": _digest(refresh),
                    "grant_id": grant_id,
                    "kind": "refresh",
                    "created_at": current,
                    "expires_at": min(current + REFRESH_SECONDS, ends_at),
                },
            ],
        )
        expires_in = round(access_ends - current)
        return {"access_token": access, "token_type": "bearer", "expires_in": expires_in, "refresh_token": refresh}

    def authenticate(self, token: str) -> Principal | None:
        """The principal of a valid access token; None if it is not one of ours or not valid."""
        with self.db.read() as conn:
            row = store.token_with_grant(conn, _digest(token))
        if row is None or row.kind != "access" or row.revoked_at is not None or row.disabled_at is not None:
            return None
        if row.expires_at <= now():
            return None
        return Principal(
            user_id=row.user_id,
            username=row.username,
            role=row.role,
            key_id=row.grant_id,
            key_name=f"device sign-in ({row.label or row.client_id})",
            key_prefix=ACCESS_PREFIX,
            scopes=frozenset({"read", "write"}),
            # Only the newer clients sign in with the device flow (sference-cli 0.4.0 and ours).
            api_version=CURRENT.name,
        )
