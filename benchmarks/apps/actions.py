"""The same work as flask-actions: one action with the schema, on a page.

- called as JSON (``FlaskActions.call`` from an event handler): ``POST /`` with
  ``X-Action``, the CSRF token in ``X-CSRFToken`` and a JSON body;
- submitted as a plain form (no JavaScript): ``POST /`` with the form's
  fields, ``303`` back to ``/``, whose page shows the result.
"""

from __future__ import annotations

import typing as t

from flask import Flask
from flask import render_template

from flask_actions import ActionBlueprint
from flask_actions import ActionExtension

from .common import config
from .common import TodoSchema


def create_app(csrf: bool | None = None) -> Flask:
    app = Flask(__name__, template_folder="templates")
    app.config.from_mapping(config(csrf))
    ActionExtension(app)
    todos = ActionBlueprint("todos", __name__)

    @todos.get("/")
    def index() -> str:
        return render_template("actions.html")

    @todos.action(schema=TodoSchema)
    def add(data: dict[str, t.Any]) -> dict[str, t.Any]:
        return data

    app.register_blueprint(todos)
    return app


app = create_app()
