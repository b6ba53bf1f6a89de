"""A flask-smorest endpoint with the same schema, behind ``CSRFProtect``."""

from __future__ import annotations

import typing as t

from flask import Flask
from flask import render_template
from flask_smorest import Api
from flask_smorest import Blueprint
from flask_wtf.csrf import CSRFProtect

from .common import config
from .common import TodoSchema


def create_app(csrf: bool | None = None) -> Flask:
    app = Flask(__name__, template_folder="templates")
    app.config.from_mapping(config(csrf))
    app.config.update(API_TITLE="Benchmark", API_VERSION="1", OPENAPI_VERSION="3.0.3")
    CSRFProtect(app)
    api = Api(app)
    blp = Blueprint("todos", __name__, url_prefix="/todos")

    @app.get("/")
    def index() -> str:
        return render_template("smorest.html")

    @blp.route("", methods=["POST"])
    @blp.arguments(TodoSchema)
    @blp.response(200)
    def add(data: dict[str, t.Any]) -> dict[str, t.Any]:
        return {"ok": True, "data": data}

    api.register_blueprint(blp)
    return app


app = create_app()
