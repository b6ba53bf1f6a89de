"""Load: many clients at once against a real server, and nothing lost.

gunicorn serves the app with two worker processes of four threads each, on
loopback; a pool of client threads sends a few thousand calls at once, plain
form posts and script calls mixed, some of them invalid. No call may get a
5xx, and the database must hold exactly the writes that were acknowledged.

Two apps take the load: the small app of the hardening tests and the todo
example (``examples/todos``).
"""

from __future__ import annotations

import re
import sqlite3
import typing as t
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from apps.hardening_app import rows
from apps.hardening_server import new_key
from apps.hardening_server import Page
from servers import Gunicorn

pytestmark = pytest.mark.slow

CALLS = 2000
TODO_CALLS = 1000
CLIENTS = 48


class Outcome(t.NamedTuple):
    title: str
    key: str
    status: int
    acknowledged: bool


def _load(
    page: Page,
    ref: str,
    calls: int,
    keyed: bool = True,
    cheap: bool = False,
) -> list[Outcome]:
    """Send ``calls`` adds from ``CLIENTS`` threads at once. Every fourth is a
    plain form post, the others script calls; every ninth has an empty title.

    :param keyed: send the key in a field of its own (else only in the title).
    :param cheap: only calls whose answer is not the page: bare API calls
        (no ``X-Flask-Actions``), and empty titles only in those. Rendering a
        page of thousands of items in every answer measures the template.
    """

    def send(i: int) -> Outcome:
        key = new_key()
        mode: t.Literal["json", "form"] = "form" if i % 4 == 0 else "json"
        bad = i % 9 == 1 and not (cheap and mode == "form")
        title = "" if bad else f"item {i} {key}"
        fields = {"title": title, "key": key} if keyed else {"title": title}
        status, body = page.post(ref, fields, mode=mode, script=not cheap)
        if mode == "json":
            acknowledged = status == 200 and isinstance(body, dict) and body["ok"]
        else:
            acknowledged = status == 303
        return Outcome(title, key, status, acknowledged)

    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(send, range(calls)))


def _check_statuses(outcomes: list[Outcome], calls: int, server: Gunicorn) -> None:
    statuses = Counter(o.status for o in outcomes)
    errors = [line for line in server.log.read_text().splitlines() if "Error" in line]
    assert not [s for s in statuses if s >= 500], (statuses, errors[-5:])
    assert set(statuses) == {200, 303, 422}, statuses
    assert statuses[422] == sum(o.title == "" for o in outcomes) > 0
    assert sum(o.acknowledged for o in outcomes) == calls - statuses[422]


def test_hardening_app_under_load_loses_nothing(
    gunicorn: t.Callable[..., Gunicorn], tmp_path: Path
) -> None:
    database = tmp_path / "load.sqlite3"
    server = gunicorn(
        "apps.hardening_app:create_app()", {"HARDENING_DATABASE": str(database)}
    )
    page = Page(server.port)
    outcomes = _load(page, page.refs[0], CALLS)
    server.close()  # every write is in, the log complete

    _check_statuses(outcomes, CALLS, server)
    written = [key for key, _, _ in rows(str(database))]
    assert len(written) == len(set(written))
    assert set(written) == {o.key for o in outcomes if o.acknowledged}
    assert "Traceback" not in server.log.read_text()


def test_todo_example_under_load_loses_nothing(
    gunicorn: t.Callable[..., Gunicorn], tmp_path: Path
) -> None:
    database = tmp_path / "todos.sqlite3"
    server = gunicorn(
        "examples.todos.app:create_app()",
        {"FLASK_DATABASE": str(database), "FLASK_SECRET_KEY": "load test " * 4},
    )
    page = Page(server.port)
    [ref] = re.findall(
        r'<form[^>]*id="add"[^>]*>\s*<input type="hidden" name="_action"'
        r' value="([^"]+)"',
        page.html,
    )
    outcomes = _load(page, ref, TODO_CALLS, keyed=False, cheap=True)
    server.close()

    _check_statuses(outcomes, TODO_CALLS, server)
    conn = sqlite3.connect(database)
    try:
        titles = [title for (title,) in conn.execute("SELECT title FROM todo")]
    finally:
        conn.close()
    assert len(titles) == len(set(titles))
    assert set(titles) == {o.title for o in outcomes if o.acknowledged}
    assert "Traceback" not in server.log.read_text()
