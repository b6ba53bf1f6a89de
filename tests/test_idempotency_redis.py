"""Submission keys in Redis, and what an outage of the store does: a real
``redis-server`` killed, and paused with SIGSTOP, in the middle of a run,
with ``ACTIONS_IDEMPOTENCY_ON_OUTAGE`` ``open`` (the default: run without
protection, one warning per outage) and ``closed`` (503, nothing runs, the
form comes back)."""

from __future__ import annotations

import html
import logging
import os
import re
import signal
import threading
import time
import typing as t
from pathlib import Path

import pytest
from apps.orders_app import create_app
from apps.orders_app import order_count
from flask import Flask
from flask.testing import FlaskClient

if t.TYPE_CHECKING:
    from servers import RedisServer

pytestmark = pytest.mark.redis

ORIGIN = {"Origin": "http://localhost"}


def make_shop(tmp_path: Path, redis_server: RedisServer, policy: str) -> Flask:
    return create_app(
        {
            "ORDERS_DB": str(tmp_path / "orders.sqlite3"),
            "ACTIONS_IDEMPOTENCY_REDIS_URL": redis_server.url,
            "ACTIONS_IDEMPOTENCY_ON_OUTAGE": policy,
            "ACTIONS_IDEMPOTENCY_TIMEOUT": 0.3,
            "ACTIONS_IDEMPOTENCY_RETRY_INTERVAL": 0.5,
        }
    )


def order_form(client: FlaskClient, item: str = "tea") -> dict[str, str]:
    page = client.get("/").get_data(as_text=True)
    form = re.search(r'<form[^>]*id="order".*?</form>', page, re.S)
    assert form is not None
    hidden = re.findall(
        r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form.group(0)
    )
    return {
        **{name: html.unescape(value) for name, value in hidden},
        "item": item,
        "quantity": "1",
    }


def orders(app: Flask) -> int:
    return order_count(app.config["ORDERS_DB"])


def outage_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if "store of submission keys is unavailable" in r.getMessage()
    ]


def test_a_duplicate_is_answered_from_redis(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    app = make_shop(tmp_path, redis_server, "open")
    client = app.test_client()
    form = order_form(client)
    first = client.post("/", data=form, headers=ORIGIN)
    second = client.post("/", data=form, headers=ORIGIN)
    assert first.status_code == second.status_code == 303
    assert first.location == second.location == "/orders/1"
    assert orders(app) == 1


@pytest.fixture
def paused(redis_server: RedisServer) -> t.Iterator[t.Callable[[], None]]:
    """``pause()`` stops the server with SIGSTOP (it keeps its port and
    connections, and answers nothing); it is continued at the end."""
    pid = redis_server._process.pid  # type: ignore[union-attr]
    stopped = []

    def pause() -> None:
        os.kill(pid, signal.SIGSTOP)
        stopped.append(pid)

    yield pause
    if stopped:
        os.kill(pid, signal.SIGCONT)


def test_open_runs_without_protection_while_redis_is_down_and_warns_once(
    tmp_path: Path, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_shop(tmp_path, redis_server, "open")
    client = app.test_client()
    form = order_form(client)
    client.post("/", data=form, headers=ORIGIN)
    with caplog.at_level(logging.WARNING, "flask_actions"):
        redis_server.stop()
        sent = [client.post("/", data=form, headers=ORIGIN) for _ in range(3)]
        assert [r.status_code for r in sent] == [303] * 3
        assert orders(app) == 4  # no protection meanwhile, as the log says
        assert len(outage_warnings(caplog)) == 1
        assert "without protection" in outage_warnings(caplog)[0]

        redis_server.start()
        time.sleep(0.6)  # the retry interval
        again = order_form(client, "coffee")
        client.post("/", data=again, headers=ORIGIN)
        client.post("/", data=again, headers=ORIGIN)
        assert orders(app) == 5  # protected again
        assert any("answers again" in r.getMessage() for r in caplog.records)
        redis_server.stop()  # a second outage, a second warning
        client.post("/", data=order_form(client), headers=ORIGIN)
        assert len(outage_warnings(caplog)) == 2


def test_closed_refuses_with_503_while_redis_is_down(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    app = make_shop(tmp_path, redis_server, "closed")
    client = app.test_client()
    form = order_form(client)
    redis_server.stop()
    refused = client.post("/", data=form, headers=ORIGIN)
    assert refused.status_code == 503
    page = refused.get_data(as_text=True)
    assert "cannot make sure that this form is sent only once" in page
    assert 'value="tea"' in page  # what was typed comes back
    json = client.post("/", data=form, headers={**ORIGIN, "Accept": "application/json"})
    assert json.status_code == 503 and json.get_json()["ok"] is False
    assert orders(app) == 0
    redis_server.start()
    time.sleep(0.6)
    assert client.post("/", data=form, headers=ORIGIN).status_code == 303
    assert orders(app) == 1


@pytest.mark.parametrize("policy", ["open", "closed"])
def test_a_paused_redis_is_an_outage(
    tmp_path: Path,
    redis_server: RedisServer,
    paused: t.Callable[[], None],
    policy: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = make_shop(tmp_path, redis_server, policy)
    client = app.test_client()
    form = order_form(client)
    paused()
    with caplog.at_level(logging.WARNING, "flask_actions"):
        started = time.monotonic()
        statuses = [
            client.post("/", data=form, headers=ORIGIN).status_code for _ in range(3)
        ]
        elapsed = time.monotonic() - started
    # Only the first waits for the timeout; the others do not try meanwhile.
    assert elapsed < 2
    assert len(outage_warnings(caplog)) == 1
    if policy == "open":
        assert statuses == [303] * 3 and orders(app) == 3
    else:
        assert statuses == [503] * 3 and orders(app) == 0


def test_redis_killed_while_an_action_runs(
    tmp_path: Path, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The claim was made, the outcome cannot be kept: the user still gets
    the action's answer (it ran), and the log says why a retry may run."""
    app = make_shop(tmp_path, redis_server, "open")
    app.config["ORDERS_DELAY"] = 0.5
    client = app.test_client()
    form = order_form(client)
    answer: list[t.Any] = []
    worker = threading.Thread(
        target=lambda: answer.append(client.post("/", data=form, headers=ORIGIN))
    )
    with caplog.at_level(logging.WARNING, "flask_actions"):
        worker.start()
        time.sleep(0.2)  # claimed, sleeping in the action
        redis_server.stop()
        worker.join(10)
    assert answer[0].status_code == 303 and answer[0].location == "/orders/1"
    assert orders(app) == 1
    assert len(outage_warnings(caplog)) == 1


def test_a_duplicate_is_answered_after_redis_forgot_its_scripts(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    # An outcome is kept by a Lua script run by its digest; a Redis that
    # restarted or flushed its scripts is sent the script's text once.
    import redis

    app = make_shop(tmp_path, redis_server, "open")
    client = app.test_client()
    for item in ("tea", "cake"):
        with redis.Redis(host="127.0.0.1", port=redis_server.port) as admin:
            admin.script_flush()
        form = order_form(client, item)
        first = client.post("/", data=form, headers=ORIGIN)
        second = client.post("/", data=form, headers=ORIGIN)
        assert first.status_code == second.status_code == 303
        assert first.location == second.location
    assert orders(app) == 2


def test_after_a_pause_redis_answers_each_command_with_its_own_answer(
    tmp_path: Path,
    redis_server: RedisServer,
    paused: t.Callable[[], None],
) -> None:
    # A command that timed out gets its answer late, when the server goes on:
    # that answer must not be read as the next command's.
    app = make_shop(tmp_path, redis_server, "open")
    client = app.test_client()
    client.post("/", data=order_form(client, "before"), headers=ORIGIN)
    paused()
    assert client.post("/", data=order_form(client), headers=ORIGIN).status_code == 303
    pid = redis_server._process.pid  # type: ignore[union-attr]
    os.kill(pid, signal.SIGCONT)
    time.sleep(0.6)  # the retry interval
    form = order_form(client, "after")
    first = client.post("/", data=form, headers=ORIGIN)
    second = client.post("/", data=form, headers=ORIGIN)
    assert first.location == second.location == "/orders/3"
    assert orders(app) == 3


def test_a_process_forked_from_one_that_used_redis_has_its_own_answers(
    redis_server: RedisServer,
) -> None:
    # A worker forked after the app's store talked to Redis (a preloaded app
    # that served a request) must not share the parent's connection: both
    # at once would read each other's answers.
    from flask_actions.claims import RedisStore

    store = RedisStore(redis_server.url, "fork-test:", timeout=5)
    assert store.claim(b"k" * 24, b"f" * 32, b"o" * 16, 60) is None

    def work(name: bytes) -> bool:
        for n in range(300):
            key = name + n.to_bytes(4, "big")
            fingerprint = (name * 32)[:32]
            if store.claim(key, fingerprint, b"o" * 16, 60) is not None:
                return False
            found = store.lookup(key)
            if found is None or found.fingerprint != fingerprint:
                return False
        return True

    pid = os.fork()
    if pid == 0:  # the child: its verdict is its exit status
        code = 1
        try:
            code = 0 if work(b"c") else 1
        finally:
            os._exit(code)
    ours = work(b"p")
    _, status = os.waitpid(pid, 0)
    assert ours and os.waitstatus_to_exitcode(status) == 0


def test_requests_on_threads_of_their_own_share_a_few_connections(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    # Werkzeug's threaded server (and gevent's workers, where a thread is a
    # greenlet) runs each request on a thread of its own: the store must not
    # connect to Redis once per request.
    import redis

    app = make_shop(tmp_path, redis_server, "open")
    client = app.test_client()
    forms = [order_form(client, f"item {n}") for n in range(40)]

    def connections() -> int:
        with redis.Redis(host="127.0.0.1", port=redis_server.port) as admin:
            return int(admin.info("stats")["total_connections_received"])

    client.post("/", data=forms[0], headers=ORIGIN)  # the store's first
    before = connections()
    statuses: list[int] = []
    for form in forms[1:]:
        worker = threading.Thread(
            target=lambda form=form: statuses.append(
                client.post("/", data=form, headers=ORIGIN).status_code
            )
        )
        worker.start()
        worker.join(10)
    # One more: the admin's own connection to read the count.
    assert connections() - before <= 2
    assert statuses == [303] * 39 and orders(app) == 40
