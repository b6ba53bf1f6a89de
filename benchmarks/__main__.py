"""``python -m benchmarks`` (``make bench``): every benchmark, then a report.

1. HTTP throughput of the contenders under gunicorn, CSRF on and off;
2. the in-process CPU cost of the same requests (steadier than HTTP figures on
   a busy machine);
3. the render time of a page with 1,000 bound buttons;
4. the size of the browser script;
5. ``benchmarks.bench_cache.run()``, when that module exists;
6. streaming actions: time to the first progress event, a 1,000-event stream
   against one plain call, memory over 100,000 events
   (``benchmarks.bench_stream``);
7. submission keys on the action path, off and on, embedded store and Redis
   (``benchmarks.bench_idempotency``).

Options shorten or select parts; ``--help`` lists them.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import platform
import sys
import time

from . import inprocess
from . import render
from . import report
from . import script_size
from . import throughput
from .load import WRK
from .servers import stop_servers_on_sigterm


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()},"
        f" {platform.system()} {platform.release()}, load average {load:.1f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--rounds", type=int, default=12, help="interleaved rounds")
    parser.add_argument(
        "--duration",
        type=int,
        default=2,
        help="whole seconds per contender per round",
    )
    parser.add_argument(
        "--connections", type=int, default=4, help="concurrent connections"
    )
    parser.add_argument("--csrf", choices=("on", "off", "both"), default="both")
    parser.add_argument(
        "--python-load", action="store_true", help="use the Python load generator"
    )
    parser.add_argument("--quick", action="store_true", help="2 rounds of 1 s")
    parts = ("http", "inprocess", "render", "script", "cache", "stream", "keys")
    for part in parts:
        parser.add_argument(f"--no-{part}", action="store_true", help=f"skip {part}")
    args = parser.parse_args(argv)
    stop_servers_on_sigterm()
    if args.quick:
        args.rounds, args.duration = 2, 1

    started = time.monotonic()
    out: list[str] = []

    def section(lines: list[str]) -> None:
        print("\n".join(lines), flush=True)
        print(flush=True)
        out.extend([*lines, ""])

    section([f"Machine: {machine()}"])
    settings = {"on": [True], "off": [False], "both": [True, False]}[args.csrf]
    if not args.no_http:
        generator = "wrk" if WRK and not args.python_load else "Python"
        for csrf in settings:
            print(f"HTTP throughput, CSRF {'on' if csrf else 'off'} ...", flush=True)
            outcomes = throughput.measure(
                csrf,
                rounds=args.rounds,
                duration=args.duration,
                connections=args.connections,
                use_wrk=not args.python_load,
            )
            section(
                report.throughput(
                    outcomes,
                    f"HTTP throughput, CSRF {'on' if csrf else 'off'}: gunicorn 2 sync"
                    f" workers, {generator} with {args.connections} connections,"
                    f" median of {args.rounds} rounds × {args.duration:g} s",
                )
            )
    if not args.no_inprocess:
        for csrf in settings:
            repeat = 3 if args.quick else 21
            samples = inprocess.measure(csrf=csrf, repeat=repeat)
            section(
                report.inprocess(
                    samples,
                    f"In-process CPU time per request or cycle, CSRF"
                    f" {'on' if csrf else 'off'} (best of {repeat} interleaved batches"
                    " of 200; × = view / contender)",
                )
            )
    if not args.no_render:
        section(report.render(render.measure(rounds=10 if args.quick else 60)))
    if not args.no_script:
        section(report.script(script_size.measure()))
    if not args.no_cache and importlib.util.find_spec("benchmarks.bench_cache"):
        module = importlib.import_module("benchmarks.bench_cache")
        module.run()
    if not args.no_stream:
        from . import bench_stream

        bench_stream.run(quick=args.quick)
    if not args.no_keys:
        from . import bench_idempotency

        section(bench_idempotency.run(rounds=3 if args.quick else 15, echo=False))
        if not args.no_http:
            print("Submission keys over HTTP ...", flush=True)
            section(
                bench_idempotency.run_http(
                    rounds=args.rounds,
                    duration=args.duration,
                    connections=args.connections,
                    use_wrk=not args.python_load,
                    echo=False,
                )
            )
    print(f"Done in {time.monotonic() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
