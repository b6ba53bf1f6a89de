from __future__ import annotations

import typing as t

import pytest
from flask import Blueprint
from flask import Flask
from flask import render_template_string
from marshmallow import fields
from marshmallow import Schema
from marshmallow import validate

from flask_actions import ActionBlueprint
from flask_actions import ActionExtension
from flask_actions import revalidate_tag

#: live_server, chromium, browser_page, redis_server, gunicorn (tests/servers.py).
pytest_plugins = ["servers"]

PAGE = """{% import "flask_actions/macros.html" as fa %}
<!doctype html><title>Notes</title>
{{ fa.message() }}
{% call fa.form(action("notes.add"), id="add") %}
  <input name="title" value="{{ fa.value('title') }}">{{ fa.errors('title') }}
  <textarea name="body">{{ fa.value('body') }}</textarea>{{ fa.errors('body') }}
  <input type="password" name="password" value="{{ fa.value('password') }}">
  <button>Add</button>
{% endcall %}
<ul>{% for note in notes %}<li>{{ note }}</li>{% endfor %}</ul>
"""


class NoteSchema(Schema):
    title = fields.Str(required=True, validate=validate.Length(min=1, max=50))
    body = fields.Str(load_default="")
    password = fields.Str(load_default=None)


def make_notes() -> tuple[ActionBlueprint, list[str]]:
    """A small blueprint with a page and actions, and the list it writes to."""
    bp = ActionBlueprint("notes", __name__)
    notes: list[str] = []

    @bp.route("/")
    def index() -> str:
        return render_template_string(PAGE, notes=notes)

    @bp.action(schema=NoteSchema)
    def add(data: dict[str, t.Any]) -> dict[str, int]:
        notes.append(data["title"])
        revalidate_tag("notes")
        return {"count": len(notes)}

    @bp.action
    def remove(index: int) -> None:
        notes.pop(index)

    return bp, notes


@pytest.fixture
def make_app() -> t.Callable[..., Flask]:
    """Factory: ``make_app(*blueprints, extension=None, **config)`` returns an
    app in testing mode with a secret key (``config`` may replace either),
    ``extension`` (a new :class:`ActionExtension` by default) set up on it
    first, and then the blueprints registered."""

    def make(
        *blueprints: Blueprint,
        extension: ActionExtension | None = None,
        **config: t.Any,
    ) -> Flask:
        app = Flask(__name__)
        app.config.update({"SECRET_KEY": "secret", "TESTING": True, **config})
        (extension or ActionExtension()).init_app(app)
        for blueprint in blueprints:
            app.register_blueprint(blueprint)
        return app

    return make


@pytest.fixture
def app() -> Flask:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="test secret " * 4, TESTING=True)
    ActionExtension(app)
    bp, notes = make_notes()
    app.register_blueprint(bp)
    app.extensions["test_notes"] = notes
    return app


@pytest.fixture
def notes(app: Flask) -> list[str]:
    return t.cast(list[str], app.extensions["test_notes"])


@pytest.fixture
def client(app: Flask) -> t.Any:
    return app.test_client()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the browser tests last. Playwright's sync API leaves an asyncio
    event loop registered on the main thread, and asgiref (which Flask uses
    to run ``async def`` views and actions) refuses to start one there: an
    async action called through the test client after the first browser test
    would fail, in any suite that mixes the two."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
