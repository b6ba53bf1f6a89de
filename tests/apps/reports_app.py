"""A slow report generator, an answer written word by word and an upload
form, written from docs/streaming.md the way a new user would.

It is not the example app: the tests use it to try streaming actions and
upload progress as users do, in Chromium with JavaScript on and off
(``tests/test_browser_progress.py``) and under gunicorn
(``tests/test_streaming_servers.py``); ``python tests/apps/reports_app.py``
serves it on http://127.0.0.1:5051.

Environment (for the gunicorn tests, which run it in other processes):
``REPORTS_DIR`` a directory where each finished or stopped ``build`` leaves
a file ``stopped-<rows>`` or ``finished-<rows>``, and where ``build`` waits
after its first row until a file ``go`` exists (at most 10 s).

``build`` writes its rows to SQLite as Flask's tutorial does: a ``sqlite3``
connection kept in ``g``, closed by a ``teardown_appcontext`` function (which
leaves a file ``closed-<n>`` for the n-th connection it closed). A sqlite3
connection may be used only in the thread that made it.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sqlite3
import threading
import time
import typing as t
from pathlib import Path

from flask import Flask
from flask import g
from flask import render_template_string
from flask import Response
from marshmallow import fields
from marshmallow import validate

from flask_actions import ActionBlueprint
from flask_actions import ActionError
from flask_actions import ActionExtension
from flask_actions import File
from flask_actions import Progress
from flask_actions import Return
from flask_actions import UploadedFile

PAGE = """{% import "flask_actions/macros.html" as fa %}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Reports</title>
<link rel="stylesheet" href="{{ url_for('reports.css') }}">
{{ fa.script() }}</head>
<body data-ask="{{ action_ref(action('reports.ask')) }}"
      data-forever="{{ action_ref(action('reports.forever')) }}"
      data-receipt="{{ action_ref(action('reports.receipt')) }}">
<h1>Reports</h1>
{% set built = action_result(action('reports.build')) %}
{% call fa.form(action('reports.build'), id='report',
                data_fa_progress='#report-bar, #report-status', data_fa_stream='#report-log') %}
  {{ fa.message() }}
  <label for="rows">Rows</label>
  <input id="rows" name="rows" value="{{ fa.value('rows', '5') }}">
  {{ fa.errors('rows') }}
  <button id="build">Build the report</button>
  <button type="button" id="stop-report" data-fa-cancel>Stop</button>
  <progress id="report-bar" hidden></progress>
  <span id="report-status" role="status"></span>
{% endcall %}
<pre id="report-log">{{ built.data.log if built and built.ok else '' }}</pre>

{% call fa.form(action('reports.upload'), id='upload', files=True) %}
  {{ fa.message() }}
  <label for="title">Title</label>
  <input id="title" name="title" value="{{ fa.value('title') }}">
  {{ fa.errors('title') }}
  <label for="document">PDF</label>
  <input id="document" type="file" name="document">
  {{ fa.errors('document') }}
  <progress id="upload-bar" hidden></progress>
  <button id="send">Upload</button>
  <button type="button" id="stop-upload" data-fa-cancel>Stop</button>
{% endcall %}
{% call fa.form(action('reports.import_rows'), id='import', files=True,
                data_fa_progress='#import-bar', data_fa_stream='#import-log') %}
  {{ fa.message() }}
  <label for="rows-file">Rows (a text file, one per line)</label>
  <input id="rows-file" type="file" name="rows">
  {{ fa.errors('rows') }}
  <progress id="import-bar" hidden></progress>
  <button id="import-button">Import</button>
  <button type="button" id="stop-import" data-fa-cancel>Stop</button>
{% endcall %}
{% set imported = action_result(action('reports.import_rows')) %}
<pre id="import-log">{{ imported.data.log if imported and imported.ok else '' }}</pre>
<ul id="documents">
{%- for d in documents %}<li>{{ d.title }}: {{ d.size }} bytes</li>{% endfor -%}
</ul>
</body></html>
"""

CSS = """
form:not([aria-busy]) [data-fa-cancel] { display: none }
.error { color: #a00 }
"""


class Reports:
    """What the app keeps, and what its tests watch."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.documents: list[dict[str, t.Any]] = []
        self.lock = threading.Lock()
        #: Set when a streaming action's finally ran.
        self.stopped = threading.Event()
        #: When set, ``import_rows`` waits after its first line until ``go`` is.
        self.hold = False
        self.go = threading.Event()
        self.row_delay = 0.3

    def database(self) -> sqlite3.Connection:
        """The request's connection (Flask's tutorial's ``get_db``)."""
        if "db" not in g:
            path = self.folder / "reports.db" if self.folder else ":memory:"
            g.db = sqlite3.connect(path)
            g.db.execute("create table if not exists rows (line text)")
        return t.cast(sqlite3.Connection, g.db)

    def mark(self, what: str) -> None:
        if self.folder is not None:
            (self.folder / what).touch()

    def wait_for_go(self) -> None:
        if self.folder is None:
            return
        deadline = time.monotonic() + 10
        while not (self.folder / "go").exists() and time.monotonic() < deadline:
            time.sleep(0.02)


def create_app(config: t.Mapping[str, t.Any] | None = None) -> Flask:
    folder = os.environ.get("REPORTS_DIR")
    state = Reports(Path(folder) if folder else None)
    reports = ActionBlueprint("reports", __name__)

    @reports.get("/")
    def index() -> str:
        with state.lock:
            documents = list(state.documents)
        return render_template_string(PAGE, documents=documents)

    @reports.get("/page.css")
    def css() -> Response:
        return Response(CSS, mimetype="text/css")

    @reports.action(
        schema={"rows": fields.Int(required=True, validate=validate.Range(1, 100))}
    )
    def build(data: dict[str, int]) -> t.Iterator[t.Any]:
        rows = data["rows"]
        lines: list[str] = []
        finished = False
        try:
            for row in range(1, rows + 1):
                time.sleep(state.row_delay)
                if row == 13:
                    raise ActionError("Row 13 is unlucky: the report stops there.")
                line = f"Row {row}: {row * row}\n"
                lines.append(line)
                state.database().execute("insert into rows values (?)", (line,))
                yield Progress(row, rows, f"Row {row} of {rows}")
                yield line
                if row == 1:
                    state.wait_for_go()
            state.database().commit()
            finished = True
            return {"rows": rows, "log": "".join(lines)}
        finally:
            state.mark(f"{'finished' if finished else 'stopped'}-{rows}")
            state.stopped.set()

    @reports.action(schema={"question": fields.Str(required=True)})
    async def ask(data: dict[str, str]) -> t.AsyncIterator[str]:
        words = f"You asked: {data['question']}. Here is a slow answer.".split()
        for word in words:
            await asyncio.sleep(0.05)
            yield word + " "
        raise Return({"answer": " ".join(words)})

    @reports.action
    async def forever() -> t.AsyncIterator[Progress]:
        try:
            done = 0
            while True:
                done += 1
                yield Progress(done, None, "Still going")
                await asyncio.sleep(0.05)
        finally:
            state.stopped.set()

    @reports.action(
        schema={
            "title": fields.Str(required=True, validate=validate.Length(min=1, max=40)),
            "document": File(
                required=True, max_size=16 * 1024 * 1024, accept="application/pdf"
            ),
        }
    )
    def upload(data: dict[str, t.Any]) -> dict[str, int]:
        document: UploadedFile = data["document"]
        with state.lock:
            state.documents.append({"title": data["title"], "size": document.size})
        return {"size": document.size}

    @reports.action(schema={"rows": File(required=True, accept="text/plain")})
    def import_rows(data: dict[str, UploadedFile]) -> t.Iterator[t.Any]:
        lines = data["rows"].read().decode().splitlines()
        log = []
        for number, line in enumerate(lines, 1):
            yield Progress(number, len(lines), f"Line {number} of {len(lines)}")
            log.append(f"Imported {line[:5]}\n")
            yield log[-1]
            if number == 1 and state.hold:
                state.go.wait(10)
        return {"imported": len(lines), "log": "".join(log)}

    @reports.action
    def receipt() -> Response:
        """Takes a file and answers with nothing (204)."""
        return Response(status=204)

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="reports secret: long and random enough for a test app",
        ACTIONS_MAX_CONTENT_LENGTH=16 * 1024 * 1024,
        TRUSTED_HOSTS=["127.0.0.1", "localhost"],
        **(config or {}),
    )
    ActionExtension(app)
    app.register_blueprint(reports)
    app.extensions["reports"] = state
    closed = itertools.count(1)

    @app.teardown_appcontext
    def close_database(error: BaseException | None) -> None:
        database = g.pop("db", None)
        if database is not None:
            database.close()
            state.mark(f"closed-{next(closed)}")

    return app


if __name__ == "__main__":
    create_app().run(port=5051, threaded=True)
