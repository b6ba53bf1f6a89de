"""What submission keys cost on the action path (``docs/idempotency.md``).

The same action request, keys off (``ACTIONS_IDEMPOTENCY = False``) and on,
with the embedded store (its table in a temporary folder) and with Redis (a
private ``redis-server`` on a free loopback port, when it is on ``PATH``):

- a form sent without JavaScript (``POST``, answered ``303``);
- the same form sent by the script (JSON, with the page rendered);
- a call from a script (JSON, with an ``Idempotency-Key`` header).

Every request carries a key not seen before (the page's key with another
counter, as the script makes them; a new header key per call), so each one
claims, runs and keeps its outcome: the cost of a first submission, not of a
replay. CPU time is not the measure here, as Redis time is spent waiting on
a socket: wall time of interleaved batches, the best batch reported, and
the ratio to keys off is the median of the per-round ratios.

The same keys over HTTP (:func:`run_http`), as a deployment serves them:
the benchmark app (``benchmarks.apps.actions``) under gunicorn with 2 sync
workers, one server per row (keys off, the embedded store, Redis), driven
by wrk (or the Python load generator) in interleaved rounds, each request
with a key not sent before: the call with an ``Idempotency-Key`` header,
and the whole no-JS submit (the POST with the page's key and a counter of
its own, its 303, the page's GET, which mints the page's keys). The ratio
is the median of the per-round ratios of time per request (the inverse of
the rates'), and the table shows their range too.

Run alone with ``python -m benchmarks.bench_idempotency`` (both parts);
``make bench`` runs them with the others. Target: the embedded store within
10% of keys off. In process, the keys' work and the store's stand against
the app's Python alone; over HTTP, against what a request costs served.
"""

from __future__ import annotations

import io
import itertools
import re
import resource
import shutil
import statistics
import tempfile
import time
import typing as t
from urllib.parse import urlencode

from flask import Flask
from flask import render_template_string
from werkzeug.datastructures import Headers
from werkzeug.test import EnvironBuilder

from flask_actions import ActionBlueprint
from flask_actions import ActionExtension
from flask_actions import slots

from . import load
from .apps.common import TRUSTED_HOSTS
from .bench_cache import _Redis
from .servers import Server
from .stats import median_ratio
from .throughput import ACTIONS
from .throughput import Contender
from .throughput import workload

PAGE = """{% import "flask_actions/macros.html" as fa %}<!doctype html>
{% call fa.form(action("shop.create")) %}<input name="item"><button>Go</button>
{% endcall %}"""

ORIGIN = "http://localhost"


def _app(config: dict[str, t.Any]) -> Flask:
    shop = ActionBlueprint("shop", __name__)
    orders: list[str] = []

    @shop.route("/")
    def index() -> str:
        return render_template_string(PAGE)

    @shop.action
    def create() -> dict[str, int]:
        # No schema: the form's "item" is sent (as a user's would be) and not
        # loaded, the same work with keys on and off.
        orders.append("order")
        return {"id": len(orders)}

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="benchmark secret " * 3, TRUSTED_HOSTS=TRUSTED_HOSTS, **config
    )
    ActionExtension(app)
    app.register_blueprint(shop)
    return app


class _NoStore:
    """A store that keeps nothing: every claim is a first one. With it the
    "keys, no store" row measures the keys' own work (reading and checking
    the key, the fingerprint, encoding the outcome), not any store's."""

    def claim(self, key: bytes, fingerprint: bytes, owner: bytes, lease: float) -> None:
        return None

    def finish(
        self, key: bytes, owner: bytes, fingerprint: bytes, outcome: bytes, ttl: float
    ) -> None:
        pass

    def release(self, key: bytes, owner: bytes) -> None:
        pass

    def lookup(self, key: bytes) -> None:
        return None


#: The label of the row whose store keeps nothing (:class:`_NoStore`).
NO_STORE = "keys, no store"
#: The label of the embedded store's row with its pure-Python operations
#: (what an install without a C compiler runs); "embedded" runs them in C
#: where ``flask_actions._slots`` was built.
IN_PYTHON = "embedded, Py"


class _Sender:
    """Requests of one kind, each with a key of its own, straight into the
    app's WSGI callable."""

    def __init__(self, app: Flask, kind: str) -> None:
        self.app = app
        self.kind = kind
        client = app.test_client()
        response = client.get("/")
        page = response.get_data(as_text=True)
        fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page))
        cookies = "; ".join(
            h.split(";", 1)[0] for h in response.headers.getlist("Set-Cookie")
        )
        self.key_prefix = fields.get("_submission", "").rpartition(".")[0]
        self.fields = {**fields, "item": "tea"}
        self.headers = {"Origin": ORIGIN, "Cookie": cookies}
        self.expect = "303"
        if kind == "enhanced":  # the script sending the form: JSON and the page
            self.headers.update(
                {"Accept": "application/json", "X-Flask-Actions": "form"}
            )
            self.expect = "200"
        if kind == "call":
            self.headers.update(
                {
                    "Accept": "application/json",
                    "Content-Type": "application/json",
                    "X-Action": fields["_action"],
                    "X-Flask-Actions": "call",
                    "X-CSRFToken": fields["csrf_token"],
                }
            )
            self.expect = "200"
        else:
            self.headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.counter = itertools.count(10**8)
        # Built once: a request's environ is a copy of it with its own body
        # and key, so that what is timed is the app's work, not the making
        # of the request (EnvironBuilder alone costs about 36 µs).
        self.environ = EnvironBuilder(
            path="/", method="POST", headers=Headers(self.headers)
        ).get_environ()
        # The page's own key is replaced by one per request (URL-safe: a
        # prefix in base64url, a dot and digits).
        others = {k: v for k, v in self.fields.items() if k != "_submission"}
        self.form = urlencode(others).encode()

    def __call__(self) -> None:
        n = next(self.counter)
        environ = dict(self.environ)
        if self.kind == "call":
            environ["HTTP_IDEMPOTENCY_KEY"] = f"bench-{n}"
            body = b'{"item": "tea"}'
        elif self.key_prefix:
            body = self.form + f"&_submission={self.key_prefix}.{n}".encode()
        else:
            body = self.form
        environ["CONTENT_LENGTH"] = str(len(body))
        environ["wsgi.input"] = io.BytesIO(body)
        seen: list[str] = []

        def start_response(status: str, *rest: t.Any) -> t.Any:
            seen.append(status)
            return lambda data: None

        iterable = self.app.wsgi_app(environ, start_response)
        for _ in iterable:
            pass
        getattr(iterable, "close", lambda: None)()
        if not seen[0].startswith(self.expect):
            raise RuntimeError(f"{self.kind}: {seen[0]}")


def measure(
    stores: dict[str, dict[str, t.Any]],
    kinds: t.Sequence[str] = ("form", "enhanced", "call"),
    number: int = 200,
    rounds: int = 15,
) -> dict[tuple[str, str], list[float]]:
    """Wall microseconds per request of each batch, by (kind, store)."""
    senders = {}
    for kind in kinds:
        for store, config in stores.items():
            app = _app(config)
            if store == NO_STORE:
                from flask_actions import idempotency

                idempotency._state(app).keeper._store = _NoStore()
            senders[(kind, store)] = _Sender(app, kind)
    for (_kind, store), send in senders.items():
        # The first request opens the app's table, which keeps the
        # operations of slots.Rings at that moment: Python's for that row.
        rings = slots.Rings
        if store == IN_PYTHON:
            slots.Rings = slots.PyRings
        try:
            for _ in range(50):
                send()
        finally:
            slots.Rings = rings
    samples: dict[tuple[str, str], list[float]] = {k: [] for k in senders}
    for _ in range(rounds):
        for key, send in senders.items():
            start = time.perf_counter()
            for _ in range(number):
                send()
            samples[key].append((time.perf_counter() - start) / number * 1e6)
    return samples


def report(samples: dict[tuple[str, str], list[float]]) -> list[str]:
    lines = [
        "Submission keys on the action path, per request (wall time, best batch;"
        " × = median per-round ratio to keys off)",
        f"{'request':<22} {'keys':<15} {'time':>10} {'×':>7}",
    ]
    kinds = (
        ("form", "form, no JS (303)"),
        ("enhanced", "form, script (page)"),
        ("call", "call (JSON)"),
    )
    for kind, label in kinds:
        off = samples[(kind, "off")]
        for (k, store), values in samples.items():
            if k != kind:
                continue
            ratio = median_ratio(values, off)
            lines.append(
                f"{label:<22} {store:<15} {min(values):>7.0f} µs {ratio:>6.2f}x"
            )
    missed = [
        label
        for kind, label in kinds
        if median_ratio(samples[(kind, "embedded")], samples[(kind, "off")]) > 1.10
    ]
    verdict = f"NOT met on: {', '.join(missed)}" if missed else "met on every row"
    lines.append(f"Target (embedded within 10% of keys off): {verdict}")
    built = slots.Rings is not slots.PyRings
    lines.append(
        "The embedded row's table operations run in "
        + ("C (flask_actions._slots)" if built else "Python (_slots not built)")
        + f"; {IN_PYTHON!r}: in Python"
    )
    return lines


def where_it_goes(
    kinds: t.Sequence[str] = ("form", "call"), number: int = 2000
) -> list[str]:
    """Per request with the embedded store: the time inside the store's two
    operations (the claim, the first write of the request, and
    the outcome's, just after the action) and in the rest of the keys' work
    (reading and checking the key, the payload's fingerprint, encoding the
    outcome), and the process's system CPU time per request (the table's
    locks and page faults: nothing else in the request asks the kernel for
    anything). Timed by wrapping the functions, outside the batches above."""
    from flask_actions import idempotency

    lines = [
        "Where the embedded store's time goes, per request (µs; timed apart):",
        f"{'request':<10} {'read key':>9} {'claim':>7} {'of it store':>12}"
        f" {'settle':>7} {'of it store':>12} {'system':>7}",
    ]
    folder = tempfile.TemporaryDirectory()
    spent: dict[str, float] = {}

    def timed(label: str, func: t.Callable[..., t.Any]) -> t.Callable[..., t.Any]:
        def wrapper(*args: t.Any, **kwargs: t.Any) -> t.Any:
            start = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                spent[label] = spent.get(label, 0.0) + time.perf_counter() - start

        return wrapper

    originals = {n: getattr(idempotency, n) for n in ("read_key", "claim", "settle")}
    try:
        for name, func in originals.items():
            setattr(idempotency, name, timed(name, func))
        for kind in kinds:
            app = _app({"ACTIONS_IDEMPOTENCY_PATH": f"{folder.name}/{kind}"})
            send = _Sender(app, kind)
            send()
            store = idempotency._state(app).keeper.store(app)
            store.claim = timed("store.claim", store.claim)  # type: ignore[method-assign]
            store.finish = timed("store.finish", store.finish)  # type: ignore[method-assign]
            for _ in range(200):
                send()
            spent.clear()
            before = resource.getrusage(resource.RUSAGE_SELF).ru_stime
            for _ in range(number):
                send()
            system = resource.getrusage(resource.RUSAGE_SELF).ru_stime - before
            us = {k: v / number * 1e6 for k, v in spent.items()}
            lines.append(
                f"{kind:<10} {us['read_key']:>9.0f} {us['claim']:>7.0f}"
                f" {us['store.claim']:>12.0f} {us['settle']:>7.0f}"
                f" {us['store.finish']:>12.0f} {system / number * 1e6:>7.1f}"
            )
    finally:
        for name, func in originals.items():
            setattr(idempotency, name, func)
        folder.cleanup()
    return lines


#: Over HTTP: the action's call as the script sends it, and the whole no-JS
#: submit (its POST, 303 and the page's GET, which mints the page's keys).
HTTP_KINDS = (
    ("call (JSON)", Contender("call", "", ACTIONS, "action-json", "/", True)),
    ("no-JS submit (cycle)", Contender("form", "", ACTIONS, "action-form", "/", True)),
)


class HTTPFigures(t.NamedTuple):
    #: Requests (or cycles) per second of each round, by (kind, store).
    rates: dict[tuple[str, str], list[float]]
    #: The server's CPU time per request (or cycle) of each round, in µs:
    #: its workers' own work, without the load generator's (empty where
    #: ``/proc`` cannot tell).
    cpu: dict[tuple[str, str], list[float]]


def measure_http(
    stores: dict[str, dict[str, str]],
    *,
    rounds: int,
    duration: float,
    connections: int,
    use_wrk: bool,
) -> HTTPFigures:
    """The figures of each round, by (kind, store): the benchmark app under
    gunicorn (2 sync workers), one server per store, every request with a
    key not sent before; the rounds go through kinds and stores in turn,
    from a rotating start."""
    servers = {}
    try:
        for store, env in stores.items():
            servers[store] = Server(ACTIONS, env=env)
        contenders = {
            (kind, store): contender
            for kind, contender in HTTP_KINDS
            for store in servers
        }
        for kind, store in contenders:  # imports, the table's first opening
            work = workload(contenders[(kind, store)], servers[store].port)
            load.run(work, 1, connections, use_wrk=use_wrk)
        order = list(contenders)
        figures = HTTPFigures({k: [] for k in order}, {k: [] for k in order})
        for r in range(rounds):
            for key in order[r % len(order) :] + order[: r % len(order)]:
                server = servers[key[1]]
                # The page again: its keys were not sent (each run's are new).
                work = workload(contenders[key], server.port)
                before = server.cpu_seconds()
                measure = load.run(work, duration, connections, use_wrk=use_wrk)
                after = server.cpu_seconds()
                if measure.errors:
                    raise RuntimeError(f"{key}: {measure.errors} requests went wrong")
                figures.rates[key].append(measure.rate)
                if before is not None and after is not None and measure.units:
                    figures.cpu[key].append((after - before) / measure.units * 1e6)
    finally:
        for server in servers.values():
            server.stop()
    return figures


def report_http(figures: HTTPFigures, title: str) -> list[str]:
    rates, cpu = figures
    lines = [
        title,
        f"{'request':<22} {'keys':<10} {'median':>10} {'×':>6} {'rounds':>12}"
        f" {'server CPU':>11} {'×':>6}",
    ]
    missed = []
    for kind, _contender in HTTP_KINDS:
        off = rates[(kind, "off")]
        for (k, store), values in rates.items():
            if k != kind:
                continue
            # Time per unit against keys off: the inverse of the rates' ratio.
            ratio = median_ratio(off, values)
            if store == "embedded" and ratio > 1.10:
                missed.append(kind)
            each = [x / y for x, y in zip(off, values, strict=True)]
            line = (
                f"{kind:<22} {store:<10} {statistics.median(values):>6,.0f} /s"
                f" {ratio:>5.2f}x {min(each):.2f} to {max(each):.2f}"
            )
            spent, spent_off = cpu.get((k, store)), cpu.get((kind, "off"))
            if spent and spent_off and len(spent) == len(spent_off):
                line += (
                    f" {statistics.median(spent):>8,.0f} µs"
                    f" {median_ratio(spent, spent_off):>5.2f}x"
                )
            lines.append(line)
    within = f"beyond 10% on: {', '.join(missed)}" if missed else "within 10% on each"
    lines.append(
        f"Embedded against keys off over HTTP: {within}. The target is held"
        " against the in-process table: the same microseconds there weigh"
        " against the app's own time, here against the server's too"
    )
    return lines


def run_http(
    rounds: int = 12,
    duration: float = 2,
    connections: int = 4,
    use_wrk: bool = True,
    echo: bool = True,
) -> list[str]:
    """The keys over HTTP: measure, print (``echo``) and return the lines."""
    folder = tempfile.TemporaryDirectory()
    stores = {
        "off": {"BENCH_IDEMPOTENCY": "0"},
        "embedded": {"BENCH_IDEMPOTENCY_PATH": f"{folder.name}/keys"},
    }
    executable = shutil.which("redis-server")
    redis = _Redis(executable) if executable else None
    if redis is not None:
        stores["Redis"] = {"BENCH_IDEMPOTENCY_REDIS_URL": redis.url}
    generator = "wrk" if use_wrk and load.WRK else "Python"
    try:
        figures = measure_http(
            stores,
            rounds=rounds,
            duration=duration,
            connections=connections,
            use_wrk=use_wrk,
        )
    finally:
        if redis is not None:
            redis.close()
        folder.cleanup()
    lines = report_http(
        figures,
        "Submission keys over HTTP, CSRF on: gunicorn 2 sync workers, one server"
        f" per row, {generator} with {connections} connections, median of"
        f" {rounds} interleaved rounds × {duration:g} s (× = median per-round"
        " ratio to keys off of time per request, the target's, and of the"
        " server's CPU time per request; rounds = the range of the first)",
    )
    if redis is None:
        lines.append("(Redis rows left out: no redis-server on PATH)")
    if echo:
        print("\n".join(lines), flush=True)
    return lines


def run(rounds: int = 15, echo: bool = True) -> list[str]:
    """Measure, print the table (``echo``) and return its lines."""
    folder = tempfile.TemporaryDirectory()
    stores: dict[str, dict[str, t.Any]] = {
        "off": {"ACTIONS_IDEMPOTENCY": False},
        "embedded": {"ACTIONS_IDEMPOTENCY_PATH": f"{folder.name}/keys"},
        IN_PYTHON: {"ACTIONS_IDEMPOTENCY_PATH": f"{folder.name}/keys-py"},
        NO_STORE: {},
    }
    executable = shutil.which("redis-server")
    redis = _Redis(executable) if executable else None
    try:
        if redis is not None:
            stores["Redis"] = {"ACTIONS_IDEMPOTENCY_REDIS_URL": redis.url}
        lines = report(measure(stores, rounds=rounds))
    finally:
        if redis is not None:
            redis.close()
        folder.cleanup()
    if redis is None:
        lines.append("(Redis rows left out: no redis-server on PATH)")
    lines += where_it_goes()
    if echo:
        print("\n".join(lines), flush=True)
    return lines


if __name__ == "__main__":
    run()
    print()
    run_http()
