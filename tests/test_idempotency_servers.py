"""One key, fifty requests at once, real servers: two workers of one
gunicorn on the embedded store (SQLite in one file), and two gunicorn
processes sharing one ``redis-server``. Exactly one order is written and
all fifty answers are the same. And a worker killed in the middle of an
action: its key stays claimed for the lease, then runs."""

from __future__ import annotations

import html
import http.client
import json
import re
import threading
import time
import typing as t
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from apps.orders_app import order_count

if t.TYPE_CHECKING:
    from servers import Gunicorn
    from servers import RedisServer

pytestmark = pytest.mark.slow

REQUESTS = 50


class Visitor(t.NamedTuple):
    """What one browser tab holds after loading the shop's page."""

    cookie: str
    csrf: str
    ref: str


def visit(port: int) -> Visitor:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        page = response.read().decode()
        cookie = response.getheader("Set-Cookie", "").split(";")[0]
    finally:
        conn.close()

    def hidden(name: str) -> str:
        found = re.search(rf'name="{name}" value="([^"]*)"', page)
        assert found, name
        return html.unescape(found.group(1))

    return Visitor(cookie, hidden("csrf_token"), hidden("_action"))


def order(port: int, visitor: Visitor, key: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(
            "POST",
            "/",
            body=json.dumps({"item": "stay", "quantity": 3}),
            headers={
                "Cookie": visitor.cookie,
                "X-CSRFToken": visitor.csrf,
                "X-Action": visitor.ref,
                "Origin": f"http://127.0.0.1:{port}",
                "Accept": "application/json",
                "Content-Type": "application/json",
                "Idempotency-Key": key,
            },
        )
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def fifty_at_once(ports: list[int], visitor: Visitor) -> list[tuple[int, str]]:
    with ThreadPoolExecutor(REQUESTS) as pool:
        futures = [
            pool.submit(order, ports[n % len(ports)], visitor, "one-key-for-fifty")
            for n in range(REQUESTS)
        ]
        return [f.result() for f in futures]


def test_two_workers_on_the_embedded_store(
    gunicorn: t.Callable[..., Gunicorn], tmp_path: Path
) -> None:
    database = str(tmp_path / "orders.sqlite3")
    server = gunicorn(
        "apps.orders_app:create_app()",
        {
            "ORDERS_DB": database,
            "ORDERS_KEYS": str(tmp_path / "keys.sqlite3"),
            "ORDERS_DELAY": "0.3",
        },
        workers=2,
    )
    visitor = visit(server.port)
    answers = fifty_at_once([server.port], visitor)
    assert order_count(database) == 1
    assert len(set(answers)) == 1, set(answers)
    status, body = answers[0]
    assert status == 200 and json.loads(body)["data"] == {"id": 1}


@pytest.mark.redis
def test_two_servers_sharing_one_redis(
    gunicorn: t.Callable[..., Gunicorn], tmp_path: Path, redis_server: RedisServer
) -> None:
    database = str(tmp_path / "orders.sqlite3")
    env = {
        "ORDERS_DB": database,
        "ORDERS_REDIS_URL": redis_server.url,
        "ORDERS_DELAY": "0.3",
    }
    servers = [gunicorn("apps.orders_app:create_app()", env, workers=1) for _ in "ab"]
    visitor = visit(servers[0].port)  # the same session on both: one secret
    answers = fifty_at_once([s.port for s in servers], visitor)
    assert order_count(database) == 1
    assert len(set(answers)) == 1, set(answers)
    status, body = answers[0]
    assert status == 200 and json.loads(body)["data"] == {"id": 1}


def test_a_worker_killed_mid_action_holds_its_key_for_the_lease(
    gunicorn: t.Callable[..., Gunicorn], tmp_path: Path
) -> None:
    database = str(tmp_path / "orders.sqlite3")
    server = gunicorn(
        "apps.orders_app:create_app()",
        {
            "ORDERS_DB": database,
            "ORDERS_KEYS": str(tmp_path / "keys.sqlite3"),
            "ORDERS_DELAY": "3",
            "ORDERS_LEASE": "4",
            "ORDERS_WAIT": "0.5",
        },
        workers=1,
    )
    visitor = visit(server.port)
    lost: list[BaseException] = []

    def doomed() -> None:
        try:
            order(server.port, visitor, "killed-key")
        except OSError as e:  # the worker died under it
            lost.append(e)

    first = threading.Thread(target=doomed)
    first.start()
    time.sleep(1)  # claimed, sleeping before the insert
    claimed_at = time.monotonic()
    killed = server.kill_worker()
    server.wait_ready(1, without=killed)
    first.join(10)
    assert lost, "the first request should have lost its worker"

    status, body = order(server.port, visitor, "killed-key")
    assert status == 409
    assert "still being sent" in json.loads(body)["message"]
    assert order_count(database) == 0

    time.sleep(max(0.0, 4.2 - (time.monotonic() - claimed_at)))
    status, body = order(server.port, visitor, "killed-key")
    assert status == 200 and json.loads(body)["data"] == {"id": 1}
    assert order_count(database) == 1
