"""A fire as the ``cosched_fires`` view shows it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping, Optional

#: Statuses after which a fire changes no more.
FINISHED_STATUSES = frozenset(
    {"succeeded", "failed", "timed_out", "skipped", "abandoned", "cancelled"}
)

#: Every status a fire can have.
STATUSES = FINISHED_STATUSES | {"queued", "running"}

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def from_ms(ms: Optional[int]) -> Optional[datetime]:
    """UTC milliseconds since the epoch as an aware UTC datetime."""
    if ms is None:
        return None
    return _EPOCH + timedelta(milliseconds=int(ms))


@dataclass(frozen=True)
class Fire:
    """One attempt of one fire of a job. Instants are aware UTC datetimes."""

    id: int
    job: str
    trigger_id: Optional[int]
    producer_key: Optional[str]
    status: str
    scheduled_at: datetime
    due_at: datetime
    started_at: Optional[datetime]
    finished_at: Optional[datetime]
    attempt: int
    node_id: Optional[str]
    reason: Optional[str]
    error: Optional[str]
    output: Optional[str]

    @property
    def finished(self) -> bool:
        """True once the fire's status is final."""
        return self.status in FINISHED_STATUSES

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    @property
    def lateness(self) -> Optional[timedelta]:
        """How long after its scheduled instant the fire started."""
        if self.started_at is None:
            return None
        return self.started_at - self.scheduled_at

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "Fire":
        scheduled_at = from_ms(row["scheduled_at"])
        due_at = from_ms(row["due_at"])
        if scheduled_at is None or due_at is None:
            raise ValueError(f"fire {row['id']}: scheduled_at and due_at must not be NULL")
        return cls(
            id=int(row["id"]),
            job=str(row["job"]),
            trigger_id=None if row["trigger_id"] is None else int(row["trigger_id"]),
            producer_key=row["producer_key"],
            status=str(row["status"]),
            scheduled_at=scheduled_at,
            due_at=due_at,
            started_at=from_ms(row["started_at"]),
            finished_at=from_ms(row["finished_at"]),
            attempt=int(row["attempt"]),
            node_id=row["node_id"],
            reason=row["reason"],
            error=row["error"],
            output=row["output"],
        )
