from __future__ import annotations

import asyncio
import datetime
import decimal
import time
import typing as t
import uuid

import pytest
from flask import Flask
from marshmallow import fields
from marshmallow import Schema

from flask_actions import Action
from flask_actions import ActionBlueprint
from flask_actions import ActionExtension
from flask_actions import BoundAction
from flask_actions.testing import call


class TitleSchema(Schema):
    title = fields.Str(required=True)


def test_an_action_is_still_the_function() -> None:
    bp = ActionBlueprint("todos", __name__)

    @bp.action(schema=TitleSchema)
    def rename(todo_id: int, data: dict[str, t.Any]) -> str:
        """Rename a todo."""
        return f"{todo_id}:{data['title']}"

    assert isinstance(rename, Action)
    assert rename.name == "todos.rename"
    assert rename.__name__ == "rename" and rename.__doc__ == "Rename a todo."
    assert rename(3, {"title": "x"}) == "3:x"
    assert rename.bind(3)({"title": "y"}) == "3:y"


def test_id_is_stable_across_apps_with_the_same_secret_and_hides_the_name(
    make_app: t.Callable[..., Flask],
) -> None:
    bp = ActionBlueprint("todos", __name__)

    @bp.action
    def toggle(todo_id: int) -> None: ...

    ids = set()
    for _ in range(2):
        with make_app(bp).app_context():
            ids.add(toggle.id)
    assert len(ids) == 1
    (only,) = ids
    assert "toggle" not in only and "todos" not in only
    with make_app(bp, SECRET_KEY="other").app_context():
        assert toggle.id != only


def test_bind_checks_arity_against_the_signature() -> None:
    bp = ActionBlueprint("todos", __name__)

    @bp.action(schema=TitleSchema)
    def rename(todo_id: int, data: dict[str, t.Any]) -> None: ...

    @bp.action
    def clear() -> None: ...

    assert isinstance(rename.bind(1), BoundAction)
    with pytest.raises(TypeError, match="cannot take 2 bound argument"):
        rename.bind(1, 2)
    with pytest.raises(TypeError, match="cannot take 1 bound argument"):
        clear.bind(1)


def test_bind_refuses_values_it_cannot_carry() -> None:
    bp = ActionBlueprint("todos", __name__)

    @bp.action
    def toggle(thing: object) -> None: ...

    with pytest.raises(TypeError, match="Cannot bind to 'todos.toggle'"):
        toggle.bind(object())


@pytest.mark.parametrize(
    "value",
    [
        "text ✓",
        42,
        -1.25,
        True,
        None,
        [1, [2, "3"]],
        {"k": {"n": [None]}},
        uuid.UUID(int=7),
        datetime.date(2026, 1, 2),
        datetime.datetime(2026, 1, 2, 3, 4, 5),
        decimal.Decimal("0.10"),
    ],
    ids=repr,
)
def test_bound_arguments_reach_the_action_with_their_type(
    make_app: t.Callable[..., Flask], value: object
) -> None:
    bp = ActionBlueprint("things", __name__)
    received: list[object] = []

    @bp.action
    def take(arg: object) -> None:
        received.append(arg)

    app = make_app(bp)
    for mode in ("form", "json"):
        result = call(app.test_client(), take.bind(value), mode=t.cast(t.Any, mode))
        assert result.ok, result.message
    assert received == [value, value]
    assert all(type(r) is type(value) for r in received)


def test_ref_of_bound_action_is_sealed_and_reused_for_a_while(
    make_app: t.Callable[..., Flask],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bp = ActionBlueprint("todos", __name__)

    @bp.action
    def toggle(todo_id: int) -> None: ...

    with make_app(bp).test_request_context():
        first, again = toggle.bind(5).ref, toggle.bind(5).ref
        other = toggle.bind(6).ref
        assert first.startswith(toggle.id + ".") and other.startswith(toggle.id + ".")
        assert first == again, "a list page re-rendered seals nothing new"
        assert first != other
        later = time.monotonic() + 301
        monkeypatch.setattr(time, "monotonic", lambda: later)
        assert toggle.bind(5).ref != first, "sealed afresh after the reuse window"
        assert toggle.ref == toggle.id
        assert toggle.bind(5) == toggle.bind(5) and toggle.bind(5) != toggle.bind(6)
        # Equal in Python, yet other arguments: other bindings (and hashes).
        assert toggle.bind(1) != toggle.bind(True) != toggle.bind(1.0)
        assert len({toggle.bind(1), toggle.bind(True), toggle.bind(1.0)}) == 3


def test_async_actions_run_and_return(make_app: t.Callable[..., Flask]) -> None:
    bp = ActionBlueprint("slow", __name__)

    @bp.action
    async def compute(n: int) -> int:
        await asyncio.sleep(0)
        return n * 2

    result = call(make_app(bp).test_client(), compute.bind(21), mode="json")
    assert result.ok and result.data == 42


def test_an_action_cannot_be_registered_twice() -> None:
    bp = ActionBlueprint("todos", __name__)

    @bp.action
    def go() -> None: ...

    with pytest.raises(TypeError, match="already an action"):
        bp.action(go)
    with pytest.raises(ValueError, match="already registered"):

        @bp.action(name="go")
        def other() -> None: ...


@pytest.mark.parametrize("field", ["_action", "_button"])
def test_reserved_field_names_are_refused_at_registration(field: str) -> None:
    bp = ActionBlueprint("todos", __name__)
    with pytest.raises(ValueError, match="reserves"):
        bp.action(schema={field: fields.Str()})(lambda data: None)


def test_the_csrf_field_name_is_refused_when_the_blueprint_is_registered(
    make_app: t.Callable[..., Flask],
) -> None:
    bp = ActionBlueprint("todos", __name__)
    bp.action(schema={"csrf_token": fields.Str()}, name="bad")(lambda data: None)
    with pytest.raises(ValueError, match="CSRF token's field name"):
        make_app(bp)


def test_the_csrf_field_name_is_refused_for_extension_actions_too() -> None:
    ext = ActionExtension()
    ext.action(schema={"token": fields.Str()}, name="bad")(lambda data: None)
    app = Flask(__name__)
    app.config.update(SECRET_KEY="s", TESTING=True, WTF_CSRF_FIELD_NAME="token")
    with pytest.raises(ValueError, match="CSRF token's field name"):
        ext.init_app(app)
