"""An API process that runs no worker still sweeps: requests of a model no worker serves expire at
their deadline, and a batch cancel handed over half-done is finished."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from sference_server.services import ApiServices
from sference_server.store.batches import begin_cancel
from sference_server.store.database import Database
from sference_server.timeutil import now
from support.live import ThreadServer
from support.settings import echo_settings
from support.store import batch_row, seed_batch


def wait_status(db: Database, batch_id: str, status: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while batch_row(db, batch_id).status != status:
        assert time.monotonic() < deadline, batch_row(db, batch_id)
        time.sleep(0.05)


def test_an_api_without_workers_expires_overdue_requests_and_finishes_cancels(
    tmp_path: Path, database_url: str, db: Database, make_user: Callable[..., tuple[str, str]]
) -> None:
    user, _ = make_user("ann")
    overdue, _ = seed_batch(db, user, 3, model="served-by-nobody", deadline=now() - 1)
    cancelling, _ = seed_batch(db, user, 3)
    with db.write() as tx:
        begin_cancel(tx, cancelling, now=now())  # the API that began it went away
    services = ApiServices.build(echo_settings(tmp_path, database_url), db)
    with ThreadServer(services, run_worker=False):
        wait_status(db, overdue, "failed")
        wait_status(db, cancelling, "cancelled")
    assert batch_row(db, overdue).expired_count == 3
    assert batch_row(db, cancelling).cancelled_count == 3
