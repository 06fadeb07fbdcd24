"""Device codes, grants and tokens of the RFC 8628 device flow."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update

from .database import Tx
from .records import DeviceCode, Grant, TokenGrant
from .tables import device_codes, oauth_grants, oauth_tokens, users


def insert_device_code(conn: Tx, row: dict[str, Any]) -> None:
    conn.execute(insert(device_codes), [row])


def device_by_hash(conn: Tx, device_code_hash: str) -> DeviceCode | None:
    row = conn.execute(select(device_codes).where(device_codes.c.device_code_hash == device_code_hash)).first()
    return DeviceCode.from_row(row) if row is not None else None


def device_by_user_code(conn: Tx, user_code: str) -> DeviceCode | None:
    row = conn.execute(select(device_codes).where(device_codes.c.user_code == user_code)).first()
    return DeviceCode.from_row(row) if row is not None else None


def set_device(conn: Tx, device_id: str, *, expect: str, **values: Any) -> bool:
    """Guarded: only from status ``expect``."""
    result = conn.execute(
        update(device_codes).where(device_codes.c.id == device_id, device_codes.c.status == expect).values(**values)
    )
    return result.rowcount == 1


def touch_device(conn: Tx, device_id: str, *, now: float) -> None:
    conn.execute(update(device_codes).where(device_codes.c.id == device_id).values(last_polled_at=now))


def insert_grant(conn: Tx, row: dict[str, Any]) -> None:
    conn.execute(insert(oauth_grants), [row])


def insert_tokens(conn: Tx, rows: list[dict[str, Any]]) -> None:
    conn.execute(insert(oauth_tokens), rows)


def token_with_grant(conn: Tx, token_hash: str) -> TokenGrant | None:
    row = conn.execute(
        select(
            oauth_tokens.c.kind,
            oauth_tokens.c.expires_at,
            oauth_tokens.c.rotated_at,
            oauth_grants.c.id.label("grant_id"),
            oauth_grants.c.client_id,
            oauth_grants.c.label,
            oauth_grants.c.revoked_at,
            oauth_grants.c.created_at.label("granted_at"),
            users.c.id.label("user_id"),
            users.c.username,
            users.c.role,
            users.c.disabled_at,
        )
        .join(oauth_grants, oauth_grants.c.id == oauth_tokens.c.grant_id)
        .join(users, users.c.id == oauth_grants.c.user_id)
        .where(oauth_tokens.c.token_hash == token_hash)
    ).first()
    return TokenGrant.from_row(row) if row is not None else None


def rotate(conn: Tx, token_hash: str, *, now: float) -> bool:
    """Mark a refresh token used; False when it already was (a replay)."""
    result = conn.execute(
        update(oauth_tokens)
        .where(oauth_tokens.c.token_hash == token_hash, oauth_tokens.c.rotated_at.is_(None))
        .values(rotated_at=now)
    )
    return result.rowcount == 1


def revoke_grant(conn: Tx, grant_id: str, *, now: float) -> None:
    conn.execute(
        update(oauth_grants)
        .where(oauth_grants.c.id == grant_id, oauth_grants.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def list_grants(conn: Tx, user_id: str) -> list[Grant]:
    query = (
        select(oauth_grants)
        .where(oauth_grants.c.user_id == user_id, oauth_grants.c.revoked_at.is_(None))
        .order_by(oauth_grants.c.created_at.desc())
    )
    return [Grant.from_row(r) for r in conn.execute(query)]


def end_grants_of(conn: Tx, user_id: str, *, now: float) -> None:
    """Revoke all the user's device sign-ins and delete their tokens."""
    grant_ids = select(oauth_grants.c.id).where(oauth_grants.c.user_id == user_id).scalar_subquery()
    conn.execute(delete(oauth_tokens).where(oauth_tokens.c.grant_id.in_(grant_ids)))
    conn.execute(
        update(oauth_grants)
        .where(oauth_grants.c.user_id == user_id, oauth_grants.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def delete_expired(conn: Tx, *, now: float) -> None:
    """Delete device codes past their expiry (approved or not), tokens past theirs, and the
    tokens of revoked grants."""
    conn.execute(delete(device_codes).where(device_codes.c.expires_at <= now))
    revoked = select(oauth_grants.c.id).where(oauth_grants.c.revoked_at.is_not(None)).scalar_subquery()
    conn.execute(delete(oauth_tokens).where((oauth_tokens.c.expires_at <= now) | oauth_tokens.c.grant_id.in_(revoked)))
