"""The test servers in ``servers.py`` do what the other tests rely on."""

from __future__ import annotations

import typing as t
import urllib.request
from pathlib import Path

import pytest
from flask import Flask
from flask import request
from servers import csp_nonce

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from playwright.sync_api import Page
    from servers import Gunicorn
    from servers import LiveServer
    from servers import RedisServer

PAGE = """<!doctype html>
<title>servers</title>
<p id="name">{name}</p>
<p id="mode">server rendered</p>
<noscript><p id="noscript">JavaScript is off</p></noscript>
<script nonce="{nonce}">document.getElementById("mode").textContent = "script ran";</script>
"""


def make_app(name: str) -> Flask:
    app = Flask(name)

    @app.get("/")
    def index() -> str:
        return PAGE.format(name=name, nonce=csp_nonce())  # live_server's strict CSP

    return app


def test_live_server_serves_several_apps(
    live_server: Callable[..., LiveServer],
) -> None:
    one = live_server(make_app("one"))
    two = live_server(make_app("two"))
    assert one.url != two.url
    assert one.url == f"http://127.0.0.1:{one.port}"
    for server in (one, two):
        with urllib.request.urlopen(server.url + "/", timeout=10) as response:
            assert response.status == 200
            assert f'<p id="name">{server.app.name}</p>' in response.read().decode()


@pytest.mark.browser
def test_browser_page_with_and_without_javascript(
    live_server: Callable[..., LiveServer],
    browser_page: Callable[..., Page],
) -> None:
    server = live_server(make_app("todos"))

    without_js = browser_page(js=False)
    without_js.goto(server.url + "/")
    assert without_js.text_content("#name") == "todos"
    assert without_js.text_content("#mode") == "server rendered"
    assert without_js.is_visible("#noscript")

    with_js = browser_page(js=True)
    with_js.goto(server.url + "/")
    assert with_js.text_content("#name") == "todos"
    assert with_js.text_content("#mode") == "script ran"
    assert not with_js.is_visible("#noscript")


@pytest.mark.browser
def test_browser_contexts_do_not_share_cookies(
    live_server: Callable[..., LiveServer],
    browser_page: Callable[..., Page],
) -> None:
    app = Flask("cookies")

    @app.get("/")
    def index() -> str:
        return request.cookies.get("seen", "new")

    @app.get("/set")
    def set_cookie() -> tuple[str, int, dict[str, str]]:
        return "set", 200, {"Set-Cookie": "seen=yes; Path=/"}

    server = live_server(app)
    first = browser_page()
    first.goto(server.url + "/set")
    first.goto(server.url + "/")
    assert first.text_content("body") == "yes"

    second = browser_page()
    second.goto(server.url + "/")
    assert second.text_content("body") == "new"


@pytest.mark.redis
def test_redis_server_outage_and_recovery(redis_server: RedisServer) -> None:
    import redis

    assert redis_server.url == f"redis://127.0.0.1:{redis_server.port}/0"
    with redis.Redis.from_url(redis_server.url, socket_timeout=5) as client:
        client.set("key", "value")
        assert client.get("key") == b"value"

        redis_server.stop()
        with pytest.raises(redis.ConnectionError):
            client.get("key")

        redis_server.start()
        assert client.get("key") is None
        client.set("key", "again")
        assert client.get("key") == b"again"


@pytest.mark.redis
def test_redis_server_is_running_and_empty_for_each_test(
    redis_server: RedisServer,
) -> None:
    import redis

    # Earlier tests leave keys behind or stop the server; this one sees neither.
    with redis.Redis.from_url(redis_server.url) as client:
        assert client.dbsize() == 0


def test_gunicorn_serves_until_closed_each_server_in_a_directory_of_its_own(
    gunicorn: Callable[..., Gunicorn], tmp_path: Path
) -> None:
    env = {"HARDENING_DATABASE": str(tmp_path / "data.sqlite3")}
    one = gunicorn("apps.hardening_app:create_app()", env, workers=1, threads=1)
    two = gunicorn("apps.hardening_app:create_app()", env, workers=1, threads=1)
    assert one.url == f"http://127.0.0.1:{one.port}" and one.port != two.port
    assert one.log.parent.parent == two.log.parent.parent == tmp_path
    assert one.log.parent != two.log.parent
    assert len(one.workers()) == 1

    one.close()
    one.close()  # again: nothing
    assert one.process.poll() is not None
    with pytest.raises(OSError):
        urllib.request.urlopen(one.url + "/", timeout=10)
    with urllib.request.urlopen(two.url + "/", timeout=10) as response:
        assert response.status == 200  # the other one still serves
