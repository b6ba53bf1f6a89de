"""Strict mode: with ``ACTIONS_REQUIRE_GUARD``, an action needs a guard or
``public=True``.

Every action is a public endpoint. Strict mode makes "anyone may call this"
a decision written next to the action rather than something forgotten: an
action without a guard the registry can see is refused when it is
registered (with its blueprint, or at ``init_app`` for the extension's
actions and blueprints registered before it), with a message that names it
and says how to fix it.
"""

from __future__ import annotations

import functools
import typing as t

import pytest
from flask import abort
from flask import Flask
from flask import session

from flask_actions import ActionBlueprint
from flask_actions import ActionExtension
from flask_actions.testing import call

RAN: list[str] = []


def signed_in(f: t.Callable[..., t.Any]) -> t.Callable[..., t.Any]:
    """A ``login_required``-style decorator."""

    @functools.wraps(f)
    def wrapper(*args: t.Any, **kwargs: t.Any) -> t.Any:
        if not session.get("user"):
            abort(403)
        return f(*args, **kwargs)

    return wrapper


def require_user() -> None:
    if not session.get("user"):
        abort(403)


def require_user_hook(action: t.Any, args: tuple[t.Any, ...]) -> None:
    require_user()


def make_app(
    *blueprints: ActionBlueprint,
    extension: ActionExtension | None = None,
    strict: bool = True,
    init_first: bool = True,
) -> Flask:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="strict mode tests " * 3,
        TESTING=True,
        ACTIONS_REQUIRE_GUARD=strict,
    )

    @app.route("/")
    def index() -> str:
        return "home"

    @app.route("/sign-in")
    def sign_in() -> str:
        session["user"] = "ann"
        return "signed in"

    extension = extension or ActionExtension()
    if init_first:
        extension.init_app(app)
    for bp in blueprints:
        app.register_blueprint(bp)
    if not init_first:
        extension.init_app(app)
    return app


def _ran(name: str) -> None:
    RAN.append(name)


@pytest.fixture(autouse=True)
def _clear() -> None:
    RAN.clear()


def refused(app_factory: t.Callable[[], t.Any], name: str) -> str:
    """The message strict mode refuses ``name`` with."""
    with pytest.raises(RuntimeError) as caught:
        app_factory()
    message = str(caught.value)
    assert repr(name) in message
    assert "ACTIONS_REQUIRE_GUARD" in message
    assert "public=True" in message and "decorators=" in message
    return message


# --- off by default -----------------------------------------------------------


def test_without_strict_mode_an_unguarded_action_is_registered_and_runs() -> None:
    bp = ActionBlueprint("open", __name__)

    @bp.action
    def wipe() -> None:
        _ran("wipe")

    app = make_app(bp, strict=False)
    assert call(app.test_client(), wipe).ok
    assert RAN == ["wipe"]


def test_strict_mode_is_off_by_default() -> None:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="strict mode tests " * 3, TESTING=True)
    ActionExtension(app)
    assert app.config["ACTIONS_REQUIRE_GUARD"] is False


# --- refusals -------------------------------------------------------------------


def test_an_unguarded_action_is_refused_when_its_blueprint_is_registered() -> None:
    bp = ActionBlueprint("notes", __name__)

    @bp.action
    def delete(note_id: int) -> None:
        _ran("delete")

    message = refused(lambda: make_app(bp), "notes.delete")
    assert "anyone" in message


def test_a_decorator_above_the_action_is_no_guard() -> None:
    # @signed_in above @bp.action wraps the Action object: the registry holds
    # the action underneath, and requests never go through the decorator.
    bp = ActionBlueprint("notes", __name__)

    @signed_in
    @bp.action
    def delete(note_id: int) -> None:
        _ran("delete")

    message = refused(lambda: make_app(bp), "notes.delete")
    assert "under @bp.action" in message or "below @bp.action" in message


def test_an_app_level_before_request_is_no_guard() -> None:
    # Extensions add app-wide before_request functions for their own ends
    # (Flask-WTF's CSRFProtect, Flask-Limiter): they say nothing of an action.
    bp = ActionBlueprint("admin", __name__)

    @bp.action
    def wipe() -> None:
        _ran("wipe")

    def factory() -> Flask:
        app = Flask(__name__)
        app.config.update(
            SECRET_KEY="strict mode tests " * 3,
            TESTING=True,
            ACTIONS_REQUIRE_GUARD=True,
        )
        app.before_request(require_user)
        ActionExtension(app)
        app.register_blueprint(bp)
        return app

    refused(factory, "admin.wipe")


def test_registered_before_init_app_it_is_refused_at_init_app() -> None:
    bp = ActionBlueprint("notes", __name__)

    @bp.action
    def delete(note_id: int) -> None:
        _ran("delete")

    refused(lambda: make_app(bp, init_first=False), "notes.delete")
    assert RAN == []


def test_an_unguarded_action_of_the_extension_is_refused_at_init_app() -> None:
    extension = ActionExtension()

    @extension.action
    def ping() -> str:
        return "pong"

    refused(lambda: make_app(extension=extension), "ping")


def test_an_unguarded_action_declared_after_init_app_is_refused_then() -> None:
    extension = ActionExtension()
    make_app(extension=extension)

    def declare() -> None:
        @extension.action
        def ping() -> str:
            return "pong"

    refused(declare, "ping")


# --- what counts as a guard -----------------------------------------------------


def _guarded_app(declare: t.Callable[[ActionBlueprint], t.Any]) -> Flask:
    """An app whose blueprint ``shop`` declares ``order`` as ``declare`` says."""
    bp = ActionBlueprint("shop", __name__)
    declare(bp)
    return make_app(bp)


def _order(bp: ActionBlueprint, **options: t.Any) -> t.Any:
    @bp.action(**options)
    def order() -> str:
        _ran("order")
        return "ordered"

    return order


def _stacked(bp: ActionBlueprint) -> None:
    @bp.action
    @signed_in
    def order() -> str:
        _ran("order")
        return "ordered"


def _before_request(bp: ActionBlueprint) -> None:
    bp.before_request(require_user)
    _order(bp)


def _before_action(bp: ActionBlueprint) -> None:
    bp.before_action(require_user_hook)
    _order(bp)


GUARDS: dict[str, t.Callable[[ActionBlueprint], t.Any]] = {
    "decorators=": lambda bp: _order(bp, decorators=[signed_in]),
    "a decorator stacked under @bp.action": _stacked,
    "the blueprint's before_request": _before_request,
    "the blueprint's before_action": _before_action,
}


@pytest.mark.parametrize("way", list(GUARDS))
def test_each_way_of_guarding_is_accepted_and_guards(way: str) -> None:
    app = _guarded_app(GUARDS[way])
    client = app.test_client()
    refused_call = call(client, "shop.order", mode="json")
    assert refused_call.status == 403 and not refused_call.ok
    assert RAN == [], "the guard runs before the action"
    client.get("/sign-in")
    allowed = call(client, "shop.order", mode="json")
    assert allowed.ok and allowed.data == "ordered"
    assert RAN == ["order"]


def test_a_parent_blueprints_guards_count_for_a_nested_one() -> None:
    for guard in ("before_request", "before_action"):
        parent = ActionBlueprint("account", __name__, url_prefix="/account")
        child = ActionBlueprint("billing", __name__)
        if guard == "before_request":
            parent.before_request(require_user)
        else:
            parent.before_action(require_user_hook)

        @child.action
        def pay() -> None:
            _ran("pay")

        parent.register_blueprint(child)
        client = make_app(parent).test_client()
        assert call(client, pay, mode="json").status == 403
        client.get("/sign-in")
        assert call(client, pay, mode="json").ok
    assert RAN == ["pay", "pay"]


def test_a_before_action_hook_of_the_extension_counts_for_every_action() -> None:
    extension = ActionExtension()
    extension.before_action(require_user_hook)

    @extension.action
    def ping() -> str:
        return "pong"

    bp = ActionBlueprint("shop", __name__)
    _order(bp)
    client = make_app(bp, extension=extension).test_client()
    assert call(client, "shop.order", mode="json").status == 403
    assert call(client, "ping", mode="json").status == 403
    client.get("/sign-in")
    assert call(client, "ping", mode="json").data == "pong"
    assert call(client, "shop.order", mode="json").ok


def test_public_true_says_anyone_may_call_it() -> None:
    extension = ActionExtension()

    @extension.action(public=True)
    def ping() -> str:
        return "pong"

    bp = ActionBlueprint("shop", __name__)
    order = _order(bp, public=True)
    assert order.public and not ping.decorated
    client = make_app(bp, extension=extension).test_client()
    assert call(client, "shop.order", mode="json").data == "ordered"
    assert call(client, "ping", mode="json").data == "pong"


def test_an_action_added_after_registration_fails_as_a_late_route() -> None:
    bp = ActionBlueprint("notes", __name__)
    _order(bp, public=True)
    app = make_app(bp)
    with pytest.raises(AssertionError, match="'action' can no longer be called"):

        @bp.action
        def late() -> None:
            _ran("late")

    assert call(app.test_client(), "notes.order", mode="json").ok
