"""The asyncio client: psycopg's AsyncConnection on PostgreSQL; on SQLite
the standard sqlite3 module in a worker thread (it has no async API)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import datetime, timedelta
from typing import Any, List, Optional, TypeVar, Union

from . import calls
from .calls import Call, Rows
from .client import DEFAULT_POLL_INTERVAL, Client, seconds
from .connection import backend_of, is_broken, open_postgres_async, parse_url, redact, translate
from .contract import CONTRACT_VERSION, Backend, statements
from .errors import ContractMismatch, UnknownFire, WaitTimeout
from .fire import Fire

T = TypeVar("T")


async def _run_statements(connection: Any, operation: str, values: Any) -> Rows:
    from psycopg.rows import tuple_row

    rows: Rows = []
    async with connection.cursor(row_factory=tuple_row) as cursor:
        for statement in statements(Backend.POSTGRES, operation):
            await cursor.execute(statement.sql, statement.bind(values))
            if cursor.description is None:
                rows = []
            else:
                columns = [d[0] for d in cursor.description]
                rows = [dict(zip(columns, row)) for row in await cursor.fetchall()]
    return rows


async def _check_contract(connection: Any) -> None:
    from psycopg.rows import tuple_row

    async with connection.cursor(row_factory=tuple_row) as cursor:
        await cursor.execute(calls.contract_table_exists_sql(Backend.POSTGRES))
        row = await cursor.fetchone()
    if not row or not row[0]:
        raise ContractMismatch(CONTRACT_VERSION, None)
    call = calls.contract_version()
    found = call.read(await _run_statements(connection, call.operation, call.values))
    if found != CONTRACT_VERSION:
        raise ContractMismatch(CONTRACT_VERSION, found)


class AsyncClient:
    """The async twin of :class:`cosched_client.Client`: the same
    operations, awaited. ``target`` is a URL or your own open connection
    (a psycopg ``AsyncConnection``, or a ``sqlite3`` connection made with
    ``check_same_thread=False``)."""

    def __init__(self, target: Union[str, Any], *, connect_timeout: float = 5.0) -> None:
        self._connect_timeout = connect_timeout
        self._checked = False
        self._sync: Optional[Client] = None
        self._connection: Any = None
        self._owned = isinstance(target, str)
        if isinstance(target, str):
            self._backend, self._driver_target = parse_url(target)
            self._display = redact(target)
            if self._backend is Backend.SQLITE:
                self._sync = Client(target, connect_timeout=connect_timeout)
                self._sync._any_thread = True
        elif isinstance(target, sqlite3.Connection):
            self._backend = Backend.SQLITE
            self._driver_target = ""
            self._display = "(your sqlite connection)"
            self._sync = Client(target, connect_timeout=connect_timeout)
        else:
            self._backend = backend_of(target)
            self._driver_target = ""
            self._display = "(your postgres connection)"
            self._connection = target
        # sqlite3 connections are not for two threads at once.
        self._lock = asyncio.Lock()

    @property
    def backend(self) -> Backend:
        return self._backend

    async def close(self) -> None:
        if self._sync is not None:
            await asyncio.to_thread(self._sync.close)
        elif self._owned and self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def schedule_at(
        self, job: str, when: datetime, data: Any = None, key: Optional[str] = None
    ) -> int:
        return await self._perform(calls.schedule_at(job, when, data, key))

    async def schedule_in(
        self, job: str, delta: timedelta, data: Any = None, key: Optional[str] = None
    ) -> int:
        return await self._perform(calls.schedule_in(job, delta, data, key))

    async def trigger_now(self, job: str, data: Any = None, key: Optional[str] = None) -> int:
        return await self._perform(calls.trigger_now(job, data, key))

    async def pause(self, job: str) -> bool:
        return await self._perform(calls.pause(job))

    async def resume(self, job: str) -> bool:
        return await self._perform(calls.resume(job))

    async def fire(self, fire_id: int) -> Optional[Fire]:
        return await self._perform(calls.fire(fire_id))

    async def fires(
        self,
        job: Optional[str] = None,
        status: Optional[str] = None,
        limit: int = 50,
        *,
        trigger_id: Optional[int] = None,
    ) -> List[Fire]:
        return await self._perform(calls.fires(job, status, limit, trigger_id))

    async def wait(
        self,
        fire_id: int,
        timeout: Union[float, timedelta] = 60.0,
        *,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> Fire:
        limit = seconds(timeout)
        deadline = time.monotonic() + limit
        while True:
            fire = await self.fire(fire_id)
            if fire is None:
                raise UnknownFire(fire_id)
            if fire.finished:
                return fire
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout(f"fire {fire_id}", limit, fire)
            await asyncio.sleep(min(poll_interval, remaining))

    async def wait_trigger(
        self,
        trigger_id: int,
        timeout: Union[float, timedelta] = 60.0,
        *,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> Fire:
        limit = seconds(timeout)
        deadline = time.monotonic() + limit
        while True:
            fires = await self.fires(trigger_id=trigger_id, limit=1000)
            if fires and all(f.finished for f in fires):
                return fires[0]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout(f"trigger {trigger_id}", limit, fires[0] if fires else None)
            await asyncio.sleep(min(poll_interval, remaining))

    async def _open(self) -> Any:
        if self._connection is not None and not (self._owned and is_broken(self._connection)):
            return self._connection
        self._connection = await open_postgres_async(self._driver_target, self._connect_timeout)
        self._checked = False
        return self._connection

    async def _perform(self, call: Call[T]) -> T:
        async with self._lock:
            if self._sync is not None:
                return await asyncio.to_thread(self._sync._perform, call)
            connection = await self._open()
            try:
                if not self._checked:
                    await _check_contract(connection)
                    self._checked = True
                result = call.read(await _run_statements(connection, call.operation, call.values))
                if self._owned:
                    await connection.commit()
                return result
            except Exception as e:
                if self._owned:
                    try:
                        await connection.rollback()
                    except Exception:
                        self._connection = None
                mapped = translate(e, call.job, connection, self._display)
                if mapped is e:
                    raise
                raise mapped from e
