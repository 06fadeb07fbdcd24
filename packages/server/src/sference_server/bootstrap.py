"""First start: make sure an admin exists, with a working API key and a console password.

``SFERENCE_ADMIN_API_KEY`` is registered if it is not already, so deployments can set credentials
without a prompt; otherwise, on an empty store, a key is generated and shown once. Likewise
``SFERENCE_ADMIN_PASSWORD`` becomes the admin's console password when the admin has none yet;
without it a password is generated (and shown once) when the admin is created.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from .errors import Conflict
from .security.accounts import Accounts, check_password
from .security.passwords import hash_password
from .store.database import Database
from .store.users import count_users, set_password, user_by_name


@dataclass(frozen=True)
class BootstrapReport:
    username: str
    created_user: bool
    new_key: str | None  # plaintext of a key made now (generated or from the environment)
    key_generated: bool  # whether new_key was generated here (so it must be shown)
    new_password: str | None  # a password generated here (shown once)


def ensure_admin(
    db: Database, accounts: Accounts, *, username: str, api_key: str | None, password: str | None
) -> BootstrapReport:
    if password is not None:
        check_password(password)
    with db.read() as conn:
        empty = count_users(conn) == 0
    created, generated_password = False, None
    if empty:
        generated_password = None if password else secrets.token_urlsafe(12)
        try:
            accounts.create_user(
                username, role="admin", password_hash=hash_password(password or generated_password or "")
            )
            created = True
        except Conflict:
            generated_password = None  # another process bootstrapped at the same moment
    elif password:
        with db.write() as conn:
            admin = user_by_name(conn, username)
            if admin is not None and not admin.password_hash:
                set_password(conn, admin.id, hash_password(password))
    new_key, key_generated = None, False
    if api_key:
        if not accounts.key_registered(api_key):
            try:
                accounts.create_key(accounts.user_id(username), name="bootstrap", plaintext=api_key)
                new_key = api_key
            except Conflict:
                pass
    elif created:
        new_key, key_generated = accounts.create_key(accounts.user_id(username), name="bootstrap").plaintext, True
    return BootstrapReport(username, created, new_key, key_generated, generated_password)
