"""Group commit: small writes from many threads share one transaction and its statements.

A thread that calls ``GroupCommit.run(value)`` while another thread's group is being written
waits; when that commit is done, one of the waiting threads takes every value queued meanwhile
and writes them all with one call of ``write(tx, values)`` in one transaction, which can insert
them with one statement. ``write`` returns an outcome per value: its result, or an exception
that only that value's caller raises (a 404, a 429: ``write`` undoes that value's own changes,
for instance with a savepoint). Each caller gets its outcome once the transaction is committed.
Under load a commit (an fsync on SQLite, a round trip on PostgreSQL) and the statements are
paid once for many requests; alone, a value is written at once.

If the shared transaction fails (a deadlock, a lost connection, a constraint), its values are
written again one transaction each, so a value fails only for a reason of its own. ``write``
must therefore be a function of the transaction and the values alone, safe to run again after a
rollback.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .database import Database, Tx

# The most values in one transaction: bounds how long the SQLite writer lock is held.
MAX_GROUP = 256


_NONE_YET = object()


@dataclass(eq=False)
class _Pending[In]:
    value: In
    outcome: object = _NONE_YET
    done: bool = False


class GroupCommit[In, Out]:
    def __init__(
        self,
        db: Database,
        write: Callable[[Tx, Sequence[In]], Sequence[Out | Exception]],
        *,
        order: Callable[[In], str] = lambda value: "",
        max_group: int = MAX_GROUP,
    ) -> None:
        """``order``: values of one group are written sorted by it (say, the id of the user
        whose row the write locks), so that two processes' groups take row locks in one order."""
        self.db = db
        self.write = write
        self.order = order
        self.max_group = max_group
        self._changed = threading.Condition()
        self._queue: list[_Pending[In]] = []
        self._writing = False

    def run(self, value: In) -> Out:
        """``value``'s result once committed; raises its exception."""
        pending = _Pending(value)
        with self._changed:
            self._queue.append(pending)
            while not pending.done and self._writing:
                self._changed.wait()
            if not pending.done:
                self._writing = True
                group, self._queue = self._queue[: self.max_group], self._queue[self.max_group :]
        if not pending.done:
            try:
                self._commit(group)
            finally:
                with self._changed:
                    self._writing = False
                    self._changed.notify_all()
        if isinstance(pending.outcome, BaseException):
            raise pending.outcome
        return pending.outcome  # type: ignore[return-value]

    def _commit(self, group: list[_Pending[In]]) -> None:
        group.sort(key=lambda pending: self.order(pending.value))
        try:
            try:
                self._write(group)
            except Exception as exc:
                if len(group) == 1:
                    group[0].outcome = exc
                    return
                for pending in group:
                    try:
                        self._write([pending])
                    except Exception as own:
                        pending.outcome = own
        except BaseException as exc:  # the writing thread is being stopped
            for pending in group:
                if pending.outcome is _NONE_YET:
                    pending.outcome = exc
            raise
        finally:
            for pending in group:
                pending.done = True

    def _write(self, group: list[_Pending[In]]) -> None:
        """Write the group in one transaction; outcomes are kept only once it has committed."""
        with self.db.write() as tx:
            outcomes = self.write(tx, [pending.value for pending in group])
            if len(outcomes) != len(group):
                raise RuntimeError(f"a group write returned {len(outcomes)} outcomes for {len(group)} values")
        for pending, outcome in zip(group, outcomes, strict=True):
            pending.outcome = outcome
