"""The page an action's response shows: whose URL its forms post to, who may
see it, and that it already shows what the action changed (``respond.py``)."""

from __future__ import annotations

import re
import typing as t

import pytest
from flask import abort
from flask import flash
from flask import Flask
from flask import render_template_string
from flask import request
from flask import session
from marshmallow import fields
from marshmallow import validate

from flask_actions import ActionBlueprint
from flask_actions import ActionError
from flask_actions import ActionExtension
from flask_actions import set_cookie
from flask_actions.testing import call
from flask_actions.testing import prepare

LAYOUT = """{% import "flask_actions/macros.html" as fa %}<!doctype html>
<body class="{{ request.cookies.get('density', 'roomy') }}">
<p id="who">{{ session.get('user', 'nobody') }}</p>
<p id="flashes">{{ get_flashed_messages() | join(', ') }}</p>
{{ fa.script() }}
<form method="post">{{ fa.button(action("pub.like"), "Like", id="like") }}</form>
{% call fa.form(action("pub.note"), id="note") %}{{ fa.message() }}
  <input name="title" value="{{ fa.value('title') }}">
  {{ fa.button(action("pub.like"), "Delete") }}<button>Save</button>
{% endcall %}
{{ content | default('') }}
</body>"""


def make_app(**config: t.Any) -> tuple[Flask, list[str]]:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="page render secret " * 3, TESTING=True, **config)
    ActionExtension(app)
    bp = ActionBlueprint("pub", __name__)
    admin = ActionBlueprint("admin", __name__, url_prefix="/admin")
    writes: list[str] = []

    @app.before_request
    def guard() -> None:
        if request.blueprint == "admin" and not session.get("admin"):
            abort(403)

    @bp.route("/")
    def index() -> str:
        return render_template_string(LAYOUT)

    @admin.route("/")
    def admin_index() -> str:
        return render_template_string(LAYOUT, content="SECRET ADMIN PAGE")

    @app.errorhandler(404)
    def not_found(error: t.Any) -> tuple[str, int]:
        return render_template_string(LAYOUT, content="Not here."), 404

    @bp.action
    def like() -> None:
        writes.append("like")

    @bp.action(schema={"title": fields.Str(validate=validate.Length(min=1))})
    def note(data: dict[str, str]) -> None:
        writes.append(data["title"])

    @bp.action
    def compact() -> None:
        set_cookie("density", "compact")

    @bp.action
    def sign_in() -> None:
        session["user"] = "ann"
        flash("Welcome back.")

    app.register_blueprint(bp)
    app.register_blueprint(admin)
    return app, writes


def formactions(html: str) -> list[str]:
    """Where the page's forms and buttons post."""
    return re.findall(r'(?:formaction|<form[^>]* action)="([^"]*)"', html)


# --- Security 1: a form target is always this site's own path, encoded ------------


@pytest.mark.parametrize(
    ("path", "encoded"),
    [
        ("/%5Cevil.example", "/%5Cevil.example"),
        ("/%5C%5Cevil.example", "/%5C%5Cevil.example"),
        ("/%5C/evil.example", "/%5C/evil.example"),
        ("/%09/evil.example", "/%09/evil.example"),
        ("/%0A/evil.example", "/%0A/evil.example"),
        ("/%0D%0A/evil.example", "/%0D%0A/evil.example"),
        ("//evil.example/x", "/evil.example/x"),
        ("/%2F/evil.example", "/evil.example"),
        ("/caf%C3%A9%25", "/caf%C3%A9%25"),
    ],
)
def test_the_page_url_reaches_formaction_encoded_also_on_a_404(
    path: str, encoded: str
) -> None:
    app, _ = make_app()
    client = app.test_client()
    if path.startswith("//"):  # a client would read it as a host: send it raw
        page = client.get("/", environ_overrides={"PATH_INFO": path})
    else:
        page = client.get(path)
    assert page.status_code == 404
    targets = formactions(page.text)
    assert set(targets) == {encoded + "?"}, targets
    for target in targets:
        assert target.startswith("/") and not target.startswith(("//", "/\\"))
        assert not re.search(r"[\s\\]", target)


def test_the_303_back_to_the_page_is_encoded_too() -> None:
    app, writes = make_app()
    client = app.test_client()
    result = call(client, "pub.like", page="/%5Cevil.example?a=%22b")
    assert result.response is not None
    assert result.response.status_code == 303
    assert result.response.location == "/%5Cevil.example?a=%22b"
    assert writes == ["like"]


@pytest.mark.parametrize(
    ("posted_to", "page"),
    [
        ("/?", "/"),
        ("/notes?page=2&", "/notes?page=2"),
        ("/notes?a=&", "/notes?a="),
        # A page whose URL ends so already: not its own URL either.
        ("/notes?&", "/notes?"),
        ("/notes?page=2&&", "/notes?page=2&"),
    ],
)
def test_the_303_back_leaves_out_the_mark_of_the_post_url(
    posted_to: str, page: str
) -> None:
    # Forms post to the page's URL with an empty last query part, which the
    # browser's cache tells from the page; the answer goes back to the page.
    app, writes = make_app()
    client = app.test_client()
    # As a server has it from the request line (the test client drops an
    # empty query).
    raw = {"RAW_URI": page, "REQUEST_URI": page}
    form = client.get(page, environ_overrides=raw).text
    assert set(formactions(form)) == {posted_to.replace("&", "&amp;")}
    result = call(client, "pub.like", page=posted_to)
    assert result.response is not None
    assert result.response.status_code == 303
    assert result.response.location == page.rstrip("?&")
    assert writes == ["like"]


# --- Security 2: the page is shown only behind the guards of its own GET ----------


@pytest.mark.parametrize("mode", ["form", "json"])
def test_a_guarded_page_is_not_rendered_in_an_actions_response(mode: str) -> None:
    app, writes = make_app()
    client = app.test_client()
    assert client.get("/admin/").status_code == 403
    # A failing public action posted to the guarded page: its 422 would show it.
    result = call(client, "pub.note", {"title": ""}, page="/admin/", mode=mode)  # type: ignore[arg-type]
    assert result.response is not None
    assert "SECRET ADMIN PAGE" not in result.response.text
    assert result.status == 422
    if mode == "json":
        assert result.response.get_json()["html"] is None
    # Enhanced forms ask for the page: still not this one.
    ref, csrf, origin = prepare(client, "pub.note", "/admin/")
    enhanced = client.post(
        "/admin/",
        data={"_action": ref, "csrf_token": csrf, "title": ""},
        headers={
            "Origin": origin,
            "X-Flask-Actions": "form",
            "Accept": "application/json",
        },
    )
    body = enhanced.get_json()
    assert "SECRET ADMIN PAGE" not in (body["html"] or "")
    assert "SECRET ADMIN PAGE" not in enhanced.text
    assert writes == []


def test_the_guarded_page_is_rendered_for_whom_its_get_is() -> None:
    app, _ = make_app()
    client = app.test_client()
    with client.session_transaction() as admin_session:
        admin_session["admin"] = True
    result = call(client, "pub.note", {"title": ""}, page="/admin/")
    assert result.response is not None
    assert "SECRET ADMIN PAGE" in result.response.text


# --- The page in the same response sees what the action changed -------------------


def enhanced_post(
    client: t.Any, name: str, data: dict[str, str] | None = None, **headers: str
) -> t.Any:
    ref, csrf, origin = prepare(client, name)
    return client.post(
        "/",
        data={"_action": ref, "csrf_token": csrf, **(data or {})},
        headers={
            "Origin": origin,
            "X-Flask-Actions": "form",
            "Accept": "application/json",
            **headers,
        },
    )


def test_a_cookie_set_by_the_action_is_seen_by_the_page_in_the_same_response() -> None:
    app, _ = make_app()
    client = app.test_client()
    body = enhanced_post(client, "pub.compact").get_json()
    assert '<body class="compact">' in body["html"]


def test_session_changes_and_flashes_are_seen_by_the_page_in_the_same_response() -> (
    None
):
    app, _ = make_app()
    client = app.test_client()
    body = enhanced_post(client, "pub.sign_in").get_json()
    assert '<p id="who">ann</p>' in body["html"]
    assert '<p id="flashes">Welcome back.</p>' in body["html"]
    assert "Welcome back." not in client.get("/").text, "shown once"


# --- Parity: an enhanced form gets the page the no-JS flow would show -------------


def test_an_enhanced_form_success_always_carries_the_page_and_when_it_was_rendered() -> (
    None
):
    app, writes = make_app()
    client = app.test_client()
    response = enhanced_post(client, "pub.like")
    body = response.get_json()
    assert body["ok"] and writes == ["like"]
    assert body["html"] and 'id="note"' in body["html"]
    assert isinstance(body["rendered_at"], int) and body["rendered_at"] > 0
    later = enhanced_post(client, "pub.like").get_json()
    assert later["rendered_at"] > body["rendered_at"]


def test_a_form_or_a_call_can_ask_for_no_page() -> None:
    app, writes = make_app()
    client = app.test_client()
    body = enhanced_post(
        client, "pub.like", **{"X-Flask-Actions-Page": "none"}
    ).get_json()
    assert body["ok"] and body["html"] is None and "rendered_at" not in body
    called = call(
        client, "pub.compact", mode="json", headers={"X-Flask-Actions-Page": "none"}
    )
    assert called.response is not None
    assert called.response.get_json()["html"] is None
    assert writes == ["like"]


def test_a_call_that_changed_nothing_gets_no_page() -> None:
    app, _ = make_app()
    client = app.test_client()
    called = call(client, "pub.like", mode="json")
    assert called.response is not None
    assert called.response.get_json()["html"] is None


# --- Expired tokens: what the page needs to send again ---------------------------


def test_an_invalid_csrf_token_on_an_enhanced_form_carries_a_fresh_token_and_page() -> (
    None
):
    app, writes = make_app()
    client = app.test_client()
    ref, _, origin = prepare(client, "pub.note")
    response = client.post(
        "/",
        data={"_action": ref, "csrf_token": "expired", "title": "Typed"},
        headers={
            "Origin": origin,
            "X-Flask-Actions": "form",
            "Accept": "application/json",
        },
    )
    body = response.get_json()
    assert response.status_code == 403 and body["ok"] is False
    assert body["reason"] == "csrf"
    fresh = body["csrf_token"]
    assert fresh and fresh != "expired"
    assert 'value="Typed"' in body["html"], "what was typed comes back"
    assert f'value="{fresh}"' in body["html"] or fresh in body["html"]
    assert writes == []
    again = client.post(
        "/",
        data={"_action": ref, "csrf_token": fresh, "title": "Typed"},
        headers={
            "Origin": origin,
            "X-Flask-Actions": "form",
            "Accept": "application/json",
        },
    )
    assert again.get_json()["ok"] and writes == ["Typed"]


def test_an_invalid_csrf_token_on_a_call_carries_a_fresh_token() -> None:
    app, writes = make_app()
    client = app.test_client()
    result = call(client, "pub.like", mode="json", headers={"X-CSRFToken": "old"})
    assert result.response is not None
    body = result.response.get_json()
    assert result.response.status_code == 403 and body["csrf_token"]
    assert writes == []


def test_a_foreign_api_caller_gets_no_token() -> None:
    app, _ = make_app()
    client = app.test_client()
    ref, _, origin = prepare(client, "pub.like")
    response = client.post(
        "/",
        json={},
        headers={"Origin": origin, "X-Action": ref, "X-CSRFToken": "old"},
    )
    assert response.status_code == 403
    assert "csrf_token" not in response.get_json()


# --- Markup ------------------------------------------------------------------------


def test_every_fa_form_starts_with_a_default_button_for_its_own_action() -> None:
    app, _ = make_app()
    html = app.test_client().get("/").text
    form = html[html.index('id="note"') :]
    first_button = re.search(r"<button[^>]*>", form)
    assert first_button is not None
    assert "data-fa-default" in first_button.group(0)
    assert "name=" not in first_button.group(0) and "hidden" in first_button.group(0)


def test_fa_script_takes_the_csp_nonce() -> None:
    app, _ = make_app()
    app.jinja_env.globals["csp_nonce"] = lambda: "n0nce"
    html = app.test_client().get("/").text
    assert re.search(r'<script src="[^"]+" integrity="[^"]+" nonce="n0nce"', html)
    with app.test_request_context("/"):
        explicit = render_template_string(
            '{% import "flask_actions/macros.html" as fa %}{{ fa.script(nonce="a\\"b") }}'
        )
    assert 'nonce="a&#34;b"' in explicit


# --- A form too large for an action: what was typed comes back --------------------


def test_a_too_large_form_without_javascript_shows_the_page_with_what_was_typed() -> (
    None
):
    app, writes = make_app(ACTIONS_MAX_CONTENT_LENGTH=2048)

    @app.route("/mixed", methods=["GET", "POST"])
    def mixed() -> str:  # a page that takes POSTs of its own, so the form is read
        return render_template_string(LAYOUT)

    client = app.test_client()
    ref, csrf, origin = prepare(client, "pub.note", "/mixed")
    response = client.post(
        "/mixed",
        data={"_action": ref, "csrf_token": csrf, "title": "T" * 3000},
        headers={"Origin": origin},
    )
    assert response.status_code == 413
    assert "more than the 2 KiB an action accepts" in response.text
    assert 'value="' + "T" * 3000 + '"' in response.text, "what was typed is back"
    assert 'id="note"' in response.text, "it is the page itself"
    assert writes == []
    # A script keeps what was typed itself: it gets the rejection as JSON.
    scripted = client.post(
        "/mixed",
        data={"_action": ref, "csrf_token": csrf, "title": "T" * 3000},
        headers={
            "Origin": origin,
            "X-Flask-Actions": "form",
            "Accept": "application/json",
        },
    )
    assert scripted.status_code == 413 and scripted.get_json()["reason"] == "too_large"
    assert writes == []


# --- A failure's message without a place for it on the page ---------------------


ROWS = """{% import "flask_actions/macros.html" as fa %}<!doctype html>
<html><body class="list">
{% call fa.form(action("rows.add"), id="add") %}{{ fa.message() }}<button>Add</button>{% endcall %}
<form><ul>{% for row in rows %}
<li>{{ row }} {{ fa.button(action("rows.up").bind(row), "Up") }}</li>
{% endfor %}</ul></form>
{% if mine %}<div id="mine">{{ action_result().message }}</div>{% endif %}
</body></html>"""


def rows_app(mine: bool = False, page: str = ROWS) -> tuple[Flask, t.Any]:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="rows secret " * 4, TESTING=True)
    ActionExtension(app)
    bp = ActionBlueprint("rows", __name__)

    @bp.route("/")
    def index() -> str:
        return render_template_string(page, rows=[1, 2], mine=mine)

    @bp.action
    def add() -> None:
        raise ActionError("The list is full.", status=409)

    @bp.action
    def up(row: int) -> None:
        raise ActionError(f'Row "{row}" is gone <now>.', status=404)

    app.register_blueprint(bp)
    return app, up


ALERT = '<p class="fa-message fa-failure" role="alert" data-fa-message>'


def test_a_failure_without_javascript_shows_its_message_where_the_page_has_none() -> (
    None
):
    # With JavaScript the script puts such a message before the form; without
    # it the page came back with the message nowhere: nothing seemed to happen.
    app, up = rows_app()
    result = call(app.test_client(), up.bind(2))
    assert result.response is not None and result.response.status_code == 404
    html = result.response.text
    message = "Row &#34;2&#34; is gone &lt;now&gt;."
    assert html.count(message) == 1
    assert '<body class="list">' + ALERT + message + "</p>" in html
    # A page without a <body> tag: before its first form.
    bare = ROWS.replace('<html><body class="list">', "").replace("</body></html>", "")
    app, up = rows_app(page=bare)
    html = call(app.test_client(), up.bind(2)).response.text  # type: ignore[union-attr]
    assert html.count(message) == 1
    assert "<!doctype html>\n\n" + ALERT + message + '</p><form method="post"' in html


def test_a_message_the_page_shows_is_not_shown_twice() -> None:
    app, up = rows_app(mine=True)  # the page shows every result's message
    result = call(app.test_client(), up.bind(2))
    assert result.response is not None
    assert result.response.text.count("is gone") == 1
    assert "data-fa-message" not in result.response.text.split('id="mine"')[0]
    app, _ = rows_app()
    result = call(app.test_client(), "rows.add")  # its form has fa.message()
    assert result.response is not None and result.response.status_code == 409
    assert result.response.text.count("The list is full.") == 1


GONE = "Row &#34;2&#34; is gone &lt;now&gt;."


@pytest.mark.parametrize(
    ("head", "body", "after"),
    [
        # A ">" in a quoted attribute of <body> (a Tailwind variant).
        ("", "<body class=\"[&>section]:mt-4\" data-x='a>b'>", ""),
        # A "<body>" in a comment and in a script of the head.
        ("<!-- <body> --><script>document.write(`<body>${x}`)</script>", "<body>", ""),
        # The message's text only where nobody reads it: the title, a
        # textarea, an attribute.
        (
            f"<title>{GONE}</title>",
            "<body>",
            f'<textarea>{GONE}</textarea><i title="{GONE}"></i>',
        ),
    ],
)
def test_the_message_goes_into_the_body_of_any_page(
    head: str, body: str, after: str
) -> None:
    page = ROWS.replace(
        '<html><body class="list">', f"<html><head>{head}</head>{body}{after}"
    )
    app, up = rows_app(page=page)
    response = call(app.test_client(), up.bind(2)).response
    assert response is not None
    at = response.text.index(ALERT + GONE + "</p>")
    assert response.text[at - len(body) : at] == body
    assert response.text.index("</head>") < at
    assert response.text.count(ALERT) == 1
