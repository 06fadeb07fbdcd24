from __future__ import annotations

import os
import uuid
import warnings

from sference_server.ids import uuid7, uuid7_after


def test_uuid7_is_version_7_and_strictly_increasing() -> None:
    ids = [uuid7() for _ in range(20_000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all(str(uuid.UUID(i)) == i for i in ids)  # the canonical text of the UUID
    parsed = uuid.UUID(ids[0])
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122


def test_uuid7_after_sorts_after_an_id_from_the_future() -> None:
    future = "7fffffff-0000-7001-8000-000000000000"  # far in the future
    later = uuid7_after(future)
    assert later > future
    assert uuid.UUID(later).version == 7
    assert uuid7() > later  # the process clock moved past it too


def test_a_forked_child_draws_its_own_random_bits() -> None:
    uuid7()  # the pool holds bytes now
    read, write = os.pipe()
    with warnings.catch_warnings():  # threads other tests left: the child only writes and exits
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: the id it makes goes back through the pipe
        os.write(write, uuid7().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    parent = uuid7()
    assert child[-12:] != parent[-12:]  # the random tail (48 of its 62 bits)
