"""What a result says happened: refusals, redirects however produced, and the
one rule for session and cookie changes on failure (``docs/actions.md``)."""

from __future__ import annotations

import json
import typing as t

import flask
import pytest
from flask import abort
from flask import Flask
from flask import render_template_string
from flask import request
from flask import session
from marshmallow import fields
from marshmallow import ValidationError

from flask_actions import ActionBlueprint
from flask_actions import ActionError
from flask_actions import ActionExtension
from flask_actions import keep_changes
from flask_actions import redirect
from flask_actions import set_cookie
from flask_actions.signals import action_failed
from flask_actions.signals import action_succeeded
from flask_actions.testing import call

flask_login = pytest.importorskip("flask_login")

PAGE = """{% import "flask_actions/macros.html" as fa %}<!doctype html>
<p id="who">{{ session.get('user', 'nobody') }}</p>{{ fa.message() }}
<p id="flashes">{{ get_flashed_messages() | join(', ') }}</p>"""


class User(flask_login.UserMixin):  # type: ignore[misc, name-defined]
    id = "ann"


def make_app(bp: ActionBlueprint, **config: t.Any) -> Flask:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="outcomes secret " * 3, TESTING=True, **config)
    ActionExtension(app)

    @bp.route("/")
    def index() -> str:
        return render_template_string(PAGE)

    @bp.route("/login")
    def login_page() -> str:
        return "please log in"

    app.register_blueprint(bp)
    manager = flask_login.LoginManager(app)
    manager.login_view = f"{bp.name}.login_page"
    manager.user_loader(lambda uid: User() if uid == "ann" else None)
    return app


def record(app: Flask) -> list[tuple[str, t.Any]]:
    events: list[tuple[str, t.Any]] = []
    action_succeeded.connect(
        lambda sender, result, **kw: events.append(("succeeded", result)),
        app,
        weak=False,
    )
    action_failed.connect(
        lambda sender, result, **kw: events.append(("failed", result)),
        app,
        weak=False,
    )
    return events


# --- Refusals are failures ------------------------------------------------------


@pytest.mark.parametrize("how", ["stacked", "decorators"])
def test_login_required_refusal_is_a_failure_and_still_reaches_the_login_page(
    how: str,
) -> None:
    bp = ActionBlueprint("cards", __name__)
    deleted: list[int] = []

    def delete(card: int) -> None:
        deleted.append(card)

    if how == "stacked":
        action = bp.action(flask_login.login_required(delete))
    else:
        action = bp.action(decorators=[flask_login.login_required])(delete)
    app = make_app(bp)
    events = record(app)
    client = app.test_client()

    with app.test_request_context():
        target = action.bind(7)
    plain = call(client, target)
    assert plain.response is not None
    assert plain.response.status_code in (302, 303)
    assert plain.response.location.startswith("/login")
    assert not plain.ok and plain.status == 401 and not plain.ran
    assert [kind for kind, _ in events] == ["failed"]

    scripted = call(client, target, mode="json")
    assert scripted.response is not None
    body = scripted.response.get_json()
    assert body["ok"] is False and body["status"] == 401
    assert body["redirect"].startswith("/login"), "the script still goes to log in"
    assert [kind for kind, _ in events] == ["failed", "failed"]
    assert deleted == []


@pytest.mark.parametrize("status", [401, 403, 429])
def test_a_blueprint_before_request_refusal_is_a_failure_with_its_status(
    status: int,
) -> None:
    bp = ActionBlueprint("guarded", __name__)
    ran: list[str] = []

    @bp.before_request
    def guard() -> None:
        if request.method == "POST":
            abort(status)

    @bp.action
    def go() -> None:
        ran.append("go")

    app = make_app(bp)
    events = record(app)
    client = app.test_client()
    for mode in ("form", "json"):
        result = call(client, go, mode=mode)  # type: ignore[arg-type]
        assert (result.ok, result.status, result.ran) == (False, status, False)
        assert result.response is not None
        assert result.response.status_code == status
    assert [kind for kind, _ in events] == ["failed", "failed"]
    assert ran == []


def test_a_before_request_redirect_refusal_is_followed_by_the_user() -> None:
    bp = ActionBlueprint("bounce", __name__)

    @bp.before_request
    def guard() -> t.Any:
        if request.method == "POST":
            return flask.redirect("/login")
        return None

    @bp.action
    def go() -> None:
        raise AssertionError("refused: never runs")

    app = make_app(bp)
    client = app.test_client()
    plain = call(client, go)
    assert plain.response is not None
    assert (plain.response.status_code, plain.response.location) == (302, "/login")
    assert not plain.ok and plain.status == 401
    scripted = call(client, go, mode="json")
    assert scripted.response is not None
    body = scripted.response.get_json()
    assert (body["ok"], body["status"], body["redirect"]) == (False, 401, "/login")


def test_an_action_returning_its_own_redirect_ran_and_succeeded() -> None:
    bp = ActionBlueprint("own", __name__)

    @bp.action
    def go() -> t.Any:
        return flask.redirect("/elsewhere")

    app = make_app(bp)
    result = call(app.test_client(), go)
    assert result.ok and result.ran and result.redirect == "/elsewhere"


def test_a_decorator_returning_a_forbidden_tuple_is_a_failure() -> None:
    bp = ActionBlueprint("tuple", __name__)

    def forbid(func: t.Callable[..., t.Any]) -> t.Callable[..., t.Any]:
        def wrapper(*args: t.Any) -> t.Any:
            return "Forbidden", 403

        return wrapper

    @bp.action(decorators=[forbid])
    def go() -> None:
        raise AssertionError("never runs")

    app = make_app(bp)
    result = call(app.test_client(), go, mode="json")
    assert (result.ok, result.status, result.ran) == (False, 403, False)


# --- Redirects, however produced ------------------------------------------------


@pytest.mark.parametrize(
    "location",
    [
        "javascript:alert(1)",
        "//evil.example/x",
        "/\\evil.example",
        "https://evil.example",
    ],
)
@pytest.mark.parametrize("how", ["flask", "decorator"])
def test_every_redirect_an_action_produces_passes_the_same_check(
    location: str, how: str
) -> None:
    bp = ActionBlueprint("nxt", __name__)

    def bounce(func: t.Callable[..., t.Any]) -> t.Callable[..., t.Any]:
        def wrapper(*args: t.Any) -> t.Any:
            return flask.redirect(request.args["next"])

        return wrapper

    decorators = [bounce] if how == "decorator" else []

    @bp.action(decorators=decorators)
    def go() -> t.Any:
        return flask.redirect(request.args["next"])

    app = make_app(bp)
    client = app.test_client()
    page = "/?" + "next=" + location.replace("\\", "%5C")
    plain = call(client, go, page=page)
    assert plain.response is not None
    # The action's own redirect: done, back to the page. A decorator's: the
    # call was refused, and the page says so.
    expected = (303, "/") if how == "flask" else (401, None)
    got = plain.response.location
    assert (plain.response.status_code, got and got.partition("?")[0]) == expected
    assert plain.redirect_refused == location
    scripted = call(client, go, mode="json", page=page)
    assert scripted.response is not None
    body = scripted.response.get_json()
    assert body["redirect"] in (None, "/"), body


def test_a_refused_redirect_says_the_work_was_done_and_where_the_user_is(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bp = ActionBlueprint("signin", __name__)

    @bp.action
    def sign_in() -> None:
        session["user"] = "ann"
        redirect("//evil.example/welcome")

    app = make_app(bp)
    client = app.test_client()
    with caplog.at_level("WARNING", logger="flask_actions"):
        result = call(client, sign_in)
    assert result.ok, "the work was done"
    assert result.redirect_refused == "//evil.example/welcome"
    assert result.response is not None
    assert result.response.status_code == 303
    assert result.response.location == "/"
    page = client.get("/").text
    assert '<p id="who">ann</p>' in page, "the sign-in was kept"
    assert "another site" in page, "the page says why it stayed here"
    assert "evil.example" in caplog.text and "ACTIONS_ALLOWED_REDIRECT_HOSTS" in (
        caplog.text
    )

    scripted = call(client, sign_in, mode="json")
    assert scripted.response is not None
    assert scripted.response.status_code == 200, "done, staying on the page"
    body = scripted.response.get_json()
    assert body["ok"] is True and body["redirect"] is None
    assert "another site" in body["message"]


@pytest.mark.parametrize("code", [307, 308])
def test_method_keeping_redirects_become_303(code: int) -> None:
    bp = ActionBlueprint("keep", __name__)
    runs: list[int] = []

    @bp.action
    def go() -> None:
        runs.append(1)
        redirect("/done", code=code)

    @bp.action
    def raw() -> t.Any:
        runs.append(1)
        return flask.redirect("/done", code=code)

    app = make_app(bp)
    client = app.test_client()
    for target in (go, raw):
        result = call(client, target)
        assert result.response is not None
        assert (result.response.status_code, result.response.location) == (
            303,
            "/done",
        )
    assert runs == [1, 1]


# --- One rule for session and cookie changes on failure ---------------------------


def _failing(kind: str) -> t.Callable[[], None]:
    def fail() -> None:
        if kind == "crash":
            raise RuntimeError("boom")
        if kind == "validation":
            raise ValidationError({"title": ["Bad."]})
        if kind == "action_error":
            raise ActionError("No.")
        if kind == "abort":
            abort(403)

    return fail


@pytest.mark.parametrize("kind", ["crash", "validation", "action_error", "abort"])
@pytest.mark.parametrize("keep", [False, True])
def test_a_failure_undoes_session_and_cookie_changes_unless_kept(
    kind: str, keep: bool
) -> None:
    bp = ActionBlueprint("rule", __name__)
    fail = _failing(kind)

    @bp.action(name="go")
    def go() -> None:
        session["tries"] = session.get("tries", 0) + 1
        set_cookie("tried", "yes")
        flask.flash("Something is wrong.")
        if keep:
            keep_changes()
        fail()

    app = make_app(bp)
    client = app.test_client()
    result = call(client, go)
    assert not result.ok
    assert result.response is not None
    cookies = result.response.headers.getlist("Set-Cookie")
    with client.session_transaction() as kept_session:
        tries = kept_session.get("tries")
        flashes = kept_session.get("_flashes")
    if keep:
        assert tries == 1 and any(c.startswith("tried=yes") for c in cookies)
    else:
        assert tries is None, "the session change was undone"
        assert not any(c.startswith("tried=") for c in cookies)
    if kind != "crash":
        assert flashes or "Something is wrong." in result.response.text, (
            "flashed messages are how a failure talks to the user: they stay"
        )


def test_a_refusal_by_a_decorator_keeps_its_flash_message() -> None:
    bp = ActionBlueprint("flashy", __name__)

    @bp.action(decorators=[flask_login.login_required])
    def go() -> None: ...

    app = make_app(bp)
    client = app.test_client()
    call(client, go)
    with client.session_transaction() as kept_session:
        flashes = kept_session.get("_flashes") or []
    assert any("log in" in message for _, message in flashes)


def test_json_result_says_whether_the_function_ran() -> None:
    bp = ActionBlueprint("ranflag", __name__)

    @bp.action(schema={"n": fields.Int(required=True)})
    def go(data: dict[str, int]) -> int:
        return data["n"]

    app = make_app(bp)
    client = app.test_client()
    ok = call(client, go, {"n": 2}, mode="json")
    assert ok.response is not None
    assert json.loads(ok.response.text)["ran"] is True
    bad = call(client, go, {"n": "x"}, mode="json")
    assert bad.response is not None
    assert json.loads(bad.response.text)["ran"] is False
