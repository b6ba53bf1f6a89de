"""Live checks in Chromium, JavaScript on and off, on a sign-up form written
with ``fa.field`` (``tests/apps/signup_app.py``): errors after a blur for
touched fields only, gone once fixed, the action never run, a blueprint
guard respected; without JavaScript the browser's own constraints, then the
server's 422."""

from __future__ import annotations

import sys
import typing as t
from pathlib import Path

import pytest
from flask import Flask
from flask import render_template_string
from marshmallow import fields
from marshmallow import validate
from servers import Tab

from flask_actions import ActionBlueprint
from flask_actions import ActionExtension

sys.path.insert(0, str(Path(__file__).parent / "apps"))

import signup_app

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from playwright.sync_api import Page
    from servers import LiveServer

pytestmark = pytest.mark.browser


@pytest.fixture
def server(live_server: Callable[..., LiveServer]) -> LiveServer:
    return live_server(signup_app.create_app())


def open_tab(server: LiveServer, browser_page: Callable[..., Page], js: bool) -> Tab:
    tab = Tab(browser_page(js=js), server, js=js).open()
    if js:
        tab.page.wait_for_function("() => window.FlaskActions.load('live')")
    return tab


def checks(tab: Tab) -> list[t.Any]:
    return [r for r in tab.posts if r.headers.get("x-flask-actions") == "validate"]


def wait_checks(tab: Tab, count: int) -> None:
    """Wait until ``count`` validate-only requests have been answered."""
    for _ in range(200):
        answered = [r for r in checks(tab) if r.response() is not None]
        if len(answered) >= count:
            tab.page.wait_for_timeout(50)  # the answer applied
            return
        tab.page.wait_for_timeout(25)
    raise AssertionError(f"{len(checks(tab))} checks sent, {count} awaited")


def errors(tab: Tab, field_id: str) -> list[str]:
    items = tab.page.locator(f"#{field_id}-errors:not([hidden]) li")
    return items.all_inner_texts()


def test_errors_show_after_a_blur_for_touched_fields_only_and_go_when_fixed(
    server: LiveServer, browser_page: Callable[..., Page]
) -> None:
    tab = open_tab(server, browser_page, js=True)
    page = tab.page
    page.fill("#username", "A!")
    page.press("#username", "Tab")  # leaves it for the email field
    wait_checks(tab, 1)
    assert errors(tab, "username") == [
        "Length must be between 3 and 20.",
        "String does not match expected pattern.",
    ]
    assert page.get_attribute("#username", "aria-invalid") == "true"
    assert page.get_attribute("#username", "aria-describedby") == "username-errors"
    # The email field was focused, never left: untouched, and the others too,
    # though the server found them all wrong.
    for untouched in ("email", "password", "address-street", "terms"):
        assert errors(tab, untouched) == []
    assert page.get_attribute("#email", "aria-invalid") is None
    # Typing in a field that shows an error checks it again, without a blur.
    page.locator("#username").press_sequentially("x")  # "A!x"
    page.fill("#username", "grace")
    wait_checks(tab, 2)
    page.wait_for_function("() => document.querySelector('#username-errors').hidden")
    assert errors(tab, "username") == []
    assert page.get_attribute("#username", "aria-invalid") is None
    assert signup_app.CALLS["signup"] == 0
    assert tab.same_document()
    assert tab.violations() == []


def test_a_schema_validator_names_its_field_and_nested_fields_check_too(
    server: LiveServer, browser_page: Callable[..., Page]
) -> None:
    tab = open_tab(server, browser_page, js=True)
    page = tab.page
    page.fill("#password", "12345678")
    page.fill("#repeat", "1234")
    page.fill("#address-zip", "12")
    page.fill("#pets-0-name", "R")
    page.press("#pets-0-name", "Tab")
    page.wait_for_function(
        "() => !document.querySelector('#pets-0-name-errors').hidden"
    )
    assert errors(tab, "repeat") == ["The passwords do not match."]
    assert errors(tab, "address-zip") == ["String does not match expected pattern."]
    assert errors(tab, "pets-0-name") == ["Length must be between 2 and 20."]
    assert errors(tab, "password") == []
    # The password field was repeated, never sent back.
    assert signup_app.CALLS["signup"] == 0


def test_a_field_left_out_of_live_checks_is_never_sent_for_one(
    server: LiveServer, browser_page: Callable[..., Page]
) -> None:
    tab = open_tab(server, browser_page, js=True)
    page = tab.page
    page.fill("#invite", "FREE-BEER")
    page.press("#invite", "Tab")
    page.fill("#about", "Hello")
    page.press("#about", "Tab")
    wait_checks(tab, 1)
    assert len(checks(tab)) == 1  # for "about" only
    assert signup_app.CALLS["invite_checks"] == 0
    assert errors(tab, "invite") == []


def test_a_guarded_action_checks_nothing_for_an_anonymous_user(
    server: LiveServer, browser_page: Callable[..., Page]
) -> None:
    tab = open_tab(server, browser_page, js=True)
    page = tab.page
    page.fill("#title", "x")
    page.press("#title", "Tab")
    wait_checks(tab, 1)
    assert checks(tab)[0].response().status == 401
    assert errors(tab, "title") == []
    page.goto(server.url + "/login")
    tab.open()
    tab.page.wait_for_function("() => window.FlaskActions.load('live')")
    page.fill("#title", "x")
    page.press("#title", "Tab")
    wait_checks(tab, 2)
    assert errors(tab, "title") == ["Length must be between 3 and 40."]
    assert signup_app.CALLS["rename"] == 0


def fill_valid(page: Page) -> None:
    page.fill("#username", "grace")
    page.fill("#email", "grace@example.com")
    page.fill("#password", "12345678")
    page.fill("#repeat", "12345678")
    page.fill("#age", "36")
    page.select_option("#plan", "pro")
    page.select_option("#tags", ["music", "books"])
    page.fill("#address-street", "1 Main St")
    page.fill("#address-zip", "12345")
    page.fill("#pets-0-name", "Rex")
    page.check("#terms")


def test_without_javascript_the_browser_refuses_then_the_server_answers(
    server: LiveServer, browser_page: Callable[..., Page]
) -> None:
    tab = open_tab(server, browser_page, js=False)
    page = tab.page
    fill_valid(page)
    page.fill("#username", "")
    page.click("#join-button")
    page.wait_for_timeout(200)
    assert tab.posts == []  # required, empty: the browser did not send it
    assert page.get_attribute("#username", "required") == ""
    page.fill("#username", "grace")
    page.fill("#repeat", "87654321")  # what only the server can tell
    with page.expect_navigation():
        page.click("#join-button")
    assert len(tab.posts) == 1
    assert errors(tab, "repeat") == ["The passwords do not match."]
    assert page.get_attribute("#repeat", "aria-invalid") == "true"
    assert page.input_value("#username") == "grace"
    assert page.input_value("#password") == ""  # never sent back
    assert page.input_value("#address-zip") == "12345"
    assert signup_app.CALLS["signup"] == 0  # the schema refused it


def test_tabbing_through_empty_fields_checks_nothing(
    server: LiveServer, browser_page: Callable[..., Page]
) -> None:
    tab = open_tab(server, browser_page, js=True)
    page = tab.page
    page.focus("#username")
    for _ in range(4):  # username, email, password, repeat: left untyped
        page.keyboard.press("Tab")
    page.select_option("#plan", "pro")  # a choice touches its field at once
    wait_checks(tab, 1)
    assert len(checks(tab)) == 1
    for untouched in ("username", "email", "password", "repeat"):
        assert errors(tab, untouched) == []
    assert errors(tab, "plan") == []  # valid


LONG_FORM = """{% import "flask_actions/macros.html" as fa %}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Long form</title>
{{ fa.script() }}</head><body>
<form method="post" id="note" data-fa-live>
  {{ fa.hidden(action("notes.add")) }}
  <label for="title">Title</label>
  <input id="title" name="title" value="{{ fa.value('title') }}"
         aria-describedby="title-hint">
  <p id="title-hint">Three letters at least.</p>
  {{ fa.errors("title", "notes.add", id_="title-errors") }}
  <button id="add">Add</button>
</form></body></html>
"""


def test_a_hand_written_live_form_gets_its_error_list_made(
    live_server: Callable[..., LiveServer], browser_page: Callable[..., Page]
) -> None:
    from flask import Flask
    from flask import render_template_string

    from flask_actions import ActionBlueprint
    from flask_actions import ActionExtension

    bp = ActionBlueprint("notes", __name__)

    @bp.route("/")
    def index() -> str:
        return render_template_string(LONG_FORM)

    @bp.action(
        schema={
            "title": signup_app.fields.Str(validate=signup_app.validate.Length(min=3))
        }
    )
    def add(data: dict[str, t.Any]) -> None:
        return None

    app = Flask(__name__)
    app.config.update(SECRET_KEY="a secret of the long-form test, 32+", TESTING=True)
    ActionExtension(app)
    app.register_blueprint(bp)
    tab = open_tab(live_server(app), browser_page, js=True)
    page = tab.page
    page.fill("#title", "ab")
    page.press("#title", "Tab")
    page.wait_for_selector("ul.fa-errors[data-fa-errors=title] li")
    assert page.locator("#title ~ ul.fa-errors").inner_text() == (
        "Shorter than minimum length 3."
    )
    assert page.get_attribute("#title", "aria-describedby") == "title-hint title-errors"
    page.fill("#title", "abc")
    page.wait_for_function("() => document.querySelector('ul.fa-errors').hidden")
    assert page.get_attribute("#title", "aria-invalid") is None


def test_a_check_asked_before_a_submission_never_hides_its_errors(
    server: LiveServer, browser_page: Callable[..., Page]
) -> None:
    tab = open_tab(server, browser_page, js=True)
    page = tab.page
    fill_valid(page)
    page.fill("#username", "ada")  # taken: only the action can tell
    page.click("#join-button")  # the blur asks for a check, the click submits
    tab.wait_after()
    page.wait_for_timeout(600)  # past the check's delay
    assert errors(tab, "username") == ["This name is taken."]
    assert signup_app.CALLS["signup"] == 1


LIKES = """{% import "flask_actions/macros.html" as fa %}<!doctype html>
<html><head><title>Profile</title>{{ fa.script() }}</head><body>
<p id="likes">{{ likes }} likes</p>
{% call fa.form(action("profile.like"), id="like") %}<button id="like-button">Like</button>{% endcall %}
{% call fa.form(action("profile.save"), id="profile", live=True) %}
  {{ fa.field("name", label="Name") }}
  {{ fa.field("city", label="City") }}
  <button id="save">Save</button>
{% endcall %}
</body></html>
"""


def test_live_errors_stay_when_another_form_updates_the_page(
    live_server: Callable[..., LiveServer], browser_page: Callable[..., Page]
) -> None:
    # Found using my own app (a shopping list): a live check's error showed
    # for a row being edited; removing another row brought the server's page,
    # whose error lists know nothing of live checks: the error went, the
    # wrong value the user typed stayed.
    likes = [0]
    bp = ActionBlueprint("profile", __name__)

    @bp.get("/")
    def index() -> str:
        return render_template_string(LIKES, likes=likes[0])

    @bp.action
    def like() -> None:
        likes[0] += 1

    @bp.action(
        schema={
            "name": fields.Str(required=True, validate=validate.Length(min=3)),
            "city": fields.Str(required=True),
        }
    )
    def save(data: dict[str, str]) -> None: ...

    app = Flask(__name__)
    app.config.update(SECRET_KEY="a secret for the profile page " * 2)
    ActionExtension(app)
    app.register_blueprint(bp)
    tab = open_tab(live_server(app), browser_page, js=True)
    page = tab.page
    page.evaluate("() => document.getElementById('profile').noValidate = true")
    page.fill("#name", "ab")
    page.press("#name", "Tab")
    wait_checks(tab, 1)
    assert errors(tab, "name") == ["Shorter than minimum length 3."]
    page.click("#like-button")
    page.get_by_text("1 likes").wait_for()
    page.wait_for_function("() => !document.querySelector('[aria-busy]')")
    assert page.input_value("#name") == "ab"
    assert errors(tab, "name") == ["Shorter than minimum length 3."]
    assert page.get_attribute("#name", "aria-invalid") == "true"
    assert errors(tab, "city") == []  # never touched
    assert len(checks(tab)) == 1  # shown again, not asked again
