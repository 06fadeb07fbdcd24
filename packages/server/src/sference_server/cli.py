"""``sference-server``: run the service, its parts, and operator tasks."""

from __future__ import annotations

import asyncio
import csv
import gc
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from prometheus_client import CollectorRegistry

from . import __version__, logs
from .bootstrap import BootstrapReport, ensure_admin
from .config import Settings
from .core import Core
from .domain import versions
from .domain.quotas import LIMIT_NAMES, MAX_CONCURRENT_INTERACTIVE, MAX_QUEUED_ITEMS, REQUESTS_PER_MINUTE
from .errors import ServiceError
from .net import listening_socket
from .render.usage import ROW_FIELDS, usage_report
from .security.accounts import Accounts, check_password
from .security.keys import DEFAULT_SCOPES
from .security.passwords import hash_password
from .services import ApiServices
from .services.metrics import scrape_registry, serve_admin_port
from .services.quotas import Quotas, parse_limit
from .services.usage import UsageService, date_range
from .store import migrate as migrations
from .store.database import Database
from .timeutil import iso
from .worker.runtime import WorkerRuntime

log = logging.getLogger("sference.server")

app = typer.Typer(
    help="sference server: batch, async and stream LLM inference.", no_args_is_help=True, add_completion=False
)
users_app = typer.Typer(help="Manage users.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="Folder of the SQLite store (default ~/.local/share/sference).", envvar="SFERENCE_DATA_DIR"
    ),
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="sqlite:///path or postgresql://user@host/db; wins over --data-dir.",
        envvar="SFERENCE_DATABASE_URL",
    ),
]
Host = Annotated[str | None, typer.Option("--host", help="Interface to listen on (default 127.0.0.1).")]
Port = Annotated[int | None, typer.Option("--port", help="Port to listen on (default 8000; 0 picks a free one).")]
Migrate = Annotated[bool, typer.Option("--migrate/--no-migrate", help="Bring the schema up to date at start.")]


def _settings(data_dir: Path | None = None, database_url: str | None = None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        values["data_dir"] = data_dir
    if database_url is not None:
        values["database_url"] = database_url
    return Settings(**values)


def _logging(settings: Settings) -> None:
    logs.configure(settings.log_level, settings.log_format)


def _open_store(settings: Settings, *, migrate: bool) -> Database:
    db = Database(settings.resolved_database_url())
    if migrate:
        migrations.upgrade(db)
    elif not migrations.is_current(db):
        raise typer.BadParameter("the store's schema is not current; run `sference-server migrate`")
    return db


def _fail(message: str) -> None:
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(1)


@app.callback(invoke_without_command=True)
def _main(version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False) -> None:
    if version:
        typer.echo(f"sference-server {__version__}")
        raise typer.Exit()


@app.command()
def serve(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    host: Host = None,
    port: Port = None,
    migrate: Migrate = True,
    write_cli_credentials: Annotated[
        bool,
        typer.Option(
            "--write-cli-credentials/--no-write-cli-credentials",
            help="On first start, save the new admin key to ~/.sference/credentials.json if that file does not exist.",
        ),
    ] = True,
) -> None:
    """Run everything in one process: the HTTP API, a worker and the embedded model."""
    _run_http(
        _settings(data_dir, database_url, host=host, port=port),
        migrate=migrate,
        run_worker=True,
        write_cli_credentials=write_cli_credentials,
    )


@app.command()
def api(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    host: Host = None,
    port: Port = None,
    migrate: Migrate = True,
) -> None:
    """Run the HTTP API only (workers run elsewhere, on the same store)."""
    _run_http(
        _settings(data_dir, database_url, host=host, port=port),
        migrate=migrate,
        run_worker=False,
        write_cli_credentials=False,
    )


@app.command()
def worker(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    model: Annotated[list[str] | None, typer.Option("--model", help="Serve only this model (repeatable).")] = None,
    burst: Annotated[bool, typer.Option("--burst", help="Exit once the queue is empty.")] = False,
    migrate: Migrate = True,
) -> None:
    """Run a worker: claim queued requests and run them on the engines."""
    settings = _settings(data_dir, database_url)
    _logging(settings)
    db = _open_store(settings, migrate=migrate)
    core = Core.build(settings, db)
    try:
        host = WorkerRuntime(core, models=model)
    except ValueError as exc:
        _fail(str(exc))
    stop_metrics = _metrics_port(settings, scrape_registry(db, list(host.engines)))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, host.stop_event.set)
        watcher = core.watch_changes()  # new work and cancellations from API processes, at once
        try:
            await host.run(burst=burst)
        finally:
            watcher.stop()

    _tune_garbage_collection()
    try:
        asyncio.run(main())
    finally:
        stop_metrics()
        core.close()


def _metrics_port(settings: Settings, registry: CollectorRegistry) -> Callable[[], None]:
    """With ``SFERENCE_METRICS_PORT``, serve the metrics on that admin port; returns how to stop."""
    if settings.metrics_port is None:
        return lambda: None
    try:
        url, stop = serve_admin_port(registry, settings.metrics_host, settings.metrics_port)
    except OSError as exc:
        _fail(f"cannot serve metrics on {settings.metrics_host}:{settings.metrics_port}: {exc.strerror}")
    log.info("metrics on %s", url)
    return stop


@app.command()
def migrate(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Create or upgrade the store's schema."""
    settings = _settings(data_dir, database_url)
    db = Database(settings.resolved_database_url())
    migrations.upgrade(db)
    typer.echo(f"Schema is current ({_describe_store(settings)}).")


@app.command("build-kernels")
def build_kernels(
    sdist: Annotated[
        Path | None,
        typer.Option("--sdist", help="A llama-cpp-python sdist to build from (default: from the package index)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Build again even if built.")] = False,
) -> None:
    """Compile llama.cpp's CPU kernels for this CPU's AVX-512/BF16 (once; the engine then uses them)."""
    from .engines.llamacpp import kernels
    from .engines.llamacpp.kernels_build import BuildError, build

    flags = kernels.cpu_flags()
    version = kernels.llama_cpp_version()
    for variant in kernels.VARIANTS:
        missing = variant.cpu_flags - flags
        if missing:
            typer.echo(f"{variant.name}: not for this CPU (it lacks {', '.join(sorted(missing))}).")
            continue
        target = kernels.library_path(variant, version)
        if force:
            target.unlink(missing_ok=True)
        try:
            path = build(variant, version, sdist=sdist, say=typer.echo)
        except BuildError as exc:
            _fail(f"{variant.name}: {exc}")
        typer.echo(f"{variant.name}: {path} (loaded by the engine unless {kernels.SETTING}=portable)")


def _run_http(settings: Settings, *, migrate: bool, run_worker: bool, write_cli_credentials: bool) -> None:
    import uvicorn

    from .api.client_address import proxy_options
    from .app import build_app

    _logging(settings)
    db = _open_store(settings, migrate=migrate)
    services = ApiServices.build(settings, db)
    password = settings.admin_password.get_secret_value() if settings.admin_password else None
    try:
        report = ensure_admin(
            db,
            services.accounts,
            username=settings.admin_username,
            api_key=settings.admin_api_key.get_secret_value() if settings.admin_api_key else None,
            password=password,
        )
    except ServiceError as exc:
        _fail(f"SFERENCE_ADMIN_PASSWORD: {exc.detail}")
    try:
        sock = listening_socket(settings.host, settings.port)
    except OSError as exc:
        _fail(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}")
    url = f"http://{_url_host(settings.host)}:{sock.getsockname()[1]}"
    _banner(url, settings, report, write_cli_credentials=write_cli_credentials, run_worker=run_worker)
    app = build_app(services, run_worker=run_worker)
    stop_metrics = _metrics_port(settings, services.metrics_registry)
    _tune_garbage_collection()
    config = uvicorn.Config(app, log_level="warning", access_log=False, **proxy_options(settings.trusted_proxies))
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        stop_metrics()
        services.close()


# Collect the youngest objects after this many more allocations than deallocations (Python's
# default is 700): a worker or request makes thousands of short-lived objects a second.
GC_YOUNG_THRESHOLD = 10_000


def _tune_garbage_collection() -> None:
    """For a long-running server: what startup built (modules, settings, the app) is frozen out of
    every later collection, and the young generation is collected less often (the older ones as
    before). The collector took a quarter of the control plane's time (bench/control_plane.py:
    6,970 -> 9,600 requests/s end to end); peak memory stays flat (tests/e2e/test_flat_memory.py)."""
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD)


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _describe_store(settings: Settings) -> str:
    if settings.database_url:
        return "PostgreSQL" if "postgres" in settings.database_url else settings.database_url
    return f"SQLite at {settings.data_dir / 'sference.db'}"


def _banner(
    url: str, settings: Settings, report: BootstrapReport, *, write_cli_credentials: bool, run_worker: bool
) -> None:
    console = (settings.console_url or url).rstrip("/")
    lines = [
        f"sference {__version__} listening on {url}",
        f"  console: {console}/",
        f"  store:   {_describe_store(settings)}",
    ]
    if run_worker:
        lines.append(f"  models:  {', '.join(settings.served_model_ids())}")
    if report.created_user:
        lines.append(f"  created admin user {report.username!r}")
    if report.new_password:
        lines.append(f"  admin console password (shown once): {report.new_password}")
    if report.new_key and report.key_generated:
        lines.append(f"  admin API key (shown once): {report.new_key}")
        if write_cli_credentials:
            saved = _save_cli_credentials(report.new_key, url)
            if saved:
                lines.append(f"  saved it to {saved} for the sference CLI")
    lines += [
        "  use the CLI with:",
        f"    export SFERENCE_BASE_URL={url}",
        "    sference auth me            # or: sference auth login (signs in through the console)",
        f"  API keys answer in API version {versions.DEFAULT.name} (sference-cli/sdk 0.0.4) unless made for",
        "  another; for the newest published clients (pip install sference-cli: 0.4 / sdk 0.3) sign in with",
        "  `sference auth login --base-url URL` or make a key with",
        "    sference-server keys create --user admin --api-version latest   (same --data-dir as the server)",
    ]
    typer.echo("\n".join(lines), err=False)
    sys.stdout.flush()


def _save_cli_credentials(key: str, url: str) -> Path | None:
    """Save the admin key for the ``sference`` CLI, with the server it belongs to (``base_url``:
    the CLI never sends it to another server)."""
    path = Path(os.path.expanduser("~")) / ".sference" / "credentials.json"
    if path.exists():
        return None
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"token": key, "base_url": url}, fh)
        fh.write("\n")
    return path


# -- users and keys -----------------------------------------------------------------------------


def _accounts(data_dir: Path | None, database_url: str | None) -> tuple[Database, Accounts]:
    db = _open_store(_settings(data_dir, database_url), migrate=True)
    return db, Accounts(db)


@users_app.command("create")
def users_create(
    name: str,
    role: Annotated[str, typer.Option(help="admin or user.")] = "user",
    password: Annotated[
        str | None, typer.Option(help="A console password (at least 10 characters); none: API keys only.")
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a user."""
    _, accounts = _accounts(data_dir, database_url)
    try:
        if password is not None:
            check_password(password)
        accounts.create_user(name, role=role, password_hash=hash_password(password) if password else None)
    except ServiceError as exc:
        _fail(exc.detail)
    typer.echo(f"Created user {name!r} ({role}). Make a key with: sference-server keys create --user {name}")


@users_app.command("set-password")
def users_set_password(
    name: str,
    password: Annotated[str | None, typer.Option(help="The new password (asked for when omitted).")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Set a user's console password: ends their console sessions and device sign-ins, and
    forgets their failed sign-ins."""
    _, accounts = _accounts(data_dir, database_url)
    if password is None:
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    try:
        accounts.set_password(accounts.user_id(name), password)
    except ServiceError as exc:
        _fail(exc.detail)
    typer.echo(f"Password of {name!r} set.")


@users_app.command("list")
def users_list(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """List users."""
    _, accounts = _accounts(data_dir, database_url)
    for row in accounts.list_users():
        state = "disabled" if row.disabled_at else "active"
        typer.echo(f"{row.username:<24} {row.role:<6} {state:<8} created {iso(row.created_at)}")


Limit = Annotated[str | None, typer.Option(help="A positive number, or 'default' (or 0) for the server's default.")]


@users_app.command("set-limits")
def users_set_limits(
    name: str,
    requests_per_minute: Limit = None,
    max_concurrent_interactive: Limit = None,
    max_queued_items: Limit = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Set a user's limits (those not given stay as they are); they apply from the next request."""
    given = {
        REQUESTS_PER_MINUTE: requests_per_minute,
        MAX_CONCURRENT_INTERACTIVE: max_concurrent_interactive,
        MAX_QUEUED_ITEMS: max_queued_items,
    }
    settings = _settings(data_dir, database_url)
    db = _open_store(settings, migrate=True)
    quotas = Quotas(db, settings)
    try:
        values = {limit: parse_limit(limit, text) for limit, text in given.items() if text is not None}
        own = quotas.set(Accounts(db).user_id(name), values)
    except ServiceError as exc:
        _fail(exc.detail)
    effective = own.over(quotas.defaults)
    for limit in LIMIT_NAMES:
        value = getattr(effective, limit) or "no limit"
        source = "default" if getattr(own, limit) is None else "set"
        typer.echo(f"{limit:<28} {value} ({source})")


@keys_app.command("create")
def keys_create(
    user: Annotated[str, typer.Option("--user", help="Owner of the key.")],
    name: Annotated[str, typer.Option(help="A label to recognise the key by.")] = "cli",
    scopes: Annotated[str, typer.Option(help="'read write' or 'read'.")] = DEFAULT_SCOPES,
    api_version: Annotated[
        str,
        typer.Option(
            "--api-version",
            help=f"The API version the key is answered in: {', '.join(versions.VERSIONS)}, or 'latest' "
            f"(sference-cli 0.4 / sference-sdk 0.3 and newer). Default: {versions.DEFAULT.name}.",
        ),
    ] = versions.DEFAULT.name,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create an API key and print it (it is shown only this once)."""
    _, accounts = _accounts(data_dir, database_url)
    try:
        key = accounts.create_key(accounts.user_id(user), name=name, scopes=scopes, api_version=api_version)
    except ServiceError as exc:
        _fail(exc.detail)
    typer.echo(key.plaintext)
    typer.echo(
        f"(key id {key.id}, prefix {key.prefix}, API version {key.api_version}; "
        "store it now, it cannot be shown again)",
        err=True,
    )


@keys_app.command("set-version")
def keys_set_version(
    key: Annotated[str, typer.Argument(help="Key id or display prefix (sk_…).")],
    api_version: Annotated[str, typer.Argument(help=f"{', '.join(versions.VERSIONS)} or 'latest'.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Answer a key in another API version from its next request on."""
    _, accounts = _accounts(data_dir, database_url)
    try:
        key_id = accounts.key_id(key)
        name = accounts.set_key_version(key_id, api_version)
    except ServiceError as exc:
        _fail(exc.detail)
    typer.echo(f"Key {key_id} now answers in API version {name}.")


@keys_app.command("list")
def keys_list(
    user: Annotated[str | None, typer.Option("--user", help="Only this user's keys.")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """List API keys (prefixes only; plaintexts are never stored)."""
    _, accounts = _accounts(data_dir, database_url)
    try:
        user_id = accounts.user_id(user) if user else None
    except ServiceError as exc:
        _fail(exc.detail)
    for row in accounts.list_keys(user_id=user_id):
        state = "revoked" if row.revoked_at else "active"
        used = iso(row.last_used_at) or "never"
        typer.echo(
            f"{row.id}  {row.prefix}…  {row.username:<16} {row.name:<16} {state:<8} "
            f"v{row.api_version}  last used {used}"
        )


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[str, typer.Argument(help="Key id or display prefix (sk_…).")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke an API key; it stops working at once."""
    _, accounts = _accounts(data_dir, database_url)
    try:
        key_id = accounts.revoke_key(key)
    except ServiceError as exc:
        _fail(exc.detail)
    typer.echo(f"Revoked key {key_id}.")


class UsageFormat(StrEnum):
    csv = "csv"
    json = "json"


@app.command()
def usage(
    since: Annotated[
        str | None, typer.Option("--since", help="First UTC day, YYYY-MM-DD (default: 30 days up to --until).")
    ] = None,
    until: Annotated[str | None, typer.Option("--until", help="Last UTC day, YYYY-MM-DD (default: today).")] = None,
    user: Annotated[str | None, typer.Option("--user", help="Only this user (a username); default: everybody.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Only this model.")] = None,
    output: Annotated[UsageFormat, typer.Option("--format", help="csv (a row per day, user and model) or json.")] = (
        UsageFormat.csv
    ),
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Print usage per UTC day, user and model: requests (completed), failed, cancelled and
    expired ones, and tokens. Reads the store directly; at most 366 days at a time."""
    db = _open_store(_settings(data_dir, database_url), migrate=False)
    try:
        first, last = date_range(since, until)
        user_id = Accounts(db).user_id(user) if user else None
    except ServiceError as exc:
        _fail(exc.detail)
    report = UsageService(db).read(first, last, user_id=user_id, model=model)
    document = usage_report(report)
    if output is UsageFormat.json:
        typer.echo(json.dumps(document, indent=2))
        return
    writer = csv.DictWriter(sys.stdout, fieldnames=ROW_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(document["data"])


def main() -> None:
    app()
