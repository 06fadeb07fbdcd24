"""Users, keys and authentication: the service the API, the CLI and bootstrap share."""

from __future__ import annotations

from dataclasses import dataclass

from ..domain import versions
from ..errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from ..ids import uuid7
from ..store import users as store
from ..store.console import delete_sessions_of
from ..store.database import Database, Duplicate
from ..store.oauth import end_grants_of
from ..store.records import ApiKey, KeyOwner, User
from ..store.sign_in_failures import forget as forget_failures
from ..timeutil import now
from ..ttl_cache import TtlCache
from .device_flow import ACCESS_PREFIX, DeviceFlow
from .keys import DEFAULT_SCOPES, SCOPES, display_prefix, hash_key, new_key
from .passwords import hash_password
from .principal import Principal
from .sessions import session_digest
from .throttle import user_key

ROLES = ("admin", "user")
_TOUCH_EVERY_SECONDS = 60.0


@dataclass(frozen=True)
class IssuedKey:
    id: str
    plaintext: str
    prefix: str
    user_id: str
    name: str
    api_version: str


class Accounts:
    def __init__(self, db: Database, device_flow: DeviceFlow | None = None) -> None:
        self.db = db
        self.device_flow = device_flow
        self._last_touch: dict[str, float] = {}
        self._keys: TtlCache[str, KeyOwner] = TtlCache()  # cleared by every change to keys or users made here

    def create_user(self, username: str, *, role: str = "user", password_hash: str | None = None) -> str:
        if role not in ROLES:
            raise BadRequest(f"role must be one of {', '.join(ROLES)}")
        if not username or len(username) > 64:
            raise BadRequest("username must be 1 to 64 characters")
        user_id = uuid7()
        try:
            with self.db.write() as conn:
                store.insert_user(
                    conn,
                    {
                        "id": user_id,
                        "username": username,
                        "role": role,
                        "password_hash": password_hash,
                        "created_at": now(),
                    },
                )
        except Duplicate as exc:
            raise Conflict(f"user {username!r} already exists") from exc
        return user_id

    def user_id(self, username: str) -> str:
        with self.db.read() as conn:
            row = store.user_by_name(conn, username)
        if row is None:
            raise NotFound(f"no user named {username!r}")
        return str(row.id)

    def create_key(
        self,
        user_id: str,
        *,
        name: str = "default",
        scopes: str = DEFAULT_SCOPES,
        plaintext: str | None = None,
        expires_at: float | None = None,
        api_version: str | None = None,
    ) -> IssuedKey:
        """``api_version``: a version's date or ``latest``; default: ``versions.DEFAULT``."""
        unknown = set(scopes.split()) - set(SCOPES)
        if unknown or not scopes.split():
            raise BadRequest(f"scopes must be a subset of {' '.join(SCOPES)}")
        version = api_version_named(api_version) if api_version else versions.DEFAULT
        plaintext = plaintext or new_key()
        key = IssuedKey(uuid7(), plaintext, display_prefix(plaintext), user_id, name, version.name)
        try:
            with self.db.write() as conn:
                store.insert_key(
                    conn,
                    {
                        "id": key.id,
                        "user_id": user_id,
                        "name": name,
                        "prefix": key.prefix,
                        "key_hash": hash_key(plaintext),
                        "scopes": scopes,
                        "created_at": now(),
                        "expires_at": expires_at,
                        "api_version": version.name,
                    },
                )
        except Duplicate as exc:
            raise Conflict("this API key is already registered") from exc
        return key

    def list_users(self) -> list[User]:
        with self.db.read() as conn:
            return store.list_users(conn)

    def list_keys(self, *, user_id: str | None = None) -> list[ApiKey]:
        """Oldest first, with each key's ``username``."""
        with self.db.read() as conn:
            return store.list_keys(conn, user_id=user_id)

    def key_registered(self, plaintext: str) -> bool:
        with self.db.read() as conn:
            return store.key_with_user(conn, hash_key(plaintext)) is not None

    def set_key_version(self, key_id: str, api_version: str, *, user_id: str | None = None) -> str:
        """Answer this key in another version from its next request on; returns the version's
        date. ``user_id``: only a key of this user."""
        version = api_version_named(api_version)
        with self.db.write() as conn:
            if not store.set_key_version(conn, key_id, version.name, user_id=user_id):
                raise NotFound(f"no API key with id {key_id!r}")
        self._keys.clear()
        return version.name

    def key_id(self, ref: str) -> str:
        """A key's id from its id or display prefix."""
        with self.db.read() as conn:
            return _one_key(store.key_ids_by_id_or_prefix(conn, ref), ref)

    def revoke_key(self, ref: str) -> str:
        """Revoke by key id or display prefix; returns the key id."""
        with self.db.write() as conn:
            key_id = _one_key(store.key_ids_by_id_or_prefix(conn, ref), ref)
            store.revoke_key(conn, key_id, now=now())
        self._keys.clear()
        return key_id

    def authenticate(self, token: str | None) -> Principal:
        if not token:
            raise Unauthorized("missing API key: send 'Authorization: Bearer sk_...' or 'X-API-Key: sk_...'")
        if token.startswith(ACCESS_PREFIX) and self.device_flow is not None:
            principal = self.device_flow.authenticate(token)
            if principal is None:
                raise Unauthorized("invalid or expired access token; sign in again (sference auth login)")
            return principal
        digest, current = hash_key(token), now()
        row = self._keys.get(digest, current)
        if row is None:
            with self.db.read() as conn:
                row = store.key_with_user(conn, digest)
            if row is not None:
                self._keys.put(digest, row, current)
        if row is None:
            raise Unauthorized("invalid API key")
        principal = _principal_of(row, current)
        self._touch(row.key_id, current)
        return principal

    def authenticate_recent(self, token: str | None) -> Principal | None:
        """``authenticate`` when the key was read in the last second and its last use needs no
        write: no I/O, so an event loop may call it. None: call ``authenticate``."""
        if not token or token.startswith(ACCESS_PREFIX):
            return None
        digest, current = hash_key(token), now()
        row = self._keys.get(digest, current)
        if row is None or self._touch_due(row.key_id, current):
            return None
        return _principal_of(row, current)

    def set_password(self, user_id: str, password: str, *, keep_session: str | None = None) -> None:
        """Check and hash ``password`` here (the command line; the console hashes off its event
        loop and calls ``store_password``)."""
        check_password(password)
        self.store_password(user_id, hash_password(password), keep_session=keep_session)

    def store_password(self, user_id: str, password_hash: str, *, keep_session: str | None = None) -> None:
        """A new password ends the user's console sessions and device sign-ins (whoever knew the
        old one is out), except ``keep_session``: the token of the console session that changed
        its own password. It also forgets the username's failed sign-ins."""
        with self.db.write() as conn:
            username = store.username_of(conn, user_id)
            if username is None:
                raise NotFound(f"no user with id {user_id!r}")
            store.set_password(conn, user_id, password_hash)
            delete_sessions_of(conn, user_id, keep=session_digest(keep_session) if keep_session else None)
            end_grants_of(conn, user_id, now=now())
            forget_failures(conn, [user_key(username)])

    def set_disabled(self, user_id: str, disabled: bool) -> None:
        """A disabled user's keys, device sign-ins and console sessions stop working at once."""
        with self.db.write() as conn:
            store.set_disabled(conn, user_id, now() if disabled else None)
            if disabled:
                delete_sessions_of(conn, user_id)
        self._keys.clear()

    def _touch_due(self, key_id: str, current: float) -> bool:
        return current - self._last_touch.get(key_id, 0.0) >= _TOUCH_EVERY_SECONDS

    def _touch(self, key_id: str, current: float) -> None:
        """Record last use, at most once a minute per key and process (it is a write)."""
        if not self._touch_due(key_id, current):
            return
        self._last_touch[key_id] = current
        with self.db.write() as conn:
            store.touch_key(conn, key_id, now=current)


def _principal_of(row: KeyOwner, current: float) -> Principal:
    """The caller a stored key stands for, or a 401 saying why it no longer works."""
    if row.revoked_at is not None:
        raise Unauthorized("this API key has been revoked")
    if row.expires_at is not None and row.expires_at <= current:
        raise Unauthorized("this API key has expired")
    if row.disabled_at is not None:
        raise Unauthorized("the user of this API key is disabled")
    return Principal(
        user_id=row.user_id,
        username=row.username,
        role=row.role,
        key_id=row.key_id,
        key_name=row.key_name,
        key_prefix=row.prefix,
        scopes=frozenset(row.scopes.split()),
        api_version=row.api_version,
    )


MIN_PASSWORD = 10


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise BadRequest(f"a password needs at least {MIN_PASSWORD} characters")


def _one_key(matches: list[str], ref: str) -> str:
    if not matches:
        raise NotFound(f"no API key with id or prefix {ref!r}")
    if len(matches) > 1:
        raise Conflict(f"{ref!r} matches {len(matches)} keys; use the key id")
    return matches[0]


def api_version_named(name: str) -> versions.ApiVersion:
    try:
        return versions.resolve(name)
    except versions.UnknownVersion as exc:
        raise BadRequest(str(exc)) from exc


def require_scope(principal: Principal, scope: str) -> None:
    if scope not in principal.scopes:
        raise Forbidden(f"this API key lacks the {scope!r} scope")
