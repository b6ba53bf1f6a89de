"""Actions that stream (``flask_actions/streaming.py``, ``docs/streaming.md``):
what a script that asks for ``text/event-stream`` receives piece by piece,
what everyone else receives (the usual 303, page or JSON), failures in the
middle, and a client that goes away."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
import typing as t

import pytest
from flask import Flask
from flask import has_app_context
from flask import has_request_context
from flask import Response
from flask import session
from marshmallow import fields
from marshmallow import ValidationError

from flask_actions import ActionBlueprint
from flask_actions import ActionError
from flask_actions import ActionExtension
from flask_actions import File
from flask_actions import Progress
from flask_actions import redirect
from flask_actions import Return
from flask_actions import streaming
from flask_actions.testing import call
from flask_actions.testing import prepare

STREAM = {"Accept": "application/json, text/event-stream"}


class Seen:
    def __init__(self) -> None:
        self.closed = threading.Event()
        self.steps: list[int] = []
        self.broken_page = False
        self.order: list[str] = []


def make(seen: Seen) -> Flask:
    bp = ActionBlueprint("report", __name__)

    @bp.get("/")
    def index() -> str:
        if seen.broken_page:
            raise RuntimeError("the page's template has a bug")
        return "page"

    @bp.action(schema={"rows": fields.Int(required=True)})
    def build(data: dict[str, int]) -> t.Iterator[t.Any]:
        try:
            rows = data["rows"]
            for row in range(rows):
                seen.steps.append(row)
                yield Progress(row + 1, rows, "Reading rows")
                yield f"row {row}\n"
            yield {"rows": rows}
            if rows == 3:
                raise ValidationError({"rows": ["Three is not allowed."]})
            if rows == 4:
                raise ActionError("Four is too many.", status=409)
            if rows == 5:
                raise RuntimeError("a bug after some chunks")
            return {"built": rows}
        finally:
            seen.closed.set()

    @bp.action
    async def ask() -> t.AsyncIterator[str]:
        try:
            for word in ("Streams", "are", "fun"):
                await asyncio.sleep(0)
                yield word + " "
            raise Return({"answer": "Streams are fun"})
        finally:
            seen.closed.set()

    @bp.action
    def forever() -> t.Iterator[Progress]:
        try:
            done = 0
            while True:
                done += 1
                seen.steps.append(done)
                yield Progress(done)
        finally:
            seen.closed.set()

    @bp.action
    async def forever_async() -> t.AsyncIterator[Progress]:
        try:
            yield Progress(1)
            await asyncio.sleep(3600)
            yield Progress(2)
        finally:
            seen.closed.set()

    @bp.action
    def elsewhere() -> t.Iterator[str]:
        yield "leaving"
        redirect("/done")

    @bp.action
    def own_response() -> t.Iterator[str]:
        yield "almost"
        return Response("a page", mimetype="text/html")  # type: ignore[return-value]

    @bp.action
    def remember() -> t.Iterator[str]:
        session["seen"] = True
        yield "remembered"

    @bp.action(schema={"rows": File(required=True, accept="text/plain")})
    def upload(data: dict[str, t.Any]) -> t.Iterator[str]:
        yield "received"
        seen.order.append("action")
        return {"text": data["rows"].read().decode()}

    @bp.teardown_request
    def teardown(error: BaseException | None) -> None:
        seen.order.append("teardown")

    @bp.action
    async def slow() -> t.AsyncIterator[str]:
        yield "a"
        for _ in range(500):  # waits for the test, at most 5 s
            if seen.closed.is_set():
                break
            await asyncio.sleep(0.01)
        yield "b"

    app = Flask(__name__)
    app.config.update(SECRET_KEY="stream secret " * 3, TESTING=True)
    ActionExtension(app)
    app.register_blueprint(bp)
    return app


@pytest.fixture
def seen() -> Seen:
    return Seen()


@pytest.fixture
def app(seen: Seen) -> Flask:
    return make(seen)


def events(body: bytes) -> list[tuple[str, t.Any]]:
    """The (event, data) pairs of a text/event-stream body, heartbeats as
    ("", None)."""
    found: list[tuple[str, t.Any]] = []
    for block in body.decode().split("\n\n"):
        if not block:
            continue
        lines = dict(
            line.split(": ", 1) if ": " in line else (line, "")
            for line in block.split("\n")
        )
        if "event" in lines:
            found.append((lines["event"], json.loads(lines["data"])))
        else:
            found.append(("", None))
    return found


def post(
    app: Flask, name: str, data: dict[str, t.Any] | None = None, **kw: t.Any
) -> t.Any:
    client = app.test_client()
    ref, csrf, origin = prepare(client, name)
    headers = {
        "X-Action": ref,
        "X-Flask-Actions": "call",
        "X-CSRFToken": csrf or "",
        "Origin": origin,
        **STREAM,
        **kw.pop("headers", {}),
    }
    return client.post("/", json=data or {}, headers=headers, **kw)


def keyed_call(client: t.Any, name: str, key: str) -> dict[str, str]:
    """The headers of a call of ``name`` that asks for a stream, as the
    script sends it, with the submission key ``key``."""
    ref, csrf, origin = prepare(client, name)
    return {
        "X-Action": ref,
        "X-Flask-Actions": "call",
        "X-CSRFToken": csrf or "",
        "Origin": origin,
        "Idempotency-Key": key,
        **STREAM,
    }


def test_a_generator_streams_progress_text_data_then_its_result(app: Flask) -> None:
    response = post(app, "report.build", {"rows": 2})
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert response.headers["X-Accel-Buffering"] == "no"
    assert "no-transform" in response.headers["Cache-Control"]
    assert "Content-Encoding" not in response.headers
    got = [e for e in events(response.data) if e[0]]
    assert got[:-1] == [
        ("progress", {"done": 1, "total": 2, "message": "Reading rows"}),
        ("text", "row 0\n"),
        ("progress", {"done": 2, "total": 2, "message": "Reading rows"}),
        ("text", "row 1\n"),
        ("data", {"rows": 2}),
    ]
    kind, result = got[-1]
    assert kind == "result" and result["ok"] is True
    assert result["data"] == {"built": 2}


def test_a_stream_read_to_its_end_leaves_no_request_behind(app: Flask) -> None:
    # A test that reads a streamed answer and never closes it (as most do)
    # must not leave this app's request pushed for the tests after it: the
    # next `flask actions list` in another app's test listed this app's
    # actions.
    response = post(app, "report.build", {"rows": 2})
    assert events(response.data)[-1][0] == "result"
    assert not has_request_context() and not has_app_context()
    response.close()  # and closing it afterwards is harmless
    assert not has_request_context()


def test_an_async_generator_streams_and_returns_with_Return(app: Flask) -> None:
    got = [e for e in events(post(app, "report.ask").data) if e[0]]
    assert got[:-1] == [("text", "Streams "), ("text", "are "), ("text", "fun ")]
    assert got[-1][1]["data"] == {"answer": "Streams are fun"}


@pytest.mark.parametrize("accept", ["application/json", "*/*", "text/*"])
def test_a_client_that_does_not_name_the_stream_gets_one_json_answer(
    app: Flask, accept: str
) -> None:
    response = post(app, "report.build", {"rows": 2}, headers={"Accept": accept})
    assert response.mimetype == "application/json"
    assert response.get_json()["data"] == {"built": 2}


def test_without_javascript_the_action_runs_to_the_end_then_303(
    app: Flask, seen: Seen
) -> None:
    result = call(app.test_client(), "report.build", {"rows": 2})
    assert result.response.status_code == 303 and result.ok
    assert result.data == {"built": 2}
    assert seen.steps == [0, 1]
    assert seen.closed.is_set()


def test_without_javascript_a_failure_in_the_middle_is_the_usual_422(
    app: Flask,
) -> None:
    result = call(app.test_client(), "report.build", {"rows": 3})
    assert result.status == 422
    assert result.errors == {"rows": ["Three is not allowed."]}
    assert result.values == {"rows": "3"}


@pytest.mark.parametrize(
    ("rows", "status", "message"),
    [(3, 422, None), (4, 409, "Four is too many.")],
)
def test_a_failure_in_the_middle_ends_the_stream_with_that_failure(
    app: Flask, rows: int, status: int, message: str | None
) -> None:
    got = [e for e in events(post(app, "report.build", {"rows": rows}).data) if e[0]]
    assert [kind for kind, _ in got].count("text") == rows
    kind, result = got[-1]
    assert kind == "result" and result["ok"] is False
    assert result["status"] == status and result["message"] == message
    if rows == 3:
        assert result["errors"] == {"rows": ["Three is not allowed."]}


def test_a_crash_after_some_chunks_ends_with_a_reference_that_is_logged(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, "flask_actions"):
        got = [e for e in events(post(app, "report.build", {"rows": 5}).data) if e[0]]
    kind, result = got[-1]
    assert kind == "result" and result["status"] == 500
    reference = result["reference"]
    assert reference and reference in result["message"]
    assert any(reference in r.getMessage() and r.exc_info for r in caplog.records)


@pytest.mark.parametrize("name", ["report.forever", "report.forever_async"])
def test_a_client_that_goes_away_stops_the_generator(
    app: Flask, seen: Seen, name: str
) -> None:
    response = post(app, name, buffered=False)
    stream = iter(response.response)
    received = b""
    while b"event: progress" not in received:
        received += next(stream)
    assert not seen.closed.is_set()
    response.close()  # what the server does when a write fails
    assert seen.closed.wait(5), "the generator's finally did not run"
    if name == "report.forever":
        steps = len(seen.steps)
        assert steps <= 2  # it stopped where the client left: one piece ahead
        assert len(seen.steps) == steps


def test_a_stream_its_client_stopped_lets_its_key_go(app: Flask, seen: Seen) -> None:
    # Stop, then send again: the action runs again at once, instead of the
    # key staying claimed for the lease (409 "still being sent").
    app.config["ACTIONS_IDEMPOTENCY_WAIT"] = 0.5
    client = app.test_client()
    headers = keyed_call(client, "report.forever", "stopped-1")
    for _ in range(2):
        seen.closed.clear()
        response = client.post("/", json={}, headers=headers, buffered=False)
        assert response.status_code == 200
        assert response.mimetype == "text/event-stream"
        stream = iter(response.response)
        received = b""
        while b"event: progress" not in received:
            received += next(stream)
        response.close()
        assert seen.closed.wait(5)


@pytest.mark.parametrize("read", [0, 1], ids=["nothing read", "its first line read"])
def test_a_stream_its_client_left_before_the_action_began_lets_its_key_go(
    app: Flask, seen: Seen, read: int
) -> None:
    # The connection dropped before the action's first step (the server
    # closed the answer at its first write, or before writing): nothing ran,
    # and the script's retry with the same key runs at once rather than
    # waiting out the lease (409 "still being sent").
    app.config["ACTIONS_IDEMPOTENCY_WAIT"] = 0.5
    client = app.test_client()
    headers = keyed_call(client, "report.build", "left-early")
    response = client.post("/", json={"rows": 2}, headers=headers, buffered=False)
    stream = iter(response.response)
    for _ in range(read):
        assert next(stream) == b": stream\n\n"
    response.close()
    assert seen.steps == []  # the action never began
    again = client.post("/", json={"rows": 2}, headers=headers)
    assert again.status_code == 200
    assert [e for e in events(again.data) if e[0]][-1][1]["data"] == {"built": 2}
    assert seen.steps == [0, 1]


def test_heartbeats_fill_long_gaps_of_an_async_generator(
    app: Flask, seen: Seen
) -> None:
    app.config["ACTIONS_STREAM_HEARTBEAT"] = 0.02
    response = post(app, "report.slow", buffered=False)
    received: list[bytes] = []
    for chunk in response.response:
        received.append(chunk)
        if chunk == b":\n\n" and len([c for c in received if c == b":\n\n"]) >= 3:
            seen.closed.set()  # let the action go on
    response.close()
    body = b"".join(received)
    assert body.count(b":\n\n") >= 3
    assert [e[1] for e in events(body) if e[0] == "text"] == ["a", "b"]


def test_a_redirect_at_the_end_travels_in_the_result(app: Flask) -> None:
    got = [e for e in events(post(app, "report.elsewhere").data) if e[0]]
    assert got[0] == ("text", "leaving")
    assert got[-1][1]["ok"] is True and got[-1][1]["redirect"] == "/done"
    result = call(app.test_client(), "report.elsewhere")
    assert result.response.status_code == 303
    assert result.response.location == "/done"


def test_session_changes_while_streaming_are_not_sent_and_the_log_says_so(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "flask_actions"):
        response = post(app, "report.remember")
        assert [e for e in events(response.data) if e[0]][-1][1]["ok"] is True
    assert any("while streaming" in r.getMessage() for r in caplog.records)
    # Without JavaScript the session is sent as usual.
    client = app.test_client()
    call(client, "report.remember")
    with client.session_transaction() as stored:
        assert stored.get("seen") is True


def test_a_rejected_request_gets_the_usual_answer_and_runs_nothing(
    app: Flask, seen: Seen
) -> None:
    response = post(app, "report.build", {"rows": 2}, headers={"X-CSRFToken": "forged"})
    assert response.status_code == 403 and response.mimetype == "application/json"
    assert seen.steps == [] and not seen.closed.is_set()


def test_a_stream_sent_again_with_its_key_runs_once(app: Flask, seen: Seen) -> None:
    client = app.test_client()
    headers = keyed_call(client, "report.build", "stream-1")
    first = client.post("/", json={"rows": 2}, headers=headers)
    # Read before the next request: the action runs as its stream is read,
    # and both requests share this thread (a server gives each its own).
    assert [e for e in events(first.data) if e[0]][-1][1]["data"] == {"built": 2}
    again = client.post("/", json={"rows": 2}, headers=headers)
    assert again.mimetype == "application/json"
    assert again.get_json()["data"] == {"built": 2}
    assert seen.steps == [0, 1]


def test_a_page_that_fails_to_render_after_the_stream_ends_it_with_a_500(
    app: Flask, seen: Seen, caplog: pytest.LogCaptureFixture
) -> None:
    seen.broken_page = True
    with caplog.at_level(logging.ERROR, "flask_actions"):
        response = post(
            app, "report.build", {"rows": 1}, headers={"X-Flask-Actions": "form"}
        )
    kind, result = [e for e in events(response.data) if e[0]][-1]
    assert kind == "result" and result["ok"] is False and result["status"] == 500
    reference = result["reference"]
    assert reference and reference in result["message"]
    assert any(reference in r.getMessage() and r.exc_info for r in caplog.records)


def test_a_response_of_its_own_ends_the_stream_with_a_500(app: Flask) -> None:
    kind, result = [e for e in events(post(app, "report.own_response").data) if e[0]][
        -1
    ]
    assert kind == "result" and result["status"] == 500 and result["reference"]


def test_uploaded_files_and_the_request_last_until_the_stream_ends(
    app: Flask, seen: Seen
) -> None:
    client = app.test_client()
    ref, csrf, origin = prepare(client, "report.upload")
    seen.order.clear()  # prepare's own request context was torn down
    response = client.post(
        "/",
        data={"rows": (io.BytesIO(b"one\ntwo\n"), "rows.txt"), "csrf_token": csrf},
        headers={
            "X-Action": ref,
            "X-Flask-Actions": "form",
            "Origin": origin,
            **STREAM,
        },
    )
    got = [e for e in events(response.data) if e[0]]
    assert got[-1][1]["data"] == {"text": "one\ntwo\n"}, got[-1]
    response.close()  # what the server does once the body is sent
    # The request's teardown ran after the action, not when the view returned.
    assert seen.order == ["action", "teardown"]


@pytest.mark.parametrize("text", ["a\u2028b", "a\u2029b", "a\nb\r\nc"])
def test_a_piece_is_one_line_to_the_script_whatever_it_holds(text: str) -> None:
    # The script reads `data: (.*)` with a JavaScript regex, whose `.` stops
    # at \n, \r, U+2028 and U+2029: none may be written raw in a data line
    # (JSON escapes the first two, not the last two).
    block = streaming.piece(text).decode()
    data = block.split("\n")[1]
    assert data.startswith("data: ")
    assert not set(data) & {"\n", "\r", "\u2028", "\u2029"}
    assert json.loads(data[len("data: ") :]) == text


# --- the request's thread: objects bound to it work as in any view ------------


def sqlite_app(tmp_path: t.Any, opened: str) -> tuple[Flask, list[str]]:
    """The Flask tutorial's database pattern: a ``sqlite3`` connection kept in
    ``g`` (made lazily, or in ``before_request``: ``opened``) and closed by a
    ``teardown_appcontext`` function. A sqlite3 connection may be used only
    in the thread that made it."""
    import sqlite3

    from flask import g

    path = tmp_path / "tutorial.db"
    with sqlite3.connect(path) as made:
        made.execute("create table notes (text)")
    log: list[str] = []

    def get_db() -> sqlite3.Connection:
        if "db" not in g:
            g.db = sqlite3.connect(path)
        return t.cast(sqlite3.Connection, g.db)

    bp = ActionBlueprint("notes", __name__)

    @bp.get("/")
    def index() -> str:
        return "page"

    @bp.action(schema={"count": fields.Int(required=True)})
    def write(data: dict[str, int]) -> t.Iterator[Progress]:
        for done in range(1, data["count"] + 1):
            get_db().execute("insert into notes values (?)", (f"note {done}",))
            yield Progress(done, data["count"])
        get_db().commit()
        return {"notes": get_db().execute("select count(*) from notes").fetchone()[0]}

    @bp.action(schema={"count": fields.Int(required=True)})
    async def write_async(data: dict[str, int]) -> t.AsyncIterator[Progress]:
        for done in range(1, data["count"] + 1):
            await asyncio.sleep(0)
            get_db().execute("insert into notes values (?)", (f"note {done}",))
            yield Progress(done, data["count"])
        get_db().commit()
        notes = get_db().execute("select count(*) from notes").fetchone()[0]
        raise Return({"notes": notes})

    app = Flask(__name__)
    app.config.update(SECRET_KEY="tutorial secret " * 3, TESTING=True)
    ActionExtension(app)
    app.register_blueprint(bp)
    if opened == "before_request":

        @app.before_request
        def open_db() -> None:
            get_db()

    @app.teardown_appcontext
    def close_db(error: BaseException | None) -> None:
        db = g.pop("db", None)
        if db is not None:
            db.close()
            log.append("closed")

    return app, log


@pytest.mark.parametrize("name", ["notes.write", "notes.write_async"])
@pytest.mark.parametrize("opened", ["in the action", "before_request"])
def test_a_streaming_action_uses_the_tutorial_database_as_a_view_does(
    tmp_path: t.Any, opened: str, name: str
) -> None:
    # Found using my own app (a board whose import streams): with the
    # connection made in the action, the teardown could not close it (made in
    # another thread), so the stream ended without its last chunk and the
    # connection stayed open; made before the action, the action crashed.
    app, log = sqlite_app(tmp_path, opened)
    response = post(app, name, {"count": 3})
    got = [e for e in events(response.data) if e[0]]
    assert [kind for kind, _ in got] == ["progress"] * 3 + ["result"]
    assert got[-1][1]["ok"] is True and got[-1][1]["data"] == {"notes": 3}
    assert log == ["closed"]
    # Without JavaScript (found using my own app, a chat whose answer is an
    # async generator: its connection was made in the event loop's thread,
    # and the teardown's close made the answer a 500).
    result = call(app.test_client(), name, {"count": 2})
    assert result.response.status_code == 303 and result.data == {"notes": 5}
    assert log == ["closed", "closed"]
