"""HTTP throughput: every contender under gunicorn, driven in interleaved rounds.

For each CSRF setting, the three apps start under gunicorn (2 sync workers
each) on 127.0.0.1. Each contender first gets what a browser would have
(the page's session cookie, CSRF token and, for actions, the ref), then the
rounds run A, B, C, D, E, A, B, ... with a rotating start, so that drift of the
machine touches every contender alike. The figure of a contender is the median
of its rounds.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import re
import statistics
import typing as t
from urllib.parse import urlencode

from .apps.common import VALID
from .apps.common import VALID_FORM
from .load import Measure
from .load import run
from .load import Workload
from .servers import Server

HANDWRITTEN = "benchmarks.apps.handwritten:app"
SMOREST = "benchmarks.apps.smorest:app"
ACTIONS = "benchmarks.apps.actions:app"


@dataclasses.dataclass(frozen=True)
class Contender:
    key: str
    label: str
    app: str
    #: ``"json"``: a JSON POST to ``path``; ``"action-json"``: an action call;
    #: ``"form-cycle"``/``"action-form"``: POST, 303, GET of the page.
    kind: str
    path: str
    #: Whether each POST carries a submission key not sent before, as the
    #: script's calls and the rendered forms do (``Workload.key``).
    keyed: bool = False


CONTENDERS = (
    Contender("view", "hand-written view (JSON)", HANDWRITTEN, "json", "/todos"),
    Contender("smorest", "flask-smorest (JSON)", SMOREST, "json", "/todos"),
    Contender("action", "action, JSON call", ACTIONS, "action-json", "/"),
    Contender(
        "action_keyed", "action, call with its key", ACTIONS, "action-json", "/", True
    ),
    Contender("action_form", "action, plain form cycle", ACTIONS, "action-form", "/"),
    Contender(
        "view_form", "hand-written form cycle", HANDWRITTEN, "form-cycle", "/form"
    ),
)


@dataclasses.dataclass
class Browser:
    """What a page gave the browser."""

    cookies: dict[str, str]
    csrf: str | None
    ref: str | None
    #: The signed part of the form's submission key (``None``: it has none).
    key_prefix: str | None = None


def visit(port: int, path: str = "/") -> Browser:
    """GET the page as a browser would and keep what forms need."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        html = response.read().decode()
        cookies = {}
        for header in response.headers.get_all("Set-Cookie") or ():
            name, _, rest = header.partition("=")
            cookies[name.strip()] = rest.split(";", 1)[0]
        if response.status != 200:
            raise RuntimeError(f"GET {path} on port {port} answered {response.status}.")
    finally:
        conn.close()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html)
    ref = re.search(r'name="_action" value="([^"]+)"', html)
    key = re.search(r'name="_submission" value="([^"]+)\.\d+"', html)
    return Browser(
        cookies, csrf and csrf.group(1), ref and ref.group(1), key and key.group(1)
    )


def workload(contender: Contender, port: int) -> Workload:
    browser = visit(port)
    origin = f"http://127.0.0.1:{port}"
    headers = {"Origin": origin}
    if contender.kind in ("json", "action-json"):
        headers.update(
            {"Content-Type": "application/json", "Accept": "application/json"}
        )
        if browser.csrf:
            headers["X-CSRFToken"] = browser.csrf
        if contender.kind == "action-json":
            assert browser.ref, "the actions page rendered no _action field"
            headers.update({"X-Action": browser.ref, "X-Flask-Actions": "call"})
        body = json.dumps(VALID)
    else:
        headers.update(
            {"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"}
        )
        fields = dict(VALID_FORM)
        if browser.csrf:
            fields["csrf_token"] = browser.csrf
        if contender.kind == "action-form":
            assert browser.ref, "the actions page rendered no _action field"
            fields["_action"] = browser.ref
        body = urlencode(fields)
    key = ""
    if contender.keyed:  # a form's key as the page has it (none: keys off)
        key = "header" if contender.kind == "action-json" else browser.key_prefix or ""
    return Workload(
        name=contender.key,
        port=port,
        path=contender.path,
        headers=headers,
        body=body,
        cookies=browser.cookies,
        cycle=contender.kind in ("action-form", "form-cycle"),
        key=key,
    )


@dataclasses.dataclass
class Outcome:
    contender: Contender
    rounds: list[Measure]

    @property
    def median(self) -> float:
        return statistics.median(m.rate for m in self.rounds)

    @property
    def spread(self) -> float:
        """(max - min) / median of the rounds, a rough noise figure."""
        rates = [m.rate for m in self.rounds]
        return (max(rates) - min(rates)) / self.median if self.median else 0.0

    @property
    def errors(self) -> int:
        return sum(m.errors for m in self.rounds)


def measure(
    csrf: bool,
    *,
    rounds: int,
    duration: float,
    connections: int,
    use_wrk: bool,
    contenders: t.Sequence[Contender] = CONTENDERS,
    log: t.Callable[[str], None] = print,
) -> list[Outcome]:
    """Run ``rounds`` interleaved rounds of every contender with CSRF on or off."""
    env = {"BENCH_CSRF": "1" if csrf else "0"}
    apps = sorted({c.app for c in contenders})
    servers = {}
    try:
        for app in apps:
            servers[app] = Server(app, env=env)
        works = [workload(c, servers[c.app].port) for c in contenders]
        for work in works:  # warm-up: imports, first-request set-up, caches
            run(work, 1, connections, use_wrk=use_wrk)
        results: list[list[Measure]] = [[] for _ in contenders]
        for r in range(rounds):
            order = list(range(len(contenders)))
            order = order[r % len(order) :] + order[: r % len(order)]
            for i in order:
                results[i].append(run(works[i], duration, connections, use_wrk=use_wrk))
            log(
                f"  round {r + 1}/{rounds}: "
                + ", ".join(
                    f"{c.key} {results[i][-1].rate:,.0f}/s"
                    for i, c in enumerate(contenders)
                )
            )
    finally:
        for server in servers.values():
            server.stop()
    return [Outcome(c, results[i]) for i, c in enumerate(contenders)]
