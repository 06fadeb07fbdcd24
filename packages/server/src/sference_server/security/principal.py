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

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"
