"""Start the contender apps under gunicorn on the loopback interface."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def stop_servers_on_sigterm() -> None:
    """Make SIGTERM (``kill``, ``timeout``, a runner stopping the job) end a
    benchmark through its ``finally`` blocks, which stop the servers it
    started: Python's default ends the process without them, and the servers
    went on running."""
    signal.signal(signal.SIGTERM, _exit)


def _exit(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A gunicorn process serving ``app`` (``"module:attribute"``) on 127.0.0.1.

    :param workers: gunicorn's sync workers, one request at a time each.
    :param env: extra environment variables (``BENCH_CSRF``).
    """

    def __init__(
        self, app: str, *, workers: int = 2, env: dict[str, str] | None = None
    ) -> None:
        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        gunicorn = Path(sys.executable).with_name("gunicorn")
        self._process = subprocess.Popen(
            [
                str(gunicorn),
                "--workers",
                str(workers),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--log-level",
                "warning",
                "--backlog",
                "2048",
                app,
            ],
            cwd=ROOT,
            env={**os.environ, **(env or {}), "PYTHONDONTWRITEBYTECODE": "1"},
            stdout=subprocess.DEVNULL,
        )
        self._wait()

    def _wait(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"gunicorn exited with status {self._process.returncode} while"
                    f" starting {self.app}; run it by hand to see why."
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gunicorn did not start {self.app} in {timeout:.0f}s.")

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def cpu_seconds(self) -> float | None:
        """The CPU time (user and system) the server's workers have used so
        far, from ``/proc`` (``None`` where there is none): a worker that
        a round's requests ran in is never replaced mid-run, so the
        difference over a round is what serving them cost the server."""
        try:
            with open(
                f"/proc/{self._process.pid}/task/{self._process.pid}/children"
            ) as f:
                workers = [int(pid) for pid in f.read().split()]
            total = 0
            for pid in workers:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, ValueError, IndexError):
            return None
        return total / os.sysconf("SC_CLK_TCK")

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
