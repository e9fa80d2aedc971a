"""Fixtures: a real `cosched` binary, a throwaway PostgreSQL server, and
per test a fresh database (SQLite and PostgreSQL) already migrated and
holding the jobs of `JOBS_TOML`, declared by a real `cosched serve`.

Nothing here skips: a missing binary or PostgreSQL fails the suite.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional

import psycopg
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from pg_server import PgServer  # noqa: E402

REPO = Path(__file__).resolve().parents[3]

#: The jobs every test database holds. `record` writes its fire's JSON
#: context (stdin) to $COSCHED_TEST_OUT/<fire id>.json.
JOBS_TOML = """
[scheduler]
poll_interval = "200ms"
shutdown_grace = "2s"

[[job]]
name = "report"
kind = "noop"

[[job]]
name = "held"
kind = "noop"
paused = true

[[job]]
name = "record"
kind = "command"
command = ["sh", "-c", "cat > \\"$COSCHED_TEST_OUT/$COSCHED_FIRE_ID.json\\""]
# A job sees a clean environment: it asks for the node's variable by name.
inherit_env = ["COSCHED_TEST_OUT"]
"""

JOB_NAMES = ("report", "held", "record")


def cosched_bin() -> Path:
    path = Path(os.environ.get("COSCHED_BIN", REPO / "target" / "debug" / "cosched"))
    if not path.is_file():
        pytest.fail(f"the cosched binary {path} is missing: run `cargo build` or set COSCHED_BIN")
    return path


class Serve:
    """A running `cosched serve` process over one database."""

    def __init__(self, url: str, config: Path, out: Path, log: Path) -> None:
        self.log = log
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        env.update({"COSCHED_TEST_OUT": str(out), "NO_COLOR": "1", "RUST_LOG": "info"})
        self.process = subprocess.Popen(
            [str(cosched_bin()), "serve", "--config", str(config), "--database", url],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log.open("wb"),
            env=env,
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log_tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])


def _wait_for(what: str, check: Callable[[], bool], within: float, serve: Optional[Serve] = None) -> None:
    deadline = time.monotonic() + within
    while not check():
        if serve is not None and serve.process.poll() is not None:
            raise AssertionError(f"cosched serve exited while waiting for {what}:\n{serve.log_tail()}")
        if time.monotonic() > deadline:
            tail = serve.log_tail() if serve else ""
            raise AssertionError(f"timed out waiting for {what}\n{tail}")
        time.sleep(0.05)


@dataclass
class Database:
    """One test's database."""

    backend: str
    url: str
    path: Optional[Path] = None  # SQLite only

    def connect(self) -> Any:
        """A plain DB-API connection of the test's own."""
        if self.backend == "sqlite":
            assert self.path is not None
            return sqlite3.connect(self.path)
        return psycopg.connect(self.url)

    def query(self, sql: str, params: Any = ()) -> List[tuple]:
        conn = self.connect()
        try:
            cur = conn.cursor()
            cur.execute(sql if self.backend == "sqlite" else sql.replace("?", "%s"), params)
            rows = cur.fetchall() if cur.description else []
            conn.commit()
            return rows
        finally:
            conn.close()

    def execute(self, sql: str, params: Any = ()) -> None:
        self.query(sql, params)

    def sqlalchemy_url(self) -> str:
        if self.backend == "sqlite":
            return f"sqlite:///{self.path}"
        return self.url.replace("postgresql://", "postgresql+psycopg://", 1)


def _declare_jobs(url: str, config: Path, out: Path, log: Path, has_jobs: Callable[[], bool]) -> None:
    serve = Serve(url, config, out, log)
    try:
        _wait_for("the jobs to be declared", has_jobs, 60, serve)
    finally:
        serve.stop()


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cosched")


@pytest.fixture(scope="session")
def config(workdir: Path) -> Path:
    path = workdir / "jobs.toml"
    path.write_text(JOBS_TOML)
    (workdir / "out").mkdir()
    return path


@pytest.fixture(scope="session")
def pg() -> Iterator[PgServer]:
    try:
        server = PgServer()
    except Exception as e:
        pytest.fail(f"cannot start the test PostgreSQL server: {e}")
    yield server
    server.stop()


def _count_jobs(connect: Callable[[], Any]) -> Callable[[], bool]:
    def check() -> bool:
        try:
            conn = connect()
        except Exception:
            return False
        try:
            cur = conn.cursor()
            cur.execute("SELECT count(*) FROM jobs")
            row = cur.fetchone()
            return bool(row) and row[0] == len(JOB_NAMES)
        except Exception:
            return False
        finally:
            conn.close()

    return check


@pytest.fixture(scope="session")
def sqlite_template(workdir: Path, config: Path) -> Path:
    path = workdir / "template.db"
    _declare_jobs(
        f"sqlite://{path}",
        config,
        workdir / "out",
        workdir / "declare-sqlite.log",
        _count_jobs(lambda: sqlite3.connect(f"file:{path}?mode=ro", uri=True)),
    )
    return path


@pytest.fixture(scope="session")
def pg_template(pg: PgServer, workdir: Path, config: Path) -> str:
    with psycopg.connect(pg.url("postgres"), autocommit=True) as admin:
        admin.execute("CREATE DATABASE cosched_template")
    url = pg.url("cosched_template")
    _declare_jobs(
        url, config, workdir / "out", workdir / "declare-pg.log", _count_jobs(lambda: psycopg.connect(url))
    )
    return "cosched_template"


_numbers = itertools.count(1)


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    """A fresh database holding the declared jobs, on each backend."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "cosched.db"
        source = sqlite3.connect(template)
        target = sqlite3.connect(path)
        source.backup(target)
        source.close()
        target.close()
        return Database("sqlite", f"sqlite://{path}", path)
    return new_pg_database(request.getfixturevalue("pg"), request.getfixturevalue("pg_template"))


def new_pg_database(server: PgServer, template: str) -> Database:
    name = f"t_{next(_numbers)}"
    with psycopg.connect(server.url("postgres"), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    return Database("postgres", server.url(name))


@pytest.fixture
def pg_db(pg: PgServer, pg_template: str) -> Database:
    """A fresh PostgreSQL database holding the declared jobs."""
    return new_pg_database(pg, pg_template)


@pytest.fixture
def serve(db: Database, config: Path, workdir: Path, tmp_path: Path) -> Iterator[Callable[[], Serve]]:
    """Starts `cosched serve` over the test's database (call it)."""
    started: List[Serve] = []

    def start() -> Serve:
        node = Serve(db.url, config, workdir / "out", tmp_path / f"serve-{len(started)}.log")
        started.append(node)
        return node

    yield start
    for node in started:
        node.stop()


@pytest.fixture
def out_dir(workdir: Path) -> Path:
    return workdir / "out"


def repo_contract() -> Path:
    return REPO / "contract"



