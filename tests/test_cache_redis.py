"""The page cache on a real ``redis-server``: pages and invalidations shared by
separate gunicorn processes, and what visitors see when Redis goes away."""

from __future__ import annotations

import http.cookiejar
import logging
import re
import time
import typing as t
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from apps.cache_app import create_app
from servers import Gunicorn
from servers import RedisServer

from flask_actions.testing import call

pytestmark = pytest.mark.redis

TESTS = Path(__file__).parent
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
REF = re.compile(r'name="_action" value="([^"]+)"')


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: t.Any, **kwargs: t.Any) -> None:
        return None


class Browser:
    """A visitor without JavaScript: its own cookies, no automatic redirects.
    Every request names the same site (``Host: shop.test``), as requests
    forwarded by a load balancer to any of the app's processes do."""

    host = "shop.test"

    def __init__(self) -> None:
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
            _NoRedirect,
        )

    def open(
        self, url: str, data: dict[str, str] | None = None
    ) -> tuple[int, str, t.Any]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        headers = {"Host": self.host}
        if data is not None:
            headers["Origin"] = f"http://{self.host}"
        request = urllib.request.Request(url, data=body, headers=headers)
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.read().decode(), response.headers
        except urllib.error.HTTPError as e:
            with e:
                return e.code, e.read().decode(), e.headers

    def get(self, url: str) -> tuple[str, str]:
        status, html, headers = self.open(url)
        assert status == 200, html
        return html, headers["X-Cache"]

    def submit(self, url: str, html: str, **fields: str) -> int:
        """Submit the first form of ``html`` (a page of ``url``)."""
        data = {
            "_action": REF.search(html)[1],  # type: ignore[index]
            "csrf_token": TOKEN.search(html)[1],  # type: ignore[index]
            **fields,
        }
        return self.open(url, data)[0]


def rendered_by(html: str) -> str:
    return re.search(r"rendered by (\d+)", html)[1]  # type: ignore[index]


@pytest.fixture
def two_processes(
    gunicorn: t.Callable[..., Gunicorn], redis_server: RedisServer, tmp_path: Path
) -> tuple[Gunicorn, Gunicorn]:
    """Two gunicorn processes serving the same app, data and Redis."""
    env = {
        "CACHE_APP_DATABASE": str(tmp_path / "items.sqlite"),
        "CACHE_APP_REDIS_URL": redis_server.url,
    }
    app = "apps.cache_app:create_app()"
    return (
        gunicorn(app, env, workers=1, threads=1),
        gunicorn(app, env, workers=1, threads=1),
    )


def test_an_action_in_one_process_refreshes_pages_cached_by_another(
    two_processes: tuple[Gunicorn, Gunicorn], redis_server: RedisServer
) -> None:
    a, b = two_processes
    redis_server.flush()  # forget what wait_ready() cached
    alice, bob = Browser(), Browser()

    page, how = alice.get(a.url + "/")
    assert how == "MISS"
    pid_a = rendered_by(page)
    assert alice.get(a.url + "/")[1] == "HIT"
    page, how = bob.get(b.url + "/")
    assert how == "HIT" and rendered_by(page) == pid_a  # shared through Redis

    # Bob adds an item through process B, with the form of the cached page.
    assert bob.submit(b.url + "/", page, title="from B") == 303

    page, how = alice.get(a.url + "/")
    assert how == "MISS" and "<li>from B</li>" in page
    assert rendered_by(page) == pid_a
    page, how = bob.get(b.url + "/")  # Bob's result cookie is spent by now
    assert "<li>from B</li>" in page
    page, how = alice.get(a.url + "/")
    assert how == "HIT" and "<li>from B</li>" in page


def _app(redis_server: RedisServer, tmp_path: Path) -> t.Any:
    return create_app(
        {
            "TESTING": True,
            "CACHE_APP_DATABASE": str(tmp_path / "items.sqlite"),
            "ACTIONS_CACHE_REDIS_URL": redis_server.url,
            "ACTIONS_CACHE_RETRY_INTERVAL": 0.05,
        }
    )


def _get(client: t.Any) -> tuple[str, str]:
    response = client.get("/")
    assert response.status_code == 200
    return response.get_data(as_text=True), response.headers["X-Cache"]


def _wait_for_cache(client: t.Any) -> tuple[str, str]:
    """Request the page until it is no longer served around the cache."""
    deadline = time.monotonic() + 20
    while True:
        page, how = _get(client)
        if how != "BYPASS" or time.monotonic() > deadline:
            return page, how
        time.sleep(0.05)


def test_redis_killed_mid_run(
    redis_server: RedisServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = _app(redis_server, tmp_path)
    client = app.test_client()
    assert _get(client)[1] == "MISS"
    assert _get(client)[1] == "HIT"

    with caplog.at_level(logging.INFO, logger="flask_actions.cache"):
        redis_server.stop()
        for _ in range(3):
            page, how = _get(client)
            assert how == "BYPASS"
        result = call(client, "items.add", {"title": "during outage"}, mode="json")
        assert result.ok and result.status == 200
        page, how = _get(client)
        assert how == "BYPASS" and "<li>during outage</li>" in page
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and "unreachable" in warnings[0].getMessage()

        redis_server.start()
        page, how = _wait_for_cache(client)
        assert how == "MISS" and "<li>during outage</li>" in page
        assert _get(client)[1] == "HIT"
        assert any("answers again" in r.getMessage() for r in caplog.records)

        # a second outage is reported again, once
        redis_server.stop()
        assert _get(client)[1] == "BYPASS"
        assert _get(client)[1] == "BYPASS"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2


def test_invalidation_missed_during_an_outage_is_written_afterwards(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """Redis keeps its data but stops answering for a while (paused): the
    invalidation the action could not write is written before any page is
    served from the cache again, so the stale page is never served."""
    import redis

    app = _app(redis_server, tmp_path)
    client = app.test_client()
    _get(client)
    page, how = _get(client)
    assert how == "HIT" and "<li>" not in page

    with redis.Redis(host="127.0.0.1", port=redis_server.port) as admin:
        admin.execute_command("CLIENT", "PAUSE", 4000, "ALL")
    result = call(client, "items.add", {"title": "while paused"}, mode="json")
    assert result.ok
    page, how = _wait_for_cache(client)
    assert how == "MISS" and "<li>while paused</li>" in page
    assert _get(client)[1] == "HIT"
