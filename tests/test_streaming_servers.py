"""Streaming actions under gunicorn, sync and gthread workers, and granian
(the server ``docs/deployment.md`` recommends): the first piece reaches the
client while the action still runs, and a client that goes away stops the
action (its ``finally`` runs) in the worker process."""

from __future__ import annotations

import http.client
import json
import re
import sqlite3
import threading
import time
import typing as t
from pathlib import Path

import pytest

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from servers import Granian
    from servers import Gunicorn

pytestmark = pytest.mark.slow

SERVERS = ["gunicorn sync", "gunicorn gthread", "granian"]


@pytest.fixture(params=SERVERS)
def reports_server(
    request: pytest.FixtureRequest,
    gunicorn: Callable[..., Gunicorn],
    granian: Callable[..., Granian],
    tmp_path: Path,
) -> Gunicorn | Granian:
    """The reports app, with one worker, under each server."""
    env = {"REPORTS_DIR": str(tmp_path)}
    if request.param == "granian":
        return granian("apps.reports_app:create_app", env)
    kind = request.param.split()[1]
    return gunicorn(
        "apps.reports_app:create_app()",
        env,
        workers=1,
        threads=4 if kind == "gthread" else 1,
        worker_class=kind,
    )


def open_stream(
    server: Gunicorn | Granian, rows: int
) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    """POST the report form as the browser script does; the response, unread."""
    connection, response = post_form(server, *report_form(server, rows))
    assert response.status == 200, response.read()
    assert response.getheader("Content-Type", "").startswith("text/event-stream")
    assert response.getheader("X-Accel-Buffering") == "no"
    return connection, response


def report_form(server: Gunicorn | Granian, rows: int) -> tuple[str, str]:
    """The body the report form of a fresh page sends, and the page's cookie."""
    page = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    page.request("GET", "/")
    answer = page.getresponse()
    html = answer.read().decode()
    cookie = (answer.getheader("Set-Cookie") or "").split(";")[0]
    page.close()
    form = re.search(r'<form[^>]*id="report".*?</form>', html, re.S)
    assert form is not None
    fields = dict(
        re.findall(
            r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.group(0)
        )
    )
    fields["rows"] = str(rows)
    return "&".join(f"{k}={v}" for k, v in fields.items()), cookie


def post_form(
    server: Gunicorn | Granian, body: str, cookie: str
) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=15)
    connection.request(
        "POST",
        "/",
        body=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json, text/event-stream",
            "X-Flask-Actions": "form",
            "Origin": server.url,
            "Cookie": cookie,
        },
    )
    return connection, connection.getresponse()


def read_until(response: http.client.HTTPResponse, marker: bytes) -> bytes:
    received = b""
    while marker not in received:
        chunk = response.read1(65536)
        assert chunk, f"the stream ended before {marker!r}: {received!r}"
        received += chunk
    return received


def wait_for(path: Path, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists():
            return True
        time.sleep(0.05)
    return False


def test_the_first_piece_arrives_while_the_action_runs(
    reports_server: Gunicorn | Granian, tmp_path: Path
) -> None:
    server = reports_server
    connection, response = open_stream(server, rows=2)
    # The action waits for "go" after its first row: without streaming
    # (a buffering server) this event would never come.
    first = read_until(response, b"event: text")
    assert b'"Row 1 of 2"' in first and not (tmp_path / "finished-2").exists()
    (tmp_path / "go").touch()
    rest = read_until(response, b"event: result")
    rest += response.read()
    assert b'"ok": true' in rest or b'"ok":true' in rest
    assert wait_for(tmp_path / "finished-2")
    connection.close()
    # Its rows are in the tutorial's SQLite database, whose connection the
    # app's teardown closed (made in the action, closed in the same thread).
    assert wait_for(tmp_path / "closed-1"), server.log.read_text()
    with sqlite3.connect(tmp_path / "reports.db") as database:
        assert database.execute("select count(*) from rows").fetchone() == (2,)
    assert "Error" not in server.log.read_text()


def test_a_client_that_goes_away_stops_the_action_in_the_worker(
    reports_server: Gunicorn | Granian, tmp_path: Path
) -> None:
    server = reports_server
    connection, response = open_stream(server, rows=60)
    read_until(response, b"event: text")
    connection.close()  # the tab closed
    (tmp_path / "go").touch()
    # 60 rows take 18 s; the writes after the close fail and the action stops.
    assert wait_for(tmp_path / "stopped-60", 8), (
        tmp_path.iterdir(),
        server.log.read_text(),
    )
    assert not (tmp_path / "finished-60").exists()
    # The worker serves the next request.
    connection, response = open_stream(server, rows=1)
    assert b"event: result" in response.read()
    connection.close()


def test_a_stream_sent_again_while_it_runs_runs_once_and_both_get_its_result(
    gunicorn: Callable[..., Gunicorn], tmp_path: Path
) -> None:
    # The script sends a form again when the connection drops: the second
    # request, with the same key, waits for the first (which streams in its
    # own thread), then answers with its outcome.
    server = gunicorn(
        "apps.reports_app:create_app()",
        {"REPORTS_DIR": str(tmp_path)},
        workers=1,
        threads=4,
        worker_class="gthread",
    )
    body, cookie = report_form(server, rows=2)
    connection, response = post_form(server, body, cookie)
    read_until(response, b"event: text")
    answers: list[tuple[int, bytes]] = []

    def send_again() -> None:
        again, answer = post_form(server, body, cookie)
        answers.append((answer.status, answer.read()))
        again.close()

    duplicate = threading.Thread(target=send_again)
    duplicate.start()
    time.sleep(0.5)  # the duplicate waits for the first
    assert answers == []
    (tmp_path / "go").touch()
    rest = read_until(response, b"event: result") + response.read()
    connection.close()
    duplicate.join(15)
    first = json.loads(rest.split(b"event: result\ndata: ", 1)[1])
    [(status, second)] = answers
    assert status == 200
    assert (
        json.loads(second)["data"]
        == first["data"]
        == {
            "rows": 2,
            "log": "Row 1: 1\nRow 2: 4\n",
        }
    )
    with sqlite3.connect(tmp_path / "reports.db") as database:
        assert database.execute("select count(*) from rows").fetchone() == (2,)
