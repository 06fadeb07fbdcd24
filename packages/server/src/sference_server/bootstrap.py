"""First start: make sure an admin and a working API key exist.

With ``SFERENCE_ADMIN_API_KEY`` the key is registered (if it is not already), so deployments can
set credentials without a prompt; otherwise, on an empty store, a key is generated and shown once.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import Conflict
from .security.accounts import Accounts
from .store.database import Database
from .store.users import count_users


@dataclass(frozen=True)
class BootstrapReport:
    username: str
    created_user: bool
    new_key: str | None  # plaintext of a key made now (generated or from the environment)
    generated: bool  # whether new_key was generated here (so it must be shown)


def ensure_admin(
    db: Database, accounts: Accounts, *, username: str, api_key: str | None, password_hash: str | None = None
) -> BootstrapReport | None:
    with db.read() as conn:
        empty = count_users(conn) == 0
    created = False
    if empty:
        try:
            accounts.create_user(username, role="admin", password_hash=password_hash)
            created = True
        except Conflict:
            pass  # another process bootstrapped at the same moment
    if api_key:
        if accounts.key_registered(api_key):
            return None if not created else BootstrapReport(username, created, None, False)
        try:
            accounts.create_key(accounts.user_id(username), name="bootstrap", plaintext=api_key)
        except Conflict:
            return None
        return BootstrapReport(username, created, api_key, False)
    if created:
        key = accounts.create_key(accounts.user_id(username), name="bootstrap")
        return BootstrapReport(username, True, key.plaintext, True)
    return None
