"""Faults: a worker killed under load, a rotated secret, an action that crashes.

- A gunicorn worker killed with SIGKILL in the middle of a load loses no
  acknowledged write; only the calls it was serving fail, with a connection
  error, never a 5xx.
- After the secret is rotated, pages rendered before keep working while the old
  secret is listed in ``ACTIONS_SECRET_KEY_FALLBACKS``, and only then.
- An action that raises leaves nothing behind (no row, no cookie, no session
  change) and shows the same error reference the log has.
"""

from __future__ import annotations

import html
import http.client
import re
import threading
import time
import typing as t
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from apps.hardening_app import create_app
from apps.hardening_app import rows
from apps.hardening_server import new_key
from apps.hardening_server import Page
from flask import Flask
from flask.testing import FlaskClient
from servers import Gunicorn

from flask_actions.testing import read_forms
from flask_actions.testing import submit

OLD_SECRET = "the secret before the rotation " * 2
NEW_SECRET = "the secret after the rotation " * 2

CALLS = 1500
CLIENTS = 24
KILL_AFTER = 300


class Outcome(t.NamedTuple):
    key: str
    started: float
    #: ``None`` when the connection failed.
    status: int | None
    acknowledged: bool


@pytest.mark.slow
def test_a_killed_worker_loses_no_acknowledged_write(
    gunicorn: t.Callable[..., Gunicorn], tmp_path: Path
) -> None:
    database = tmp_path / "faults.sqlite3"
    server = gunicorn(
        "apps.hardening_app:create_app()", {"HARDENING_DATABASE": str(database)}
    )
    page = Page(server.port)
    done = threading.Semaphore(0)

    def send(i: int) -> Outcome:
        key, started = new_key(), time.monotonic()
        mode: t.Literal["json", "form"] = "form" if i % 3 == 0 else "json"
        try:
            status, body = page.post(
                page.refs[0], {"title": f"item {i}", "key": key}, mode=mode
            )
        except (OSError, http.client.HTTPException):
            return Outcome(key, started, None, False)
        finally:
            done.release()
        ok = status == 303 if mode == "form" else status == 200
        return Outcome(key, started, status, ok)

    with ThreadPoolExecutor(CLIENTS) as pool:
        futures = [pool.submit(send, i) for i in range(CALLS)]
        for _ in range(KILL_AFTER):
            done.acquire()
        killed = server.kill_worker()
        killed_at = time.monotonic()
        outcomes = [future.result() for future in futures]

    server.wait_ready(workers=2, without=killed)  # the master replaced it
    assert Page(server.port).post(page.refs[0], {"title": "after"})[0] == 200
    server.close()

    failed = {o.key for o in outcomes if o.status is None}
    acknowledged = {o.key for o in outcomes if o.acknowledged}
    assert {o.status for o in outcomes} <= {200, 303, None}
    assert len(failed) <= CLIENTS  # only what was in flight at the kill
    assert any(o.acknowledged and o.started > killed_at for o in outcomes)
    written = {key for key, kind, _ in rows(str(database)) if kind == "add"}
    assert acknowledged <= written
    # A write may have committed just before the kill, its answer lost.
    assert written - {"after"} <= acknowledged | failed | {None}


# -- key rotation ---------------------------------------------------------------


def _app(database: Path, **config: t.Any) -> Flask:
    return create_app(
        {"DATABASE": str(database), "SECRET_KEY": "faults " * 5, **config}
    )


def _open_page(app: Flask) -> tuple[FlaskClient, str]:
    """Load ``/`` as a browser would: the client and the page."""
    client = app.test_client()
    return client, client.get("/").get_data(as_text=True)


def _ref(page: str, form_id: str) -> str | None:
    """The action ref of the form ``form_id`` of ``page``."""
    return next(form for form in read_forms(page) if form.id == form_id).ref


def _carry_session(old: FlaskClient, new: FlaskClient) -> None:
    """The browser keeps its cookie when the servers are redeployed."""
    cookie = old.get_cookie("session")
    assert cookie is not None
    new.set_cookie("session", cookie.value)


def _submit(client: FlaskClient, page: str, form_id: str, title: str) -> t.Any:
    """Type ``title`` into the form ``form_id`` of ``page`` and press Enter:
    the response to the submission."""
    return submit(client, page, form=form_id, data={"title": title}).response


def test_rotated_secret_keeps_old_pages_working_through_fallbacks(
    tmp_path: Path,
) -> None:
    database = tmp_path / "rotation.sqlite3"
    before = _app(database, ACTIONS_SECRET_KEY=OLD_SECRET)
    browser, old_page = _open_page(before)

    rotated = _app(
        database,
        ACTIONS_SECRET_KEY=NEW_SECRET,
        ACTIONS_SECRET_KEY_FALLBACKS=[OLD_SECRET],
    )
    client = rotated.test_client()
    _carry_session(browser, client)
    assert _submit(client, old_page, "add", "old add").status_code == 303
    rename = _submit(client, old_page, "rename", "old rename")
    assert rename.status_code == 303
    assert [value for _, _, value in rows(str(database))] == [
        "old add x1",
        "1:old rename",
    ]

    # The fresh page of the rotated app is sealed with the new secret only.
    fresh_client, fresh_page = _open_page(rotated)
    assert _ref(fresh_page, "add") != _ref(old_page, "add")
    assert _submit(fresh_client, fresh_page, "add", "new").status_code == 303

    # Once the old secret is dropped, the old page is refused, nothing runs,
    # and the user is told to reload, which works.
    dropped = _app(database, ACTIONS_SECRET_KEY=NEW_SECRET)
    client = dropped.test_client()
    _carry_session(browser, client)
    refused = _submit(client, old_page, "add", "too old")
    assert refused.status_code == 404
    assert "reload the page" in html.unescape(refused.get_data(as_text=True))
    rename = _submit(client, old_page, "rename", "too old")
    assert rename.status_code == 404
    assert dropped.extensions["hardening_calls"] == []
    assert len(rows(str(database))) == 3
    reloaded_client, reloaded = _open_page(dropped)
    assert _ref(reloaded, "add") == _ref(fresh_page, "add")
    assert _submit(reloaded_client, reloaded, "add", "x").status_code == 303


# -- an action that raises --------------------------------------------------------


@pytest.mark.parametrize("mode", ["json", "form"])
def test_an_action_that_raises_leaves_no_partial_state(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    from flask_actions.testing import call

    app = _app(tmp_path / "boom.sqlite3")
    client = app.test_client()
    client.get("/")  # a session with a CSRF token, as a browser has

    with caplog.at_level("ERROR", logger="flask_actions"):
        result = call(
            client,
            "hard.boom",
            {"title": "typed", "key": "k"},
            mode=mode,  # type: ignore[arg-type]
        )

    assert result.status == 500
    assert result.reference is not None
    assert re.fullmatch(r"E-[0-9A-F]{10}", result.reference)
    body = html.unescape(result.response.get_data(as_text=True))  # type: ignore[union-attr]
    assert f"quote reference {result.reference}" in body
    assert "nothing was saved" in body
    assert "disk is on fire" not in body and "Traceback" not in body
    [record] = [
        r
        for r in caplog.records
        if r.name == "flask_actions" and r.levelname == "ERROR"
    ]
    assert result.reference in record.getMessage()
    assert record.exc_info is not None
    assert "the disk is on fire" in str(record.exc_info[1])

    assert rows(app.config["DATABASE"]) == []
    assert client.get_cookie("boom") is None
    with client.session_transaction() as session:
        assert "boom" not in session
