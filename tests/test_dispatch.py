from __future__ import annotations

import io
import logging
import typing as t

import pytest
from flask import after_this_request
from flask import Flask
from flask import g
from flask import session
from flask import url_for
from marshmallow import fields
from marshmallow import Schema
from marshmallow import ValidationError
from werkzeug.datastructures import FileStorage

from flask_actions import ActionBlueprint
from flask_actions import ActionError
from flask_actions import redirect
from flask_actions import revalidate_path
from flask_actions import revalidate_tag
from flask_actions import set_cookie
from flask_actions import signals
from flask_actions.testing import call
from flask_actions.testing import prepare


def test_post_to_a_get_only_page_invokes_the_action(
    client: t.Any, notes: list[str]
) -> None:
    result = call(client, "notes.add", {"title": "first"})
    assert result.ok and notes == ["first"]
    assert result.response is not None and result.response.status_code == 303


def test_get_never_invokes_an_action(
    app: Flask, client: t.Any, notes: list[str]
) -> None:
    with app.test_request_context():
        ref = app.jinja_env.globals["action_ref"]("notes.add")
    for method in ("get", "head", "options"):
        getattr(client, method)(
            "/?_action=" + ref + "&title=x", headers={"X-Action": ref}
        )
    assert client.put("/", data={"_action": ref, "title": "x"}).status_code == 405
    assert notes == []


def test_bound_arguments_come_first_then_the_payload(
    make_app: t.Callable[..., Flask],
) -> None:
    bp = ActionBlueprint("todos", __name__)
    calls: list[t.Any] = []

    @bp.action(schema={"title": fields.Str(required=True)})
    def rename(todo_id: int, data: dict[str, str]) -> None:
        calls.append((todo_id, data))

    call(make_app(bp).test_client(), rename.bind(7), {"title": "new"})
    assert calls == [(7, {"title": "new"})]


class TagsSchema(Schema):
    tags = fields.List(fields.Str())
    done = fields.Bool(load_default=False)
    address = fields.Nested(Schema.from_dict({"city": fields.Str()}))
    upload = fields.Raw()


def test_form_payloads_multi_values_checkboxes_nesting_and_files(
    make_app: t.Callable[..., Flask],
) -> None:
    bp = ActionBlueprint("forms", __name__)
    got: list[dict[str, t.Any]] = []

    @bp.action(schema=TagsSchema)
    def save(data: dict[str, t.Any]) -> None:
        upload = data.pop("upload", None)
        if isinstance(upload, FileStorage):
            data["upload"] = (upload.filename, upload.read())
        got.append(data)

    client = make_app(bp).test_client()
    call(
        client,
        save,
        {
            "tags": ["a", "b"],
            "done": ["0", "1"],
            "address.city": "Lyon",
            "upload": (io.BytesIO(b"file body"), "notes.txt"),
        },
    )
    assert got == [
        {
            "tags": ["a", "b"],
            "done": True,
            "address": {"city": "Lyon"},
            "upload": ("notes.txt", b"file body"),
        }
    ]
    call(client, save, {"upload": (io.BytesIO(b""), "")})  # no file chosen
    assert got[-1] == {"done": False}


def test_json_payloads(make_app: t.Callable[..., Flask]) -> None:
    bp = ActionBlueprint("api", __name__)

    @bp.action(schema=TagsSchema)
    def save(data: dict[str, t.Any]) -> dict[str, t.Any]:
        return data

    result = call(
        make_app(bp).test_client(), save, {"tags": ["x"], "done": True}, mode="json"
    )
    assert result.data == {"tags": ["x"], "done": True}


def _nested(levels: int) -> list[t.Any]:
    value: list[t.Any] = []
    for _ in range(levels - 1):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        (_nested(64), True),  # the body is level 0: 64 levels below it pass
        (_nested(65), False),
        ("[" * 200 + "{" * 200, True),  # brackets in a string nest nothing
        ([[1], [2], {"x": [3]}] * 30, True),  # many brackets, shallow
    ],
    ids=["64-levels", "65-levels", "brackets-in-a-string", "wide-and-shallow"],
)
def test_json_nesting_limit(
    make_app: t.Callable[..., Flask], value: t.Any, accepted: bool
) -> None:
    bp = ActionBlueprint("api", __name__)

    @bp.action(schema={"a": fields.Raw()})
    def save(data: dict[str, t.Any]) -> bool:
        return data["a"] == value

    client = make_app(bp).test_client()
    result = call(client, save, {"a": value}, mode="json")
    if accepted:
        assert result.ok and result.data is True
    else:
        assert result.status == 400
        assert "nests deeper than 64 levels" in str(result.message)


def test_actions_run_in_the_normal_request_context(
    make_app: t.Callable[..., Flask],
) -> None:
    bp = ActionBlueprint("ctx", __name__)

    @bp.route("/page")
    def page() -> str:
        return f"count={session.get('count', 0)} cookie={g.get('seen')}"

    @bp.action
    def bump() -> str:
        session["count"] = session.get("count", 0) + 1
        g.seen = True
        return url_for(".page")

    app = make_app(bp)
    client = app.test_client()
    assert call(client, bump, page="/page", mode="json").data == "/page"
    call(client, bump, page="/page")
    assert client.get("/page").text == "count=2 cookie=None"


def test_cookies_set_in_an_action_reach_the_response_also_on_redirect(
    make_app: t.Callable[..., Flask],
) -> None:
    bp = ActionBlueprint("prefs", __name__)

    @bp.route("/")
    def index() -> str:
        return "index"

    @bp.action
    def theme(name: str) -> None:
        set_cookie("theme", name, samesite="Lax")

        @after_this_request
        def also(response: t.Any) -> t.Any:
            response.set_cookie("lang", "fr")
            return response

        if name == "dark":
            redirect("/")

    client = make_app(bp).test_client()
    for name, status in (("light", 303), ("dark", 303)):
        result = call(client, theme.bind(name))
        assert result.response is not None and result.response.status_code == status
        assert client.get_cookie("theme").value == name  # type: ignore[union-attr]
        assert client.get_cookie("lang").value == "fr"  # type: ignore[union-attr]
    json_result = call(client, theme.bind("blue"), mode="json")
    assert json_result.ok and client.get_cookie("theme").value == "blue"  # type: ignore[union-attr]


def test_validation_errors_raised_inside_the_action_are_field_errors(
    make_app: t.Callable[..., Flask],
) -> None:
    bp = ActionBlueprint("v", __name__)

    @bp.action(schema={"email": fields.Str(required=True)})
    def signup(data: dict[str, str]) -> None:
        raise ValidationError({"email": ["This address is already registered."]})

    result = call(make_app(bp).test_client(), signup, {"email": "a@b.c"}, mode="json")
    assert (result.status, result.errors) == (
        422,
        {"email": ["This address is already registered."]},
    )


def test_schema_level_errors_become_the_form_message(
    make_app: t.Callable[..., Flask],
) -> None:
    bp = ActionBlueprint("v", __name__)

    @bp.action
    def check() -> None:
        raise ValidationError("Dates overlap.")

    result = call(make_app(bp).test_client(), check, mode="json")
    assert result.status == 422 and result.message == "Dates overlap."
    assert result.errors == {"_schema": ["Dates overlap."]}


def test_action_error_has_its_status_message_and_errors(
    make_app: t.Callable[..., Flask],
) -> None:
    bp = ActionBlueprint("v", __name__)

    @bp.action
    def pay() -> None:
        raise ActionError("Card declined.", errors={"card": ["Declined."]}, status=402)

    result = call(make_app(bp).test_client(), pay, mode="json")
    assert (result.ok, result.status, result.message) == (False, 402, "Card declined.")
    assert result.errors == {"card": ["Declined."]}


@pytest.mark.parametrize("debug", [False, True])
def test_crash_is_a_500_with_a_reference_that_is_also_logged(
    make_app: t.Callable[..., Flask], debug: bool, caplog: pytest.LogCaptureFixture
) -> None:
    bp = ActionBlueprint("boom", __name__)

    @bp.action
    def explode() -> None:
        raise KeyError("database password is hunter2")

    app = make_app(bp)
    app.testing = False
    app.debug = debug
    with caplog.at_level(logging.ERROR, logger="flask_actions"):
        result = call(app.test_client(), explode, mode="json")
    assert result.status == 500 and result.reference
    assert result.reference in result.message  # type: ignore[operator]
    assert ("hunter2" in result.message) is debug  # type: ignore[operator]
    logged = [r for r in caplog.records if result.reference in r.getMessage()]
    assert logged and logged[0].exc_info is not None


def test_redirect_is_not_swallowed_by_except_exception(
    make_app: t.Callable[..., Flask],
) -> None:
    bp = ActionBlueprint("r", __name__)

    @bp.route("/done")
    def done() -> str:
        return "done"

    @bp.action
    def go() -> None:
        try:
            redirect("/done")
        except Exception:
            pytest.fail("redirect() was caught by except Exception")

    client = make_app(bp).test_client()
    form = call(client, go)
    assert form.response is not None and form.response.status_code == 303
    assert form.response.location == "/done"
    assert call(client, go, mode="json").redirect == "/done"


def test_signals_are_sent_with_the_app_and_revalidation_after_the_action(
    make_app: t.Callable[..., Flask],
) -> None:
    bp = ActionBlueprint("sig", __name__)
    events: list[t.Any] = []

    @bp.action
    def work(fail: bool) -> str:
        revalidate_path("/list")
        revalidate_tag("todos")
        events.append("action body done")
        if fail:
            raise ActionError("nope")
        redirect("/list")

    app = make_app(bp)
    for name in (
        "action_started",
        "action_succeeded",
        "action_failed",
        "path_revalidated",
        "tag_revalidated",
        "redirected",
    ):

        def receiver(sender: t.Any, _name: str = name, **kw: t.Any) -> None:
            assert sender is app
            events.append((_name, sorted(kw)))

        getattr(signals, name).connect(receiver, app, weak=False)

    client = app.test_client()
    ok = call(client, work.bind(False), mode="json")
    assert ok.revalidated == {"paths": ["/list"], "tags": ["todos"]}
    assert events[:6] == [
        ("action_started", ["action", "args"]),
        "action body done",
        ("redirected", ["action", "code", "location"]),
        ("path_revalidated", ["path"]),
        ("tag_revalidated", ["tag"]),
        ("action_succeeded", ["action", "result"]),
    ]
    events.clear()
    call(client, work.bind(True), mode="json")
    assert events[-1] == ("action_failed", ["action", "exception", "result"])
    assert ("tag_revalidated", ["tag"]) in events, "revalidation also after a failure"


def test_revalidate_outside_an_action_signals_at_once(app: Flask) -> None:
    seen: list[str] = []
    signals.tag_revalidated.connect(
        lambda s, tag, **kw: seen.append(tag), app, weak=False
    )
    with app.test_request_context():
        revalidate_tag("news")
    assert seen == ["news"]


def test_json_callers_get_redirects_in_the_body_with_status_200(
    make_app: t.Callable[..., Flask],
) -> None:
    bp = ActionBlueprint("r", __name__)

    @bp.action
    def go() -> None:
        redirect("/next")

    result = call(make_app(bp).test_client(), go, mode="json")
    assert result.response is not None
    assert (
        result.response.status_code == 200 and "Location" not in result.response.headers
    )
    assert result.response.get_json()["redirect"] == "/next"


def test_an_action_declared_after_registration_fails_as_a_late_route(
    make_app: t.Callable[..., Flask],
) -> None:
    bp = ActionBlueprint("late", __name__)

    @bp.action
    def early() -> str:
        return "early"

    app = make_app(bp)
    client = app.test_client()
    assert call(client, early, mode="json").data == "early"
    with pytest.raises(
        AssertionError, match="blueprint 'late'.*already been registered"
    ):

        @bp.action
        def late() -> str:
            return "late"

    with pytest.raises(LookupError, match="No action is named 'late.late'"):
        call(client, "late.late", mode="json")
    assert call(client, early, mode="json").data == "early"


@pytest.mark.parametrize("code", [301, 302, 303])
def test_redirect_code_is_kept_without_javascript(
    make_app: t.Callable[..., Flask], code: int
) -> None:
    bp = ActionBlueprint("r", __name__)

    @bp.action
    def go() -> None:
        redirect("/next", code)

    result = call(make_app(bp).test_client(), go)
    assert result.response is not None
    assert (result.response.status_code, result.response.location) == (code, "/next")


def test_a_recoverable_rejection_runs_no_before_action_hook_nor_the_action(
    make_app: t.Callable[..., Flask],
) -> None:
    """What dispatch's docstring says of an expired CSRF token on a form post
    of this site: the app's before_request runs, no before_action hook and no
    action; after_action and action_failed see the failure; the answer is the
    page, rendered as its GET would be."""
    bp = ActionBlueprint("soft", __name__)
    seen: list[t.Any] = []

    @bp.route("/", methods=["GET"])
    def index() -> str:
        return "<p>page</p>"

    @bp.before_action
    def before(action: t.Any, args: t.Any) -> None:
        seen.append("before_action")

    @bp.after_action
    def after(action: t.Any, result: t.Any) -> None:
        seen.append(("after_action", result.ok, result.status, result.ran))

    @bp.action
    def save() -> None:
        seen.append("action")

    app = make_app(bp)

    @app.before_request
    def every_request() -> None:
        seen.append("before_request")

    def failed(sender: t.Any, exception: t.Any, **extra: t.Any) -> None:
        seen.append(("action_failed", type(exception).__name__))

    client = app.test_client()
    ref, _, origin = prepare(client, save)
    with signals.action_failed.connected_to(failed, app):
        response = client.post(
            "/",
            data={"_action": ref, "csrf_token": "expired"},
            headers={"Origin": origin},
        )
    assert response.status_code == 403
    assert seen == [
        "before_request",
        ("after_action", False, 403, False),
        ("action_failed", "CSRFTokenInvalid"),
        "before_request",  # the page re-rendered, as its own GET would be
    ]


def test_an_action_without_a_schema_says_once_in_the_log_which_fields_it_ignored(
    make_app: t.Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    # The trap a user fell into: `def add(text="")` and no schema, so every
    # note was saved empty. The function still gets no payload (documented),
    # but the developer is told why, once, in the log.
    bp = ActionBlueprint("notes", __name__)
    saved: list[str] = []

    @bp.action
    def add(text: str = "") -> None:
        saved.append(text)

    @bp.action
    def archive(note_id: int) -> None:
        saved.append(f"archived {note_id}")

    client = make_app(bp).test_client()
    with caplog.at_level(logging.WARNING, logger="flask_actions"):
        call(client, add, {"text": "buy milk"})
        call(client, add, {"text": "buy tea"})
        # A field that names no parameter (a nested button's outer form):
        # nothing to say.
        call(client, archive.bind(3), {"title": "kept"})
    assert saved == ["", "", "archived 3"]
    hints = [r.getMessage() for r in caplog.records if "schema" in r.getMessage()]
    assert len(hints) == 1, hints
    assert "notes.add" in hints[0] and "'text'" in hints[0]
    levels = [r.levelno for r in caplog.records if "schema" in r.getMessage()]
    assert levels == [logging.WARNING]


def test_an_action_with_a_schema_or_no_fields_logs_no_hint(
    make_app: t.Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    bp = ActionBlueprint("notes", __name__)

    @bp.action(schema={"text": fields.Str()})
    def add(data: dict[str, str]) -> None:
        pass

    @bp.action
    def clear(text: str = "") -> None:
        pass

    client = make_app(bp).test_client()
    with caplog.at_level(logging.DEBUG, logger="flask_actions"):
        call(client, add, {"text": "buy milk"})
        call(client, clear, {})
    assert not [r for r in caplog.records if "schema" in r.getMessage()]
