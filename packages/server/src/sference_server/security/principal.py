"""Who is calling: the user and the key that authenticated the request."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    user_id: str
    username: str
    role: str
    key_id: str
    key_name: str
    key_prefix: str
    scopes: frozenset[str]
    api_version: str  # the key's (domain/versions.py); a Sference-Version header may override it

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"
