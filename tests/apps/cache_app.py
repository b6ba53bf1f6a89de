"""A small app whose list page is cached, for the page cache's Redis tests.

The items live in a SQLite file, so that several processes see the same data,
and every page says which process rendered it. Importable by gunicorn
(``tests`` on the Python path)::

    gunicorn --pythonpath tests 'apps.cache_app:create_app()'

with ``CACHE_APP_DATABASE`` naming the SQLite file and
``CACHE_APP_REDIS_URL`` the Redis server.
"""

from __future__ import annotations

import os
import sqlite3
import typing as t

from flask import current_app
from flask import Flask
from flask import render_template_string
from marshmallow import fields
from marshmallow import Schema
from marshmallow import validate

from flask_actions import ActionBlueprint
from flask_actions import ActionExtension
from flask_actions import revalidate_tag
from flask_actions.cache import PageCache

actions = ActionExtension()
page_cache = PageCache()
bp = ActionBlueprint("items", __name__)

PAGE = """{% import "flask_actions/macros.html" as fa %}
<!doctype html><title>Items</title>
{{ fa.message() }}
{% call fa.form(action("items.add"), id="add") %}
  <input name="title" value="{{ fa.value('title') }}">{{ fa.errors('title') }}
  <button>Add</button>
{% endcall %}
<p id="pid">rendered by {{ pid }}</p>
<ul>{% for title in items %}<li>{{ title }}</li>{% endfor %}</ul>
"""


class ItemSchema(Schema):
    title = fields.Str(required=True, validate=validate.Length(min=1, max=50))


def _db() -> sqlite3.Connection:
    db = sqlite3.connect(current_app.config["CACHE_APP_DATABASE"], timeout=10)
    db.execute("CREATE TABLE IF NOT EXISTS items (title TEXT NOT NULL)")
    return db


@bp.route("/")
@page_cache.cached(tags=["items"], timeout=600)
def index() -> str:
    with _db() as db:
        items = [row[0] for row in db.execute("SELECT title FROM items")]
    db.close()
    return render_template_string(PAGE, items=items, pid=os.getpid())


@bp.action(schema=ItemSchema)
def add(data: dict[str, t.Any]) -> None:
    db = _db()
    with db:
        db.execute("INSERT INTO items (title) VALUES (?)", (data["title"],))
    db.close()
    revalidate_tag("items")


def create_app(config: dict[str, t.Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=os.environ.get("CACHE_APP_SECRET_KEY", "cache app secret " * 3),
        CACHE_APP_DATABASE=os.environ.get("CACHE_APP_DATABASE", ":memory:"),
        ACTIONS_CACHE_REDIS_URL=os.environ.get("CACHE_APP_REDIS_URL"),
    )
    app.config.update(config or {})
    actions.init_app(app)
    page_cache.init_app(app)
    app.register_blueprint(bp)
    return app
