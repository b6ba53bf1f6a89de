"""The benchmark contenders do the same work, and the load generators work.

No timing is asserted here: ``make bench`` measures; these tests make sure the
figures it prints compare like with like (same validation results, same
statuses, same CSRF protection) and that each generator counts real,
successful units of work.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import typing as t

import pytest

pytest.importorskip(
    "flask_smorest", reason="the bench dependency group is not installed"
)

from flask import Flask
from flask.testing import FlaskClient
from servers import SAME_ORIGIN

from benchmarks import bench_cache
from benchmarks import load
from benchmarks import nextjs_flask
from benchmarks import throughput
from benchmarks.apps import actions
from benchmarks.apps import handwritten
from benchmarks.apps import render
from benchmarks.apps import smorest
from benchmarks.apps.common import INVALID
from benchmarks.apps.common import INVALID_FORM
from benchmarks.apps.common import VALID
from benchmarks.apps.common import VALID_FORM
from benchmarks.servers import ROOT
from benchmarks.servers import Server

ORIGIN = SAME_ORIGIN["Origin"]
LOADED = {"title": "Buy milk", "priority": 3, "done": False}
ERRORS = {
    "title": ["Length must be between 1 and 200."],
    "priority": ["Must be greater than or equal to 1 and less than or equal to 5."],
}


def _page(client: FlaskClient) -> tuple[str | None, str | None]:
    html = client.get("/").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html)
    ref = re.search(r'name="_action" value="([^"]+)"', html)
    return csrf and csrf.group(1), ref and ref.group(1)


def _json_call(
    module: t.Any, body: dict[str, t.Any], csrf: bool = True, send_token: bool = True
) -> tuple[int, dict[str, t.Any]]:
    """POST ``body`` as JSON the way the contender is called; the status and the
    validation outcome (``data`` or ``errors``) in one shape."""
    app: Flask = module.create_app(csrf)
    client = app.test_client()
    token, ref = _page(client)
    headers = {"Origin": ORIGIN, "Accept": "application/json"}
    if token and send_token:
        headers["X-CSRFToken"] = token
    path = "/todos"
    if module is actions:
        headers.update({"X-Action": ref or "", "X-Flask-Actions": "call"})
        path = "/"
    response = client.post(path, json=body, headers=headers)
    document = response.get_json(silent=True) or {}
    errors = document.get("errors") or {}
    if module is smorest and "json" in errors:
        errors = errors["json"]  # smorest groups errors by location
    return response.status_code, {"data": document.get("data"), "errors": errors}


JSON_CONTENDERS = [handwritten, smorest, actions]


@pytest.mark.parametrize("module", JSON_CONTENDERS, ids=lambda m: m.__name__)
@pytest.mark.parametrize("csrf", [True, False], ids=["csrf", "no-csrf"])
def test_json_contenders_load_the_same_data(module: t.Any, csrf: bool) -> None:
    assert _json_call(module, VALID, csrf) == (200, {"data": LOADED, "errors": {}})


@pytest.mark.parametrize("module", JSON_CONTENDERS, ids=lambda m: m.__name__)
def test_json_contenders_report_the_same_errors(module: t.Any) -> None:
    status, outcome = _json_call(module, INVALID)
    assert status == 422
    assert outcome["errors"] == ERRORS
    assert not outcome["data"]


@pytest.mark.parametrize("module", JSON_CONTENDERS, ids=lambda m: m.__name__)
def test_json_contenders_all_check_the_csrf_token(module: t.Any) -> None:
    status, outcome = _json_call(module, VALID, send_token=False)
    assert status in (400, 403)  # CSRFProtect says 400, actions 403
    assert outcome["data"] is None


def _form_cycle(module: t.Any, fields: dict[str, str]) -> tuple[int, int, str]:
    """POST the form and follow a 303: the statuses and the final page."""
    client = module.create_app(True).test_client()
    token, ref = _page(client)
    form = {**fields, "csrf_token": token or ""}
    path = "/form"
    if module is actions:
        form["_action"] = ref or ""
        path = "/"
    posted = client.post(path, data=form, headers={"Origin": ORIGIN})
    if posted.status_code != 303:
        return posted.status_code, 0, posted.get_data(as_text=True)
    page = client.get(posted.headers["Location"])
    return posted.status_code, page.status_code, page.get_data(as_text=True)


@pytest.mark.parametrize("module", [handwritten, actions], ids=lambda m: m.__name__)
def test_form_cycles_redirect_and_show_the_result(module: t.Any) -> None:
    posted, shown, html = _form_cycle(module, VALID_FORM)
    assert (posted, shown) == (303, 200)
    assert '<p role="status">Added Buy milk.</p>' in html


@pytest.mark.parametrize("module", [handwritten, actions], ids=lambda m: m.__name__)
def test_form_cycles_show_the_same_errors_in_the_page(module: t.Any) -> None:
    status, _, html = _form_cycle(module, INVALID_FORM)
    assert status == 422
    for messages in ERRORS.values():
        assert messages[0] in html
    assert "Added" not in html


def test_render_pages_have_a_button_per_row() -> None:
    client = render.create_app(True).test_client()
    bound = client.get("/rows").get_data(as_text=True)
    plain = client.get("/rows-plain").get_data(as_text=True)
    floor = client.get("/rows-floor").get_data(as_text=True)
    ready = client.get("/rows-ready").get_data(as_text=True)
    idiomatic = client.get("/rows-idiomatic").get_data(as_text=True)
    assert bound.count('name="_button"') == len(render.ROWS)
    assert floor.count('name="_button"') == len(render.ROWS)
    assert plain.count('name="todo_id"') == len(render.ROWS)
    assert idiomatic.count('name="todo_id"') == len(render.ROWS)
    assert idiomatic.count('name="csrf_token"') == len(render.ROWS)
    # The no-work button repeats a real button of the bound page: same size.
    assert ready.count('name="_button"') == len(render.ROWS)
    assert abs(len(ready) - len(bound)) < len(bound) // 100
    assert len(set(re.findall(r'name="_button" value="([^"]+)"', bound))) == len(
        render.ROWS
    )


def test_a_bound_button_of_the_render_page_invokes_its_action() -> None:
    app = render.create_app(True)
    client = app.test_client()
    html = client.get("/rows").get_data(as_text=True)
    value = re.findall(r'name="_button" value="([^"]+)"', html)[7]
    assert "~" in value  # the button brings the CSRF token: no fa.form here
    response = client.post(
        "/rows",
        data={"_button": value},
        headers={"Origin": ORIGIN, "Accept": "application/json"},
    )
    assert response.status_code == 200
    assert response.get_json()["ok"] is True


@pytest.mark.parametrize(
    "create_app",
    [
        actions.create_app,
        handwritten.create_app,
        render.create_app,
        smorest.create_app,
        nextjs_flask.create_app,
        lambda: bench_cache._app({"CACHE_TYPE": "SimpleCache"}),
    ],
    ids=["actions", "handwritten", "render", "smorest", "nextjs_flask", "bench_cache"],
)
def test_the_benchmark_apps_start_and_serve_without_a_warning(
    create_app: t.Callable[[], Flask], caplog: pytest.LogCaptureFixture
) -> None:
    """A bench run prints its figures, not advice meant for a deployment (such
    as the TRUSTED_HOSTS warning)."""
    with caplog.at_level(logging.WARNING):
        app = create_app()
        assert app.test_client().get("/").status_code in (200, 404)
    assert [r.getMessage() for r in caplog.records] == []


def test_lua_strings_are_quoted() -> None:
    assert load._lua_str('a"b\\c\n') == '"a\\"b\\\\c\\10"'


@pytest.mark.slow
@pytest.mark.parametrize("use_wrk", [True, False], ids=["wrk", "python"])
def test_load_generators_count_successful_form_cycles(use_wrk: bool) -> None:
    if use_wrk and load.WRK is None:
        pytest.skip("wrk is not installed")
    contender = next(c for c in throughput.CONTENDERS if c.key == "action_form")
    with Server(contender.app, workers=1) as server:
        work = throughput.workload(contender, server.port)
        measured = load.run(work, 1, 2, use_wrk=use_wrk)
    assert measured.units > 0
    assert measured.errors == 0


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.parametrize("use_wrk", [True, False], ids=["wrk", "python"])
@pytest.mark.parametrize("kind", ["call", "form"])
def test_load_generators_send_each_submission_with_a_key_of_its_own(
    use_wrk: bool, kind: str, redis_server: t.Any
) -> None:
    """The keyed rows of ``make bench`` measure first submissions: every key
    the generators send is new, within a run, across connections and from
    one run to the next (a run sending keys an earlier one sent would be
    answered with replays). Counted in the store: a key per submission."""
    if use_wrk and load.WRK is None:
        pytest.skip("wrk is not installed")
    import redis

    from benchmarks.bench_idempotency import HTTP_KINDS

    label = "call (JSON)" if kind == "call" else "no-JS submit (cycle)"
    contender = dict(HTTP_KINDS)[label]
    env = {"BENCH_IDEMPOTENCY_REDIS_URL": redis_server.url}
    with (
        Server(contender.app, workers=1, env=env) as server,
        redis.Redis.from_url(redis_server.url) as client,
    ):
        units = 0
        for _ in range(2):
            work = throughput.workload(contender, server.port)
            assert work.key == "header" if kind == "call" else "." not in work.key
            measured = load.run(work, 1, 2, use_wrk=use_wrk)
            assert measured.units > 2 and measured.errors == 0
            units += measured.units
        stored = len(list(client.scan_iter(match="*submission:*", count=1000)))
        # Beyond the units counted: a request per connection in flight when
        # a run ends, and wrk's own request before each run. Below: wrk
        # sends a request again, key and all, on the rare connection that
        # gunicorn closed under it (a replay, one in hundreds). Keys
        # repeated from one run to the next would leave half as many.
        assert units * 0.99 <= stored <= units + 2 * 2 * 2

        # A key of this run, sent again with other values: already sent.
        headers, body = load._keyed(work, 200_000_002, measured.run)
        body = body.replace("milk", "tea")
        raw = load._request(server.port, "POST", "/", headers, work.cookies, body)
        assert load._exchange(server.port, raw)[0] == 422


def test_a_page_s_form_keys_serve_one_run() -> None:
    work = load.Workload("form", 1, "/", {}, "", {}, cycle=True, key="AbC123")
    load._sent_prefixes.add(work.key)
    with pytest.raises(ValueError, match="visit the page again"):
        load.run(work, 1, 1)


@pytest.mark.parametrize("kind", ["form", "enhanced", "call"])
def test_in_process_requests_each_claim_a_key_of_their_own(
    kind: str, tmp_path: t.Any
) -> None:
    """The in-process table times first submissions: every request of a
    sender runs the action (none is answered as a duplicate), and the key
    it sent is then known to the store."""
    from benchmarks import bench_idempotency
    from flask_actions import idempotency

    app = bench_idempotency._app({"ACTIONS_IDEMPOTENCY_PATH": str(tmp_path / "k")})
    send = bench_idempotency._Sender(app, kind)
    store = idempotency._state(app).keeper.store(app)
    settled = []
    finish = store.finish

    def counted(key: bytes, *args: t.Any) -> None:
        settled.append(key)
        finish(key, *args)

    store.finish = counted  # type: ignore[method-assign]
    for _ in range(20):
        send()
    assert len(set(settled)) == 20
    assert all(store.lookup(key) is not None for key in settled)


def test_the_keys_http_report_compares_time_per_request() -> None:
    """Fewer requests per second with keys is a ratio above 1 (time per
    request, as in process), said to be beyond 10% past 1.10."""
    from benchmarks.bench_idempotency import HTTPFigures
    from benchmarks.bench_idempotency import report_http

    rates = {
        ("call (JSON)", "off"): [100.0, 110.0],
        ("call (JSON)", "embedded"): [80.0, 88.0],
        ("no-JS submit (cycle)", "off"): [50.0, 40.0],
        ("no-JS submit (cycle)", "embedded"): [50.0, 40.0],
    }
    cpu = {key: [1e6 / rate for rate in values] for key, values in rates.items()}
    lines = report_http(HTTPFigures(rates, cpu), "title")
    assert lines[3].endswith("1.25x 1.25 to 1.25   11,932 µs  1.25x")
    assert "1.00x 1.00 to 1.00" in lines[5]
    assert "over HTTP: beyond 10% on: call (JSON)." in lines[-1]


def test_the_render_report_holds_both_targets() -> None:
    from benchmarks import render as render_bench
    from benchmarks import report

    figures = render_bench.measure(rounds=2)
    found = {what: (ratio, most) for what, ratio, most in render_bench.targets(figures)}
    assert found["bound page vs the Flask-WTF page"][1] == 1.0
    assert found["bound page vs the cheapest page"] == (
        figures.ratio["fa_button"],
        render_bench.TARGET_VS_CHEAPEST,
    )
    lines = "\n".join(report.render(figures))
    assert lines.count("target ≤") == 2
    assert "direct" not in lines


@pytest.mark.parametrize("handled", [True, False], ids=["handled", "default"])
def test_a_benchmark_stopped_by_sigterm_stops_its_servers(handled: bool) -> None:
    # `kill` or a runner stopping `make bench-nextjs` left every gunicorn,
    # granian and next start process running: Python's default SIGTERM ends
    # the process without the `finally` that stops them.
    script = textwrap.dedent(
        f"""
        import sys, time
        from benchmarks.servers import Server, stop_servers_on_sigterm
        if {handled}:
            stop_servers_on_sigterm()
        server = Server("benchmarks.apps.handwritten:app", workers=1)
        try:
            print(server._process.pid, flush=True)
            time.sleep(60)
        finally:
            server.stop()
        """
    )
    bench = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert bench.stdout is not None
    gunicorn = int(bench.stdout.readline())
    try:
        bench.send_signal(signal.SIGTERM)
        bench.wait(timeout=20)
        deadline = time.monotonic() + 10
        while _alive(gunicorn) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _alive(gunicorn) is not handled
    finally:
        bench.kill()
        bench.wait()
        bench.stdout.close()
        if _alive(gunicorn):  # its master stops its worker too
            os.kill(gunicorn, signal.SIGTERM)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False
