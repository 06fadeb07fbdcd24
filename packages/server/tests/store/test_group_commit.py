"""Group commit (store/group_commit.py): writes queued while a group commits share the next
transaction; each caller gets its own outcome, only once committed; a failing transaction is
written again one value at a time, so nothing is lost or written twice."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text

from sference_server.store.database import Database, Tx
from sference_server.store.group_commit import GroupCommit


class NotWanted(Exception):
    pass


class Probe:
    """Writes names into a table; ``"refused"`` gets its own error, a name already there fails
    the whole transaction (a primary key violation)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.groups: list[list[str]] = []
        self.first_started = threading.Event()
        self.hold_first = threading.Event()
        self.hold_first.set()
        with db.write() as tx:
            tx.execute(text("CREATE TABLE probe (name VARCHAR(40) PRIMARY KEY)"))

    def write(self, tx: Tx, names: Sequence[str]) -> list[str | Exception]:
        self.groups.append(list(names))
        if len(self.groups) == 1:
            self.first_started.set()
            self.hold_first.wait(10)
        outcomes: list[str | Exception] = []
        for name in names:
            if name == "refused":
                outcomes.append(NotWanted(name))
                continue
            tx.execute(text("INSERT INTO probe (name) VALUES (:name)"), {"name": name})
            outcomes.append(f"stored {name}")
        return outcomes

    def stored(self) -> list[str]:
        with self.db.read() as tx:
            return sorted(row.name for row in tx.execute(text("SELECT name FROM probe")))


@pytest.fixture
def probe(db: Database) -> Probe:
    return Probe(db)


def run_together(group: GroupCommit[str, str], probe: Probe, names: list[str]) -> list[str | Exception]:
    """Hold the first write open until every other name is queued behind it, then let go."""
    probe.hold_first.clear()

    def one(name: str) -> str | Exception:
        try:
            return group.run(name)
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(len(names)) as pool:
        first = pool.submit(one, names[0])
        assert probe.first_started.wait(10)
        rest = [pool.submit(one, name) for name in names[1:]]
        while len(group._queue) < len(names) - 1:  # every other name waits for the next group
            time.sleep(0.005)
        probe.hold_first.set()
        return [first.result(), *(future.result() for future in rest)]


def test_writes_queued_meanwhile_share_one_transaction(probe: Probe) -> None:
    group = GroupCommit(probe.db, probe.write)
    names = [f"n{i:02d}" for i in range(20)]
    outcomes = run_together(group, probe, names)
    assert outcomes == [f"stored {name}" for name in names]
    assert [len(g) for g in probe.groups] == [1, 19]
    assert probe.stored() == names


def test_an_error_of_one_write_is_its_callers_alone(probe: Probe) -> None:
    group = GroupCommit(probe.db, probe.write)
    outcomes = run_together(group, probe, ["a", "b", "refused", "c"])
    assert outcomes[:2] == ["stored a", "stored b"] and outcomes[3] == "stored c"
    assert isinstance(outcomes[2], NotWanted)
    assert [len(g) for g in probe.groups] == [1, 3]
    assert probe.stored() == ["a", "b", "c"]


def test_a_failed_transaction_is_written_again_one_value_at_a_time(probe: Probe) -> None:
    group = GroupCommit(probe.db, probe.write)
    assert group.run("taken") == "stored taken"
    probe.groups.clear()
    outcomes = run_together(group, probe, ["x", "y", "taken", "z"])
    assert outcomes[:2] == ["stored x", "stored y"] and outcomes[3] == "stored z"
    assert isinstance(outcomes[2], Exception) and not isinstance(outcomes[2], NotWanted)
    # The group of three failed on "taken" and rolled back; each was then written alone.
    assert sorted(probe.groups[1]) == ["taken", "y", "z"]
    assert sorted(probe.groups[2:]) == [["taken"], ["y"], ["z"]]
    assert probe.stored() == ["taken", "x", "y", "z"]


def test_a_caller_gets_its_outcome_only_once_committed(probe: Probe) -> None:
    group = GroupCommit(probe.db, probe.write)

    def run_and_look(name: str) -> bool:
        group.run(name)
        return name in probe.stored()  # another connection: sees only what is committed

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(run_and_look, [f"v{i:02d}" for i in range(32)]))
    assert len(probe.stored()) == 32
