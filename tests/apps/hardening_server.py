"""A real gunicorn serving an app on loopback, and a small HTTP client for it.

Used by the load and fault tests. Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
import typing as t
import uuid
from pathlib import Path

from servers import free_port

TESTS = Path(__file__).resolve().parent.parent
ROOT = TESTS.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"


class Gunicorn:
    """``gunicorn`` with ``workers`` worker processes serving ``app``
    (a ``module:factory()`` spec importable from ``tests/``)."""

    def __init__(
        self,
        app: str,
        workdir: Path,
        env: t.Mapping[str, str],
        workers: int = 2,
        threads: int = 4,
    ) -> None:
        self.port = free_port()
        self.log = workdir / "gunicorn.log"
        self._log = self.log.open("wb")
        self.process = subprocess.Popen(
            [
                str(GUNICORN),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
                "--worker-class",
                "gthread",
                "--threads",
                str(threads),
                "--graceful-timeout",
                "5",
                "--pythonpath",
                f"{TESTS},{ROOT}",
                app,
            ],
            cwd=workdir,
            env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.wait_ready(workers)

    def workers(self) -> list[int]:
        """The pids of the running workers (children of the master)."""
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in path.read_text().split()]

    def wait_ready(
        self, workers: int, timeout: float = 30.0, without: int | None = None
    ) -> None:
        """Wait until ``workers`` workers run (``without`` the one with that
        pid) and the app answers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.log.read_text()}")
            try:
                running = self.workers()
                if (
                    len(running) == workers
                    and without not in running
                    and get(self.port, "/")[0] == 200
                ):
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not start:\n{self.log.read_text()}")

    def kill_worker(self) -> int:
        """SIGKILL one worker, as the OOM killer would; its pid."""
        pid = self.workers()[0]
        os.kill(pid, signal.SIGKILL)
        return pid

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def get(port: int, path: str, cookie: str = "") -> tuple[int, str, str]:
    """GET ``path``: the status, the body and the ``Set-Cookie`` header."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        response = conn.getresponse()
        body = response.read().decode()
        return response.status, body, response.getheader("Set-Cookie") or ""
    finally:
        conn.close()


class Page:
    """What a browser holds after loading a page: the session cookie, the CSRF
    token and the refs of the forms on it."""

    def __init__(self, port: int, path: str = "/") -> None:
        self.port = port
        self.origin = f"http://127.0.0.1:{port}"
        status, body, set_cookie = get(port, path)
        assert status == 200, body
        self.cookie = set_cookie.split(";", 1)[0]
        self.html = body
        self.csrf = re.findall(r'name="csrf_token" value="([^"]+)"', body)[0]
        self.refs = re.findall(r'name="_action" value="([^"]+)"', body)

    def post(
        self,
        ref: str,
        data: t.Mapping[str, t.Any],
        *,
        mode: t.Literal["json", "form"] = "json",
        path: str = "/",
        script: bool = True,
    ) -> tuple[int, dict[str, t.Any] | str]:
        """Post like the browser script (``json``) or a plain form (``form``).

        :param script: in ``json`` mode, say so with ``X-Flask-Actions: call``
            (the answer may then carry the fresh page); else a bare API call.

        :raises OSError: when the connection fails (a killed worker).
        """
        headers = {"Origin": self.origin, "Cookie": self.cookie}
        if mode == "json":
            headers.update(
                {
                    "X-Action": ref,
                    "X-CSRFToken": self.csrf,
                    "Accept": "application/json",
                    "Content-Type": "application/json",
                }
            )
            if script:
                headers["X-Flask-Actions"] = "call"
            body = json.dumps(dict(data)).encode()
        else:
            from urllib.parse import urlencode

            headers["Content-Type"] = "application/x-www-form-urlencoded"
            body = urlencode(
                {"_action": ref, "csrf_token": self.csrf, **data}, doseq=True
            ).encode()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            text = response.read().decode()
        finally:
            conn.close()
        if response.getheader("Content-Type", "").startswith("application/json"):
            return response.status, json.loads(text)
        return response.status, text


def new_key() -> str:
    return uuid.uuid4().hex
