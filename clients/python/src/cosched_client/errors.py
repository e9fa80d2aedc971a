"""The exceptions a cosched client raises.

Every one derives from :class:`CoschedError`; those that mean "not found"
or "took too long" also derive from the matching built-in exception, so
generic handlers keep working.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from .fire import Fire


class CoschedError(Exception):
    """Base class of every cosched client error."""


class UnknownJob(CoschedError, LookupError):
    """The job does not exist in the database (it is created by a node's
    configuration file, the HTTP API or the Rust client, not here)."""

    def __init__(self, job: str) -> None:
        super().__init__(f"job `{job}` does not exist")
        self.job = job


class UnknownFire(CoschedError, LookupError):
    """No fire has this id."""

    def __init__(self, fire_id: int) -> None:
        super().__init__(f"fire {fire_id} does not exist")
        self.fire_id = fire_id


class ContractMismatch(CoschedError):
    """The database speaks another contract version than this client (or
    none: it was never migrated with ``cosched migrate``)."""

    def __init__(self, needed: int, found: Optional[int]) -> None:
        if found is None:
            message = (
                f"this client needs cosched contract version {needed}, but the database "
                "has no contract (no cosched_contract table): run `cosched migrate` on it"
            )
        else:
            message = (
                f"this client needs cosched contract version {needed}, but the database "
                f"speaks version {found}: use a cosched-client release for version {found}"
            )
        super().__init__(message)
        self.needed = needed
        self.found = found


class DatabaseUnavailable(CoschedError):
    """The database could not be reached (refused, timed out, wrong
    credentials, gone mid-operation). The URL is given without password."""

    def __init__(self, target: str, reason: str) -> None:
        super().__init__(f"cannot reach the cosched database {target}: {reason}")
        self.target = target
        self.reason = reason


class WaitTimeout(CoschedError, TimeoutError):
    """A wait ended before the fire finished; ``fire`` is its last state
    (None when it had not been recorded yet)."""

    def __init__(self, what: str, timeout: float, fire: Optional["Fire"]) -> None:
        status = fire.status if fire is not None else "not fired yet"
        super().__init__(f"{what} did not finish within {timeout:g} s (last status: {status})")
        self.fire = fire
