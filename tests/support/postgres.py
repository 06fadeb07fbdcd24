"""A throw-away PostgreSQL cluster for the test run, and one fresh database per test.

``SFERENCE_TEST_POSTGRES_URL`` (a superuser URL to an existing server) skips the cluster start.
Otherwise the cluster is made with the server binaries of the machine (Debian's
``/usr/lib/postgresql/<v>/bin``); as root, it runs as the ``postgres`` user because initdb refuses
root. ``SFERENCE_TEST_REQUIRE_POSTGRES=1`` (set by CI) turns "cannot start" into a failure
instead of a skip.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg


class PostgresUnavailable(RuntimeError):
    pass


def _bin_dir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    if candidates:
        return Path(candidates[-1])
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise PostgresUnavailable("no PostgreSQL server binaries (initdb) found; install the postgresql package")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    """A server this test run started (and so may stop and start again)."""

    url: str
    pg_ctl: list[str]  # the pg_ctl command line up to the action, with -D and the start options
    options: str

    def stop(self) -> None:
        subprocess.run([*self.pg_ctl, "-m", "fast", "-w", "stop"], check=True, capture_output=True)

    def start(self) -> None:
        subprocess.run([*self.pg_ctl, "-w", "-o", self.options, "start"], check=True, capture_output=True)


@contextmanager
def cluster() -> Iterator[str]:
    """Yield a superuser URL of a running server (ours or the one in the environment)."""
    external = os.environ.get("SFERENCE_TEST_POSTGRES_URL")
    if external:
        yield external
        return
    with own_cluster() as started:
        yield started.url


@contextmanager
def own_cluster() -> Iterator[Cluster]:
    """Start a server of our own (initdb in a temporary directory) and remove it afterwards."""
    bin_dir = _bin_dir()
    base = Path(tempfile.mkdtemp(prefix="sference-pg-"))
    as_postgres: list[str] = []
    if os.geteuid() == 0:
        subprocess.run(["chown", "postgres", str(base)], check=True)
        as_postgres = ["runuser", "-u", "postgres", "--"]
    data, port = base / "data", _free_port()
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300"
    server = Cluster(
        f"postgresql://app@127.0.0.1:{port}/postgres",
        [*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(base / "log")],
        options,
    )
    try:
        subprocess.run(
            [*as_postgres, str(bin_dir / "initdb"), "-D", str(data), "-U", "app", "--auth=trust", "-E", "UTF8"],
            check=True,
            capture_output=True,
        )
        server.start()
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(base, ignore_errors=True)
        raise PostgresUnavailable(f"could not start PostgreSQL: {exc.stderr.decode(errors='replace')}") from exc
    try:
        yield server
    finally:
        subprocess.run([*server.pg_ctl, "-m", "immediate", "-w", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def _with_database(url: str, name: str) -> str:
    head, _, _ = url.rpartition("/")
    return f"{head}/{name}"


def create_database(admin_url: str, *, template: str | None = None) -> str:
    name = f"sference_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        clause = f" TEMPLATE {template}" if template else ""
        conn.execute(f"CREATE DATABASE {name}{clause}")  # type: ignore[arg-type]
    return _with_database(admin_url, name)


def drop_database(admin_url: str, url: str) -> None:
    name = url.rpartition("/")[2]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # type: ignore[arg-type]
