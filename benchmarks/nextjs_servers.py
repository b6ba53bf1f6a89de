"""The servers of ``make bench-nextjs``: the Flask apps under each WSGI server
measured, and the Next.js app (``npm ci``, ``next build``, ``next start``).

Every process listens on a free port of 127.0.0.1, starts in a session of
its own, and is stopped by its process id (with the children it spawned).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import typing as t
from pathlib import Path

from .servers import free_port
from .servers import ROOT

NEXTJS = ROOT / "benchmarks" / "nextjs"
NEXT_BIN = NEXTJS / "node_modules" / "next" / "dist" / "bin" / "next"
NODE_ENV = {"NEXT_TELEMETRY_DISABLED": "1", "NODE_ENV": "production"}
#: Next.js 16 needs this Node.js or newer.
NODE_MIN = (20, 9)


class Process:
    """A server process on ``port``, ready once the port takes connections."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        port: int,
        *,
        cwd: Path = ROOT,
        env: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.name = name
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._process = subprocess.Popen(
            argv,
            cwd=cwd,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            self._wait(timeout)
        except BaseException:
            self.stop()
            raise

    @property
    def pid(self) -> int:
        return self._process.pid

    def _wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with status {self._process.returncode}"
                    " while starting; run it by hand to see why."
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not listen within {timeout:.0f} s.")

    def stop(self) -> None:
        """Stop the process and what it spawned (its session, led by its pid)."""
        if self._process.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self._process.pid, sig)
            except ProcessLookupError:
                return
            try:
                self._process.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


@dataclasses.dataclass(frozen=True)
class WSGIServer:
    """One way of serving a WSGI app on two cores."""

    key: str
    label: str
    argv: t.Callable[[str, int], list[str]]

    def start(self, app: str) -> Process:
        port = free_port()
        return Process(f"{self.label} ({app})", self.argv(app, port), port)


def _gunicorn(*extra: str) -> t.Callable[[str, int], list[str]]:
    def argv(app: str, port: int) -> list[str]:
        return [
            _bin("gunicorn"),
            "--workers",
            "2",
            *extra,
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "--backlog",
            "2048",
            app,
        ]

    return argv


def _granian(app: str, port: int) -> list[str]:
    return [
        _bin("granian"),
        "--interface",
        "wsgi",
        "--workers",
        "2",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backlog",
        "2048",
        "--no-ws",
        "--log-level",
        "warning",
        app,
    ]


WSGI_SERVERS = {
    server.key: server
    for server in (
        WSGIServer("sync", "gunicorn, 2 sync workers", _gunicorn()),
        WSGIServer(
            "gthread",
            "gunicorn, 2 gthread workers × 4 threads",
            _gunicorn("--worker-class", "gthread", "--threads", "4"),
        ),
        WSGIServer("granian", "granian (WSGI), 2 workers", _granian),
    )
}


def node_version() -> str:
    """The version of ``node``, or a :class:`RuntimeError` saying what to install."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise RuntimeError(
            "make bench-nextjs needs Node.js 20.9+ with npm"
            " (Debian: apt-get install -y nodejs npm)."
        )
    version = subprocess.run(
        [node, "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    major, minor = (int(x) for x in version.lstrip("v").split(".")[:2])
    if (major, minor) < NODE_MIN:
        raise RuntimeError(
            f"Next.js 16 needs Node.js 20.9 or newer; node is {version}."
        )
    return version


def build_nextjs(log: t.Callable[[str], None] = print) -> None:
    """``npm ci`` from the committed lock file (when ``node_modules`` is missing
    or older than it), then ``next build``: a new build has new action ids."""
    node_version()
    lock = NEXTJS / "package-lock.json"
    installed = NEXTJS / "node_modules" / ".package-lock.json"
    env = {**os.environ, **NODE_ENV}
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        log("npm ci (benchmarks/nextjs) ...")
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=NEXTJS,
            env=env,
            check=True,
            timeout=600,
        )
    log("next build ...")
    subprocess.run(
        ["node", str(NEXT_BIN), "build"],
        cwd=NEXTJS,
        env=env,
        check=True,
        timeout=600,
        stdout=subprocess.DEVNULL,
    )


def start_nextjs() -> Process:
    """One ``next start`` process (single-threaded JavaScript: one per core)."""
    if not (NEXTJS / ".next" / "BUILD_ID").exists():
        raise RuntimeError("benchmarks/nextjs is not built (run without --no-build).")
    port = free_port()
    return Process(
        f"next start :{port}",
        [
            "node",
            str(NEXT_BIN),
            "start",
            "--port",
            str(port),
            "--hostname",
            "127.0.0.1",
        ],
        port,
        cwd=NEXTJS,
        env=NODE_ENV,
        timeout=60.0,
    )
