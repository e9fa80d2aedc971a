"""The contract files this client runs, and how to run them.

The package ships a copy of the repository's ``contract/`` folder (the
Rust tests check that the two are identical). A file holds one or more
statements, each ending with ``;`` at the end of a line, after comment
lines starting with ``--``; parameters are named ``:name``. sqlite3 takes
them as they are; for psycopg they become ``%(name)s``.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Dict, Mapping, Tuple

#: The contract version this client speaks.
CONTRACT_VERSION = 1

_PARAMETER = re.compile(r"(?<![:\w]):([A-Za-z_][A-Za-z0-9_]*)")


class Backend(enum.Enum):
    SQLITE = "sqlite"
    POSTGRES = "postgres"


@dataclass(frozen=True)
class Statement:
    """One statement in the driver's own placeholder style, and the names
    of the parameters it takes."""

    sql: str
    names: Tuple[str, ...]

    def bind(self, values: Mapping[str, Any]) -> Dict[str, Any]:
        missing = [n for n in self.names if n not in values]
        if missing:
            raise KeyError(f"no value for parameter(s) {', '.join(':' + n for n in missing)}")
        return {n: values[n] for n in self.names}


def _split(text: str) -> Tuple[str, ...]:
    body = "".join(
        line for line in text.splitlines(keepends=True) if not line.lstrip().startswith("--")
    )
    return tuple(s.strip() for s in re.split(r";[ \t]*\n", body + "\n") if s.strip())


def _native(sql: str, backend: Backend) -> Statement:
    names = tuple(dict.fromkeys(_PARAMETER.findall(sql)))
    if backend is Backend.POSTGRES:
        # pyformat: a literal % must be doubled before placeholders go in.
        sql = _PARAMETER.sub(lambda m: f"%({m.group(1)})s", sql.replace("%", "%%"))
    return Statement(sql=sql, names=names)


@lru_cache(maxsize=None)
def statements(backend: Backend, operation: str) -> Tuple[Statement, ...]:
    """The statements of ``contract/<backend>/<operation>.sql``."""
    text = (
        resources.files(__package__)
        .joinpath("contract", backend.value, f"{operation}.sql")
        .read_text(encoding="utf-8")
    )
    return tuple(_native(sql, backend) for sql in _split(text))
