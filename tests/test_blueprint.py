from __future__ import annotations

import typing as t

import pytest
from flask import abort
from flask import Blueprint
from flask import Flask
from flask import g
from flask import redirect as flask_redirect
from flask import request

from flask_actions import ActionBlueprint
from flask_actions import ActionError
from flask_actions import ActionExtension
from flask_actions import ActionResult
from flask_actions.testing import call


def test_an_action_blueprint_is_a_blueprint_with_routes(
    make_app: t.Callable[..., Flask],
) -> None:
    bp = ActionBlueprint("pages", __name__, url_prefix="/pages")

    @bp.route("/")
    def index() -> str:
        return "pages index"

    assert isinstance(bp, Blueprint)
    assert make_app(bp).test_client().get("/pages/").text == "pages index"


def test_action_runs_behind_its_own_blueprints_before_request_whatever_the_page(
    make_app: t.Callable[..., Flask],
) -> None:
    public = Blueprint("public", __name__)
    admin = ActionBlueprint("admin", __name__, url_prefix="/admin")
    deleted: list[int] = []

    @public.route("/")
    def home() -> str:
        return "home"

    @admin.before_request
    def require_admin() -> t.Any:
        if request.headers.get("X-Admin") != "yes":
            return flask_redirect("/login")
        return None

    @admin.action
    def purge(item: int) -> None:
        deleted.append(item)

    client = make_app(public, admin).test_client()
    refused = call(client, purge.bind(1), page="/")
    assert refused.response is not None and refused.response.status_code == 302
    assert refused.response.location == "/login"
    assert deleted == []
    allowed = call(client, purge.bind(2), page="/", headers={"X-Admin": "yes"})
    assert allowed.ok and deleted == [2]


def test_app_before_request_runs_before_actions(
    make_app: t.Callable[..., Flask],
) -> None:
    bp = ActionBlueprint("x", __name__)
    order: list[str] = []

    @bp.action
    def go() -> None:
        order.append("action")

    app = make_app(bp)

    @app.before_request
    def first() -> None:
        order.append("app hook")

    call(app.test_client(), go)
    assert order == ["app hook", "action"]


def test_nested_blueprints_run_parent_hooks_and_name_actions_by_their_own_name(
    make_app: t.Callable[..., Flask],
) -> None:
    parent = Blueprint("shop", __name__, url_prefix="/shop")
    child = ActionBlueprint("cart", __name__, url_prefix="/cart")
    seen: list[str] = []

    @parent.before_request
    def parent_hook() -> None:
        seen.append("parent")

    @child.before_request
    def child_hook() -> None:
        seen.append("child")

    @child.action
    def checkout() -> str:
        seen.append("action")
        return "done"

    parent.register_blueprint(child)
    result = call(make_app(parent).test_client(), checkout, mode="json")
    assert result.ok and result.data == "done"
    assert checkout.name == "cart.checkout"
    assert seen == ["parent", "child", "action"]


def test_before_and_after_action_hooks_of_extension_and_blueprint(
    make_app: t.Callable[..., Flask],
) -> None:
    ext = ActionExtension()
    bp = ActionBlueprint("notes", __name__)
    log: list[str] = []

    @ext.before_action
    def audit(action: t.Any, args: tuple[t.Any, ...]) -> None:
        log.append(f"audit {action.name} {args}")

    @bp.before_action
    def authorize(action: t.Any, args: tuple[t.Any, ...]) -> None:
        if args and args[0] == 13:
            raise ActionError("You cannot touch note 13.", status=403)

    @bp.after_action
    def stamp(action: t.Any, result: ActionResult) -> ActionResult | None:
        if result.ok:
            result.message = "Saved."
        return result

    @bp.action
    def touch(note_id: int) -> int:
        log.append(f"touch {note_id}")
        return note_id

    client = make_app(bp, extension=ext).test_client()
    ok = call(client, touch.bind(1), mode="json")
    refused = call(client, touch.bind(13), mode="json")
    assert ok.ok and ok.message == "Saved."
    assert (refused.status, refused.message) == (403, "You cannot touch note 13.")
    assert log == ["audit notes.touch (1,)", "touch 1", "audit notes.touch (13,)"]


def test_extension_actions_for_apps_without_blueprints(
    make_app: t.Callable[..., Flask],
) -> None:
    ext = ActionExtension()

    @ext.action(schema={"n": __import__("marshmallow").fields.Int(required=True)})
    def double(data: dict[str, int]) -> int:
        return data["n"] * 2

    app = make_app(extension=ext)
    assert double.name == "double"
    assert call(app.test_client(), double, {"n": "21"}).data == 42


def test_view_decorators_stack_on_actions(make_app: t.Callable[..., Flask]) -> None:
    bp = ActionBlueprint("secure", __name__)

    def require_token(f: t.Callable[..., t.Any]) -> t.Callable[..., t.Any]:
        def wrapper(*args: t.Any, **kwargs: t.Any) -> t.Any:
            if request.headers.get("X-Token") != "ok":
                abort(401, "Log in first.")
            g.user = "ann"
            return f(*args, **kwargs)

        return wrapper

    @bp.action(decorators=[require_token])
    def whoami() -> str:
        return str(g.user)

    client = make_app(bp).test_client()
    assert call(client, whoami, mode="json", headers={"X-Token": "ok"}).data == "ann"
    denied = call(client, whoami, mode="json")
    assert (denied.ok, denied.status, denied.message) == (False, 401, "Log in first.")


def test_flask_login_protects_actions(make_app: t.Callable[..., Flask]) -> None:
    flask_login = pytest.importorskip("flask_login")
    bp = ActionBlueprint("account", __name__)

    class User(flask_login.UserMixin):  # type: ignore[misc, name-defined]
        id = "ann"

    @bp.action
    @flask_login.login_required  # type: ignore[misc]
    def secret() -> str:
        return f"hello {flask_login.current_user.id}"

    @bp.route("/login")
    def login() -> str:
        flask_login.login_user(User())
        return "logged in"

    app = make_app(bp)
    manager = flask_login.LoginManager(app)
    manager.user_loader(lambda uid: User() if uid == "ann" else None)
    client = app.test_client()
    denied = call(client, secret, mode="json")
    assert denied.status == 401 and not denied.ok
    client.get("/login")
    assert call(client, secret, mode="json").data == "hello ann"


@pytest.mark.parametrize("init_first", [True, False])
def test_a_blueprint_registered_twice_cannot_host_actions(init_first: bool) -> None:
    bp = ActionBlueprint("twice", __name__)

    @bp.action
    def go() -> None: ...

    app = Flask(__name__)
    app.config.update(SECRET_KEY="s", TESTING=True)
    extension = ActionExtension()
    if init_first:
        extension.init_app(app)
    app.register_blueprint(bp)
    with pytest.raises(RuntimeError, match="registered twice") as caught:
        app.register_blueprint(bp, name="again", url_prefix="/again")
        extension.init_app(app)
    assert "'twice' and 'again'" in str(caught.value)
