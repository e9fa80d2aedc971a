"""Where the database is: URLs, opening connections with a bounded
timeout, recognising a caller's own connection, and turning driver errors
into the client's exceptions.
"""

from __future__ import annotations

import math
import re
import sqlite3
from typing import Any, Optional, Tuple
from urllib.parse import quote

from .contract import Backend
from .errors import CoschedError, DatabaseUnavailable, UnknownJob

#: The SQLSTATE the contract's functions raise for an unknown job.
UNKNOWN_JOB_SQLSTATE = "P0002"

#: libpq's smallest effective connect_timeout, in seconds.
_LIBPQ_MIN_TIMEOUT = 2


def redact(url: str) -> str:
    """The URL without its password."""
    return re.sub(r"^([a-z0-9+.-]+://[^:/@]*):[^@/]*@", r"\1:***@", url, flags=re.I)


def parse_url(url: str) -> Tuple[Backend, str]:
    """The backend and the driver's target: a SQLite file path, or a libpq
    URL. Takes the URLs cosched takes (``sqlite://cosched.db``,
    ``sqlite:///abs/path.db``, ``postgres://…``, ``postgresql://…``) and
    SQLAlchemy's ``postgresql+psycopg://…``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(
            f"not a database URL: {redact(url)!r} (expected sqlite://PATH or postgresql://…)"
        )
    scheme = scheme.lower().split("+", 1)[0]
    if scheme == "sqlite":
        path = rest.split("?", 1)[0]
        if not path:
            raise ValueError(f"the SQLite URL {url!r} names no file")
        return Backend.SQLITE, path
    if scheme in ("postgres", "postgresql"):
        return Backend.POSTGRES, "postgresql://" + rest
    raise ValueError(f"unsupported database {scheme!r} in {redact(url)!r}: use sqlite or postgresql")


def backend_of(connection: Any) -> Backend:
    """The backend of a caller's open DB-API connection."""
    module = type(connection).__module__
    if isinstance(connection, sqlite3.Connection):
        return Backend.SQLITE
    if module.startswith("psycopg"):
        return Backend.POSTGRES
    raise TypeError(
        f"unsupported connection type {type(connection).__module__}.{type(connection).__name__}: "
        "pass a sqlite3 or psycopg connection (from SQLAlchemy: connection.connection.driver_connection), "
        "or a URL"
    )


def open_sqlite(path: str, timeout: float, *, threads: bool = False) -> sqlite3.Connection:
    """Opens an existing cosched SQLite file (never creates one: a missing
    file is an error, not an empty database)."""
    try:
        conn = sqlite3.connect(
            f"file:{quote(path)}?mode=rw",
            uri=True,
            timeout=timeout,
            check_same_thread=not threads,
        )
        conn.execute("PRAGMA foreign_keys = ON")
        return conn
    except sqlite3.Error as e:
        raise DatabaseUnavailable(f"sqlite://{path}", str(e)) from e


def _timeout_s(timeout: float) -> int:
    return max(_LIBPQ_MIN_TIMEOUT, math.ceil(timeout))


def open_postgres(url: str, timeout: float) -> Any:
    import psycopg

    try:
        return psycopg.connect(
            url, connect_timeout=_timeout_s(timeout), application_name="cosched-client"
        )
    except psycopg.Error as e:
        raise DatabaseUnavailable(redact(url), _first_line(e)) from e


async def open_postgres_async(url: str, timeout: float) -> Any:
    import psycopg

    try:
        return await psycopg.AsyncConnection.connect(
            url, connect_timeout=_timeout_s(timeout), application_name="cosched-client"
        )
    except psycopg.Error as e:
        raise DatabaseUnavailable(redact(url), _first_line(e)) from e


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def sqlstate(e: BaseException) -> Optional[str]:
    """The SQLSTATE of a PostgreSQL driver error (psycopg 3 or 2)."""
    return getattr(e, "sqlstate", None) or getattr(e, "pgcode", None)


def is_broken(connection: Any) -> bool:
    """True when a PostgreSQL connection can no longer be used."""
    return bool(getattr(connection, "broken", False) or getattr(connection, "closed", False))


def translate(
    e: BaseException, job: Optional[str], connection: Any, target: str
) -> BaseException:
    """The client's exception for a driver error (or the error itself)."""
    if isinstance(e, CoschedError):
        return e
    if job is not None and sqlstate(e) == UNKNOWN_JOB_SQLSTATE:
        return UnknownJob(job)
    if connection is not None and not isinstance(connection, sqlite3.Connection):
        if is_broken(connection):
            return DatabaseUnavailable(target, _first_line(e))
    return e
