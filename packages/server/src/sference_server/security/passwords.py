"""Password hashing with scrypt (memory-hard, in the standard library).

Format: ``scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>``, so parameters can be raised later
without invalidating stored hashes.

A hash takes tens of milliseconds of CPU and 16 MiB of memory. Code on the event loop awaits
``hash_off_loop``/``verify_off_loop``, which run it in a small pool of its own threads: the loop
keeps serving other requests, and a flood of sign-ins queues for these few threads instead of
taking every worker thread (or every megabyte) of the process. The command line calls the plain
functions.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
from concurrent.futures import ThreadPoolExecutor

N, R, P, DKLEN = 2**14, 8, 1, 32
HASH_THREADS = max(1, min(4, (os.cpu_count() or 1) // 2))
HASH_POOL = ThreadPoolExecutor(max_workers=HASH_THREADS, thread_name_prefix="password-hash")


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=N, r=R, p=P, dklen=DKLEN)
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    expected = base64.b64decode(digest)
    actual = hashlib.scrypt(
        password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
    )
    return hmac.compare_digest(actual, expected)


async def hash_off_loop(password: str) -> str:
    """``hash_password`` in the hashing pool."""
    return await asyncio.wrap_future(HASH_POOL.submit(hash_password, password))


async def verify_off_loop(password: str, stored: str) -> bool:
    """``verify_password`` in the hashing pool."""
    return await asyncio.wrap_future(HASH_POOL.submit(verify_password, password, stored))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
