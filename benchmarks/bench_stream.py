"""Streaming actions (docs/streaming.md): what a stream costs.

1. Time to the first progress event: from sending the request to reading the
   first ``event: progress`` of a stream, against the whole answer of one
   plain call of the same action's work (its first piece is its only one).
2. The overhead of a 1,000-event stream against one plain call: the whole
   stream read to its ``result``, minus the plain call, per event.
3. Memory over a 100,000-event stream read by a client: the peak of Python
   allocations (tracemalloc) for 1,000, 10,000 and 100,000 events; flat means
   the peak does not grow with the number of events.

In process (Flask's test client, no socket), interleaved rounds, medians;
the browser script's request headers. Run alone with
``python -m benchmarks.bench_stream``; ``make bench`` runs it with the others.
"""

from __future__ import annotations

import statistics
import time
import tracemalloc
import typing as t

from flask import Flask

from flask_actions import ActionBlueprint
from flask_actions import ActionExtension
from flask_actions import Progress
from flask_actions.templating import action as lookup
from flask_actions.testing import prepare

from .apps.common import TRUSTED_HOSTS

STREAM = "application/json, text/event-stream"


def _app() -> Flask:
    bp = ActionBlueprint("bench", __name__)

    @bp.get("/")
    def index() -> str:
        return "page"

    @bp.action
    def plain() -> dict[str, int]:
        return {"events": 1}

    @bp.action
    def stream(count: int = 1000) -> t.Generator[Progress, None, dict[str, int]]:
        for done in range(1, count + 1):
            yield Progress(done, count)
        return {"events": count}

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="bench secret, long enough to pass the checks",
        TRUSTED_HOSTS=TRUSTED_HOSTS,
    )
    ActionExtension(app)
    app.register_blueprint(bp)
    return app


def _chunks(response: t.Any) -> t.Iterator[bytes]:
    """The body of an unbuffered test response, chunk by chunk."""
    for chunk in response.response:
        yield chunk if isinstance(chunk, bytes) else chunk.encode()


class _Client:
    def __init__(self, app: Flask) -> None:
        self.client = app.test_client()
        self.app = app
        self.refs: dict[tuple[str, int], tuple[str, dict[str, str]]] = {}

    def headers(self, name: str, count: int = 0) -> dict[str, str]:
        key = (name, count)
        if key not in self.refs:
            target: t.Any = f"bench.{name}"
            if count:
                with self.app.test_request_context("/"):
                    target = lookup(target).bind(count)
            ref, csrf, origin = prepare(self.client, target)
            self.refs[key] = (
                ref,
                {"X-CSRFToken": csrf or "", "Origin": origin},
            )
        ref, extra = self.refs[key]
        return {
            "X-Action": ref,
            "X-Flask-Actions": "call",
            "X-Flask-Actions-Page": "none",
            "Accept": STREAM,
            **extra,
        }

    def plain(self) -> float:
        started = time.perf_counter()
        response = self.client.post("/", json={}, headers=self.headers("plain"))
        assert response.status_code == 200 and response.is_json, response.data
        return time.perf_counter() - started

    def first_event(self, count: int) -> float:
        headers = self.headers("stream", count)
        started = time.perf_counter()
        response = self.client.post("/", json={}, headers=headers, buffered=False)
        for chunk in _chunks(response):
            if chunk.startswith(b"event: progress"):
                elapsed = time.perf_counter() - started
                break
        response.close()
        return elapsed

    def whole(self, count: int) -> tuple[float, int]:
        headers = self.headers("stream", count)
        started = time.perf_counter()
        response = self.client.post("/", json={}, headers=headers, buffered=False)
        events = 0
        last = b""
        for chunk in _chunks(response):
            events += chunk.startswith(b"event: progress")
            last = chunk
        elapsed = time.perf_counter() - started
        response.close()
        assert last.startswith(b"event: result") and events == count, last
        return elapsed, events


def measure(rounds: int = 30) -> dict[str, t.Any]:
    client = _Client(_app())
    client.plain(), client.first_event(1000), client.whole(1000)  # warm up
    plain: list[float] = []
    first: list[float] = []
    whole: list[float] = []
    for _ in range(rounds):  # interleaved
        plain.append(client.plain())
        first.append(client.first_event(1000))
        whole.append(client.whole(1000)[0])
    peaks: dict[int, int] = {}
    for count in (1_000, 10_000, 100_000):
        client.whole(count)  # its binding and first call set up, outside the peak
        tracemalloc.start()
        client.whole(count)
        peaks[count] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return {
        "rounds": rounds,
        "plain": statistics.median(plain),
        "first": statistics.median(first),
        "whole": statistics.median(whole),
        "ratio_first": statistics.median(
            f / p for f, p in zip(first, plain, strict=True)
        ),
        "ratio_whole": statistics.median(
            w / p for w, p in zip(whole, plain, strict=True)
        ),
        "peaks": peaks,
    }


def report(figures: dict[str, t.Any]) -> list[str]:
    per_event = (figures["whole"] - figures["plain"]) / 1000
    lines = [
        "Streaming actions (in process, median of"
        f" {figures['rounds']} interleaved rounds; × = / one plain call)",
        "",
        f"  one plain call (JSON, no page):       {figures['plain'] * 1e6:8.0f} µs",
        f"  first progress event of a stream:     {figures['first'] * 1e6:8.0f} µs"
        f"  ({figures['ratio_first']:.2f}×)",
        f"  a 1,000-event stream, read to its end: {figures['whole'] * 1e3:7.1f} ms"
        f"  ({figures['ratio_whole']:.1f}×, {per_event * 1e6:.1f} µs per event"
        " over the plain call)",
        "  peak Python memory while a client reads a stream:",
    ]
    for count, peak in figures["peaks"].items():
        lines.append(f"    {count:>7,} events: {peak / 1024:8.0f} KiB")
    return lines


def run(quick: bool = False) -> None:
    print("\n".join(report(measure(rounds=5 if quick else 30))), flush=True)
    print(flush=True)


if __name__ == "__main__":
    run()
