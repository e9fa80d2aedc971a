"""Pickup latency of a one-off scheduled through the PostgreSQL contract:
from the commit of `cosched_trigger_now` to the job's start, with a real
`cosched serve`.

    python bench/pickup_latency.py [--fires 200] [--runs 3] [--poll 60s] [--no-fsync]

It starts a PostgreSQL server of its own with the default durability
(fsync and synchronous_commit on; see tests/pg_server.py), migrates a
database, runs one `cosched serve` (COSCHED_BIN, default
target/debug/cosched) with a `noop` job and a poll interval of a minute (so
every pickup is the NOTIFY's doing), waits until the node LISTENs, then
per run commits one one-off at a time through the function (each call in a
transaction of its own, a random 5-20 ms apart, so the node is asleep when
it arrives) and reads the fire's `started_at` back. Latency = started_at −
the instant just before COMMIT was sent (both on this machine's clock; the
node corrects its clock to the database's, the same clock here). Prints
p50 / p99 / max per run and the median of each over the runs.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List

import psycopg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from pg_server import PgServer  # noqa: E402

REPO = HERE.parents[2]


def percentile(values: List[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def wait_until(what: str, check, within: float) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


def one_run(
    conn: psycopg.Connection, reader: psycopg.Connection, fires: int, commits: List[float]
) -> List[float]:
    """The pickup latencies of `fires` one-offs, in ms; appends each
    COMMIT's own duration to `commits`."""
    latencies = []
    for _ in range(fires):
        time.sleep(random.uniform(0.005, 0.020))
        trigger_id = conn.execute("SELECT cosched_trigger_now('pickup')").fetchone()[0]
        commit_sent_ms = time.time_ns() / 1e6
        conn.commit()
        commits.append(time.time_ns() / 1e6 - commit_sent_ms)
        while True:
            row = reader.execute(
                "SELECT started_at FROM fires WHERE trigger_id = %s AND started_at IS NOT NULL",
                (trigger_id,),
            ).fetchone()
            if row is not None:
                break
            time.sleep(0.001)
        latencies.append(row[0] - commit_sent_ms)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fires", type=int, default=200, help="one-offs per run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--poll", default="60s", help="the node's poll_interval")
    parser.add_argument(
        "--no-fsync",
        action="store_true",
        help="run the server without fsync and synchronous_commit (to see what durable commits cost)",
    )
    args = parser.parse_args()
    binary = Path(os.environ.get("COSCHED_BIN", REPO / "target" / "debug" / "cosched"))
    if not binary.is_file():
        raise SystemExit(f"{binary} is missing: run `cargo build` or set COSCHED_BIN")

    server = PgServer(durable=not args.no_fsync)
    node = None
    try:
        with psycopg.connect(server.url("postgres"), autocommit=True) as admin:
            admin.execute("CREATE DATABASE pickup")
        url = server.url("pickup")
        work = Path(tempfile.mkdtemp(prefix="cosched-pickup-"))
        config = work / "node.toml"
        config.write_text(
            f'[scheduler]\npoll_interval = "{args.poll}"\n\n'
            '[[job]]\nname = "pickup"\nkind = "noop"\n'
        )
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        env.setdefault("RUST_LOG", "warn")
        node = subprocess.Popen(
            [str(binary), "serve", "--config", str(config), "--database", url],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=(work / "node.log").open("wb"),
            env=env,
        )
        reader = psycopg.connect(url, autocommit=True)

        def listening() -> bool:
            try:
                return bool(
                    reader.execute(
                        "SELECT 1 FROM pg_stat_activity WHERE datname = 'pickup' "
                        "AND query ILIKE 'LISTEN%%cosched_changes%%'"
                    ).fetchone()
                ) and bool(reader.execute("SELECT 1 FROM jobs WHERE name = 'pickup'").fetchone())
            except psycopg.Error:
                return False

        wait_until("the node to LISTEN", listening, 60)
        conn = psycopg.connect(url)
        one_run(conn, reader, 10, [])  # warm-up: connections, prepared plans
        summaries = []
        for run in range(1, args.runs + 1):
            commits: List[float] = []
            latencies = one_run(conn, reader, args.fires, commits)
            p50, p99, worst = (
                percentile(latencies, 0.50),
                percentile(latencies, 0.99),
                max(latencies),
            )
            summaries.append((p50, p99, worst))
            print(
                f"run {run}: {len(latencies)} one-offs, pickup p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
                f"max {worst:.1f} ms (of which the COMMIT itself: p50 "
                f"{percentile(commits, 0.5):.1f} ms, p99 {percentile(commits, 0.99):.1f} ms)"
            )
        medians = [statistics.median(s[i] for s in summaries) for i in range(3)]
        print(
            f"median of {args.runs} runs: p50 {medians[0]:.1f} ms, p99 {medians[1]:.1f} ms, "
            f"max {medians[2]:.1f} ms"
        )
        conn.close()
        reader.close()
    finally:
        if node is not None:
            node.terminate()
            node.wait(timeout=30)
        server.stop()


if __name__ == "__main__":
    main()
