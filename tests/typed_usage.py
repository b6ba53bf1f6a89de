"""Typed use of the public API, checked by ``mypy --strict`` in test_typing.py.

Every ``# type: ignore[code]`` below marks a call that must be a type error:
mypy runs with ``warn_unused_ignores``, so if a mistake stopped being
reported, the unused ignore would fail the check. Nothing here runs at import.
"""

from __future__ import annotations

import typing as t

from flask import Flask
from flask import url_for
from flask.testing import FlaskClient
from marshmallow import fields
from marshmallow import Schema

from flask_actions import Action
from flask_actions import ActionBlueprint
from flask_actions import ActionError
from flask_actions import ActionExtension
from flask_actions import ActionResult
from flask_actions import BoundAction
from flask_actions import redirect
from flask_actions import revalidate_path
from flask_actions import revalidate_tag
from flask_actions import set_message
from flask_actions.signals import action_succeeded
from flask_actions.testing import call

actions = ActionExtension()
todos = ActionBlueprint("todos", __name__)


class TodoSchema(Schema):
    title = fields.Str(required=True)


@todos.action
def add(a: int, b: str) -> str:
    return f"{a}{b}"


@todos.action(schema=TodoSchema, name="create_todo")
def create(list_id: int, data: dict[str, t.Any]) -> dict[str, int]:
    if not data["title"]:
        raise ActionError("A title is needed.", errors={"title": ["Empty."]})
    revalidate_tag("todos")
    revalidate_path("/")
    set_message("Created.")
    return {"list": list_id}


@todos.action
async def fetch(todo_id: int) -> str:
    return str(todo_id)


@todos.action
def leave() -> None:
    redirect(url_for("todos.index"))


@actions.action
def ping() -> str:
    return "pong"


@todos.before_action
def check(action: Action[t.Any, t.Any], args: tuple[t.Any, ...]) -> None:
    assert action.name


@todos.after_action
def audit(action: Action[t.Any, t.Any], result: ActionResult) -> ActionResult | None:
    return None


def create_app() -> Flask:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = "typed"
    actions.init_app(app)
    app.register_blueprint(todos)
    return app


def direct_calls() -> None:
    # Calling an action keeps the function's signature.
    text: str = add(1, "x")
    created: dict[str, int] = create(1, {"title": "x"})
    pong: str = ping()
    pending: t.Awaitable[str] = fetch(3)
    assert text and created and pong and pending

    add("1", "x")  # type: ignore[arg-type]
    add(1)  # type: ignore[call-arg]
    number: int = add(1, "x")  # type: ignore[assignment]
    create(1)  # type: ignore[call-arg]
    assert number


def names_and_binding() -> None:
    action: Action[[int, str], str] = add
    name: str = action.name
    ident: str = action.id
    bound: BoundAction = add.bind(1)
    same_action: Action[t.Any, t.Any] = bound.action
    args: tuple[t.Any, ...] = bound.args
    assert name and ident and same_action and args


def on_success(
    sender: Flask, action: Action[t.Any, t.Any], result: ActionResult, **extra: t.Any
) -> None:
    data: t.Any = result.data
    errors: dict[str, t.Any] = result.errors
    message: str | None = result.message
    assert data is not None or errors or message


def tests(client: FlaskClient) -> None:
    action_succeeded.connect(on_success)
    result = call(client, create.bind(1), {"title": "Milk"}, mode="json")
    ok: bool = result.ok
    status: int = result.status
    location: str | None = result.redirect
    paths: list[str] = result.revalidated_paths
    assert ok and status == 200 and location is None and paths
    call(client, "todos.add", {"b": "x"}, mode="form")
    call(client, add, mode="xml")  # type: ignore[arg-type]
