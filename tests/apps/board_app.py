"""A kanban board on SQLite, written from the docs the way a new user would:
several forms on one page, cards that move between columns, a slow action, a
density cookie, a like counter from an event handler, flashed messages.

It is not the example app: the tests use it to try the extension as users
do, in Chromium with JavaScript on and off (``tests/test_board.py``), and
``python tests/apps/board_app.py`` serves it on http://127.0.0.1:5050.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
import typing as t
from pathlib import Path

from flask import flash
from flask import Flask
from flask import g
from flask import render_template_string
from flask import request
from marshmallow import fields
from marshmallow import Schema
from marshmallow import validate

from flask_actions import ActionBlueprint
from flask_actions import ActionError
from flask_actions import ActionExtension
from flask_actions import revalidate_tag
from flask_actions import set_cookie
from flask_actions import set_message

COLUMNS = ("todo", "doing", "done")

PAGE = """{% import "flask_actions/macros.html" as fa %}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Board ({{ cards|length }})</title>
<link rel="stylesheet" href="{{ url_for('board.css') }}">
{{ fa.script() }}</head>
<body class="{{ density }}" data-like="{{ action_ref(action('board.like')) }}">
<p id="flashes">{% for m in get_flashed_messages() %}<span class="flash">{{ m }}</span>{% endfor %}</p>
{% call fa.form(action('board.add'), id='add', class_='grid') %}
  {{ fa.message() }}
  <label for="title">Title</label>
  <input id="title" name="title" value="{{ fa.value('title') }}" required maxlength="80">
  {{ fa.errors('title') }}
  <label for="column">Column</label>
  <select id="column" name="column">{% for c in columns %}<option>{{ c }}</option>{% endfor %}</select>
  <button id="add-button">Add card</button>
{% endcall %}
{% call fa.form(action('board.toggle_density'), id='density') %}
  <button id="density-button">{{ 'Roomy' if density == 'compact' else 'Compact' }}</button>
{% endcall %}
<form method="post" id="board">
{% for column in columns %}
  <section id="col-{{ column }}" class="column"><h2>{{ column }}</h2><ul>
  {% for card in cards if card.column == column %}
    <li id="card-{{ card.id }}" class="card"><span class="title">{{ card.title }}</span>
      <span class="likes" id="likes-{{ card.id }}">{{ card.likes }}</span>
      {% for other in columns if other != column %}
        {{ fa.button(action('board.move').bind(card.id, other), '→ ' ~ other, id='move-%d-%s' % (card.id, other)) }}
      {% endfor %}
      {{ fa.button(action('board.delete').bind(card.id), 'Delete', id='delete-%d' % card.id, confirm='Delete “%s”?' % card.title) }}
      <button type="button" class="like" data-card="{{ card.id }}" id="like-{{ card.id }}">Like</button>
    </li>
  {% endfor %}
  </ul></section>
{% endfor %}
</form>
{% for card in cards %}
{% call fa.form(action('board.rename').bind(card.id), id='rename-%d' % card.id) %}
  <input name="title" id="rename-title-{{ card.id }}" aria-label="New title for {{ card.title }}" value="{{ fa.value('title', card.title) }}">
  {{ fa.errors('title') }}
  <button id="rename-button-{{ card.id }}">Rename</button>
{% endcall %}
{% endfor %}
<script src="{{ url_for('board.js') }}" defer></script>
</body></html>"""

CSS = """.grid { display: grid; grid-template-columns: 8em 1fr; gap: .5em; }
.compact .card { padding: 0; } .card { padding: 1em; }
.column { display: inline-block; vertical-align: top; width: 30%; }"""

JS = """document.addEventListener('click', async (event) => {
  const button = event.target.closest('button.like');
  if (!button) return;
  const result = await FlaskActions.call(document.body.dataset.like,
    {card: Number(button.dataset.card)}, {page: false});
  document.getElementById('likes-' + button.dataset.card).textContent = result.data;
});"""


class TitleSchema(Schema):
    title = fields.Str(required=True, validate=validate.Length(min=1, max=80))


class AddSchema(TitleSchema):
    column = fields.Str(load_default="todo", validate=validate.OneOf(COLUMNS))


class LikeSchema(Schema):
    card = fields.Int(required=True)


def db() -> sqlite3.Connection:
    if "board_db" not in g:
        from flask import current_app

        g.board_db = sqlite3.connect(current_app.config["DATABASE"], timeout=10)
        g.board_db.row_factory = sqlite3.Row
    return t.cast(sqlite3.Connection, g.board_db)


def create_app(config: t.Mapping[str, t.Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="board secret: long and random enough for a test app",
        DATABASE=str(Path(tempfile.mkdtemp()) / "board.sqlite3"),
        BOARD_SLOW_SECONDS=0.0,
    )
    app.config.update(config or {})
    ActionExtension(app)
    board = ActionBlueprint("board", __name__)

    with sqlite3.connect(app.config["DATABASE"]) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS cards (id INTEGER PRIMARY KEY, title TEXT,"
            " col TEXT, likes INTEGER DEFAULT 0)"
        )

    @app.teardown_appcontext
    def close(error: BaseException | None) -> None:
        conn = g.pop("board_db", None)
        if conn is not None:
            conn.close()

    @board.route("/")
    def index() -> str:
        rows = db().execute("SELECT id, title, col, likes FROM cards ORDER BY id")
        cards = [
            {
                "id": r["id"],
                "title": r["title"],
                "column": r["col"],
                "likes": r["likes"],
            }
            for r in rows
        ]
        density = request.cookies.get("density", "roomy")
        return render_template_string(
            PAGE, cards=cards, columns=COLUMNS, density=density
        )

    @board.route("/board.css")
    def css() -> t.Any:
        return app.response_class(CSS, mimetype="text/css")

    @board.route("/board.js")
    def js() -> t.Any:
        return app.response_class(JS, mimetype="text/javascript")

    @board.action(schema=AddSchema)
    def add(data: dict[str, str]) -> int:
        with db() as conn:
            cur = conn.execute(
                "INSERT INTO cards (title, col) VALUES (?, ?)",
                (data["title"], data["column"]),
            )
        set_message(f"Added “{data['title']}”.")
        return t.cast(int, cur.lastrowid)

    @board.action
    def move(card: int, column: str) -> None:
        time.sleep(float(app.config["BOARD_SLOW_SECONDS"]))
        if column not in COLUMNS:
            raise ActionError("There is no such column.")
        with db() as conn:
            conn.execute("UPDATE cards SET col = ? WHERE id = ?", (column, card))
        revalidate_tag("board")

    @board.action
    def delete(card: int) -> None:
        with db() as conn:
            conn.execute("DELETE FROM cards WHERE id = ?", (card,))
        flash("Card deleted.")

    @board.action(schema=TitleSchema)
    def rename(card: int, data: dict[str, str]) -> None:
        with db() as conn:
            conn.execute(
                "UPDATE cards SET title = ? WHERE id = ?", (data["title"], card)
            )

    @board.action(schema=LikeSchema)
    def like(data: dict[str, int]) -> int:
        with db() as conn:
            conn.execute(
                "UPDATE cards SET likes = likes + 1 WHERE id = ?", (data["card"],)
            )
            row = conn.execute(
                "SELECT likes FROM cards WHERE id = ?", (data["card"],)
            ).fetchone()
        if row is None:
            raise ActionError("This card is gone.", status=404)
        return int(row[0])

    @board.action
    def toggle_density() -> None:
        now = request.cookies.get("density", "roomy")
        set_cookie("density", "roomy" if now == "compact" else "compact")

    app.register_blueprint(board)
    return app


if __name__ == "__main__":
    create_app().run(port=5050)
