"""Validate-only requests (live checks): the guards and the schema run, the
action, its hooks and its signals never do (``flask_actions/validation.py``)."""

from __future__ import annotations

import sys
import typing as t
from pathlib import Path

import pytest
from flask import abort
from flask import Flask
from flask import redirect
from flask.testing import FlaskClient
from marshmallow import fields
from marshmallow import ValidationError

from flask_actions import ActionError
from flask_actions import signals
from flask_actions.testing import call
from flask_actions.testing import prepare
from flask_actions.wire import ACTION_FIELD

sys.path.insert(0, str(Path(__file__).parent / "apps"))

import signup_app

VALID = {
    "username": "grace",
    "email": "grace@example.com",
    "password": "12345678",
    "repeat": "12345678",
    "age": "36",
    "plan": "pro",
    "tags": ["music", "books"],
    "address.street": "1 Main St",
    "address.zip": "12345",
    "pets.0.name": "Rex",
    "pets.1.name": "",
    "invite": "",
    "about": "",
    "terms": ["0", "1"],
}


@pytest.fixture
def app() -> Flask:
    return signup_app.create_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def validate(
    client: FlaskClient,
    target: str,
    data: t.Mapping[str, t.Any],
    headers: t.Mapping[str, str] | None = None,
    csrf: bool = True,
) -> t.Any:
    """Post ``data`` to ``target`` as the live script does."""
    ref, token, origin = prepare(client, target, "/")
    form: dict[str, t.Any] = {**data, ACTION_FIELD: ref}
    if token and csrf:
        form["csrf_token"] = token
    sent = {
        "Origin": origin,
        "X-Flask-Actions": "validate",
        "Accept": "application/json",
    }
    return client.post("/", data=form, headers={**sent, **(headers or {})})


@pytest.fixture
def sent_signals(app: Flask) -> t.Iterator[list[str]]:
    seen: list[str] = []
    receivers = []
    for name in ("action_started", "action_succeeded", "action_failed", "redirected"):
        signal = getattr(signals, name)

        def receiver(sender: t.Any, _name: str = name, **kwargs: t.Any) -> None:
            seen.append(_name)

        signal.connect(receiver, app)
        receivers.append((signal, receiver))
    yield seen
    for signal, receiver in receivers:
        signal.disconnect(receiver, app)


def test_a_valid_form_is_204_and_nothing_runs(
    client: FlaskClient, sent_signals: list[str]
) -> None:
    response = validate(client, "signup.join", VALID)
    assert response.status_code == 204
    assert response.data == b""
    assert signup_app.CALLS["signup"] == 0
    assert sent_signals == []


def test_an_invalid_form_is_422_with_the_errors_a_submission_shows(
    client: FlaskClient, sent_signals: list[str]
) -> None:
    data = {**VALID, "email": "nope", "address.zip": "1", "pets.0.name": "R"}
    response = validate(client, "signup.join", data)
    assert response.status_code == 422
    assert response.headers["Cache-Control"] == "no-store"
    errors = {
        "email": ["Not a valid email address."],
        "address": {"zip": ["String does not match expected pattern."]},
        "pets": {"0": {"name": ["Length must be between 2 and 20."]}},
    }
    assert response.json == {"ok": False, "status": 422, "errors": errors}
    submitted = call(client, "signup.join", data)
    assert submitted.status == 422
    assert submitted.errors == {**errors, "pets": {0: errors["pets"]["0"]}}
    assert signup_app.CALLS["signup"] == 0  # the schema refused it
    assert sent_signals == ["action_failed"]  # the submission's


def test_a_schema_validator_with_a_field_name_counts(client: FlaskClient) -> None:
    response = validate(client, "signup.join", {**VALID, "repeat": "1234567"})
    assert response.json["errors"] == {"repeat": ["The passwords do not match."]}


def test_a_field_marked_live_false_is_never_checked_live(client: FlaskClient) -> None:
    response = validate(client, "signup.join", {**VALID, "invite": "FREE-BEER"})
    assert response.status_code == 204
    assert signup_app.CALLS["invite_checks"] == 0
    submitted = call(client, "signup.join", {**VALID, "invite": "FREE-BEER"})
    assert submitted.errors == {"invite": ["This invite code is unknown."]}
    assert signup_app.CALLS["invite_checks"] == 1


def _hooked_app(before: t.Callable[[t.Any, t.Any], None]) -> tuple[Flask, list[str]]:
    """An app whose one action counts what runs: its own hooks and itself,
    and the username validator (a lookup a guard must keep from strangers)."""
    from flask_actions import ActionBlueprint
    from flask_actions import ActionExtension

    bp = ActionBlueprint("hooked", __name__)
    ran: list[str] = []

    def known(name: str) -> None:
        ran.append("lookup")
        if name == "grace":
            raise ValidationError("This name is taken.")

    bp.before_action(before)

    @bp.after_action
    def after(action: t.Any, result: t.Any) -> None:
        ran.append("after")

    @bp.action(schema={"name": fields.Str(required=True, validate=known)})
    def join(data: dict[str, str]) -> None:
        ran.append("action")

    app = Flask(__name__)
    app.config.update(SECRET_KEY="a secret for the hooks test, 32+ bytes", TESTING=True)
    ActionExtension(app)
    app.register_blueprint(bp)
    return app, ran


def test_before_action_hooks_run_for_a_live_check_and_after_hooks_do_not() -> None:
    seen: list[tuple[str, t.Any]] = []

    def before(action: t.Any, args: t.Any) -> None:
        seen.append((action.name, args))

    app, ran = _hooked_app(before)
    client = app.test_client()
    response = validate(client, "hooked.join", {"name": "grace"})
    assert response.status_code == 422
    assert response.json["errors"] == {"name": ["This name is taken."]}
    assert validate(client, "hooked.join", {"name": "ada"}).status_code == 204
    assert seen == [("hooked.join", ()), ("hooked.join", ())]
    assert ran == ["lookup", "lookup"]  # no action, no after_action hook
    assert call(client, "hooked.join", {"name": "ada"}).ok
    assert ran == ["lookup", "lookup", "lookup", "action", "after"]


@pytest.mark.parametrize(
    ("refusal", "status"),
    [
        (lambda: abort(401), 401),
        (lambda: abort(redirect("/login")), 401),
        (lambda: _raise(ActionError("Only members may join.", status=403)), 403),
    ],
    ids=["abort-401", "abort-redirect", "action-error"],
)
def test_a_before_action_guard_refuses_a_live_check_any_verdict(
    refusal: t.Callable[[], None], status: int
) -> None:
    # In strict mode a before_action hook counts as the action's guard: a
    # live check it refuses must not tell a stranger that a name is taken.
    def guard(action: t.Any, args: t.Any) -> None:
        refusal()

    app, ran = _hooked_app(guard)
    client = app.test_client()
    with signals.action_failed.connected_to(lambda *a, **k: ran.append("signal")):
        response = validate(client, "hooked.join", {"name": "grace"})
    assert response.status_code == status
    assert response.json == {"ok": False, "status": status, "errors": {}}
    assert ran == []  # the validator never looked the name up


def test_a_before_action_hook_that_crashes_gives_no_verdict(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(action: t.Any, args: t.Any) -> None:
        raise RuntimeError("the guard's database is down")

    app, ran = _hooked_app(broken)
    response = validate(app.test_client(), "hooked.join", {"name": "grace"})
    assert response.status_code == 500
    assert response.json == {"ok": False, "status": 500, "errors": {}}
    assert ran == []
    assert "the guard's database is down" in caplog.text


def _raise(error: Exception) -> None:
    raise error


def test_a_blueprint_guard_refuses_an_anonymous_user_any_verdict(
    client: FlaskClient, sent_signals: list[str]
) -> None:
    response = validate(client, "admin.rename_site", {"title": "x"})
    assert response.status_code == 401
    assert response.json == {"ok": False, "status": 401, "errors": {}}
    assert sent_signals == []
    client.get("/login")
    response = validate(client, "admin.rename_site", {"title": "x"})
    assert response.status_code == 422
    assert response.json["errors"] == {"title": ["Length must be between 3 and 40."]}
    assert validate(client, "admin.rename_site", {"title": "Mine"}).status_code == 204
    assert signup_app.CALLS["rename"] == 0


@pytest.mark.parametrize(
    ("headers", "csrf", "status", "reason"),
    [
        ({"Origin": "https://evil.example"}, True, 403, "cross_site"),
        ({}, False, 403, "csrf"),
    ],
)
def test_a_validate_only_request_is_checked_like_a_submission(
    client: FlaskClient,
    headers: dict[str, str],
    csrf: bool,
    status: int,
    reason: str,
) -> None:
    response = validate(client, "signup.join", VALID, headers=headers, csrf=csrf)
    assert response.status_code == status
    assert response.json["reason"] == reason
    assert "errors" not in response.json or response.json["errors"] == {}


def test_an_action_without_schema_has_nothing_to_check() -> None:
    from flask_actions import ActionExtension

    actions = ActionExtension()
    calls: list[int] = []

    @actions.action
    def ping() -> None:
        calls.append(1)

    app = Flask(__name__)
    app.config.update(SECRET_KEY="a secret for the ping test, 32+ bytes", TESTING=True)
    actions.init_app(app)
    assert validate(app.test_client(), "ping", {}).status_code == 204
    assert calls == []


def make_app_with(schema: t.Any, name: str) -> Flask:
    from flask_actions import ActionBlueprint
    from flask_actions import ActionExtension

    bp = ActionBlueprint(name, __name__)

    @bp.action(schema=schema)
    def save(data: dict[str, t.Any]) -> None:
        return None

    app = Flask(__name__)
    app.config.update(SECRET_KEY="a secret of the live tests, 32+ bytes", TESTING=True)
    ActionExtension(app)
    app.register_blueprint(bp)
    return app


def test_a_validator_that_crashes_answers_500_and_logs_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from marshmallow import Schema
    from marshmallow import validates_schema

    class Fragile(Schema):
        a = fields.Str()

        @validates_schema
        def needs_a(self, data: dict[str, t.Any], **kwargs: t.Any) -> None:
            data["a"].upper()  # KeyError on a form not filled in yet

    client = make_app_with(Fragile, "fragile").test_client()
    response = validate(client, "fragile.save", {})
    assert response.status_code == 500
    assert response.json == {"ok": False, "status": 500, "errors": {}}
    assert "raised an error during a live check" in caplog.text


def test_files_are_checked_on_submission_only() -> None:
    import io

    from flask_actions import File

    schema = {
        "title": fields.Str(required=True),
        "photo": File(required=True, accept="image/png"),
    }
    client = make_app_with(schema, "photos").test_client()
    response = validate(client, "photos.save", {"title": "Me"})
    assert response.status_code == 204  # no photo sent: not checked live
    fake = (io.BytesIO(b"not a png"), "me.png")
    result = call(client, "photos.save", {"title": "Me", "photo": fake})
    assert result.errors == {"photo": ["The file must be a PNG image."]}


def test_a_check_names_an_items_errors_by_its_row(client: FlaskClient) -> None:
    data = {**VALID, "pets.0.name": "", "pets.1.name": "R"}
    response = validate(client, "signup.join", data)
    assert response.json["errors"] == {
        "pets": {"1": {"name": ["Length must be between 2 and 20."]}}
    }


def test_an_action_guarded_by_a_decorator_is_refused_live_checks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import functools

    from flask import abort

    from flask_actions import ActionBlueprint
    from flask_actions import ActionExtension

    def staff_only(func: t.Callable[..., t.Any]) -> t.Callable[..., t.Any]:
        @functools.wraps(func)
        def wrapper(*args: t.Any, **kwargs: t.Any) -> t.Any:
            abort(403)

        return wrapper

    bp = ActionBlueprint("staff", __name__)
    lookups: list[str] = []

    def known(value: str) -> None:
        lookups.append(value)  # a database query a stranger must not drive

    @bp.action(
        schema={"email": fields.Str(validate=known)},
        decorators=[staff_only],
    )
    def invite(data: dict[str, t.Any]) -> None:
        return None

    app = Flask(__name__)
    app.config.update(SECRET_KEY="a secret of the staff test, 32+ bytes", TESTING=True)
    ActionExtension(app)
    app.register_blueprint(bp)
    response = validate(app.test_client(), "staff.invite", {"email": "a@b.c"})
    assert response.status_code == 403
    assert response.json == {"ok": False, "status": 403, "errors": {}}
    assert lookups == []
    assert "Live checks of staff.invite are refused" in caplog.text


def test_post_load_is_the_actions_work_and_never_runs_live() -> None:
    from marshmallow import post_load
    from marshmallow import Schema

    built: list[dict[str, t.Any]] = []

    class Order(Schema):
        qty = signup_app.fields.Int(
            required=True, validate=signup_app.validate.Range(min=1)
        )

        @post_load
        def make_order(self, data: dict[str, t.Any], **kwargs: t.Any) -> t.Any:
            built.append(data)  # a model built, a row looked up
            return data

    client = make_app_with(Order, "orders").test_client()
    assert validate(client, "orders.save", {"qty": "0"}).status_code == 422
    assert validate(client, "orders.save", {"qty": "2"}).status_code == 204
    assert built == []
