"""Renderings of the same page of 1,000 rows, each with a toggle button.

- ``/rows``: each row's button is ``fa.button(toggle.bind(row.id))``, which
  seals the row's id for that action (AES-GCM) and renders the attributes;
- ``/rows-plain``: the same page written by hand, the id in a plain hidden
  input of a small form per row, with the CSRF token and the URL computed once
  before the loop: the cheapest hand-written page, the baseline of the target;
- ``/rows-idiomatic``: the same hand-written page as Flask-WTF and Flask
  document it, ``csrf_token()`` and ``url_for()`` in each row's form;
- ``/rows-floor``: ``rows.html`` with two functions that do nothing in place of
  ``bind`` and ``fa.button``: what Jinja alone charges for the two calls of a
  row, the floor under any implementation of that template;
- ``/rows-ready``: ``rows.html`` with the real ``bind`` and a ``fa.button``
  that does no work: it returns one real button's markup, made once, for
  every row (so the page has the real size). The floor under any
  implementation of ``fa.button``.
"""

from __future__ import annotations

import typing as t

from flask import current_app
from flask import Flask
from flask import render_template
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from flask_actions import ActionBlueprint
from flask_actions import ActionExtension
from flask_actions.action import BoundAction
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


class Ready:
    """``ready.button(toggle.bind(row.id), "Toggle")``: the real ``bind``, and
    a button whose markup was made by ``fa.button`` for the first row only."""

    def __init__(self) -> None:
        self.markup: Markup | None = None

    @no_template_context
    def button(self, target: BoundAction, label: str) -> Markup:
        if self.markup is None:
            macros: t.Any = current_app.jinja_env.globals["_flask_actions"]
            self.markup = macros.button(target, label)
        return self.markup


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

    @todos.get("/rows-ready")
    def rows_ready() -> str:
        return render_template(
            "rows_ready.html", rows=ROWS, toggle=toggle, ready=Ready()
        )

    @todos.get("/rows-plain")
    def rows_plain() -> str:
        return render_template("rows_plain.html", rows=ROWS)

    @todos.get("/rows-idiomatic")
    def rows_idiomatic() -> str:
        return render_template("rows_idiomatic.html", rows=ROWS)

    @todos.action
    def toggle(todo_id: int) -> None:
        return None

    @todos.post("/toggle")
    def toggle_plain() -> str:
        return ""

    app.register_blueprint(todos)
    return app


app = create_app()
