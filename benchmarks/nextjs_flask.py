"""The flask-actions side of ``make bench-nextjs``: the benchmark's action
app (``benchmarks/apps/actions.py``) with the browser script on its page.

The page is ``actions.html`` (the same form, the same action, the same
schema) followed by ``fa.script()``, so that Chromium with JavaScript on
submits the form with the script's ``fetch``, and a script on the page can
call the action with ``FlaskActions.call``. Without JavaScript it is the
plain form of ``make bench``.
"""

from __future__ import annotations

from flask import Flask
from flask import render_template

from .apps import actions

PAGE = (
    '{% import "flask_actions/macros.html" as fa %}'
    '{% include "actions.html" %}'
    '<script type="application/json" id="add-ref">'
    '{{ action_ref(action("todos.add"))|tojson }}</script>'
    "{{ fa.script() }}"
)


def create_app(csrf: bool | None = None) -> Flask:
    app = actions.create_app(csrf)
    # Compiled once, as a template file would be.
    page = app.jinja_env.from_string(PAGE)

    def index() -> str:
        return render_template(page)

    app.view_functions["todos.index"] = index
    return app


app = create_app()
