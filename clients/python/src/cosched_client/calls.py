"""The producer operations as calls of contract files: their arguments
checked and converted (instants to UTC milliseconds, data to JSON), and
their rows read back. Both the sync and the async client perform these.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Dict, Generic, List, Mapping, Optional, TypeVar

from .contract import Backend
from .errors import UnknownJob
from .fire import STATUSES, Fire

T = TypeVar("T")

Rows = List[Dict[str, Any]]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)


@dataclass(frozen=True)
class Call(Generic[T]):
    """A contract file to run with these values, and what its rows mean."""

    operation: str
    values: Mapping[str, Any]
    read: Callable[[Rows], T]
    #: The job the call is about, for an unknown-job error from the database.
    job: Optional[str] = None


def now_ms() -> int:
    """This machine's clock in UTC milliseconds (SQLite calls pass it)."""
    return time.time_ns() // 1_000_000


def instant_ms(when: datetime, what: str = "when") -> int:
    """An aware datetime as UTC milliseconds since the epoch."""
    if not isinstance(when, datetime):
        raise TypeError(f"{what} must be a datetime, not {type(when).__name__}")
    if when.tzinfo is None or when.tzinfo.utcoffset(when) is None:
        raise ValueError(
            f"{what} is a naive datetime ({when.isoformat()}): cosched needs an aware one, "
            "e.g. datetime.now(timezone.utc) or a datetime with tzinfo=ZoneInfo('Europe/Berlin')"
        )
    return (when - _EPOCH) // _MS


def delay_ms(delta: timedelta) -> int:
    if not isinstance(delta, timedelta):
        raise TypeError(f"the delay must be a timedelta, not {type(delta).__name__}")
    if delta < timedelta(0):
        raise ValueError(f"the delay must not be negative, got {delta}")
    return delta // _MS


def _job(job: str) -> str:
    if not isinstance(job, str) or not job.strip():
        raise ValueError(f"a job name must be a non-empty string, got {job!r}")
    return job


def _data(data: Any) -> Optional[str]:
    if data is None:
        return None
    try:
        return json.dumps(data, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"data must be JSON-serializable: {e}") from e


def _key(key: Optional[str]) -> Optional[str]:
    if key is not None and (not isinstance(key, str) or not key):
        raise ValueError(f"a producer key must be a non-empty string or None, got {key!r}")
    return key


def _trigger_id(job: str) -> Callable[[Rows], int]:
    def read(rows: Rows) -> int:
        # SQLite: no row means the job does not exist (PostgreSQL raises).
        if not rows or rows[0]["trigger_id"] is None:
            raise UnknownJob(job)
        return int(rows[0]["trigger_id"])

    return read


def _changed(job: str) -> Callable[[Rows], bool]:
    def read(rows: Rows) -> bool:
        row = rows[0]
        if "job_exists" in row and not row["job_exists"]:
            raise UnknownJob(job)
        return bool(row["changed"])

    return read


def schedule_at(job: str, when: datetime, data: Any, key: Optional[str]) -> Call[int]:
    job = _job(job)
    values = {
        "job": job,
        "at_ms": instant_ms(when),
        "data": _data(data),
        "key": _key(key),
        "now_ms": now_ms(),
    }
    return Call("schedule_once", values, _trigger_id(job), job=job)


def schedule_in(job: str, delta: timedelta, data: Any, key: Optional[str]) -> Call[int]:
    job = _job(job)
    values = {
        "job": job,
        "delay_ms": delay_ms(delta),
        "data": _data(data),
        "key": _key(key),
        "now_ms": now_ms(),
    }
    return Call("schedule_in", values, _trigger_id(job), job=job)


def trigger_now(job: str, data: Any, key: Optional[str]) -> Call[int]:
    job = _job(job)
    values = {"job": job, "data": _data(data), "key": _key(key), "now_ms": now_ms()}
    return Call("trigger_now", values, _trigger_id(job), job=job)


def pause(job: str) -> Call[bool]:
    job = _job(job)
    return Call("pause", {"job": job, "now_ms": now_ms()}, _changed(job), job=job)


def resume(job: str) -> Call[bool]:
    job = _job(job)
    return Call("resume", {"job": job, "now_ms": now_ms()}, _changed(job), job=job)


def fire(fire_id: int) -> Call[Optional[Fire]]:
    if not isinstance(fire_id, int) or isinstance(fire_id, bool):
        raise TypeError(f"a fire id is an int, not {type(fire_id).__name__}")
    return Call(
        "fire",
        {"fire_id": fire_id},
        lambda rows: Fire.from_row(rows[0]) if rows else None
    )


def fires(
    job: Optional[str], status: Optional[str], limit: int, trigger_id: Optional[int]
) -> Call[List[Fire]]:
    if status is not None and status not in STATUSES:
        raise ValueError(f"unknown status {status!r}: expected one of {', '.join(sorted(STATUSES))}")
    if not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a positive int, got {limit!r}")
    values = {"job": job, "status": status, "trigger_id": trigger_id, "limit": limit}
    return Call("fires", values, lambda rows: [Fire.from_row(r) for r in rows])


def contract_version() -> Call[int]:
    return Call("contract_version", {}, lambda rows: int(rows[0]["version"]))


def contract_table_exists_sql(backend: Backend) -> str:
    """A query that tells, without failing (a failed statement would abort
    the caller's PostgreSQL transaction), whether the contract table exists."""
    if backend is Backend.POSTGRES:
        return "SELECT to_regclass('cosched_contract') IS NOT NULL"
    return "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'cosched_contract')"
