"""The client against real databases and a real `cosched serve`."""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
import subprocess
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import psycopg
import pytest
import sqlalchemy
from conftest import Database, Serve, cosched_bin, repo_contract

from cosched_client import (
    CONTRACT_VERSION,
    AsyncClient,
    Client,
    ContractMismatch,
    DatabaseUnavailable,
    UnknownFire,
    UnknownJob,
)

WAIT = 30.0


def triggers_of(db: Database, job: str) -> list:
    return db.query(
        "SELECT t.id, t.state, t.producer_key, t.next_fire_at FROM triggers t "
        "JOIN jobs j ON j.id = t.job_id WHERE j.name = ? ORDER BY t.id",
        (job,),
    )


def test_the_package_ships_the_repository_contract() -> None:
    shipped = Path(__file__).resolve().parents[1] / "src" / "cosched_client" / "contract"
    files = sorted(p.relative_to(repo_contract()) for p in repo_contract().rglob("*.sql"))
    assert len(files) == 16
    for f in files:
        assert (shipped / f).read_text() == (repo_contract() / f).read_text(), f


def test_scheduled_while_no_node_runs_then_a_node_fires_it(
    db: Database, serve: Callable[[], Serve], out_dir: Path
) -> None:
    client = Client(db.url)
    marker = str(uuid.uuid4())
    soon = client.schedule_at("report", datetime.now(timezone.utc) + timedelta(milliseconds=300))
    now = client.trigger_now("record", data={"marker": marker, "n": 7})
    assert soon != now
    assert client.fires() == [], "no node ran: nothing fired yet"
    serve()
    fire = client.wait_trigger(now, WAIT)
    assert fire.succeeded, fire
    assert fire.job == "record" and fire.trigger_id == now
    context = json.loads((out_dir / f"{fire.id}.json").read_text())
    assert context["data"]["marker"] == marker and context["data"]["n"] == 7
    report = client.wait_trigger(soon, WAIT)
    assert report.succeeded and report.job == "report"
    assert report.scheduled_at.tzinfo is not None
    assert report.lateness is not None and report.lateness >= timedelta(0)
    assert client.wait(report.id, 1).id == report.id
    assert client.fire(report.id) == report
    assert {f.id for f in client.fires()} == {fire.id, report.id}
    assert [f.id for f in client.fires(job="report")] == [report.id]
    assert [f.id for f in client.fires(status="succeeded", limit=1)] in ([fire.id], [report.id])
    assert client.fires(status="failed") == []
    assert client.fire(10**12) is None
    with pytest.raises(UnknownFire):
        client.wait(10**12, 1)


def test_a_rollback_schedules_nothing(db: Database) -> None:
    conn = db.connect()
    client = Client(conn)
    client.trigger_now("report")
    client.schedule_in("report", timedelta(minutes=5), key="k")
    conn.rollback()
    assert triggers_of(db, "report") == []
    trigger_id = client.trigger_now("report", data={"kept": True})
    conn.commit()
    conn.close()
    assert [t[0] for t in triggers_of(db, "report")] == [trigger_id]


@pytest.mark.parametrize("outcome", ["commit", "rollback"])
def test_a_sqlalchemy_transaction_enqueues_with_its_own_writes(db: Database, outcome: str) -> None:
    engine = sqlalchemy.create_engine(db.sqlalchemy_url())
    orders = sqlalchemy.Table(
        "orders",
        sqlalchemy.MetaData(),
        sqlalchemy.Column("id", sqlalchemy.Integer, primary_key=True),
    )
    orders.create(engine)

    class Abort(Exception):
        pass

    try:
        with engine.begin() as conn:
            conn.execute(orders.insert().values(id=1))
            # The DB-API connection under SQLAlchemy's, in the same transaction.
            client = Client(conn.connection.driver_connection)
            client.schedule_in("report", timedelta(minutes=1), data={"order": 1}, key="order-1")
            if outcome == "rollback":
                raise Abort()
    except Abort:
        pass
    engine.dispose()
    scheduled = triggers_of(db, "report")
    stored_orders = db.query("SELECT id FROM orders")
    if outcome == "commit":
        assert [(t[2]) for t in scheduled] == ["order-1"] and stored_orders == [(1,)]
    else:
        assert scheduled == [] and stored_orders == []


def test_a_producer_key_makes_one_trigger(db: Database) -> None:
    client = Client(db.url)
    at = datetime.now(timezone.utc) + timedelta(hours=1)
    first = client.schedule_at("report", at, data={"v": 1}, key="invoice-7")
    assert client.schedule_at("report", at + timedelta(hours=1), data={"v": 2}, key="invoice-7") == first
    assert client.schedule_in("report", timedelta(minutes=1), key="invoice-7") == first
    assert client.trigger_now("report", key="invoice-7") == first
    other = client.schedule_at("report", at, key="invoice-8")
    assert other != first
    assert client.schedule_at("record", at, key="invoice-7") not in (first, other), "keys are per job"
    rows = triggers_of(db, "report")
    assert [(r[0], r[2]) for r in rows] == [(first, "invoice-7"), (other, "invoice-8")]
    assert rows[0][3] == (at - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(milliseconds=1)


def test_a_paused_job_keeps_its_one_off_until_resumed(db: Database, serve: Callable[[], Serve]) -> None:
    client = Client(db.url)
    held = client.trigger_now("held")
    assert [t[1] for t in triggers_of(db, "held")] == ["paused"]
    assert client.pause("held") is False, "already paused (by the file)"
    report = client.trigger_now("report")
    serve()
    assert client.wait_trigger(report, WAIT).succeeded
    # `report` was due no earlier than `held`, so a node that fired it would
    # have fired `held` too, were it not paused.
    assert client.fires(job="held") == []
    assert client.resume("held") is True
    assert client.resume("held") is False
    assert client.wait_trigger(held, WAIT).succeeded
    assert client.pause("report") is True
    assert client.pause("report") is False


def test_an_unknown_job_is_refused_by_name(db: Database) -> None:
    client = Client(db.url)
    at = datetime.now(timezone.utc)
    calls: list = [
        lambda: client.schedule_at("nope", at),
        lambda: client.schedule_in("nope", timedelta(seconds=1)),
        lambda: client.trigger_now("nope", key="k"),
        lambda: client.pause("nope"),
        lambda: client.resume("nope"),
    ]
    for call in calls:
        with pytest.raises(UnknownJob, match="job `nope` does not exist") as raised:
            call()
        assert raised.value.job == "nope"
    assert client.trigger_now("report") > 0, "the client still works after the errors"


def test_a_database_of_another_contract_version_is_refused(db: Database) -> None:
    db.execute("UPDATE cosched_contract SET version = 2")
    client = Client(db.url)
    with pytest.raises(ContractMismatch) as raised:
        client.trigger_now("report")
    assert raised.value.needed == CONTRACT_VERSION == 1
    assert raised.value.found == 2
    assert "version 1" in str(raised.value) and "version 2" in str(raised.value)
    db.execute("UPDATE cosched_contract SET version = 1")
    assert triggers_of(db, "report") == [], "nothing was written"


def test_an_unmigrated_database_is_refused(tmp_path: Path, pg: Any) -> None:
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    with pytest.raises(ContractMismatch, match="cosched migrate") as raised:
        Client(f"sqlite://{empty}").trigger_now("report")
    assert raised.value.found is None
    with psycopg.connect(pg.url("postgres"), autocommit=True) as admin:
        admin.execute("CREATE DATABASE unmigrated")
    with pytest.raises(ContractMismatch) as raised:
        Client(pg.url("unmigrated")).fires()
    assert raised.value.found is None


def test_a_naive_datetime_is_refused(db: Database) -> None:
    client = Client(db.url)
    with pytest.raises(ValueError, match="naive datetime"):
        client.schedule_at("report", datetime.now())
    with pytest.raises(ValueError, match="negative"):
        client.schedule_in("report", timedelta(seconds=-1))
    with pytest.raises(ValueError, match="JSON"):
        client.trigger_now("report", data={"not json": {1, 2}})
    with pytest.raises(ValueError, match="status"):
        client.fires(status="done")
    assert triggers_of(db, "report") == []


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A loopback port that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_database_is_reported_within_the_connect_timeout(
    pg: Any, black_hole: int, tmp_path: Path
) -> None:
    cases = {
        "wrong password": pg.url("postgres", password="wrong"),
        "stopped server": f"postgresql://postgres:x@127.0.0.1:{_closed_port()}/postgres",
        "server that never answers": f"postgresql://postgres:x@127.0.0.1:{black_hole}/postgres",
        "missing SQLite file": f"sqlite://{tmp_path / 'missing' / 'cosched.db'}",
    }
    for case, url in cases.items():
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable) as raised:
            Client(url, connect_timeout=2).trigger_now("report")
        elapsed = time.monotonic() - started
        assert elapsed < 6, f"{case}: took {elapsed:.1f} s"
        assert "***" in str(raised.value) or "sqlite" in str(raised.value), "no password in errors"
        assert "wrong" not in str(raised.value).split("failed:")[0], case


def test_the_async_client_does_the_same(db: Database, serve: Callable[[], Serve]) -> None:
    async def scenario() -> None:
        async with AsyncClient(db.url) as client:
            trigger_id = await client.trigger_now("report", data={"async": True}, key="a1")
            assert await client.trigger_now("report", key="a1") == trigger_id
            with pytest.raises(UnknownJob):
                await client.schedule_in("nope", timedelta(seconds=1))
            assert await client.pause("report") is True
            assert await client.resume("report") is True
            serve()
            fire = await client.wait_trigger(trigger_id, WAIT)
            assert fire.succeeded
            assert (await client.wait(fire.id, 1)) == fire
            assert [f.id for f in await client.fires(job="report")] == [fire.id]

    asyncio.run(scenario())


def test_the_async_client_takes_the_callers_connection(db: Database) -> None:
    async def scenario() -> None:
        if db.backend == "postgres":
            conn: Any = await psycopg.AsyncConnection.connect(db.url)
            commit, rollback, close = conn.commit, conn.rollback, conn.close
        else:
            conn = sqlite3.connect(db.path, check_same_thread=False)

            async def commit() -> None:
                conn.commit()

            async def rollback() -> None:
                conn.rollback()

            async def close() -> None:
                conn.close()

        client = AsyncClient(conn)
        await client.trigger_now("report")
        await rollback()
        kept = await client.trigger_now("report")
        await commit()
        await close()
        assert [t[0] for t in triggers_of(db, "report")] == [kept]

    asyncio.run(scenario())


def test_a_server_stopped_under_the_client_is_reported_and_refused() -> None:
    from pg_server import PgServer

    server = PgServer()
    try:
        subprocess.run(
            [str(cosched_bin()), "migrate", "--database", server.url("postgres")],
            check=True,
            capture_output=True,
        )
        client = Client(server.url("postgres"), connect_timeout=2)
        assert client.fires(limit=1) is not None
        server.halt()
        for attempt in ("the open connection", "a new connection"):
            started = time.monotonic()
            with pytest.raises(DatabaseUnavailable):
                client.fires()
            assert time.monotonic() - started < 6, attempt
    finally:
        server.stop()


def test_on_postgres_a_running_node_is_woken_at_once(pg_db: Database, tmp_path: Path) -> None:
    # A poll a minute apart: a fire within seconds is the NOTIFY's doing.
    config = tmp_path / "slow-poll.toml"
    config.write_text('[scheduler]\npoll_interval = "60s"\n\n[[job]]\nname = "report"\nkind = "noop"\n')
    node = Serve(pg_db.url, config, tmp_path, tmp_path / "serve.log")
    try:
        def listening() -> bool:
            return bool(
                pg_db.query(
                    "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() "
                    "AND query ILIKE 'LISTEN%%cosched_changes%%'"
                )
            )

        deadline = time.monotonic() + 30
        while not listening():
            assert time.monotonic() < deadline, f"the node never LISTENed:\n{node.log_tail()}"
            time.sleep(0.05)
        client = Client(pg_db.url)
        fire = client.wait_trigger(client.trigger_now("report"), timeout=10)
        assert fire.succeeded
        assert fire.lateness is not None and fire.lateness < timedelta(seconds=5), fire.lateness
    finally:
        node.stop()
