"""cosched-client: schedule cosched jobs from Python through the
database contract (``contract/`` in the cosched repository).

>>> from datetime import timedelta
>>> from cosched_client import Client
>>> client = Client("sqlite://cosched.db")            # doctest: +SKIP
>>> client.schedule_in("report", timedelta(minutes=5))  # doctest: +SKIP
"""

from .aio import AsyncClient
from .client import Client
from .contract import CONTRACT_VERSION, Backend
from .errors import (
    CoschedError,
    ContractMismatch,
    DatabaseUnavailable,
    UnknownFire,
    UnknownJob,
    WaitTimeout,
)
from .fire import FINISHED_STATUSES, STATUSES, Fire

__all__ = [
    "AsyncClient",
    "Backend",
    "CONTRACT_VERSION",
    "Client",
    "ContractMismatch",
    "CoschedError",
    "DatabaseUnavailable",
    "FINISHED_STATUSES",
    "Fire",
    "STATUSES",
    "UnknownFire",
    "UnknownJob",
    "WaitTimeout",
]
