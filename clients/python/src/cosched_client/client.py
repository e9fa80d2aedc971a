"""The synchronous client."""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime, timedelta
from typing import Any, List, Optional, TypeVar, Union

from . import calls
from .calls import Call, Rows
from .connection import (
    backend_of,
    is_broken,
    open_postgres,
    open_sqlite,
    parse_url,
    redact,
    translate,
)
from .contract import CONTRACT_VERSION, Backend, statements
from .errors import ContractMismatch, UnknownFire, WaitTimeout
from .fire import Fire

T = TypeVar("T")

#: How often ``wait`` looks at a fire.
DEFAULT_POLL_INTERVAL = 0.05


def seconds(timeout: Union[float, timedelta]) -> float:
    return timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)


def _cursor(connection: Any) -> Any:
    """A cursor that returns plain tuples, whatever row factory the
    caller's connection has."""
    if isinstance(connection, sqlite3.Connection):
        cursor = connection.cursor()
        cursor.row_factory = None
        return cursor
    if type(connection).__module__.startswith("psycopg2"):
        return connection.cursor()
    from psycopg.rows import tuple_row

    return connection.cursor(row_factory=tuple_row)


def run_statements(connection: Any, backend: Backend, operation: str, values: Any) -> Rows:
    """Runs a contract file on a DB-API connection; the last statement's rows."""
    cursor = _cursor(connection)
    try:
        rows: Rows = []
        for statement in statements(backend, operation):
            cursor.execute(statement.sql, statement.bind(values))
            if cursor.description is None:
                rows = []
            else:
                columns = [d[0] for d in cursor.description]
                rows = [dict(zip(columns, row)) for row in cursor.fetchall()]
        return rows
    finally:
        cursor.close()


def check_contract(connection: Any, backend: Backend) -> None:
    """Raises ContractMismatch unless the database speaks CONTRACT_VERSION."""
    cursor = _cursor(connection)
    try:
        cursor.execute(calls.contract_table_exists_sql(backend))
        row = cursor.fetchone()
    finally:
        cursor.close()
    if not row or not row[0]:
        raise ContractMismatch(CONTRACT_VERSION, None)
    call = calls.contract_version()
    found = call.read(run_statements(connection, backend, call.operation, call.values))
    if found != CONTRACT_VERSION:
        raise ContractMismatch(CONTRACT_VERSION, found)


class Client:
    """Schedules cosched jobs through the database contract.

    ``target`` is a URL (``sqlite://path/to/cosched.db``,
    ``postgresql://user:pass@host/db``): the client opens its own
    connection on first use (within ``connect_timeout`` seconds) and commits
    each operation. Or it is your own open connection (``sqlite3`` or
    psycopg): then each operation runs inside your transaction and you
    commit or roll back; nothing is scheduled and no node is woken unless
    you commit.

    The contract version is checked on first use (``ContractMismatch``).
    """

    def __init__(self, target: Union[str, Any], *, connect_timeout: float = 5.0) -> None:
        self._connect_timeout = connect_timeout
        self._checked = False
        # The async client calls this one from worker threads, one at a time.
        self._any_thread = False
        if isinstance(target, str):
            self._backend, self._driver_target = parse_url(target)
            self._display = redact(target)
            self._connection: Any = None
            self._owned = True
        else:
            self._backend = backend_of(target)
            self._driver_target = ""
            self._display = f"(your {self._backend.value} connection)"
            self._connection = target
            self._owned = False

    @property
    def backend(self) -> Backend:
        return self._backend

    def close(self) -> None:
        """Closes the connection the client opened (never yours)."""
        if self._owned and self._connection is not None:
            self._connection.close()
            self._connection = None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the operations (they mirror the Rust Client) ---------------------

    def schedule_at(
        self, job: str, when: datetime, data: Any = None, key: Optional[str] = None
    ) -> int:
        """A one-off fire of ``job`` at ``when`` (an aware datetime), with
        ``data`` (JSON-serializable) merged over the job's data. A ``key``
        already used for this job returns that one-off's trigger id and
        changes nothing. Returns the trigger id."""
        return self._perform(calls.schedule_at(job, when, data, key))

    def schedule_in(
        self, job: str, delta: timedelta, data: Any = None, key: Optional[str] = None
    ) -> int:
        """A one-off fire of ``job`` after ``delta`` (on PostgreSQL by the
        database clock). Returns the trigger id."""
        return self._perform(calls.schedule_in(job, delta, data, key))

    def trigger_now(self, job: str, data: Any = None, key: Optional[str] = None) -> int:
        """Fires ``job`` now. Returns the trigger id."""
        return self._perform(calls.trigger_now(job, data, key))

    def pause(self, job: str) -> bool:
        """Pauses a job; False when it was already paused."""
        return self._perform(calls.pause(job))

    def resume(self, job: str) -> bool:
        """Resumes a job (a trigger paused on its own stays paused); False
        when it was not paused."""
        return self._perform(calls.resume(job))

    def fire(self, fire_id: int) -> Optional[Fire]:
        """One fire by id, or None."""
        return self._perform(calls.fire(fire_id))

    def fires(
        self,
        job: Optional[str] = None,
        status: Optional[str] = None,
        limit: int = 50,
        *,
        trigger_id: Optional[int] = None,
    ) -> List[Fire]:
        """Fires, newest first, optionally of one job, status or trigger."""
        return self._perform(calls.fires(job, status, limit, trigger_id))

    def wait(
        self,
        fire_id: int,
        timeout: Union[float, timedelta] = 60.0,
        *,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> Fire:
        """Waits until fire ``fire_id`` has finished and returns it
        (``WaitTimeout`` after ``timeout``). Call it after your commit."""
        limit = seconds(timeout)
        deadline = time.monotonic() + limit
        while True:
            fire = self.fire(fire_id)
            if fire is None:
                raise UnknownFire(fire_id)
            if fire.finished:
                return fire
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout(f"fire {fire_id}", limit, fire)
            time.sleep(min(poll_interval, remaining))

    def wait_trigger(
        self,
        trigger_id: int,
        timeout: Union[float, timedelta] = 60.0,
        *,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> Fire:
        """Waits until the one-off ``trigger_id`` (what ``schedule_at``
        returned) has fired and no attempt of it is queued or running, and
        returns its newest fire."""
        limit = seconds(timeout)
        deadline = time.monotonic() + limit
        while True:
            fires = self.fires(trigger_id=trigger_id, limit=1000)
            if fires and all(f.finished for f in fires):
                return fires[0]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout(f"trigger {trigger_id}", limit, fires[0] if fires else None)
            time.sleep(min(poll_interval, remaining))

    # ---- running calls ----------------------------------------------------

    def _open(self) -> Any:
        if self._connection is not None and not (self._owned and is_broken(self._connection)):
            return self._connection
        if self._backend is Backend.SQLITE:
            self._connection = open_sqlite(
                self._driver_target, self._connect_timeout, threads=self._any_thread
            )
        else:
            self._connection = open_postgres(self._driver_target, self._connect_timeout)
        self._checked = False
        return self._connection

    def _perform(self, call: Call[T]) -> T:
        connection = self._open()
        try:
            if not self._checked:
                check_contract(connection, self._backend)
                self._checked = True
            rows = run_statements(connection, self._backend, call.operation, call.values)
            result = call.read(rows)
            if self._owned:
                connection.commit()
            return result
        except Exception as e:
            if self._owned:
                self._rollback(connection)
            mapped = translate(e, call.job, connection, self._display)
            if mapped is e:
                raise
            raise mapped from e

    def _rollback(self, connection: Any) -> None:
        try:
            connection.rollback()
        except Exception:
            # The connection is gone; the next call opens another.
            self._connection = None
