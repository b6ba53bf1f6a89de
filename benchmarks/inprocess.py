"""In-process cost of one request (or one form cycle), without sockets.

Each contender's WSGI app is called directly with the same request the load
generator sends, ``number`` times, and the CPU time per unit is reported. This
is the figure to profile and optimise: it is free of the load generator, of
gunicorn and of other processes on the machine, which the HTTP figures are
not. ``python -m benchmarks.inprocess --profile action`` prints a cProfile of
one contender.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import time
import typing as t
from urllib.parse import urlencode

from flask import Flask
from werkzeug.datastructures import Headers
from werkzeug.test import EnvironBuilder

from .apps import actions
from .apps import handwritten
from .apps import smorest
from .apps.common import VALID
from .apps.common import VALID_FORM
from .stats import median_ratio

ORIGIN = "http://localhost"


def _browser(app: Flask) -> tuple[str | None, str | None, str]:
    """GET the page: the CSRF token, the action ref and the session cookie."""
    import re

    client = app.test_client()
    response = client.get("/")
    html = response.get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html)
    ref = re.search(r'name="_action" value="([^"]+)"', html)
    cookies = "; ".join(
        h.split(";", 1)[0] for h in response.headers.getlist("Set-Cookie")
    )
    return csrf and csrf.group(1), ref and ref.group(1), cookies


class _Call:
    """One prepared request, replayed straight into the WSGI app."""

    def __init__(
        self, app: Flask, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> None:
        self.app = app
        self.body = body
        self.environ = EnvironBuilder(
            path=path, method=method, headers=Headers(headers), data=body
        ).get_environ()

    def __call__(self, cookie: str | None = None) -> tuple[str, dict[str, str]]:
        environ = dict(self.environ)
        environ["wsgi.input"] = io.BytesIO(self.body)
        if cookie is not None:
            environ["HTTP_COOKIE"] = cookie
        seen: list[t.Any] = []

        def start_response(
            status: str, headers: t.Any, exc_info: t.Any = None
        ) -> t.Any:
            seen[:] = [status, headers]
            return lambda data: None

        iterable = self.app.wsgi_app(environ, start_response)
        try:
            for _ in iterable:
                pass
        finally:
            close = getattr(iterable, "close", None)
            if close is not None:
                close()
        headers: dict[str, str] = {}
        for name, value in seen[1]:
            headers[name.lower()] = value
        return seen[0], headers


def unit(key: str, csrf: bool = True) -> t.Callable[[], None]:
    """A function doing one unit of ``key``'s work through its WSGI app."""
    module = {"view": handwritten, "view_form": handwritten, "smorest": smorest}.get(
        key, actions
    )
    app: Flask = module.create_app(csrf)
    token, ref, cookies = _browser(app)
    headers = {"Origin": ORIGIN, "Cookie": cookies}
    if key in ("view", "smorest", "action"):
        headers["Accept"] = "application/json"
        headers["Content-Type"] = "application/json"
        if token:
            headers["X-CSRFToken"] = token
        path = "/todos"
        if key == "action":
            headers.update({"X-Action": ref or "", "X-Flask-Actions": "call"})
            path = "/"
        post = _Call(app, "POST", path, headers, json.dumps(VALID).encode())

        def one() -> None:
            status, _ = post()
            assert status.startswith("200"), status

        return one
    fields = dict(VALID_FORM)
    if token:
        fields["csrf_token"] = token
    if key in ("action_form", "action_page", "action_nopage", "action_validate"):
        fields["_action"] = ref or ""
    if key == "action_validate":
        # A live check of the same form (fa.form(..., live=True)): the guards
        # and the schema, not the action; 204 for a valid form.
        headers.update(
            {
                "Accept": "application/json",
                "X-Flask-Actions": "validate",
                "Content-Type": "application/x-www-form-urlencoded",
            }
        )
        check = _Call(app, "POST", "/", headers, urlencode(fields).encode())

        def validate() -> None:
            status, _ = check()
            assert status.startswith("204"), status

        return validate
    if key in ("action_page", "action_nopage"):
        # The script submitting the form: the JSON answer, with the page the
        # no-JS flow would show (parity) or, asked for none, without it.
        headers.update(
            {
                "Accept": "application/json",
                "X-Flask-Actions": "form",
                "Content-Type": "application/x-www-form-urlencoded",
            }
        )
        if key == "action_nopage":
            headers["X-Flask-Actions-Page"] = "none"
        enhanced = _Call(app, "POST", "/", headers, urlencode(fields).encode())

        def submit() -> None:
            status, _ = enhanced()
            assert status.startswith("200"), status

        return submit
    path = "/" if key == "action_form" else "/form"
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    post = _Call(app, "POST", path, headers, urlencode(fields).encode())
    get = _Call(app, "GET", "/", {"Origin": ORIGIN}, b"")

    def cycle() -> None:
        status, response_headers = post()
        assert status.startswith("303"), status
        jar = dict(c.split("=", 1) for c in cookies.split("; ") if c)
        name, _, value = response_headers.get("set-cookie", "").partition("=")
        if name:
            jar[name] = value.split(";", 1)[0]
        status, _ = get("; ".join(f"{k}={v}" for k, v in jar.items()))
        assert status.startswith("200"), status

    return cycle


KEYS = (
    "view",
    "smorest",
    "action",
    "action_form",
    "view_form",
    "action_page",
    "action_nopage",
    "action_validate",
)


def measure(
    keys: t.Sequence[str] = KEYS,
    *,
    csrf: bool = True,
    number: int = 200,
    repeat: int = 11,
) -> dict[str, list[float]]:
    """CPU microseconds per unit of each of ``repeat`` interleaved batches, by
    contender (see :func:`best`; ratios: :func:`benchmarks.stats.median_ratio`)."""
    units = {k: unit(k, csrf) for k in keys}
    for fn in units.values():
        for _ in range(50):
            fn()
    samples: dict[str, list[float]] = {k: [] for k in keys}
    for _ in range(repeat):
        for key, fn in units.items():
            start = time.process_time()
            for _ in range(number):
                fn()
            samples[key].append((time.process_time() - start) / number * 1e6)
    return samples


def best(samples: t.Sequence[float]) -> float:
    """The best batch, as ``timeit`` advises: other processes only ever add
    time (cache misses, a shared core), so the minimum is the steadiest
    estimate of the cost of the code itself."""
    return min(samples)


def profile(key: str, csrf: bool = True, number: int = 2000, limit: int = 40) -> None:
    fn = unit(key, csrf)
    for _ in range(50):
        fn()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(number):
        fn()
    profiler.disable()
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(limit)
    stats.sort_stats("tottime").print_stats(limit)


def loop(key: str, count: int, csrf: bool = True) -> None:
    """Set ``key`` up, warm it up, then do ``count`` units of it: run under
    ``valgrind --tool=callgrind`` with a ``count`` and with 0, the difference
    of the instruction counts over ``count`` is the instructions per unit, a
    figure other processes on the machine do not change (docs/performance.md,
    "Instruction counts")."""
    fn = unit(key, csrf)
    for _ in range(100):
        fn()
    for _ in range(count):
        fn()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.inprocess")
    parser.add_argument("--profile", choices=KEYS)
    parser.add_argument(
        "--loop",
        nargs=2,
        metavar=("KEY", "COUNT"),
        help="only do COUNT units of KEY (for callgrind)",
    )
    parser.add_argument("--no-csrf", action="store_true")
    parser.add_argument("--number", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=11)
    parser.add_argument(
        "--keys",
        nargs="+",
        choices=KEYS,
        default=KEYS,
        help="the contenders to measure (default: all)",
    )
    args = parser.parse_args()
    if args.profile:
        profile(args.profile, not args.no_csrf)
        return
    if args.loop:
        key, count = args.loop
        if key not in KEYS:
            parser.error(f"unknown key {key!r}; choose from {', '.join(KEYS)}")
        loop(key, int(count), not args.no_csrf)
        return
    keys = list(dict.fromkeys(args.keys))
    measured = measure(
        keys, csrf=not args.no_csrf, number=args.number, repeat=args.repeat
    )
    view = measured.get("view")
    for key, samples in measured.items():
        # Throughput against the view's: its time over this one's, per round.
        ratio = f"  {median_ratio(view, samples):.3f}x the view" if view else ""
        print(f"{key:15} {best(samples):8.0f} µs{ratio}")


if __name__ == "__main__":
    main()
