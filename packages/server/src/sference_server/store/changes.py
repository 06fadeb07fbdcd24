"""Telling other processes that something changed: new work, new completion events.

Only hints: every consumer still polls, so a lost notification delays, never loses. PostgreSQL:
``NOTIFY`` inside the writing transaction (delivered at commit) and one ``LISTEN`` connection per
process. SQLite: a thread watches ``PRAGMA data_version``, which moves when another connection
commits, and reports it as possible new events (cheap: no query runs unless something changed).
"""

from __future__ import annotations

import logging
import sqlite3
import threading

import psycopg
from sqlalchemy import Connection

from ..notify import Signal
from .database import Database

log = logging.getLogger("sference.changes")

EVENTS_CHANNEL = "sference_events"
WORK_CHANNEL = "sference_work"


def announce(conn: Connection, channel: str) -> None:
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"NOTIFY {channel}")


class ChangeWatcher:
    def __init__(self, db: Database, *, work: Signal, events: Signal, interval: float = 0.05) -> None:
        self.db = db
        self.work = work
        self.events = events
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="change-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.db.is_postgres:
                    self._listen()
                else:
                    self._watch_sqlite()
            except Exception:
                log.exception("change watcher failed; retrying in 1 s (consumers keep polling)")
                self._stop.wait(1.0)

    def _listen(self) -> None:
        url = self.db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"LISTEN {EVENTS_CHANNEL}")
            conn.execute(f"LISTEN {WORK_CHANNEL}")
            while not self._stop.is_set():
                for note in conn.notifies(timeout=0.5):
                    (self.events if note.channel == EVENTS_CHANNEL else self.work).fire()

    def _watch_sqlite(self) -> None:
        path = self.db.engine.url.database
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        try:
            seen = conn.execute("PRAGMA data_version").fetchone()[0]
            while not self._stop.wait(self.interval):
                version = conn.execute("PRAGMA data_version").fetchone()[0]
                if version != seen:
                    seen = version
                    self.events.fire()
        finally:
            conn.close()
