"""API keys: ``sk_`` + 256 random bits. Only a SHA-256 hash and a short display prefix are stored;
the plaintext is shown once, when the key is made. (A fast hash is right here: the keys carry
256 bits of entropy, so there is nothing for a slow hash to protect against.)"""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = "sk_"
DISPLAY_PREFIX_LEN = 12
SCOPES = ("read", "write")
DEFAULT_SCOPES = "read write"


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def display_prefix(plaintext: str) -> str:
    return plaintext[:DISPLAY_PREFIX_LEN]
