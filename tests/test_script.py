"""The browser enhancement (``flask_actions/static/flask-actions.js``), tested in
headless Chromium against a real server: what a user sees and what goes over
the wire. See ``docs/browser.md``.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import re
import shutil
import threading
import time
import typing as t
import urllib.request
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from flask import Flask
from flask import render_template
from flask import Response
from flask import url_for
from flask_wtf.csrf import generate_csrf
from jinja2 import DictLoader
from marshmallow import fields
from marshmallow import validate
from servers import csp_violations
from servers import the_page

from flask_actions import ActionBlueprint
from flask_actions import ActionError
from flask_actions import ActionExtension
from flask_actions import File
from flask_actions import redirect
from flask_actions import revalidate_tag

if t.TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Iterator

    from playwright.sync_api import Page
    from playwright.sync_api import Request
    from servers import LiveServer

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "flask_actions" / "static"
WAIT = 10  # seconds a blocked action waits for the test before giving up

PAGE = """\
{% import "flask_actions/macros.html" as fa %}
<!doctype html>
<html>
<head>
  <title>Todos ({{ todos|length }})</title>
  <link rel="stylesheet" href="{{ url_for('todos.stylesheet') }}">
  {{ fa.script() }}
</head>
<body data-double="{{ action_ref(action('todos.double')) }}"
      data-pause="{{ action_ref(action('todos.pause')) }}"
      data-meet="{{ action_ref(action('todos.meet')) }}">
  <ul id="todo-list">
    {%- for todo in todos %}
    <li id="todo-{{ todo.id }}"><span class="title">{{ todo.title }}</span>
      <form method="post" id="delete-form-{{ todo.id }}">
        <input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
        {{- fa.button(action('todos.remove').bind(todo.id), 'Delete', id='delete-%d' % todo.id) -}}
      </form></li>
    {%- endfor %}
  </ul>

  {% call fa.form(action('todos.add'), id='add') %}
    {{ fa.message() }}
    <label>Title <input id="title" name="title" value="{{ fa.value('title') }}"></label>
    {{ fa.errors('title') }}
    <label>Notes <textarea id="notes" name="notes">{{ fa.value('notes') }}</textarea></label>
    {{ fa.errors('notes') }}
    <button id="add-button" data-pending-text="Adding…">Add <b>it</b></button>
    {{ fa.button(action('todos.go'), 'Go elsewhere', id='go') }}
    <template data-fa-optimistic data-target="#todo-list">
      <li class="optimistic"><span data-fa-field="title"></span></li>
    </template>
  {% endcall %}

  {% call fa.form(action('todos.log'), id='log', data_fa_page='none') %}
    <input id="entry" name="entry">
    <button id="log-button" data-pending-text="Logging…">Log</button>
  {% endcall %}

  <div id="spacer"></div>
  <form id="other-form">
    <input id="other" name="other">
    <input id="count-typed" value="{{ todos|length }}">
    <input id="count-untouched" value="{{ todos|length }}">
  </form>
</body>
</html>
"""

OTHER = """<!doctype html><title>Elsewhere</title><h1 id="elsewhere">Elsewhere</h1>"""


class Todos:
    """The app's in-memory state, and the handles a test uses to steer it."""

    def __init__(self) -> None:
        self.items: dict[int, str] = {1: "Existing"}
        self.next_id = 2
        self.lock = threading.Lock()
        #: Cleared by a test to hold ``add`` and ``pause`` until it is set.
        self.gate = threading.Event()
        self.gate.set()
        #: Set when ``pause`` has started.
        self.paused = threading.Event()
        #: Two calls of ``meet`` must be running at once to pass it.
        self.barrier = threading.Barrier(2, timeout=WAIT)
        self.log: list[tuple[str, int, float]] = []


def make_app() -> Flask:
    state = Todos()
    todos = ActionBlueprint("todos", __name__)

    @todos.get("/")
    def index() -> str:
        with state.lock:
            items = [{"id": k, "title": v} for k, v in sorted(state.items.items())]
        return render_template("page.html", todos=items)

    @todos.get("/elsewhere")
    def elsewhere() -> str:
        return OTHER

    @todos.get("/page.css")
    def stylesheet() -> Response:
        # A stylesheet, not a style attribute: the pages run under a strict CSP.
        return Response("#spacer { height: 3000px }", mimetype="text/css")

    @todos.action(
        schema={
            "title": fields.Str(required=True, validate=validate.Length(min=1, max=40)),
            "notes": fields.Str(load_default=""),
        }
    )
    def add(data: dict[str, str]) -> dict[str, int]:
        if not state.gate.wait(WAIT):
            raise ActionError("The test did not release the gate.", status=500)
        if data["title"] == "refuse":
            raise ActionError("Could not add that.", status=409)
        if data["title"] == "boom":
            raise RuntimeError("a bug")
        with state.lock:
            todo_id = state.next_id
            state.next_id += 1
            state.items[todo_id] = data["title"]
        revalidate_tag("todos")
        return {"id": todo_id}

    @todos.action(schema={"entry": fields.Str(required=True)})
    def log(data: dict[str, str]) -> dict[str, int]:
        state.log.append(("log", len(data["entry"]), time.monotonic()))
        return {"length": len(data["entry"])}  # nothing on the page changes

    @todos.action
    def remove(todo_id: int) -> None:
        with state.lock:
            state.items.pop(todo_id, None)
        revalidate_tag("todos")

    @todos.action
    def go() -> None:
        redirect(url_for("todos.elsewhere"))

    @todos.action(
        schema={"n": fields.Int(required=True, validate=validate.Range(max=100))}
    )
    def double(data: dict[str, int]) -> dict[str, int]:
        return {"value": data["n"] * 2}

    @todos.action(schema={"n": fields.Int(required=True)})
    def pause(data: dict[str, int]) -> dict[str, int]:
        state.paused.set()
        state.gate.wait(WAIT)
        return data

    @todos.action(schema={"n": fields.Int(required=True)})
    def meet(data: dict[str, int]) -> dict[str, int]:
        state.log.append(("start", data["n"], time.monotonic()))
        state.barrier.wait()  # BrokenBarrierError (a 500) unless both calls overlap
        state.log.append(("end", data["n"], time.monotonic()))
        return data

    app = Flask(__name__)
    app.config.update(SECRET_KEY="test secret " * 3)
    app.jinja_loader = DictLoader({"page.html": PAGE})
    app.jinja_env.globals["csrf_token"] = generate_csrf
    ActionExtension(app)
    app.register_blueprint(todos)
    app.extensions["test_state"] = state
    return app


# --- fixtures and helpers ----------------------------------------------------

#: Records the script's events in every document the page loads.
RECORDER = """
window.__events = [];
for (const type of ["fa:before", "fa:success", "fa:failure", "fa:after"]) {
  document.addEventListener(type, (event) => {
    window.__events.push(type + " " + (event.target.id || event.target.nodeName));
    if (event.detail.result !== undefined) window.__result = event.detail.result;
  });
}
"""


class Session:
    """A browser page on a live server, counting the POST requests it sends."""

    def __init__(self, page: Page, server: LiveServer) -> None:
        self.page = page
        self.server = server
        self.state: Todos = server.app.extensions["test_state"]
        self.posts: list[Request] = []
        page.set_default_timeout(WAIT * 1000)
        page.on(
            "request", lambda r: self.posts.append(r) if r.method == "POST" else None
        )
        page.add_init_script(RECORDER)

    def open(self, path: str = "/") -> Session:
        self.page.goto(self.server.url + path)
        self.page.wait_for_function("() => window.FlaskActions !== undefined")
        self.page.evaluate("window.__marker = 1")  # gone after a full page load
        return self

    def events(self) -> list[str]:
        return self.page.evaluate("window.__events")

    def wait_after(self, count: int = 1) -> None:
        """Wait until ``count`` submissions have finished (``fa:after``)."""
        # A function, not an expression: the page's CSP forbids eval.
        self.page.wait_for_function(
            "n => window.__events.filter(e => e.startsWith('fa:after')).length >= n",
            arg=count,
        )

    def same_document(self) -> bool:
        return self.page.evaluate("window.__marker") == 1

    def titles(self) -> list[str]:
        return self.page.locator("#todo-list .title").all_inner_texts()


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=WAIT) as response:
        body: bytes = response.read()
        return body


def posted(request: Request) -> dict[str, str]:
    """The fields of a request body: urlencoded (a form without a file) or
    multipart (with one)."""
    if "urlencoded" in request.headers.get("content-type", ""):
        return dict(parse_qsl(request.post_data or "", keep_blank_values=True))
    fields = re.findall(
        r'name="([^"]+)"\r\n\r\n(.*?)\r\n--', request.post_data or "", re.S
    )
    return dict(fields)


@pytest.fixture
def session(
    live_server: Callable[..., LiveServer], browser_page: Callable[..., Page]
) -> Iterator[Session]:
    session = Session(browser_page(js=True), live_server(make_app())).open()
    yield session
    # The page runs under live_server's strict CSP: the script needed nothing
    # it forbids (no inline style, no eval, no inline handler).
    assert csp_violations(session.page) == []


pytestmark = pytest.mark.browser


# --- enhanced submission -------------------------------------------------------


def test_submit_updates_the_page_in_one_request_without_reload(
    session: Session,
) -> None:
    page = session.page
    page.fill("#title", "Milk")
    page.click("#add-button")
    session.wait_after()

    assert session.same_document()
    assert len(session.posts) == 1
    request = session.posts[0]
    assert request.headers["x-flask-actions"] == "form"
    assert "application/json" in request.headers["accept"]
    assert session.titles() == ["Existing", "Milk"]
    assert page.title() == "Todos (2)"
    # The add form is ready for the next item, as after a reload.
    assert page.input_value("#title") == ""
    assert session.events() == ["fa:before add", "fa:success add", "fa:after add"]


def test_button_sends_its_own_action_and_bound_arguments(session: Session) -> None:
    page = session.page
    page.fill("#title", "Milk")
    page.click("#add-button")
    session.wait_after()
    page.click("#delete-1")
    session.wait_after(2)

    assert session.same_document()
    assert len(session.posts) == 2
    assert set(posted(session.posts[1])) == {"csrf_token", "_button"}
    assert page.locator("#todo-1").count() == 0
    assert session.titles() == ["Milk"]
    assert session.state.items == {2: "Milk"}


def test_a_form_that_wants_no_page_is_reset_as_after_a_reload(
    session: Session,
) -> None:
    # The log form says data-fa-page="none": its answer carries no page.
    page = session.page
    page.fill("#other", "typed elsewhere")
    page.fill("#entry", "hello")
    page.click("#log-button")
    session.wait_after()

    assert session.posts[0].headers["x-flask-actions-page"] == "none"
    assert page.evaluate("window.__result") == {
        **page.evaluate("window.__result"),
        "ok": True,
        "data": {"length": 5},
        "html": None,
    }
    assert session.state.log[0][:2] == ("log", 5)
    assert page.input_value("#entry") == ""
    assert page.input_value("#other") == "typed elsewhere"
    assert page.inner_text("#log-button") == "Log"
    assert page.is_enabled("#log-button")
    assert session.same_document()


def test_redirect_navigates_with_a_history_entry(session: Session) -> None:
    page = session.page
    page.click("#go")
    page.wait_for_url(session.server.url + "/elsewhere")
    assert page.text_content("#elsewhere") == "Elsewhere"
    assert len(session.posts) == 1  # the fetch; the navigation is a GET

    page.go_back()
    page.wait_for_url(session.server.url + "/")
    assert page.locator("#add").count() == 1


def test_cancelled_before_event_sends_nothing(session: Session) -> None:
    page = session.page
    page.evaluate(
        "document.addEventListener('fa:before', (e) => e.preventDefault(), {once: true})"
    )
    page.fill("#title", "Milk")
    page.click("#add-button")
    page.fill("#title", "Bread")
    page.click("#add-button")
    session.wait_after()

    assert len(session.posts) == 1
    assert posted(session.posts[0])["title"] == "Bread"
    assert session.state.items == {1: "Existing", 2: "Bread"}


def test_native_opt_out_submits_without_the_script(session: Session) -> None:
    page = session.page
    page.evaluate("document.querySelector('#add').setAttribute('data-fa-native', '')")
    page.fill("#title", "Milk")
    with page.expect_navigation():
        page.click("#add-button")
    assert not session.same_document()
    assert session.events() == []
    assert "Milk" in page.text_content("#todo-list")


# --- pending state and concurrency ----------------------------------------------


def test_pending_state_while_the_action_runs(session: Session) -> None:
    page = session.page
    form = page.locator("#add")
    button = page.locator("#add-button")
    session.state.gate.clear()
    try:
        page.fill("#title", "Slow milk")
        button.click()
        page.wait_for_function(
            "() => document.querySelector('#add').ariaBusy === 'true'"
        )
        assert form.get_attribute("data-pending") == ""
        assert button.is_disabled()
        assert button.inner_text() == "Adding…"

        # A second submission of the same form is not sent.
        page.evaluate("document.querySelector('#add').requestSubmit()")
        page.press("#title", "Enter")
        assert len(session.posts) == 1
    finally:
        session.state.gate.set()
    session.wait_after()

    assert form.get_attribute("aria-busy") is None
    assert form.get_attribute("data-pending") is None
    assert button.is_enabled()
    assert button.inner_html() == "Add <b>it</b>"
    assert len(session.posts) == 1
    assert session.state.items == {1: "Existing", 2: "Slow milk"}


def test_other_forms_run_in_parallel_and_keep_pending_state(session: Session) -> None:
    page = session.page
    session.state.gate.clear()
    try:
        page.fill("#title", "Slow milk")
        page.click("#add-button")
        page.wait_for_function(
            "() => document.querySelector('#add').ariaBusy === 'true'"
        )
        # Another form works while the first one waits, and its page update
        # leaves the first form's pending state and optimistic item alone.
        page.click("#delete-1")
        session.wait_after()
        assert session.state.items == {}
        assert page.locator("#todo-1").count() == 0
        assert page.get_attribute("#add", "aria-busy") == "true"
        assert page.is_disabled("#add-button")
        assert page.inner_text("#add-button") == "Adding…"
        assert page.locator("[data-fa-optimistic-item]").inner_text() == "Slow milk"
    finally:
        session.state.gate.set()
    session.wait_after(2)

    assert session.events() == [
        "fa:before add",
        "fa:before delete-form-1",
        "fa:success delete-form-1",
        "fa:after #document",  # the morph removed the delete form
        "fa:success add",
        "fa:after add",
    ]
    assert page.get_attribute("#add", "aria-busy") is None
    assert page.locator("[data-fa-optimistic-item]").count() == 0
    assert session.titles() == ["Slow milk"]


# --- the page update ---------------------------------------------------------


def test_morph_keeps_focus_caret_scroll_and_what_the_user_typed(
    session: Session,
) -> None:
    page = session.page
    session.state.gate.clear()
    try:
        page.fill("#title", "Milk")
        page.click("#add-button")
        page.wait_for_function(
            "() => document.querySelector('#add').ariaBusy === 'true'"
        )
        # While the request is in flight the user types elsewhere...
        # ...changes the submitted form's notes (but not its title)...
        page.fill("#notes", "typed after submitting")
        page.fill("#count-typed", "my own text")
        # ...and is typing in another field, caret in the middle of it.
        page.fill("#other", "hello world")
        page.evaluate("document.querySelector('#other').setSelectionRange(2, 5)")
        page.evaluate("document.querySelector('#other').scrollIntoView()")
        before = page.evaluate(
            "document.querySelector('#other').getBoundingClientRect().top"
        )
    finally:
        session.state.gate.set()
    session.wait_after()

    assert session.same_document()
    assert session.titles() == ["Existing", "Milk"]
    focused = page.evaluate(
        """() => {
          const el = document.activeElement;
          return [el.id, el.value, el.selectionStart, el.selectionEnd];
        }"""
    )
    assert focused == ["other", "hello world", 2, 5]
    after = page.evaluate(
        "document.querySelector('#other').getBoundingClientRect().top"
    )
    assert abs(after - before) < 1
    # The server changed both counters; only the one the user did not touch follows.
    assert page.input_value("#count-untouched") == "2"
    assert page.input_value("#count-typed") == "my own text"
    # The submitted form is reset as after a reload, except what the user
    # changed after submitting.
    assert page.input_value("#title") == ""
    assert page.input_value("#notes") == "typed after submitting"


def form_layout(page: Page) -> list[str]:
    """Where a form's fields, errors and messages are, in document order."""
    return page.evaluate(
        """() => [...document.querySelectorAll(
              '#add [name]:not([type=hidden]), #add .fa-errors, #add [data-fa-message]')]
            .map(el => el.matches('.fa-errors') ? 'errors ' + el.dataset.faErrors + ': '
                       + el.textContent : el.matches('[data-fa-message]') ? 'message'
                       : el.name + '=' + (el.value || '').length)"""
    )


def test_errors_show_where_the_page_shows_them_and_nothing_typed_is_lost(
    session: Session,
    live_server: Callable[..., LiveServer],
    browser_page: Callable[..., Page],
) -> None:
    page = session.page
    long_text = "All work and no play makes Jack a dull boy. " * 60
    page.fill("#notes", long_text)
    page.fill("#title", "x" * 41)
    page.focus("#notes")
    page.click("#add-button")
    session.wait_after()

    assert session.same_document()
    assert len(session.posts) == 1
    assert session.events() == ["fa:before add", "fa:failure add", "fa:after add"]
    assert page.evaluate("window.__result.status") == 422
    assert page.input_value("#notes") == long_text
    assert page.input_value("#title") == "x" * 41
    assert page.evaluate("document.activeElement.id") == "title"
    layout = form_layout(page)
    assert layout[:2] == ["title=41", "errors title: Length must be between 1 and 40."]

    # The same submission without JavaScript shows the same page.
    no_js = browser_page(js=False)
    no_js.goto(session.server.url + "/")
    no_js.fill("#notes", long_text)
    no_js.fill("#title", "x" * 41)
    with no_js.expect_navigation() as navigation:
        no_js.click("#add-button")
    assert navigation.value is not None and navigation.value.status == 422
    assert form_layout(no_js) == layout

    # Fixing the error and submitting again clears it.
    page.fill("#title", "Milk")
    page.click("#add-button")
    session.wait_after(2)
    assert page.locator(".fa-errors").count() == 0
    assert session.titles() == ["Existing", "Milk"]
    assert page.input_value("#notes") == ""


def test_network_failure_shows_a_message_and_keeps_everything(session: Session) -> None:
    page = session.page

    def fail_posts(route: t.Any) -> None:
        if route.request.method == "POST":
            route.abort()
        else:
            route.continue_()

    page.route(the_page(session.server.url + "/"), fail_posts)
    page.fill("#title", "Milk")
    page.fill("#notes", "A long note that must survive. " * 20)
    page.click("#add-button")
    session.wait_after()

    # The form has no message element of its own: the script puts one right
    # before it, outside the form's own layout.
    message = page.locator("[data-fa-message]:has(+ #add)")
    assert message.get_attribute("role") == "alert"
    assert message.inner_text() == page.evaluate("FlaskActions.messages.network")
    assert session.events() == ["fa:before add", "fa:failure add", "fa:after add"]
    assert page.input_value("#title") == "Milk"
    assert page.input_value("#notes") == "A long note that must survive. " * 20
    assert page.get_attribute("#add", "aria-busy") is None
    assert page.is_enabled("#add-button")
    assert page.inner_html("#add-button") == "Add <b>it</b>"
    assert session.state.items == {1: "Existing"}

    # Once the network is back the same form goes through, and the message goes.
    page.unroute(the_page(session.server.url + "/"))
    page.click("#add-button")
    session.wait_after(2)
    assert session.titles() == ["Existing", "Milk"]
    assert page.locator("[data-fa-message]").count() == 0


def test_bad_gateway_shows_a_message_and_keeps_everything(session: Session) -> None:
    page = session.page

    def bad_gateway(route: t.Any) -> None:
        if route.request.method == "POST":
            route.fulfill(
                status=502, content_type="text/html", body="<h1>Bad gateway</h1>"
            )
        else:
            route.continue_()

    page.route(the_page(session.server.url + "/"), bad_gateway)
    page.fill("#title", "Milk")
    page.click("#add-button")
    session.wait_after()

    assert session.same_document()
    assert page.inner_text("[role=alert]:has(+ #add)") == page.evaluate(
        "FlaskActions.messages.server"
    )
    assert page.input_value("#title") == "Milk"
    assert page.is_enabled("#add-button")


def test_server_error_shows_the_message_and_its_reference(session: Session) -> None:
    page = session.page
    page.fill("#title", "boom")
    page.click("#add-button")
    session.wait_after()

    assert session.same_document()
    result = page.evaluate("window.__result")
    assert result["status"] == 500
    assert result["reference"]
    assert result["reference"] in page.inner_text("#add [data-fa-message]")
    assert page.input_value("#title") == "boom"


def test_unknown_action_shows_the_servers_message_and_sends_once(
    session: Session,
) -> None:
    page = session.page
    # What a page opened before the secret changed would send.
    page.evaluate("document.querySelector('[name=_action]').value = 'A'.repeat(22)")
    page.fill("#title", "Milk")
    page.click("#add-button")
    session.wait_after()

    # One request: the form is not sent again natively (an action that did
    # run would run twice); the server's own words say what to do.
    assert session.same_document()
    assert len(session.posts) == 1
    assert posted(session.posts[0]) == {
        **posted(session.posts[0]),
        "_action": "A" * 22,
        "title": "Milk",
    }
    result = page.evaluate("window.__result")
    assert result["status"] == 404 and result["reason"] == "unknown_action"
    assert page.inner_text("[role=alert]:has(+ #add)") == result["message"]
    assert "reload the page" in result["message"]
    assert session.events() == ["fa:before add", "fa:failure add", "fa:after add"]
    assert page.input_value("#title") == "Milk"
    assert session.state.items == {1: "Existing"}


# --- optimistic UI -------------------------------------------------------------


def test_optimistic_item_is_replaced_by_the_real_one(session: Session) -> None:
    page = session.page
    session.state.gate.clear()
    try:
        page.fill("#title", "<b>Bread</b>")
        page.click("#add-button")
        item = page.locator("#todo-list > li[data-fa-optimistic-item]")
        assert item.inner_text() == "<b>Bread</b>"  # text, never markup
        assert item.locator("b").count() == 0
        assert page.evaluate(
            "document.querySelector('#todo-list').lastElementChild.className"
        ) == ("optimistic")
        assert session.state.items == {1: "Existing"}
    finally:
        session.state.gate.set()
    session.wait_after()

    assert page.locator("[data-fa-optimistic-item]").count() == 0
    assert session.titles() == ["Existing", "<b>Bread</b>"]


def test_a_form_is_sent_when_the_optimistic_extra_cannot_load(
    live_server: Callable[..., LiveServer], browser_page: Callable[..., Page]
) -> None:
    # The extra only draws the pending item: if it cannot load (a 404, a
    # proxy, an integrity mismatch after a bad deploy) the form is still
    # sent and not left busy.
    page = browser_page(js=True)
    page.route(
        "**/flask-actions-optimistic.min.js", lambda route: route.fulfill(status=404)
    )
    session = Session(page, live_server(make_app())).open()
    page.fill("#title", "Bread")
    page.click("#add-button")
    session.wait_after()
    assert session.titles() == ["Existing", "Bread"]
    assert page.get_attribute("#add", "aria-busy") is None


def test_optimistic_item_is_rolled_back_on_failure(session: Session) -> None:
    page = session.page
    session.state.gate.clear()
    try:
        page.fill("#title", "refuse")
        page.click("#add-button")
        assert (
            page.locator("#todo-list > [data-fa-optimistic-item]").inner_text()
            == "refuse"
        )
    finally:
        session.state.gate.set()
    session.wait_after()

    assert page.locator("[data-fa-optimistic-item]").count() == 0
    assert session.titles() == ["Existing"]
    assert page.inner_text("#add [data-fa-message]") == "Could not add that."
    assert page.input_value("#title") == "refuse"
    assert session.events() == ["fa:before add", "fa:failure add", "fa:after add"]


# --- FlaskActions.call ---------------------------------------------------------


def test_call_resolves_with_the_result(session: Session) -> None:
    result = session.page.evaluate(
        "FlaskActions.call(document.body.dataset.double, {n: 21})"
    )
    assert result["ok"] is True
    assert result["data"] == {"value": 42}
    assert session.same_document()
    (request,) = session.posts
    assert request.headers["x-flask-actions"] == "call"
    assert request.headers["x-action"] == session.page.get_attribute(
        "body", "data-double"
    )
    assert request.headers["x-csrftoken"] == session.page.get_attribute(
        "meta[name=csrf-token]", "content"
    )
    assert request.headers["content-type"] == "application/json"


def test_call_rejects_with_errors_and_status(session: Session) -> None:
    error = session.page.evaluate(
        """FlaskActions.call(document.body.dataset.double, {n: 1000}).then(
             () => null,
             (e) => ({isError: e instanceof Error, status: e.status, errors: e.errors,
                      ok: e.result.ok}))"""
    )
    assert error == {
        "isError": True,
        "status": 422,
        "errors": {"n": ["Must be less than or equal to 100."]},
        "ok": False,
    }


def test_call_can_be_aborted(session: Session) -> None:
    page = session.page
    session.state.gate.clear()
    try:
        page.evaluate(
            """() => {
              const ref = document.body.dataset.pause;
              window.__controller = new AbortController();
              window.__call = FlaskActions.call(ref, {n: 1}, window.__controller)
                .then(() => "resolved", (e) => e.name);
            }"""
        )
        assert session.state.paused.wait(WAIT)  # the request reached the action
        page.evaluate("window.__controller.abort()")
        assert page.evaluate("window.__call") == "AbortError"
    finally:
        session.state.gate.set()


def test_calls_run_in_parallel(session: Session) -> None:
    # ``meet`` waits until two calls are inside it at once: serialised calls fail.
    results = session.page.evaluate(
        """Promise.all([1, 2].map(n => FlaskActions.call(document.body.dataset.meet, {n})))
             .then(rs => rs.map(r => r.data.n))"""
    )
    assert results == [1, 2]
    starts = [n for event, n, _ in session.state.log if event == "start"]
    ends = [n for event, n, _ in session.state.log if event == "end"]
    assert sorted(starts) == [1, 2] and sorted(ends) == [1, 2]
    assert [event for event, _, _ in sorted(session.state.log, key=lambda e: e[2])] == [
        "start",
        "start",
        "end",
        "end",
    ]


# --- the served file -------------------------------------------------------------


def load_build_js() -> t.Any:
    spec = importlib.util.spec_from_file_location(
        "build_js", ROOT / "scripts" / "build_js.py"
    )
    assert spec is not None and spec.loader is not None
    build_js = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build_js)
    return build_js


def served_scripts() -> dict[str, bytes]:
    """Every minified file that is committed and served, by name."""
    return {path.name: path.read_bytes() for path in sorted(STATIC.glob("*.min.js"))}


def test_the_served_scripts_are_within_budget() -> None:
    build_js = load_build_js()
    served = served_scripts()
    assert {"flask-actions.min.js", "flask-actions-progress.min.js"} <= set(served)
    # The path of a plain form: the core alone.
    assert build_js.gzip_size(served["flask-actions.min.js"]) <= 6 * 1024
    # The whole script, every extra included, taken as one file.
    assert build_js.gzip_size(b"".join(served.values())) <= 8 * 1024


def test_the_served_scripts_are_built_from_the_sources() -> None:
    build_js = load_build_js()
    try:
        built = build_js.build_all()
    except build_js.MinifierMissing:
        # Without Node.js and terser (a machine with only Python): the sources
        # and the served files are the ones the last build recorded.
        assert build_js.stale_against_manifest() == []
        return
    assert {path.name: data for path, data in built.items()} == served_scripts(), (
        "run python scripts/build_js.py"
    )
    assert build_js.manifest_of(built) == json.loads(
        build_js.MANIFEST.read_text(encoding="utf-8")
    ), "run python scripts/build_js.py"


def test_an_edited_source_is_found_without_terser(tmp_path: Path) -> None:
    build_js = load_build_js()
    copy = tmp_path / "static"
    shutil.copytree(STATIC, copy)
    build_js.STATIC = copy
    build_js.CORE = copy / "flask-actions.js"
    assert build_js.stale_against_manifest() == []
    live = copy / "flask-actions-live.js"
    live.write_text(live.read_text(encoding="utf-8") + "// edited\n", encoding="utf-8")
    assert build_js.stale_against_manifest() == [
        "flask-actions-live.js changed since the last build"
    ]


def test_each_extra_is_pinned_by_its_hash_in_the_core() -> None:
    core = (STATIC / "flask-actions.min.js").read_text()
    extras = [
        path.name[len("flask-actions-") : -len(".min.js")]
        for path in STATIC.glob("flask-actions-*.min.js")
    ]
    assert extras
    for name in extras:
        data = (STATIC / f"flask-actions-{name}.min.js").read_bytes()
        pin = "sha256-" + base64.b64encode(hashlib.sha256(data).digest()).decode()
        assert f'{name}:"{pin}"' in core, name


def test_script_tag_has_the_integrity_of_the_served_file(session: Session) -> None:
    html = fetch(session.server.url + "/").decode()
    tag = re.search(r"<script [^>]*>", html)
    assert tag is not None
    src = re.search(r'src="([^"]+)"', tag.group(0))
    integrity = re.search(r'integrity="sha384-([^"]+)"', tag.group(0))
    assert src is not None and integrity is not None
    served = fetch(session.server.url + src.group(1))
    assert served == (STATIC / "flask-actions.min.js").read_bytes()
    assert base64.b64decode(integrity.group(1)) == hashlib.sha384(served).digest()
    # Chromium checked the hash too: the script ran (the fixture waited for it).
    assert session.page.evaluate("typeof FlaskActions.call") == "function"


# --- what the script sends -----------------------------------------------------

UPLOAD_PAGE = """\
{% import "flask_actions/macros.html" as fa %}
<!doctype html>
<html><head><title>Attach</title>{{ fa.script() }}</head>
<body>
  {% call fa.form(action('attach.save'), id='attach', enctype='multipart/form-data') %}
    {{ fa.message() }}
    <input id="note" name="note" value="{{ fa.value('note') }}">
    <input id="document" name="document" type="file">
    <button id="save">Save</button>
  {% endcall %}
  <p id="saved">{{ saved|join(' | ') }}</p>
</body></html>
"""


def test_a_form_without_a_file_is_sent_urlencoded_and_with_one_as_multipart(
    live_server: Callable[..., LiveServer],
    browser_page: Callable[..., Page],
    tmp_path: Path,
) -> None:
    saved: list[str] = []
    bp = ActionBlueprint("attach", __name__)

    @bp.get("/")
    def index() -> str:
        return render_template("upload.html", saved=saved)

    @bp.action(schema={"note": fields.Str(required=True), "document": File()})
    def save(data: dict[str, t.Any]) -> None:
        document = data.get("document")
        content = document.read().decode() if document is not None else "no file"
        saved.append(f"{data['note']}: {content}")

    app = Flask(__name__)
    app.config.update(SECRET_KEY="x" * 32, TESTING=True)
    app.jinja_loader = DictLoader({"upload.html": UPLOAD_PAGE})
    ActionExtension(app)
    app.register_blueprint(bp)
    server = live_server(app)
    page = browser_page(js=True)
    posts: list[Request] = []
    page.on("request", lambda r: posts.append(r) if r.method == "POST" else None)
    page.goto(server.url + "/")

    # No file chosen (an empty file input), a note with what urlencoding must
    # carry exactly: the action gets the note and no file.
    page.fill("#note", "a&b=c é")
    page.click("#save")
    page.wait_for_function("() => document.querySelector('#saved').textContent")
    assert saved == ["a&b=c é: no file"]
    content_type = posts[0].headers["content-type"]
    assert content_type.startswith("application/x-www-form-urlencoded")
    assert "[object File]" not in (posts[0].post_data or "")
    assert posted(posts[0])["note"] == "a&b=c é"

    path = tmp_path / "letter.txt"
    path.write_text("Dear reader")
    page.set_input_files("#document", str(path))
    page.fill("#note", "with a file")
    page.click("#save")
    page.wait_for_function(
        "() => document.querySelector('#saved').textContent.includes('|')"
    )
    assert saved[1] == "with a file: Dear reader"
    assert posts[1].headers["content-type"].startswith("multipart/form-data")
    assert csp_violations(page) == []
