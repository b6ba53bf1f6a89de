"""Two renderings of the same page of 1,000 rows, each with a toggle button.

- ``/rows``: each row's button is ``fa.button(toggle.bind(row.id))``, which
  seals the row's id for that action (AES-GCM) and renders the attributes;
- ``/rows-plain``: the same markup written by hand, the id in a plain hidden
  input of a small form per row, as one would without flask-actions;
- ``/rows-floor``: ``rows.html`` with two functions that do nothing in place of
  ``bind`` and ``fa.button``: what Jinja alone charges for the two calls of a
  row, the floor under any implementation of that template.
"""

from __future__ import annotations

from flask import Flask
from flask import render_template
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from flask_actions import ActionBlueprint
from flask_actions import ActionExtension
from flask_actions.action import no_template_context

from .common import config

ROWS = [{"id": i, "title": f"Todo number {i}"} for i in range(1000)]


class NoOp:
    """``noop.button(noop.bind(row.id), "Toggle")``: two calls, no work."""

    @no_template_context
    def bind(self, value: int) -> int:
        return value

    @no_template_context
    def button(self, target: int, label: str) -> Markup:
        return _BUTTON


_BUTTON = Markup('<button type="submit" name="_button" value="x">Toggle</button>')


def create_app(csrf: bool | None = None) -> Flask:
    app = Flask(__name__, template_folder="templates")
    app.config.from_mapping(config(csrf))
    ActionExtension(app)
    app.jinja_env.globals["csrf_token"] = generate_csrf
    todos = ActionBlueprint("todos", __name__)

    @todos.get("/rows")
    def rows() -> str:
        return render_template("rows.html", rows=ROWS, toggle=toggle)

    @todos.get("/rows-floor")
    def rows_floor() -> str:
        return render_template("rows_floor.html", rows=ROWS, noop=NoOp())

    @todos.get("/rows-plain")
    def rows_plain() -> str:
        return render_template("rows_plain.html", rows=ROWS)

    @todos.action
    def toggle(todo_id: int) -> None:
        return None

    @todos.post("/toggle")
    def toggle_plain() -> str:
        return ""

    app.register_blueprint(todos)
    return app


app = create_app()
