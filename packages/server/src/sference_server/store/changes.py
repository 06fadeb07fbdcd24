"""Telling other processes that something changed: new work, new completion events, streamed
text, cancelled requests.

Only hints: every consumer still polls, so a lost notification delays, never loses. PostgreSQL:
``NOTIFY`` inside the writing transaction (delivered at commit) and one ``LISTEN`` connection per
process; streamed text goes out from the worker on its own connection (``PieceSender``). SQLite:
a thread watches ``PRAGMA data_version``, which moves when another connection commits, and
reports it as possible new events (cheap: no query runs unless something changed); streamed text
and cancellations stay within the process there.
"""

from __future__ import annotations

import json
import logging
import queue
import sqlite3
import threading
import time

import psycopg
from sqlalchemy import Connection, text

from ..live import LiveText, Piece
from ..notify import Signal
from .database import Database

log = logging.getLogger("sference.changes")

EVENTS_CHANNEL = "sference_events"
WORK_CHANNEL = "sference_work"
PIECES_CHANNEL = "sference_pieces"
CANCELS_CHANNEL = "sference_cancels"
PIECE_CHARS = 1500  # per NOTIFY payload (PostgreSQL takes up to 8000 bytes)


def announce(conn: Connection, channel: str, payload: str | None = None) -> None:
    if conn.dialect.name == "postgresql":
        if payload is None:
            conn.exec_driver_sql(f"NOTIFY {channel}")
        else:
            conn.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": channel, "payload": payload})


def _postgres_url(db: Database) -> str:
    return db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


class PieceSender:
    """Sends streamed text to other processes' ``LiveText`` (PostgreSQL), from its own thread so
    the worker never waits on it. Best effort: a lost piece is filled from the stored answer."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._pending: queue.SimpleQueue[Piece | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="piece-sender", daemon=True)
        self._thread.start()

    def __call__(self, piece: Piece) -> None:
        for start in range(0, len(piece.text), PIECE_CHARS):
            part = piece.text[start : start + PIECE_CHARS]
            self._pending.put(Piece(piece.item_id, piece.offset + start, part))

    def close(self) -> None:
        self._pending.put(None)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            try:
                with psycopg.connect(_postgres_url(self.db), autocommit=True) as conn:
                    while True:
                        first = self._pending.get()
                        if first is None:
                            return
                        pieces = [first]
                        while len(pieces) < 64 and not self._pending.empty():
                            more = self._pending.get()
                            if more is None:
                                self._pending.put(None)
                                break
                            pieces.append(more)
                        payloads = [json.dumps({"i": p.item_id, "o": p.offset, "t": p.text}) for p in pieces]
                        conn.execute("SELECT pg_notify(%s, p) FROM unnest(%s::text[]) AS p", (PIECES_CHANNEL, payloads))
            except psycopg.Error:
                log.exception("could not send streamed text; reconnecting in 1 s")
                time.sleep(1.0)


class ChangeWatcher:
    def __init__(
        self, db: Database, *, work: Signal, events: Signal, live: LiveText | None = None, interval: float = 0.005
    ) -> None:
        self.db = db
        self.work = work
        self.events = events
        self.live = live
        self.interval = interval
        self._stop = threading.Event()
        self._failing = False
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
                if not self._failing:  # once per outage, not every second of it
                    log.exception("change watcher failed; retrying every second (consumers keep polling)")
                self._failing = True
                self._stop.wait(1.0)

    def _listen(self) -> None:
        with psycopg.connect(_postgres_url(self.db), autocommit=True) as conn:
            for channel in (EVENTS_CHANNEL, WORK_CHANNEL, PIECES_CHANNEL, CANCELS_CHANNEL):
                conn.execute(f"LISTEN {channel}")
            if self._failing:
                log.info("change watcher listening again")
                self._failing = False
            # Anything announced while we were not listening (a restart of the server) is lost:
            # tell the consumers to look.
            self.events.fire()
            self.work.fire()
            while not self._stop.is_set():
                for note in conn.notifies(timeout=0.5):
                    self._relay(note.channel, note.payload)

    def _relay(self, channel: str, payload: str) -> None:
        if channel == EVENTS_CHANNEL:
            self.events.fire()
        elif channel == WORK_CHANNEL:
            self.work.fire()
        elif self.live is None:
            return
        elif channel == PIECES_CHANNEL:
            piece = json.loads(payload)
            self.live.deliver(Piece(piece["i"], piece["o"], piece["t"]))
        elif channel == CANCELS_CHANNEL:
            self.live.cancelled(payload.split(","))

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
