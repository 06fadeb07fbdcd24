"""RFC 8628 device authorisation, and the tokens it hands out.

A CLI asks for a code (``start``), shows the user a short code and a console URL, and polls
(``poll``). A signed-in user approves the code in the console (``approve``). The CLI then holds a
24 h access token (sent as ``Authorization: Bearer``) and a 30 d refresh token that rotates on
every use; presenting a refresh token a second time revokes the whole grant (it was stolen or
replayed). Errors follow RFC 6749 §5.2 / RFC 8628 §3.5.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from ..domain.versions import CURRENT
from ..ids import uuid7
from ..store import oauth as store
from ..store.database import Database
from ..timeutil import now
from .principal import Principal

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
REFRESH_GRANT = "refresh_token"
CODE_SECONDS = 600
ACCESS_SECONDS = 24 * 3600
REFRESH_SECONDS = 30 * 24 * 3600
ACCESS_PREFIX = "sfa_"
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"  # no vowels (no words), no look-alikes


class OAuthError(Exception):
    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


@dataclass(frozen=True)
class PendingDevice:
    user_code: str
    client_id: str
    label: str | None
    expires_in: int


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _user_code() -> str:
    letters = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(8))
    return f"{letters[:4]}-{letters[4:]}"


def normalise_user_code(code: str) -> str:
    letters = "".join(c for c in code.upper() if c.isalpha())
    return f"{letters[:4]}-{letters[4:]}" if len(letters) == 8 else code.strip().upper()


class DeviceFlow:
    def __init__(self, db: Database, *, interval: float) -> None:
        self.db = db
        self.interval = interval

    def start(self, client_id: str, label: str | None, verification_uri: str) -> dict[str, Any]:
        if not client_id or len(client_id) > 64:
            raise OAuthError("invalid_client", "client_id is required (at most 64 characters)")
        device_code, created = secrets.token_urlsafe(32), now()
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
        return PendingDevice(row.user_code, row.client_id, row.label, int(row.expires_at - now()))

    def decide(self, user_code: str, user_id: str, *, approve: bool) -> bool:
        with self.db.write() as conn:
            row = store.device_by_user_code(conn, normalise_user_code(user_code))
            if row is None or row.expires_at <= now():
                return False
            status = "approved" if approve else "denied"
            return store.set_device(conn, row.id, expect="pending", status=status, user_id=user_id)

    def devices(self, user_id: str) -> list[Any]:
        """The user's signed-in devices (grants not revoked), newest first."""
        with self.db.read() as conn:
            return store.list_grants(conn, user_id)

    def sign_out_device(self, user_id: str, grant_id: str) -> None:
        """Revoke one of the user's devices (another user's grant id changes nothing)."""
        with self.db.write() as conn:
            if any(g.id == grant_id for g in store.list_grants(conn, user_id)):
                store.revoke_grant(conn, grant_id, now=now())

    def exchange(self, body: dict[str, Any]) -> dict[str, Any]:
        grant_type = body.get("grant_type")
        client_id = body.get("client_id")
        if not isinstance(client_id, str) or not client_id:
            raise OAuthError("invalid_client", "client_id is required")
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
                return self._issue(conn, grant_id, current)
        raise refusal

    def _refresh(self, client_id: str, refresh_token: str) -> dict[str, Any]:
        current = now()
        with self.db.write() as conn:
            row = store.token_with_grant(conn, _digest(refresh_token))
            if row is None or row.kind != "refresh" or row.client_id != client_id:
                raise OAuthError("invalid_grant", "unknown refresh_token")
            if row.revoked_at is not None or row.disabled_at is not None:
                raise OAuthError("invalid_grant", "this sign-in was revoked; sign in again")
            if row.expires_at <= current:
                raise OAuthError("invalid_grant", "the refresh token expired; sign in again")
            if store.rotate(conn, _digest(refresh_token), now=current):
                return self._issue(conn, row.grant_id, current)
            store.revoke_grant(conn, row.grant_id, now=current)  # committed before the refusal below
        raise OAuthError("invalid_grant", "refresh token reused; the sign-in was revoked")

    @staticmethod
    def _issue(conn: Any, grant_id: str, current: float) -> dict[str, Any]:
        access, refresh = ACCESS_PREFIX + secrets.token_urlsafe(32), secrets.token_hex(32)
        store.insert_tokens(
            conn,
            [
                {
                    "token_hash": _digest(access),
                    "grant_id": grant_id,
                    "kind": "access",
                    "created_at": current,
                    "expires_at": current + ACCESS_SECONDS,
                },
                {
                    "token_hash": _digest(refresh),
                    "grant_id": grant_id,
                    "kind": "refresh",
                    "created_at": current,
                    "expires_at": current + REFRESH_SECONDS,
                },
            ],
        )
        return {"access_token": access, "token_type": "bearer", "expires_in": ACCESS_SECONDS, "refresh_token": refresh}

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
