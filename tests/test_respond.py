from __future__ import annotations

import re
import typing as t
from urllib.parse import quote

import pytest
from flask import Flask
from flask import render_template_string
from flask import url_for
from markupsafe import escape

from flask_actions import ActionBlueprint
from flask_actions import ActionExtension
from flask_actions import redirect
from flask_actions import set_message
from flask_actions.flashing import COOKIE_NAME
from flask_actions.testing import call


def test_success_redirects_back_to_the_same_url_and_shows_the_result(
    client: t.Any, notes: list[str]
) -> None:
    result = call(client, "notes.add", {"title": "Milk"}, page="/?sort=new")
    assert result.response is not None
    assert (result.response.status_code, result.response.location) == (
        303,
        "/?sort=new",
    )
    assert result.response.headers["Cache-Control"] == "no-store"
    page = client.get("/?sort=new")
    assert "<li>Milk</li>" in page.text
    assert client.get_cookie(COOKIE_NAME) is None, "the page consumed the result"


def test_the_result_cookie_is_only_for_its_page(app: Flask) -> None:
    bp = ActionBlueprint("r", __name__)

    @bp.route("/a")
    @bp.route("/b")
    def page() -> str:
        return render_template_string(
            "{{ action_result().data if action_result() else '-' }}"
        )

    @bp.action
    def go() -> str:
        return "shown"

    app.register_blueprint(bp)
    client = app.test_client()
    call(client, go, page="/a")
    assert client.get("/b").text == "-"
    assert client.get("/a").text == "shown"
    assert client.get("/a").text == "-", "shown once"


@pytest.mark.parametrize(
    "name", ["Café", "a b", "<b>x</b>", "c++ & co", "%41", "日本/語", "50%"]
)
@pytest.mark.parametrize("mode", ["form", "json"])
def test_the_result_shows_on_a_page_whose_path_is_encoded(
    app: Flask, name: str, mode: t.Literal["form", "json"]
) -> None:
    # Found using my own app (a wiki at /w/<path:name>): after a save the
    # page never showed its "Saved.": the result was flashed to the path as
    # the URL spells it (/w/Caf%C3%A9) and looked for at the path Werkzeug
    # decoded (/w/Café).
    bp = ActionBlueprint("wiki", __name__)

    @bp.route("/w/<path:name>")
    def page(name: str) -> str:
        return render_template_string(
            "{{ name }}: {{ action_result().message if action_result() else '-' }}",
            name=name,
        )

    @bp.action
    def save() -> None:
        set_message("Saved.")

    @bp.action
    def go(name: str) -> None:
        set_message("Moved.")
        redirect(url_for("wiki.page", name=name))

    app.register_blueprint(bp)
    client = app.test_client()
    url = "/w/" + quote(name)
    if mode == "form":
        result = call(client, save, page=url)
        assert result.response.status_code == 303
        assert client.get(result.response.location).text == f"{escape(name)}: Saved."
    result = call(client, go.bind(name), page="/w/start", mode=mode)
    location = result.redirect if mode == "json" else result.response.location
    assert client.get(location).text == f"{escape(name)}: Moved."


def test_failure_renders_the_page_with_status_errors_and_typed_values(
    client: t.Any, notes: list[str]
) -> None:
    long_body = "Line one\nligne deux — ✓ <b>not bold</b>\n" * 100
    result = call(
        client, "notes.add", {"title": "", "body": long_body, "password": "hunter2"}
    )
    response = result.response
    assert response is not None and response.status_code == 422
    html = response.text
    assert "Length must be between 1 and 50." in html
    textarea = re.search(r'<textarea name="body">(.*?)</textarea>', html, re.S)
    assert textarea is not None
    assert textarea.group(1) == long_body.replace("<", "&lt;").replace(">", "&gt;")
    assert "hunter2" not in html, "password fields never come back"
    assert notes == []


def test_large_results_are_rendered_in_place_not_dropped() -> None:
    bp = ActionBlueprint("big", __name__)

    @bp.route("/")
    def index() -> str:
        result = render_template_string("{{ action_result().data | length }}")
        return f"items={result}"

    @bp.action
    def export() -> list[str]:
        return [f"row {i} " + "x" * 40 for i in range(2000)]

    app = Flask(__name__)
    app.config.update(SECRET_KEY="s", TESTING=True)
    ActionExtension(app)
    app.register_blueprint(bp)
    result = call(app.test_client(), export)
    assert result.response is not None
    assert result.response.status_code == 200
    assert result.response.text == "items=2000"


def test_page_without_a_get_route_still_returns_what_the_user_typed(
    client: t.Any,
) -> None:
    result = call(
        client, "notes.add", {"title": "", "body": "keep me"}, page="/nowhere"
    )
    assert result.response is not None and result.response.status_code == 422
    assert "keep me" in result.response.text
    assert "Length must be between" in result.response.text


def test_redirect_to_another_site_is_refused() -> None:
    bp = ActionBlueprint("r", __name__)
    targets = {
        "http://evil.example/": False,
        "//evil.example/x": False,
        "/\\evil.example": False,
        "javascript:alert(1)": False,
        "https://user@localhost/": False,
        "http://localhost/ok": True,
        "/ok?x=1": True,
        "https://partner.example/welcome": True,
    }

    @bp.action
    def go(target: str) -> None:
        redirect(target)

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="s", TESTING=True, ACTIONS_ALLOWED_REDIRECT_HOSTS=["partner.example"]
    )
    ActionExtension(app)
    app.register_blueprint(bp)
    client = app.test_client()
    for target, allowed in targets.items():
        result = call(client, go.bind(target), mode="json")
        assert result.ok, "the work was done either way"
        assert (result.redirect == target) is allowed, target
        assert (result.redirect_refused == target) is not allowed, target
        if not allowed:
            assert "another site" in (result.message or "")


def test_json_result_shape(client: t.Any) -> None:
    result = call(client, "notes.add", {"title": "x"}, mode="json")
    assert result.response is not None
    body = result.response.get_json()
    assert set(body) >= {"ok", "data", "errors", "message", "redirect", "revalidated"}
    assert body["revalidated"] == {"paths": [], "tags": ["notes"]}
    assert body["data"] == {"count": 1}
    assert "Accept" in result.response.headers["Vary"]


def test_script_calls_get_the_fresh_page_only_when_something_changed(
    app: Flask, client: t.Any, notes: list[str]
) -> None:
    changed = call(client, "notes.add", {"title": "Tea"}, mode="json")
    assert changed.response is not None
    html = changed.response.get_json()["html"]
    assert html is not None and "<li>Tea</li>" in html
    with app.app_context():
        remove = app.jinja_env.globals["action"]("notes.remove").bind(0)
    unchanged = call(client, remove, mode="json")  # does not revalidate
    assert unchanged.ok and notes == []
    assert (
        unchanged.response is not None and unchanged.response.get_json()["html"] is None
    )
    failed = call(client, "notes.add", {"title": ""}, mode="json")
    assert failed.response is not None and failed.response.get_json()["html"] is None
    plain_api = call(
        client,
        "notes.add",
        {"title": "API"},
        mode="json",
        headers={"X-Flask-Actions": ""},
    )
    assert plain_api.ok and notes == ["API"]
    assert (
        plain_api.response is not None and plain_api.response.get_json()["html"] is None
    )
