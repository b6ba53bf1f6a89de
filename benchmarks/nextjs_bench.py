"""``make bench-nextjs``: flask-actions side by side with Next.js 16.

1. ``npm ci`` (from ``benchmarks/nextjs/package-lock.json``) and ``next build``;
2. the Flask apps under each WSGI server measured (two workers each, for the
   two cores), and two ``next start`` processes (one per core);
3. Chromium submits every contender's form, with JavaScript on and off, and
   the requests it sent are kept (``benchmarks/nextjs_capture.py``);
4. interleaved rounds replay them with wrk, ``-t1 -c8`` against each WSGI
   server and ``-t1 -c4`` against each Next.js process (eight connections in
   all either way), every answer checked for its status and a marker;
5. the table of medians, the per-round ratios and the three targets of
   issue 16.

See ``docs/performance.md`` ("Against Next.js") for the method and the
latest figures. Nothing here runs in ``make test``.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import json
import statistics
import subprocess
import sys
import time
import typing as t
from pathlib import Path

from .__main__ import machine
from .load import WRK
from .nextjs_capture import ADDED
from .nextjs_capture import capture
from .nextjs_capture import Captured
from .nextjs_load import check
from .nextjs_load import fresh_cookie
from .nextjs_load import Replay
from .nextjs_load import run
from .nextjs_load import Sample
from .nextjs_servers import build_nextjs
from .nextjs_servers import NEXTJS
from .nextjs_servers import node_version
from .nextjs_servers import Process
from .nextjs_servers import start_nextjs
from .nextjs_servers import WSGI_SERVERS
from .servers import stop_servers_on_sigterm
from .stats import median_ratio

ACTIONS_APP = "benchmarks.nextjs_flask:app"
VIEW_APP = "benchmarks.apps.handwritten:app"
JSON_OK = '"ok":true'


@dataclasses.dataclass
class Contender:
    key: str
    label: str
    ports: list[int]
    #: The replay of one measurement (made afresh where a cookie expires).
    replay: t.Callable[[], Replay]
    #: Connections of each port's wrk.
    connections: int
    samples: list[Sample] = dataclasses.field(default_factory=list)
    answer_bytes: int = 0

    @property
    def rates(self) -> list[float]:
        return [s.rate for s in self.samples]

    @property
    def errors(self) -> int:
        return sum(s.errors for s in self.samples)

    @property
    def errors_text(self) -> str:
        """The count of wrong answers, with the status of one of them."""
        statuses = [s.bad_status for s in self.samples if s.bad_status]
        return (
            f"{self.errors} (status {statuses[-1]})" if statuses else str(self.errors)
        )


def _with_cookie(request: Captured, cookie: str) -> Captured:
    headers = tuple(
        (k, cookie if k.lower() == "cookie" else v) for k, v in request.headers
    )
    return dataclasses.replace(request, headers=headers)


def contenders(
    captured: dict[str, Captured],
    servers: dict[str, dict[str, Process]],
    nextjs: list[Process],
    connections: int,
) -> list[Contender]:
    """Every contender: Next.js' two, and the Flask ones under each server."""
    per_next = max(1, connections // len(nextjs))
    out = [
        Contender(
            "next_js",
            "Next.js Server Action, JS path",
            [p.port for p in nextjs],
            lambda: Replay(captured["next_js"], 200, ADDED),
            per_next,
        ),
        Contender(
            "next_post",
            "Next.js Server Action without JS (one POST answered with the page)",
            [p.port for p in nextjs],
            lambda: Replay(captured["next_post"], 200, ADDED),
            per_next,
        ),
    ]
    post, get = captured["action_post"], captured["action_get"]
    for kind, apps in servers.items():
        view, actions = apps[VIEW_APP].port, apps[ACTIONS_APP].port

        def page_get(port: int = actions) -> Replay:
            cookie = fresh_cookie(post, get, port)
            return Replay(_with_cookie(get, cookie), 200, ADDED)

        out += [
            Contender(
                f"{kind}:view",
                "hand-written Flask view (marshmallow, Flask-WTF CSRF, jsonify)",
                [view],
                lambda: Replay(captured["view"], 200, JSON_OK),
                connections,
            ),
            Contender(
                f"{kind}:action_call",
                "flask-actions, script path: FlaskActions.call (JSON answer)",
                [actions],
                lambda: Replay(captured["action_call"], 200, JSON_OK),
                connections,
            ),
            Contender(
                f"{kind}:action_form",
                "flask-actions, script path: the form (JSON with the page)",
                [actions],
                lambda: Replay(captured["action_form"], 200, ADDED),
                connections,
            ),
            Contender(
                f"{kind}:action_post",
                "flask-actions without JS: the POST (303)",
                [actions],
                lambda: Replay(post, 303),
                connections,
            ),
            Contender(
                f"{kind}:action_get",
                "flask-actions without JS: the page GET after it",
                [actions],
                page_get,
                connections,
            ),
            Contender(
                f"{kind}:action_pair",
                "flask-actions, whole no-JS submit, measured (POST, then GET)",
                [actions],
                lambda: Replay(post, 303, then=get, then_marker=ADDED),
                connections,
            ),
        ]
    return out


def _measure(contender: Contender, duration: float) -> Sample:
    return run(contender.replay(), contender.ports, duration, contender.connections)


def measure(
    all_contenders: list[Contender],
    *,
    rounds: int,
    duration: float,
    warmup: float,
    log: t.Callable[[str], None] = print,
) -> None:
    """Check every contender's answer, warm each up, then run the rounds:
    round ``r`` starts at contender ``r`` and runs backwards every other
    round, so that no contender always follows the same one."""
    for contender in all_contenders:
        replay = contender.replay()
        contender.answer_bytes = len(check(replay, contender.ports[0]).body)
        for port in contender.ports[1:]:
            check(replay, port)
    for contender in all_contenders:
        warm = _measure(contender, warmup)
        if warm.errors or not warm.units:
            raise RuntimeError(
                f"{contender.key}: {warm.errors} wrong answers of {warm.errors + warm.units}"
                f" while warming up (status {warm.bad_status}); nothing was measured."
            )
    for r in range(rounds):
        order = (
            all_contenders[r % len(all_contenders) :]
            + all_contenders[: r % len(all_contenders)]
        )
        if r % 2:
            order.reverse()
        for contender in order:
            contender.samples.append(_measure(contender, duration))
        log(
            f"  round {r + 1}/{rounds}: "
            + ", ".join(f"{c.key} {c.samples[-1].rate:,.0f}/s" for c in all_contenders)
        )


def whole_submit(post: Contender, get: Contender) -> list[float]:
    """The no-JS submit computed per round from its two requests, measured
    seconds apart on the same server: one submit takes the time of both."""
    return [
        1 / (1 / a + 1 / b) if a and b else 0.0
        for a, b in zip(post.rates, get.rates, strict=True)
    ]


def _rate(values: t.Sequence[float]) -> str:
    return f"{statistics.median(values):,.0f}"


def _ratios(values: t.Sequence[float]) -> str:
    return " ".join(f"{v:.2f}" for v in values)


def report(
    all_contenders: list[Contender], kinds: list[str], heading: str
) -> tuple[list[str], bool]:
    """The table, the ratios and the verdicts; and whether every target holds
    on at least one server set-up (and no answer was wrong)."""
    by_key = {c.key: c for c in all_contenders}
    lines = [heading, "", "| contender | req/s (median) | min–max | bytes | errors |"]
    lines.append("| --- | ---: | ---: | ---: | ---: |")

    def row(label: str, rates: t.Sequence[float], size: str, errors: str) -> None:
        lines.append(
            f"| {label} | {_rate(rates)} | {min(rates):,.0f}–{max(rates):,.0f}"
            f" | {size} | {errors} |"
        )

    for key in ("next_js", "next_post"):
        c = by_key[key]
        row(c.label, c.rates, f"{c.answer_bytes:,}", c.errors_text)
    for kind in kinds:
        lines.append(f"| **{WSGI_SERVERS[kind].label}** | | | | |")
        for name in ("view", "action_call", "action_form", "action_post", "action_get"):
            c = by_key[f"{kind}:{name}"]
            row(c.label, c.rates, f"{c.answer_bytes:,}", c.errors_text)
        post, get = by_key[f"{kind}:action_post"], by_key[f"{kind}:action_get"]
        row(
            "flask-actions, whole no-JS submit, 1/(1/POST + 1/GET) per round",
            whole_submit(post, get),
            "",
            "",
        )
        pair = by_key[f"{kind}:action_pair"]
        row(pair.label, pair.rates, "", pair.errors_text)

    errors = sum(c.errors for c in all_contenders)
    lines += [
        "",
        "Ratios: per round, then their median (the verdict is on the median).",
    ]
    met_somewhere = [False, False, False]
    next_js, next_post = by_key["next_js"], by_key["next_post"]
    for kind in kinds:
        ours = {
            name: by_key[f"{kind}:{name}"]
            for name in (
                "view",
                "action_call",
                "action_form",
                "action_post",
                "action_get",
                "action_pair",
            )
        }
        submit = whole_submit(ours["action_post"], ours["action_get"])
        # A verdict stands only on contenders that answered right every time.
        wrong = [
            ours["action_call"].errors + ours["view"].errors,
            ours["action_call"].errors + next_js.errors,
            ours["action_post"].errors + ours["action_get"].errors + next_post.errors,
        ]
        targets = [
            (
                "script path (call) / hand-written view",
                ours["action_call"].rates,
                ours["view"].rates,
                1.0,
            ),
            (
                "script path (call) / Next.js JS path",
                ours["action_call"].rates,
                next_js.rates,
                1.0,
            ),
            (
                "whole no-JS submit (computed) / Next.js no-JS",
                submit,
                next_post.rates,
                0.5,
            ),
        ]
        extra = [
            (
                "script path (form, with the page) / hand-written view",
                ours["action_form"].rates,
                ours["view"].rates,
            ),
            (
                "script path (form, with the page) / Next.js JS path",
                ours["action_form"].rates,
                next_js.rates,
            ),
            (
                "whole no-JS submit (measured pairs) / Next.js no-JS",
                ours["action_pair"].rates,
                next_post.rates,
            ),
        ]
        lines += ["", f"{WSGI_SERVERS[kind].label}:"]
        for i, (label, a, b, goal) in enumerate(targets):
            ratio = median_ratio(a, b)
            met = ratio >= goal and not wrong[i]
            met_somewhere[i] = met_somewhere[i] or met
            per_round = _ratios([x / y for x, y in zip(a, b, strict=True) if y])
            lines.append(
                f"  {label}: {ratio:.2f}x (target ≥ {goal:.1f}x: {'met' if met else 'NOT met'});"
                f" rounds {per_round}"
            )
        for label, a, b in extra:
            per_round = _ratios([x / y for x, y in zip(a, b, strict=True) if y])
            lines.append(f"  {label}: {median_ratio(a, b):.2f}x; rounds {per_round}")
    verdicts = [
        "script path ≥ 1.0x the hand-written view",
        "per machine, script path ≥ 1.0x Next.js' JS path",
        "per machine, whole no-JS submit ≥ 0.5x Next.js' no-JS POST",
    ]
    lines += ["", "Targets (met on at least one server set-up):"]
    for label, met in zip(verdicts, met_somewhere, strict=True):
        lines.append(f"  {label}: {'met' if met else 'NOT met'}")
    if errors:
        lines.append(
            f"  {errors} answers were wrong (see the errors column): a ratio of a"
            " contender with wrong answers is no verdict."
        )
    return lines, all(met_somewhere) and errors == 0


def versions() -> str:
    def dist(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    package = json.loads((NEXTJS / "package.json").read_text())["dependencies"]
    wrk = subprocess.run([WRK or "wrk", "-v"], capture_output=True, text=True)
    wrk_version = (wrk.stdout + wrk.stderr).split()[1] if WRK else "not installed"
    return (
        f"Node.js {node_version()}, Next.js {package['next']}, React {package['react']},"
        f" zod {package['zod']}; Flask {dist('flask')}, flask-actions (this checkout),"
        f" marshmallow {dist('marshmallow')}, Flask-WTF {dist('flask-wtf')},"
        f" gunicorn {dist('gunicorn')}, granian {dist('granian')}; wrk {wrk_version}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.nextjs_bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=10, help="seconds per run")
    parser.add_argument("--warmup", type=float, default=5, help="seconds, once each")
    parser.add_argument(
        "--connections", type=int, default=8, help="in all, per contender"
    )
    parser.add_argument(
        "--servers",
        default=",".join(WSGI_SERVERS),
        help=f"WSGI servers, comma-separated (default: all of {', '.join(WSGI_SERVERS)})",
    )
    parser.add_argument("--no-build", action="store_true", help="reuse the last build")
    parser.add_argument("--quick", action="store_true", help="2 rounds of 2 s")
    parser.add_argument(
        "--save-captures", type=Path, help="write the captured requests as JSON"
    )
    args = parser.parse_args(argv)
    stop_servers_on_sigterm()
    if args.quick:
        args.rounds, args.duration, args.warmup = 2, 2, 1
    kinds = [k for k in args.servers.split(",") if k]
    unknown = [k for k in kinds if k not in WSGI_SERVERS]
    if unknown or not kinds:
        parser.error(
            f"unknown servers {unknown}; choose from {', '.join(WSGI_SERVERS)}"
        )
    if WRK is None:
        print("make bench-nextjs needs wrk: apt-get install -y wrk", file=sys.stderr)
        return 2
    try:
        node_version()
    except RuntimeError as e:
        print(e, file=sys.stderr)
        return 2

    started = time.monotonic()
    if not args.no_build:
        build_nextjs()
    processes: list[Process] = []
    try:
        servers: dict[str, dict[str, Process]] = {}
        for kind in kinds:
            servers[kind] = {}
            for app in (VIEW_APP, ACTIONS_APP):
                servers[kind][app] = WSGI_SERVERS[kind].start(app)
                processes.append(servers[kind][app])
        nextjs = [start_nextjs(), start_nextjs()]
        processes += nextjs
        first = servers[kinds[0]]
        print("Capturing the requests of real Chromium submits ...", flush=True)
        captured = capture(first[ACTIONS_APP].url, first[VIEW_APP].url, nextjs[0].url)
        if args.save_captures:
            args.save_captures.write_text(
                json.dumps({k: v.to_json() for k, v in captured.items()}, indent=1)
            )
        everyone = contenders(captured, servers, nextjs, args.connections)
        print(
            f"{len(everyone)} contenders, {args.rounds} rounds × {args.duration:g} s ...",
            flush=True,
        )
        measure(
            everyone, rounds=args.rounds, duration=args.duration, warmup=args.warmup
        )
    finally:
        for process in reversed(processes):
            process.stop()
    heading = (
        f"Machine: {machine()}\n{versions()}\n"
        f"wrk -t1 -c{args.connections} per WSGI server; two next start processes,"
        f" each with its own wrk -t1 -c{max(1, args.connections // 2)};"
        f" {args.rounds} interleaved rounds × {args.duration:g} s;"
        f" {time.strftime('%Y-%m-%d %H:%M %Z')}"
    )
    lines, met = report(everyone, kinds, heading)
    print()
    print("\n".join(lines))
    print(f"\nDone in {time.monotonic() - started:.0f} s.")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
