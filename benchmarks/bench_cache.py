"""Page cache benchmarks.

1. Invalidating a tag costs one backend write, whatever the number of cached
   pages carrying it: the time of ``revalidate_tag`` with 10 and with 10,000
   cached pages, on the in-process backend and on Redis.
2. What a visitor's request costs: a page rendered every time, the same page
   served from the cache (in process, and from Redis).

Run alone with ``python -m benchmarks.bench_cache``; ``make bench`` runs it
with the others. Redis rows need ``redis-server`` on ``PATH`` (a private one
is started on a free loopback port) and are skipped without it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
import typing as t

from flask import Flask
from flask import render_template_string

from flask_actions import ActionBlueprint
from flask_actions import ActionExtension
from flask_actions import revalidate_tag
from flask_actions.cache import PageCache

from .apps.common import TRUSTED_HOSTS

PAGE = """{% import "flask_actions/macros.html" as fa %}
<!doctype html><title>Todos</title>{{ fa.script() }}
{% call fa.form(action("todos.add")) %}<input name="title"><button>Add</button>{% endcall %}
<ul>{% for todo in todos %}<li>{{ todo }}
{% call fa.form(action("todos.remove").bind(loop.index0)) %}<button>x</button>{% endcall %}
</li>{% endfor %}</ul>
"""

TODOS = [f"Todo number {n}" for n in range(50)]


def _app(config: dict[str, t.Any], cached: bool = True) -> Flask:
    page_cache = PageCache()
    bp = ActionBlueprint("todos", __name__)

    def index() -> str:
        return render_template_string(PAGE, todos=TODOS)

    def small(n: int) -> str:
        return f"page {n}"

    cache = page_cache.cached(tags=["todos"], timeout=0)
    bp.add_url_rule("/", "index", cache(index) if cached else index)
    bp.add_url_rule("/p/<int:n>", "small", cache(small))

    @bp.action
    def add(title: str = "") -> None:
        revalidate_tag("todos")

    @bp.action
    def remove(index: int) -> None:
        revalidate_tag("todos")

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="benchmark secret " * 3, TRUSTED_HOSTS=TRUSTED_HOSTS, **config
    )
    ActionExtension(app)
    page_cache.init_app(app)
    app.register_blueprint(bp)
    return app


def _per_call(func: t.Callable[[], t.Any], calls: int) -> float:
    """Seconds per call of ``func``, over ``calls`` calls."""
    start = time.perf_counter()
    for _ in range(calls):
        func()
    return (time.perf_counter() - start) / calls


def _cached_pages(config: dict[str, t.Any], pages: int) -> Flask:
    """An app with ``pages`` pages tagged ``todos`` in its cache."""
    app = _app({"ACTIONS_CACHE_THRESHOLD": pages * 4, **config})
    client = app.test_client()
    for n in range(pages):
        client.get(f"/p/{n}")
    if client.get("/p/0").headers["X-Cache"] != "HIT":
        raise RuntimeError("the pages were not cached")
    return app


def _invalidation(apps: list[Flask], rounds: int = 7) -> list[float]:
    """Seconds per ``revalidate_tag`` call in each app: the best of
    ``rounds`` rounds, the apps taking turns so that they share the machine's
    ups and downs."""
    best = [float("inf")] * len(apps)
    for _ in range(rounds):
        for i, app in enumerate(apps):
            with app.app_context():
                seconds = _per_call(lambda: revalidate_tag("todos"), 1000)
            best[i] = min(best[i], seconds)
    for app in apps:
        client = app.test_client()
        if client.get("/p/0").headers["X-Cache"] != "MISS":
            raise RuntimeError("revalidate_tag did not invalidate the pages")
    return best


def _request(app: Flask, expect: str | None, rounds: int = 5) -> float:
    """Seconds per request of the page at ``/``: the best of ``rounds``."""
    client = app.test_client()
    client.get("/")
    if client.get("/").headers.get("X-Cache") != expect:
        raise RuntimeError(f"expected X-Cache: {expect}")
    return min(_per_call(lambda: client.get("/"), 50) for _ in range(rounds))


class _Redis:
    """A private ``redis-server`` on a free loopback port."""

    def __init__(self, executable: str) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self._dir = tempfile.TemporaryDirectory()
        self.process = subprocess.Popen(
            # fmt: off
            [
                executable,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self._dir.name,
            ],
            # fmt: on
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.url = f"redis://127.0.0.1:{self.port}/0"
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.close()
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)

    def close(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)
        self._dir.cleanup()


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f} µs"


def run() -> None:
    """Measure, and print the results as tables."""
    backends: list[tuple[str, dict[str, t.Any]]] = [("in-process", {})]
    executable = shutil.which("redis-server")
    redis = _Redis(executable) if executable else None
    try:
        if redis is not None:
            backends.append(("Redis", {"ACTIONS_CACHE_REDIS_URL": redis.url}))

        print("Invalidating one tag (revalidate_tag), per call")
        print(f"{'backend':<12} {'10 pages':>14} {'10,000 pages':>14} {'ratio':>7}")
        for name, config in backends:
            if redis is not None:
                config["ACTIONS_CACHE_KEY_PREFIX"] = "small:"
            small_app = _cached_pages(config, 10)
            if redis is not None:
                config["ACTIONS_CACHE_KEY_PREFIX"] = "large:"
            large_app = _cached_pages(config, 10_000)
            small, large = _invalidation([small_app, large_app])
            print(
                f"{name:<12} {_us(small):>14} {_us(large):>14} {large / small:>6.2f}x"
            )
        print()
        print(f"A page with {len(TODOS)} items and {len(TODOS) + 1} forms, per request")
        print(f"{'how':<28} {'time':>12} {'vs render':>10}")
        render = _request(_app({}, cached=False), None)
        print(f"{'rendered every time':<28} {_us(render):>12} {'1.00x':>10}")
        for name, config in backends:
            hit = _request(_app(config), "HIT")
            label = f"cache hit ({name})"
            print(f"{label:<28} {_us(hit):>12} {hit / render:>9.2f}x")
        if redis is None:
            print("\n(redis-server not found: Redis rows skipped)")
    finally:
        if redis is not None:
            redis.close()


if __name__ == "__main__":
    run()
