"""Real servers for tests: a live Flask server, headless Chromium, redis-server,
gunicorn.

A pytest plugin: ``tests/conftest.py`` loads it with ``pytest_plugins``, so its
fixtures are there for every test; tests import its classes and helpers with
``from servers import ...`` (``tests/`` is on ``sys.path`` because it has no
``__init__.py``).

Fixtures:

``live_server``
    A factory. ``live_server(app)`` serves a Flask app with Werkzeug's
    threaded server on a free loopback port and returns a :class:`LiveServer`
    with ``.url`` (``http://127.0.0.1:PORT``, no trailing slash), ``.port``
    and ``.app``. Call it as often as a test needs; every server is shut
    down when the test ends.

    Every response it serves carries a strict Content-Security-Policy,
    :data:`STRICT_CSP` (no inline script without the request's nonce, no
    inline style, no ``eval``), unless the app set its own or the test passes
    ``csp=False``: the browser tests prove the script and the macros work on
    a site that has one. The request's nonce is the Jinja global
    ``csp_nonce()``, as Flask-Talisman names it, and :func:`csp_nonce` in a
    view.

``chromium``
    One headless Debian Chromium (``/usr/bin/chromium``, or the path in
    ``FLASK_ACTIONS_CHROMIUM``) for the whole session, driven by Playwright's
    sync API. Playwright never downloads a browser here: do not run
    ``playwright install``.

``browser_page``
    A factory. ``browser_page(js=True)`` opens a fresh browser context (no
    shared cookies or storage) with JavaScript on or off and returns a new
    :class:`playwright.sync_api.Page` in it. Contexts close when the test ends.
    Every document records the CSP violations it sees:
    :func:`csp_violations` returns them.

``redis_server``
    A real ``redis-server`` on a free loopback port, started once per session
    and handed to each test running and empty, as a :class:`RedisServer` with
    ``.url`` (``redis://127.0.0.1:PORT/0``), ``.port``, ``.stop()`` (kill it,
    to simulate an outage) and ``.start()`` (start it again on the same port).

``gunicorn``
    A factory. ``gunicorn(app, env, workers=2, threads=4, worker_class="gthread")``
    starts gunicorn serving ``app`` (a ``module:factory()`` spec importable from ``tests/``
    or the repository root) with ``env`` added to the environment, in a
    directory of its own under ``tmp_path``, waits until it answers, and
    returns a :class:`Gunicorn`. ``.close()`` stops it (a test that reads its
    log or its data after the load does that first); every server still
    running is stopped when the test ends.

``granian``
    A factory. ``granian(app, env, workers=1)`` starts granian's WSGI server
    (the one ``docs/deployment.md`` recommends) serving ``app`` (a
    ``module:factory`` spec, no parentheses) in the same way and returns a
    :class:`Granian`, with ``.port``, ``.url``, ``.log`` and ``.close()``.

Mark tests that use ``chromium`` or ``browser_page`` with
``@pytest.mark.browser``, and tests that use ``redis_server`` with
``@pytest.mark.redis`` (both markers are declared in ``pyproject.toml``), so that
``pytest -m "not browser"`` and ``pytest -m "not redis"`` select the rest.

When Chromium or ``redis-server`` is missing the tests that need them are
skipped, unless ``FLASK_ACTIONS_REQUIRE_BROWSER=1`` or
``FLASK_ACTIONS_REQUIRE_REDIS=1`` is set (as ``.ci/run`` does): then they
fail, so CI cannot pass by skipping them.
"""

from __future__ import annotations

import http.client
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import typing as t
from pathlib import Path

import pytest
from werkzeug.serving import make_server

if t.TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Iterator

    from _typeshed.wsgi import StartResponse
    from _typeshed.wsgi import WSGIApplication
    from _typeshed.wsgi import WSGIEnvironment
    from flask import Flask
    from playwright.sync_api import Browser
    from playwright.sync_api import Page
    from werkzeug.serving import BaseWSGIServer

__all__ = [
    "SAME_ORIGIN",
    "STRICT_CSP",
    "Granian",
    "Gunicorn",
    "LiveServer",
    "RedisServer",
    "StrictCSP",
    "Tab",
    "browser_page",
    "chromium",
    "csp_nonce",
    "csp_violations",
    "free_port",
    "granian",
    "gunicorn",
    "live_server",
    "redis_server",
    "redis_server_session",
]

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


#: The ``Origin`` header of a page Flask's test client serves (Werkzeug's
#: default ``http://localhost``): a test sends it to pass the same-origin check.
SAME_ORIGIN = {"Origin": "http://localhost"}


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _missing(what: str, env_var: str) -> t.NoReturn:
    """Skip the test, or fail it when ``env_var`` is set to ``1``."""
    if os.environ.get(env_var) == "1":
        pytest.fail(f"{what} ({env_var}=1 requires it)", pytrace=False)
    pytest.skip(f"{what}; set {env_var}=1 to make this a failure")


def speedups() -> t.Any:
    """``flask_actions._slots``, the table's operations in C: skipped when it
    was not built, unless ``FLASK_ACTIONS_REQUIRE_SPEEDUPS=1`` (as
    ``.ci/run`` sets, where a C compiler and Python's headers are there)."""
    try:
        from flask_actions import _slots
    except ImportError as e:
        _missing(
            f"flask_actions._slots was not built ({e}): pip install -e . with a C"
            " compiler and Python's headers",
            "FLASK_ACTIONS_REQUIRE_SPEEDUPS",
        )
    return _slots


# --- strict Content-Security-Policy -------------------------------------------

#: The policy every page served by ``live_server`` gets; ``{nonce}`` is a
#: fresh nonce per response. ``default-src 'self'`` also forbids inline
#: styles (``style`` attributes and ``<style>`` elements).
STRICT_CSP = "default-src 'self'; script-src 'self' 'nonce-{nonce}'"
_NONCE_KEY = "tests.csp_nonce"


def csp_nonce() -> str:
    """The CSP nonce of the current request ("" when it has none); also the
    ``csp_nonce`` Jinja global of every app served by ``live_server``."""
    from flask import request

    nonce: str = request.environ.get(_NONCE_KEY, "")
    return nonce


class StrictCSP:
    """WSGI middleware: a fresh nonce for each request (:func:`csp_nonce`)
    and :data:`STRICT_CSP` on each response that has no policy of its own."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> t.Iterable[bytes]:
        nonce = environ[_NONCE_KEY] = secrets.token_urlsafe(16)

        def start(
            status: str, headers: list[tuple[str, str]], exc_info: t.Any = None
        ) -> t.Callable[[bytes], object]:
            if not any(k.lower() == "content-security-policy" for k, _ in headers):
                headers.append(
                    ("Content-Security-Policy", STRICT_CSP.format(nonce=nonce))
                )
            return start_response(status, headers, exc_info)

        return self.app(environ, start)


# --- live Flask server -------------------------------------------------------


class LiveServer:
    """A Flask app served over real HTTP in a background thread, under
    :data:`STRICT_CSP` unless ``csp`` is false."""

    def __init__(self, app: Flask, port: int = 0, csp: bool = True) -> None:
        self.app = app
        served: WSGIApplication = app
        if csp:
            app.jinja_env.globals.setdefault("csp_nonce", csp_nonce)
            served = StrictCSP(app)
        self._server: BaseWSGIServer = make_server(
            "127.0.0.1", port, served, threaded=True
        )
        self.port: int = self._server.port
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"live_server:{self.port}",
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        """Stop accepting requests and release the listening socket."""
        self._server.shutdown()
        self._thread.join(timeout=10)
        self._server.server_close()

    def __repr__(self) -> str:
        return f"<LiveServer {self.url} {self.app.name!r}>"


@pytest.fixture
def live_server() -> Iterator[Callable[..., LiveServer]]:
    """Factory: ``live_server(app, port=0, csp=True)`` serves ``app`` and
    returns a :class:`LiveServer`. ``port=0`` lets the kernel pick a free
    port; ``csp=False`` serves it without the strict policy.
    """
    servers: list[LiveServer] = []

    def start(app: Flask, port: int = 0, csp: bool = True) -> LiveServer:
        server = LiveServer(app, port, csp)
        servers.append(server)
        return server

    yield start

    for server in reversed(servers):
        server.close()


# --- headless Chromium -------------------------------------------------------


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, for the whole session."""
    executable = os.environ.get("FLASK_ACTIONS_CHROMIUM", "/usr/bin/chromium")
    if not os.access(executable, os.X_OK):
        _missing(
            f"Chromium not found at {executable} (apt-get install chromium)",
            "FLASK_ACTIONS_REQUIRE_BROWSER",
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing(
            "the playwright package is not installed (pip install --group test)",
            "FLASK_ACTIONS_REQUIRE_BROWSER",
        )

    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()


#: Runs before any script of every document a ``browser_page`` loads (the
#: browser runs it whatever the page's CSP says).
_RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(event.effectiveDirective + " " + event.blockedURI);
});
"""


def the_page(url: str) -> re.Pattern[str]:
    """What ``page.route`` matches for the page at ``url`` and where its
    forms post: ``url`` with any query (they post to ``url?``)."""
    return re.compile(re.escape(url) + r"(\?.*)?")


def csp_violations(page: Page) -> list[str]:
    """What the page's current document was refused by its CSP, one
    ``"<directive> <blocked URI>"`` a violation (``inline`` for inline code).
    Empty with JavaScript off, where nothing is recorded."""
    violations: list[str] = page.evaluate("window.__cspViolations || []")
    return violations


class Tab:
    """A browser tab on a live server, as the browser tests see it: the POST
    requests it sends, the ``fa:*`` events of the script (``"fa:after add"``:
    the type and the id of the form, ``#document`` when it was gone), the
    last result those events carried, and what the CSP refused."""

    #: Seconds a test waits for the page (or for a held request) at most.
    WAIT = 10

    _RECORD_EVENTS = """
    window.__events = [];
    for (const type of ["fa:before", "fa:success", "fa:failure", "fa:after"]) {
      document.addEventListener(type, (event) => {
        window.__events.push(type + " " + (event.target.id || event.target.nodeName));
        if (event.detail.result !== undefined) window.__result = event.detail.result;
      });
    }
    """

    def __init__(self, page: Page, server: LiveServer, js: bool = True) -> None:
        self.page = page
        self.server = server
        self.js = js
        self.posts: list[t.Any] = []  # playwright Request objects
        page.set_default_timeout(self.WAIT * 1000)
        page.on("request", self._request)
        if js:
            page.add_init_script(self._RECORD_EVENTS)

    def _request(self, request: t.Any) -> None:
        if request.method == "POST":
            self.posts.append(request)

    def open(self, path: str = "/") -> Tab:
        self.page.goto(self.server.url + path)
        if self.js:
            # Functions, never expressions, for Playwright: the CSP forbids eval.
            self.page.wait_for_function("() => window.FlaskActions !== undefined")
            self.page.evaluate("() => { window.__sameDocument = true; }")
        return self

    def same_document(self) -> bool:
        """Whether no page load happened since :meth:`open`."""
        return bool(self.page.evaluate("() => window.__sameDocument === true"))

    def events(self) -> list[str]:
        events: list[str] = self.page.evaluate("() => window.__events")
        return events

    def result(self) -> t.Any:
        """The result the last ``fa:*`` event carried."""
        return self.page.evaluate("() => window.__result")

    def wait_after(self, count: int = 1) -> None:
        """Wait until ``count`` submissions have settled (``fa:after``)."""
        self.page.wait_for_function(
            "n => window.__events.filter(e => e.startsWith('fa:after')).length >= n",
            arg=count,
        )

    def violations(self) -> list[str]:
        return csp_violations(self.page)


@pytest.fixture
def browser_page(chromium: Browser) -> Iterator[Callable[..., Page]]:
    """Factory: ``browser_page(js=True, **context_options)`` returns a page in
    a fresh browser context. ``context_options`` go to
    :meth:`playwright.sync_api.Browser.new_context`.
    """
    contexts = []

    def new_page(js: bool = True, **context_options: t.Any) -> Page:
        context = chromium.new_context(java_script_enabled=js, **context_options)
        contexts.append(context)
        context.add_init_script(_RECORD_VIOLATIONS)
        return context.new_page()

    yield new_page

    for context in contexts:
        context.close()


# --- redis-server ------------------------------------------------------------


class RedisServer:
    """A ``redis-server`` process on 127.0.0.1 that a test may stop and start."""

    def __init__(self, executable: str, workdir: Path, port: int) -> None:
        self.executable = executable
        self.workdir = workdir
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        """Start the server (again, on the same port) and wait until it
        answers ``PING``. Does nothing if it is already running.
        """
        if self.running:
            return
        self._reap()
        logfile = self.workdir / "redis.log"
        # fmt: off
        command = [
            self.executable,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.workdir),
            "--logfile", str(logfile),
        ]
        # fmt: on
        self._process = subprocess.Popen(
            command,
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while not self._ping():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                log = logfile.read_text() if logfile.exists() else ""
                raise RuntimeError(
                    f"redis-server did not start on port {self.port}:\n{log}"
                )
            time.sleep(0.02)

    def stop(self) -> None:
        """Kill the server at once, as an outage would."""
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
            self._reap()

    def flush(self) -> None:
        """Delete every key in every database."""
        import redis

        with redis.Redis(host="127.0.0.1", port=self.port) as client:
            client.flushall()

    def _reap(self) -> None:
        if self._process is not None:
            self._process.wait(timeout=10)
            self._process = None

    def _ping(self) -> bool:
        import redis

        client = redis.Redis(
            host="127.0.0.1",
            port=self.port,
            socket_connect_timeout=0.5,
            socket_timeout=0.5,
        )
        try:
            return bool(client.ping())
        except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
            return False
        finally:
            client.close()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<RedisServer {self.url} {state}>"


@pytest.fixture(scope="session")
def redis_server_session(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RedisServer]:
    """One ``redis-server`` for the session; tests use :func:`redis_server`."""
    executable = shutil.which("redis-server")
    if executable is None:
        _missing(
            "redis-server not found on PATH (apt-get install redis-server)",
            "FLASK_ACTIONS_REQUIRE_REDIS",
        )
    try:
        import redis  # noqa: F401
    except ImportError:
        _missing(
            "the redis package is not installed (pip install --group test)",
            "FLASK_ACTIONS_REQUIRE_REDIS",
        )

    server = RedisServer(executable, tmp_path_factory.mktemp("redis"), free_port())
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_server(redis_server_session: RedisServer) -> RedisServer:
    """A running, empty ``redis-server``; a test may ``.stop()`` it."""
    redis_server_session.start()
    redis_server_session.flush()
    return redis_server_session


def _answers(port: int) -> bool:
    """Whether an HTTP server on ``port`` answers ``GET /`` with 200."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        response.read()
        return response.status == 200
    finally:
        conn.close()


_TESTS = Path(__file__).resolve().parent
_ROOT = _TESTS.parent


def _stop(process: subprocess.Popen[bytes], log: t.IO[bytes]) -> None:
    """Stop a server by its pid, as a deployment would (SIGTERM: its workers
    finish what they serve), killing it after 15 s; close its log."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    log.close()


class _Servers:
    """The servers a factory fixture started, each in a folder of its own
    under the test's ``tmp_path``; all stopped at the end."""

    def __init__(self, tmp_path: Path, kind: str) -> None:
        self.tmp_path, self.kind = tmp_path, kind
        self.started: list[t.Any] = []

    def folder(self) -> Path:
        workdir = self.tmp_path / f"{self.kind}-{len(self.started) + 1}"
        workdir.mkdir()
        return workdir

    def add(self, server: t.Any) -> t.Any:
        self.started.append(server)
        return server

    def stop(self) -> None:
        for server in reversed(self.started):
            server.close()


_GUNICORN = Path(sys.executable).parent / "gunicorn"


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
        worker_class: str = "gthread",
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "gunicorn.log"
        self._log = self.log.open("wb")
        self.process = subprocess.Popen(
            [
                str(_GUNICORN),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
                "--worker-class",
                worker_class,
                "--threads",
                str(threads),
                "--graceful-timeout",
                "5",
                "--pythonpath",
                f"{_TESTS},{_ROOT}",
                app,
            ],
            cwd=workdir,
            env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            self.wait_ready(workers)
        except BaseException:
            self.close()  # no gunicorn left behind when it does not start
            raise

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
                    and _answers(self.port)
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
        """Stop gunicorn (its workers finish what they serve); again: nothing."""
        _stop(self.process, self._log)


_GRANIAN = Path(sys.executable).parent / "granian"


class Granian:
    """granian's WSGI interface with ``workers`` worker processes serving
    ``app`` (a ``module:factory`` spec importable from ``tests/``)."""

    def __init__(
        self, app: str, workdir: Path, env: t.Mapping[str, str], workers: int = 1
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "granian.log"
        self._log = self.log.open("wb")
        path = os.pathsep.join(
            [str(_TESTS), str(_ROOT), os.environ.get("PYTHONPATH", "")]
        )
        self.process = subprocess.Popen(
            [
                str(_GRANIAN),
                "--interface",
                "wsgi",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
                "--factory",
                app,
            ],
            cwd=workdir,
            env={**os.environ, **env, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._log.close()
                raise RuntimeError(f"granian exited:\n{self.log.read_text()}")
            try:
                if _answers(self.port):
                    return
            except OSError:
                time.sleep(0.1)
        self.close()
        raise RuntimeError(f"granian did not start:\n{self.log.read_text()}")

    def close(self) -> None:
        """Stop granian (it stops its workers); again: nothing."""
        _stop(self.process, self._log)


@pytest.fixture
def granian(tmp_path: Path) -> Iterator[Callable[..., Granian]]:
    """Factory: ``granian(app, env, workers=1)`` returns a running
    :class:`Granian` in a directory of its own; all are stopped at the end."""
    servers = _Servers(tmp_path, "granian")

    def start(
        app: str, env: t.Mapping[str, str] | None = None, workers: int = 1
    ) -> Granian:
        return t.cast(
            Granian, servers.add(Granian(app, servers.folder(), env or {}, workers))
        )

    yield start
    servers.stop()


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[Callable[..., Gunicorn]]:
    """Factory: ``gunicorn(app, env, workers=2, threads=4)`` returns a running
    :class:`Gunicorn` in a directory of its own; all are stopped at the end."""
    servers = _Servers(tmp_path, "gunicorn")

    def start(
        app: str,
        env: t.Mapping[str, str] | None = None,
        workers: int = 2,
        threads: int = 4,
        worker_class: str = "gthread",
    ) -> Gunicorn:
        workdir = servers.folder()
        server = Gunicorn(app, workdir, env or {}, workers, threads, worker_class)
        return t.cast(Gunicorn, servers.add(server))

    yield start
    servers.stop()
