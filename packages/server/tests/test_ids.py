from __future__ import annotations

import os
import uuid
import warnings

from sference_server.ids import uuid7, uuid7s_after


def test_uuid7_is_version_7_and_strictly_increasing() -> None:
    ids = [uuid7() for _ in range(20_000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all(str(uuid.UUID(i)) == i for i in ids)  # the canonical text of the UUID
    parsed = uuid.UUID(ids[0])
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122


def test_uuid7s_after_sort_after_an_id_from_the_future() -> None:
    future = "7fffffff-0000-7001-8000-000000000000"  # far in the future
    later = uuid7s_after(future, 3)
    assert future < later[0] < later[1] < later[2]
    assert all(uuid.UUID(i).version == 7 and str(uuid.UUID(i)) == i for i in later)
    assert uuid7() > later[-1]  # the process clock moved past them too


def test_uuid7s_after_increase_past_the_counter_and_after_every_earlier_id() -> None:
    before = uuid7()
    ids = uuid7s_after("", 10_000)  # more than one millisecond's counter holds: it carries over
    assert ids == sorted(ids) and len(set(ids)) == len(ids) and ids[0] > before
    assert uuid7s_after(before, 1)[0] > ids[-1]  # an older floor: after this process's ids
    assert uuid7s_after(ids[-1], 0) == []


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
