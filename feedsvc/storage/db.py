"""Engine and sessions. SQLite runs in WAL mode and writers take the write lock up front."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000


class DatabaseUnavailable(Exception):
    """The database could not answer (down, locked past the timeout, unreachable)."""


PG_CONNECT_TIMEOUT_S = 10


class DatabaseUnreachable(Exception):
    """The database cannot be opened at all; the message names it (never its password)."""


def normalize_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever driver the URL names (or none); ``postgres://``
    (the spelling many hosts hand out) is PostgreSQL too."""
    parsed = make_url(url)
    if parsed.get_backend_name() in ("postgresql", "postgres") and (
        parsed.drivername != "postgresql+psycopg"
    ):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def describe_url(url: str) -> str:
    """A database URL for messages: the SQLite file, or ``postgresql://user@host:port/db``."""
    try:
        parsed = make_url(normalize_url(url))
    except Exception:
        return "the database in [storage] url"
    if parsed.get_backend_name() == "sqlite":
        return f"SQLite file {parsed.database or ':memory:'}"
    user = f"{parsed.username}@" if parsed.username else ""
    host = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
    return f"postgresql://{user}{host}/{parsed.database or ''}"


def unreachable(url: str, exc: BaseException) -> DatabaseUnreachable:
    """One line for an operator: which database, why, and what to check."""
    orig = getattr(exc, "orig", None) or exc
    lines = [ln.strip() for ln in str(orig).splitlines() if ln.strip()]
    reason = lines[0] if lines else type(orig).__name__
    reason = reason.removeprefix("connection failed: ")
    password = make_url(normalize_url(url)).password if "://" in url else None
    if password:
        reason = reason.replace(str(password), "***")
    if describe_url(url).startswith("SQLite"):
        hint = "check that its folder exists and is writable by this user"
    else:
        hint = (
            "check that PostgreSQL is running and reachable there, and the user, password"
            " and database in [storage] url or FEEDSVC_DATABASE_URL"
        )
    return DatabaseUnreachable(f"database unavailable ({describe_url(url)}): {reason}; {hint}")


def _sqlite_engine(url: str, immediate: bool, busy_timeout_ms: int) -> Engine:
    engine = create_engine(url, connect_args={"timeout": busy_timeout_ms / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, emit BEGIN so that we can choose IMMEDIATE.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A deferred transaction that later writes can fail with "database is locked" without
        # waiting on busy_timeout; BEGIN IMMEDIATE takes the write lock (and waits) up front.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class Database:
    """Holds the engines and hands out sessions: ``read()`` and ``write()``."""

    def __init__(self, url: str, *, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> None:
        self.url = normalize_url(url)
        self.is_sqlite = make_url(self.url).get_backend_name() == "sqlite"
        if self.is_sqlite:
            self.engine = _sqlite_engine(self.url, False, busy_timeout_ms)
            self.write_engine = _sqlite_engine(self.url, True, busy_timeout_ms)
        else:
            self.engine = create_engine(
                self.url,
                pool_pre_ping=True,
                connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S},
            )
            self.write_engine = self.engine
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(self.write_engine, expire_on_commit=False)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._read() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error."""
        with self._write() as session, session.begin():
            yield session

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def dispose(self) -> None:
        self.engine.dispose()
        if self.write_engine is not self.engine:
            self.write_engine.dispose()
