"""A todo list on SQLite, written with flask-actions.

Run it with ``make demo`` (or
``flask --app examples.todos.app:create_app run``) and open
http://127.0.0.1:5000/. Every form works with JavaScript turned off; with it
on, the same forms submit without reloading the page.
"""

from __future__ import annotations

import logging
import sqlite3
import typing as t
from pathlib import Path

from flask import Flask
from flask import render_template
from flask import url_for
from marshmallow import fields
from marshmallow import pre_load
from marshmallow import Schema
from marshmallow import validate
from marshmallow import ValidationError

from flask_actions import Action
from flask_actions import ActionBlueprint
from flask_actions import ActionError
from flask_actions import ActionExtension
from flask_actions import ActionResult
from flask_actions import redirect
from flask_actions import revalidate_tag
from flask_actions import set_message
from flask_actions.cache import PageCache
from flask_actions.signals import action_succeeded
from flask_actions.signals import tag_revalidated

from . import db

logger = logging.getLogger(__name__)

TITLE_MAX = 200
NOTES_MAX = 10_000

actions = ActionExtension()
#: The list page is cached (in-process, or Redis with ACTIONS_CACHE_REDIS_URL)
#: and every action that changes it revalidates its tag.
page_cache = PageCache()
todos = ActionBlueprint("todos", __name__)


# --- validation --------------------------------------------------------------


class TitleSchema(Schema):
    title = fields.Str(
        required=True,
        validate=[
            validate.Length(min=1, error="Enter a title."),
            validate.Length(
                max=TITLE_MAX, error="Keep the title to {max} characters or fewer."
            ),
        ],
        error_messages={"required": "Enter a title."},
    )

    @pre_load
    def clean(self, data: dict[str, t.Any], **kwargs: t.Any) -> dict[str, t.Any]:
        """Surrounding spaces are not part of a title (a title of spaces is
        empty), and browsers send the line breaks of a textarea as CRLF."""
        data = dict(data)
        if isinstance(data.get("title"), str):
            data["title"] = data["title"].strip()
        if isinstance(data.get("notes"), str):
            data["notes"] = data["notes"].replace("\r\n", "\n")
        return data


class TodoSchema(TitleSchema):
    notes = fields.Str(
        load_default="",
        validate=validate.Length(
            max=NOTES_MAX, error="Keep the notes to {max} characters or fewer."
        ),
    )


# --- actions -----------------------------------------------------------------


def _insert(data: dict[str, t.Any]) -> int:
    try:
        with db.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO todo (title, notes) VALUES (?, ?)",
                (data["title"], data["notes"]),
            )
    except sqlite3.IntegrityError:
        raise ValidationError(
            {"title": [f"“{data['title']}” is already on the list."]}
        ) from None
    revalidate_tag("todos")
    set_message(f"Added “{data['title']}”.")
    return t.cast(int, cursor.lastrowid)


def _existing(conn: sqlite3.Connection, todo_id: int) -> sqlite3.Row:
    row = conn.execute("SELECT * FROM todo WHERE id = ?", (todo_id,)).fetchone()
    if row is None:
        raise ActionError(
            "This todo is not on the list any more (deleted in another tab?).",
            status=404,
        )
    return t.cast(sqlite3.Row, row)


@todos.action(schema=TodoSchema)
def add(data: dict[str, t.Any]) -> dict[str, int]:
    """Add a todo to the list."""
    return {"id": _insert(data)}


@todos.action(schema=TodoSchema)
def create(data: dict[str, t.Any]) -> t.NoReturn:
    """Add a todo from its own page, then go back to the list."""
    _insert(data)
    redirect(url_for("todos.index"))


@todos.action
def toggle(todo_id: int) -> dict[str, bool]:
    """Mark a todo done, or not done again."""
    with db.transaction() as conn:
        todo = _existing(conn, todo_id)
        done = not todo["done"]
        conn.execute("UPDATE todo SET done = ? WHERE id = ?", (done, todo_id))
    revalidate_tag("todos")
    set_message(f"Marked “{todo['title']}” as {'done' if done else 'not done'}.")
    return {"done": done}


@todos.action(schema=TitleSchema)
def rename(todo_id: int, data: dict[str, t.Any]) -> None:
    """Give a todo a new title."""
    try:
        with db.transaction() as conn:
            todo = _existing(conn, todo_id)
            conn.execute(
                "UPDATE todo SET title = ? WHERE id = ?", (data["title"], todo_id)
            )
    except sqlite3.IntegrityError:
        raise ValidationError(
            {"title": [f"“{data['title']}” is already on the list."]}
        ) from None
    revalidate_tag("todos")
    set_message(f"Renamed “{todo['title']}” to “{data['title']}”.")


@todos.action
def delete(todo_id: int) -> None:
    """Remove a todo from the list."""
    with db.transaction() as conn:
        todo = _existing(conn, todo_id)
        conn.execute("DELETE FROM todo WHERE id = ?", (todo_id,))
    revalidate_tag("todos")
    set_message(f"Deleted “{todo['title']}”.")


@todos.action
def clear_completed() -> dict[str, int]:
    """Remove every todo that is done."""
    with db.transaction() as conn:
        count = conn.execute("DELETE FROM todo WHERE done").rowcount
    if not count:
        raise ActionError("No todo is done yet: there is nothing to clear.", status=409)
    revalidate_tag("todos")
    set_message(f"Cleared {count} completed todo{'s' if count != 1 else ''}.")
    return {"cleared": count}


@todos.action
def like(todo_id: int) -> dict[str, int]:
    """Count one more like; the page calls it from JavaScript when it can."""
    with db.transaction() as conn:
        _existing(conn, todo_id)
        conn.execute("UPDATE todo SET likes = likes + 1 WHERE id = ?", (todo_id,))
        likes = conn.execute("SELECT likes FROM todo WHERE id = ?", (todo_id,))
        count = t.cast(int, likes.fetchone()[0])
    revalidate_tag("todos")
    return {"likes": count}


# --- pages -------------------------------------------------------------------


@todos.route("/")
@page_cache.cached(tags=["todos"], timeout=300)
def index() -> str:
    items = db.todos()
    return render_template(
        "todos/index.html",
        todos=items,
        completed=sum(1 for todo in items if todo["done"]),
    )


@todos.route("/new")
def new() -> str:
    return render_template("todos/new.html")


# --- signals -----------------------------------------------------------------


def _record_activity(
    app: Flask, action: Action[t.Any, t.Any], result: ActionResult, **extra: t.Any
) -> None:
    """Count every change that was saved; the footer shows the count.

    The action's own transaction has committed by now: if counting fails, the
    change stays saved and the user still sees it succeed.
    """
    try:
        with db.transaction() as conn:
            conn.execute("INSERT INTO activity (action) VALUES (?)", (action.name,))
    except sqlite3.Error:
        logger.exception("Could not record the activity of %s.", action.name)


def _log_revalidation(app: Flask, tag: str, **extra: t.Any) -> None:
    app.logger.info("Pages tagged %r are stale now.", tag)


# --- the app -----------------------------------------------------------------


def create_app(config: t.Mapping[str, t.Any] | None = None) -> Flask:
    """Create the todo app.

    :param config: settings that win over the defaults, e.g.
        ``{"DATABASE": "/tmp/todos.sqlite", "SECRET_KEY": "..."}``. The
        database defaults to ``todos.sqlite`` in the instance folder; a
        ``FLASK_SECRET_KEY`` environment variable sets the secret.
    """
    app = Flask(
        __name__,
        instance_path=str(Path(__file__).resolve().parent / "instance"),
        instance_relative_config=True,
    )
    app.config.from_mapping(
        SECRET_KEY="dev only: set FLASK_SECRET_KEY in production",
        DATABASE=str(Path(app.instance_path) / "todos.sqlite"),
    )
    app.config.from_prefixed_env()
    app.config.update(config or {})

    actions.init_app(app)
    page_cache.init_app(app)
    db.init_app(app)
    app.register_blueprint(todos)

    action_succeeded.connect(_record_activity, app)
    tag_revalidated.connect(_log_revalidation, app)

    @app.context_processor
    def footer() -> dict[str, t.Any]:
        return {"activity": db.activity()}

    return app
