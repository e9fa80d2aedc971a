"""A throwaway PostgreSQL server for the tests and the bench, started the
way the Rust harness does it (tests/it/support/pg.rs): initdb into a
temporary folder, pg_ctl on a free loopback port with the socket inside
that folder; as root, the server programs run as the `postgres` user.

Host connections need a password (scram-sha-256), so a wrong one can be
tested. A watchdog shell in its own session stops the server and deletes
the folder when this process ends in any way (its stdin is a pipe whose
only writer is this process).
"""

from __future__ import annotations

import glob
import os
import shlex
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import List, Optional

PASSWORD = "cosched-test-secret"


def _binaries() -> Path:
    dirs: List[str] = os.environ.get("PATH", "").split(os.pathsep)
    versioned = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(p.split("/")[-2]) if p.split("/")[-2].isdigit() else 0,
        reverse=True,
    )
    for d in dirs + versioned:
        initdb = Path(d) / "initdb"
        if initdb.is_file():
            real = initdb.resolve()
            if (real.parent / "pg_ctl").is_file():
                return real.parent
    raise RuntimeError(
        "`initdb` was not found in PATH nor in /usr/lib/postgresql/*/bin "
        "(install the PostgreSQL server, e.g. `apt-get install postgresql`)"
    )


def _is_root() -> bool:
    return os.geteuid() == 0


def _as_server_user(argv: List[str]) -> List[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if _is_root() else argv


def _run(argv: List[str]) -> None:
    out = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {out.stdout.strip()} {out.stderr.strip()}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgServer:
    """A running server; `stop()` (or this process ending) removes it."""

    def __init__(self, *, durable: bool = False) -> None:
        self.bin = _binaries()
        # The `cosched-pg-` prefix is what .ci/run looks for when it checks
        # that no test server outlived the run.
        self.dir = Path(tempfile.mkdtemp(prefix="cosched-pg-py-"))
        self.data = self.dir / "data"
        self.port = 0
        self._watchdog: Optional[subprocess.Popen] = None
        try:
            self._start(durable)
        except BaseException:
            self.stop()
            raise

    def _start(self, durable: bool) -> None:
        pg_ctl = str(self.bin / "pg_ctl")
        stop = f"{shlex.quote(pg_ctl)} stop -D {shlex.quote(str(self.data))} -m immediate -w"
        if _is_root():
            stop = f"runuser -u postgres -- {stop}"
        script = (
            f"read _ignored; if [ -f {shlex.quote(str(self.data / 'postmaster.pid'))} ]; "
            f"then {stop}; fi; rm -rf {shlex.quote(str(self.dir))}"
        )
        self._watchdog = subprocess.Popen(
            ["sh", "-c", script],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        pwfile = self.dir / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if _is_root():
            _run(["chown", "-R", "postgres:", str(self.dir)])
        _run(
            _as_server_user(
                [
                    str(self.bin / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    f"--pwfile={pwfile}",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ]
            )
        )
        settings = "" if durable else " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        last = ""
        for _ in range(3):
            self.port = _free_port()
            options = (
                f"-p {self.port} -h 127.0.0.1 -k {shlex.quote(str(self.dir))} "
                f"-c max_connections=100{settings}"
            )
            log = self.dir / "server.log"
            out = subprocess.run(
                _as_server_user(
                    [pg_ctl, "-D", str(self.data), "-l", str(log), "-w", "-t", "60", "-o", options, "start"]
                ),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
            )
            if out.returncode == 0:
                return
            tail = log.read_text(errors="replace").splitlines()[-5:] if log.exists() else []
            last = f"{out.stderr.strip()} | {' | '.join(tail)}"
        raise RuntimeError(f"pg_ctl start failed: {last}")

    def halt(self) -> None:
        """Stops the server (clients are disconnected); the folder stays
        until `stop()`."""
        _run(_as_server_user([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"]))

    def url(self, database: str, password: str = PASSWORD) -> str:
        return f"postgresql://postgres:{password}@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        if self._watchdog is not None:
            if self._watchdog.stdin is not None:
                self._watchdog.stdin.close()
            self._watchdog.wait(timeout=60)
            self._watchdog = None
        shutil.rmtree(self.dir, ignore_errors=True)
