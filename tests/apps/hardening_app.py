"""A small SQLite app for the hardening, load and fault tests.

Every action writes one row; every hook that runs is recorded in
``app.extensions["hardening_calls"]`` (per process), so a test can show that a
rejected request ran nothing and wrote nothing.

Importable by gunicorn (``tests`` on the Python path)::

    gunicorn --pythonpath tests 'apps.hardening_app:create_app()'

with ``HARDENING_DATABASE`` naming the SQLite file and, optionally,
``HARDENING_SECRET_KEY`` the secret.
"""

from __future__ import annotations

import os
import sqlite3
import typing as t

from flask import current_app
from flask import Flask
from flask import g
from flask import render_template_string
from flask import session
from marshmallow import EXCLUDE
from marshmallow import fields
from marshmallow import Schema
from marshmallow import validate
from werkzeug.datastructures import FileStorage

from examples.todos.db import use_wal
from flask_actions import ActionBlueprint
from flask_actions import ActionError
from flask_actions import ActionExtension
from flask_actions import revalidate_tag
from flask_actions import set_cookie

actions = ActionExtension()
bp = ActionBlueprint("hard", __name__)

SECRET_KEY = "hardening secret " * 3

PAGE = """{% import "flask_actions/macros.html" as fa %}
<!doctype html><title>Writes</title>
{{ fa.message() }}
{% call fa.form(action("hard.add"), id="add") %}
  <input name="title" value="{{ fa.value('title') }}">{{ fa.errors('title') }}
  <button>Add</button>
{% endcall %}
{% call fa.form(action("hard.rename").bind(1), id="rename") %}
  <input name="title" value="{{ fa.value('title') }}">{{ fa.errors('title') }}
  <button>Rename</button>
{% endcall %}
<p id="count">{{ count }} writes</p>
"""

SCHEMA = """CREATE TABLE IF NOT EXISTS writes (
    id INTEGER PRIMARY KEY,
    key TEXT UNIQUE,
    kind TEXT NOT NULL,
    value TEXT
)"""


class AddSchema(Schema):
    title = fields.Str(required=True, validate=validate.Length(min=1, max=200))
    qty = fields.Int(load_default=1)
    key = fields.Str(load_default=None)


class LenientSchema(Schema):
    """Drops the fields it does not declare instead of refusing them."""

    class Meta:
        unknown = EXCLUDE

    title = fields.Str(required=True)


class UploadSchema(Schema):
    doc = fields.Raw(required=True)


def create_app(config: t.Mapping[str, t.Any] | None = None) -> Flask:
    """An app writing to ``DATABASE`` (default: ``$HARDENING_DATABASE``)."""
    app = Flask(__name__)
    app.config.from_mapping(
        SECRET_KEY=os.environ.get("HARDENING_SECRET_KEY", SECRET_KEY),
        DATABASE=os.environ.get("HARDENING_DATABASE", "hardening.sqlite3"),
        ACTIONS_MAX_CONTENT_LENGTH=256 * 1024,
    )
    app.config.update(config or {})
    actions.init_app(app)
    app.register_blueprint(bp)
    app.extensions["hardening_calls"] = []
    conn = sqlite3.connect(app.config["DATABASE"], timeout=30)
    try:
        use_wal(conn)  # workers may start together on a new file
        with conn:
            conn.execute(SCHEMA)
    finally:
        conn.close()

    @app.before_request
    def app_hook() -> None:
        _record("app.before_request")

    app.teardown_appcontext(_close)
    return app


def _record(what: str) -> None:
    current_app.extensions["hardening_calls"].append(what)


def db() -> sqlite3.Connection:
    """This request's connection (closed when the app context ends)."""
    if "hardening_db" not in g:
        g.hardening_db = sqlite3.connect(current_app.config["DATABASE"], timeout=30)
    return t.cast(sqlite3.Connection, g.hardening_db)


def _close(_exc: BaseException | None) -> None:
    conn = g.pop("hardening_db", None)
    if conn is not None:
        conn.close()


def write(kind: str, value: str, key: str | None = None) -> int:
    """Insert one row and commit it; the row's id."""
    conn = db()
    with conn:
        cursor = conn.execute(
            "INSERT INTO writes (key, kind, value) VALUES (?, ?, ?)",
            (key, kind, value),
        )
    return int(cursor.lastrowid or 0)


def rows(database: str) -> list[tuple[str | None, str, str]]:
    """Every row of ``database``, for the tests."""
    conn = sqlite3.connect(database, timeout=30)
    try:
        return list(conn.execute("SELECT key, kind, value FROM writes ORDER BY id"))
    finally:
        conn.close()


@bp.before_request
def blueprint_hook() -> None:
    _record("hard.before_request")


@bp.before_action
def action_hook(action: t.Any, args: tuple[t.Any, ...]) -> None:
    _record(f"before_action {action.name}")


@bp.route("/")
def index() -> str:
    (count,) = db().execute("SELECT count(*) FROM writes").fetchone()
    return render_template_string(PAGE, count=count)


@bp.action(schema=AddSchema)
def add(data: dict[str, t.Any]) -> dict[str, int]:
    _record("action hard.add")
    row = write("add", f"{data['title']} x{data['qty']}", data["key"])
    revalidate_tag("writes")
    return {"id": row}


@bp.action(schema=LenientSchema)
def lenient(data: dict[str, t.Any]) -> dict[str, t.Any]:
    _record("action hard.lenient")
    write("lenient", data["title"])
    return data


@bp.action(schema=UploadSchema)
def upload(data: dict[str, t.Any]) -> dict[str, int]:
    _record("action hard.upload")
    doc = data["doc"]
    if not isinstance(doc, FileStorage):
        raise ActionError("Send a file.", errors={"doc": ["Not a file."]})
    size = len(doc.read())
    write("upload", f"{doc.filename}:{size}")
    return {"size": size}


@bp.action
def toggle(item_id: int) -> dict[str, int]:
    _record("action hard.toggle")
    write("toggle", str(item_id))
    return {"item": item_id}


@bp.action(schema=AddSchema)
def rename(item_id: int, data: dict[str, t.Any]) -> dict[str, int]:
    _record("action hard.rename")
    write("rename", f"{item_id}:{data['title']}")
    return {"item": item_id}


@bp.action(schema=AddSchema)
def boom(data: dict[str, t.Any]) -> None:
    """Writes inside a transaction, sets a cookie and the session, then fails."""
    _record("action hard.boom")
    set_cookie("boom", "half-done")
    session["boom"] = "half-done"
    conn = db()
    with conn:
        conn.execute(
            "INSERT INTO writes (key, kind, value) VALUES (?, 'boom', ?)",
            (data["key"], data["title"]),
        )
        raise RuntimeError("the disk is on fire")
