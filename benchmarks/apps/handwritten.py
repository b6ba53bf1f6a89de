"""The baseline: views written by hand with marshmallow, ``jsonify`` and
Flask-WTF's ``CSRFProtect``.

- ``POST /todos`` takes JSON, as an event handler's ``fetch`` would send it;
- ``POST /form`` takes a plain form and answers with post/redirect/get (a
  flashed message, ``303`` to ``/``), or the page with the errors (422).
"""

from __future__ import annotations

import typing as t

from flask import flash
from flask import Flask
from flask import jsonify
from flask import redirect
from flask import render_template
from flask import request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFProtect
from marshmallow import ValidationError

from .common import config
from .common import TodoSchema


def create_app(csrf: bool | None = None) -> Flask:
    app = Flask(__name__, template_folder="templates")
    app.config.from_mapping(config(csrf))
    CSRFProtect(app)
    schema = TodoSchema()

    def page(errors: dict[str, t.Any] | None = None, values: t.Any = None) -> str:
        return render_template(
            "handwritten.html",
            errors=errors or {},
            values=values or {},
        )

    @app.get("/")
    def index() -> str:
        return page()

    @app.post("/todos")
    def add() -> ResponseReturnValue:
        try:
            data = schema.load(request.get_json())
        except ValidationError as e:
            return jsonify(ok=False, errors=e.messages), 422
        return jsonify(ok=True, data=data)

    @app.post("/form")
    def add_form() -> ResponseReturnValue:
        try:
            data = schema.load(request.form.to_dict(), unknown="exclude")
        except ValidationError as e:
            return page(t.cast(dict[str, t.Any], e.messages), request.form), 422
        flash(f"Added {data['title']}.")
        return redirect("/", 303)

    return app


app = create_app()
