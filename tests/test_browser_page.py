"""The enhanced page never shows what the server does not have (issue 13):
order of answers, expired tokens, typed text, moved elements, parity with
the page without JavaScript, messages, Enter, where messages go, and buttons
that ask first. Headless Chromium against a live server (under the strict CSP
of ``live_server``), a kanban board as a user would build it from the docs.

Races are made with server-side barriers (:class:`threading.Event`), never
with sleeps in the browser: a request is held at a known point (before its
write, or after its page was rendered) until the test lets it go.
"""

from __future__ import annotations

import collections
import threading
import typing as t

import pytest
from flask import Flask
from flask import g
from flask import redirect as flask_redirect
from flask import render_template
from flask import request
from flask import Response
from jinja2 import DictLoader
from marshmallow import fields
from marshmallow import validate
from marshmallow import ValidationError
from servers import Tab
from servers import the_page

from flask_actions import ActionBlueprint
from flask_actions import ActionError
from flask_actions import ActionExtension
from flask_actions import revalidate_tag
from flask_actions import set_cookie
from flask_actions import set_message

if t.TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Iterable
    from collections.abc import Iterator

    from _typeshed.wsgi import StartResponse
    from _typeshed.wsgi import WSGIApplication
    from _typeshed.wsgi import WSGIEnvironment
    from playwright.sync_api import Page
    from servers import LiveServer

pytestmark = pytest.mark.browser

WAIT = Tab.WAIT
COLUMNS = ("todo", "doing", "done")

BOARD = """\
{% import "flask_actions/macros.html" as fa %}
<!doctype html>
<html>
<head>
  <title>Board ({{ cards|length }})</title>
  <link rel="stylesheet" href="{{ url_for('board.stylesheet') }}">
  {{ fa.script() }}
</head>
<body data-note="{{ action_ref(action('board.note')) }}">
  {{ fa.message() }}
  <p id="density">{{ density }}</p>
  {% call fa.form(action('board.toggle_density'), id='density-form') %}
    <button id="density-button">Density</button>
  {% endcall %}
  <main>
  {%- for column in columns %}
    <section class="column"><h2>{{ column }}</h2>
      <ul id="list-{{ column }}">
      {%- for card in cards if card.column == column %}
        <li id="card-{{ card.id }}"
          {%- for other in columns %} data-to-{{ other }}="{{ action_ref(action('board.move').bind(card.id, other)) }}"{% endfor %}>
          {% call fa.form(action('board.rename').bind(card.id), id='rename-%d' % card.id) %}
            {{ fa.button(action('board.delete').bind(card.id), 'Delete', id='delete-%d' % card.id,
                         confirm='Delete “%s”?' % card.title) }}
            <input id="title-{{ card.id }}" name="title" value="{{ fa.value('title', card.title) }}">
            {{ fa.errors('title') }}
            <button id="save-{{ card.id }}" data-pending-text="Saving…">Save</button>
          {% endcall %}
          {%- for other in columns if other != column %}
          <form method="post" id="move-form-{{ card.id }}-{{ other }}">
            {{- fa.button(action('board.move').bind(card.id, other), 'To ' ~ other, id='move-%d-%s' % (card.id, other)) -}}
          </form>
          {%- endfor %}
        </li>
      {%- endfor %}
      </ul>
    </section>
  {%- endfor %}
  </main>

  {% call fa.form(action('board.add'), id='add') %}
    <input id="new-title" name="title" value="{{ fa.value('title') }}">
    {{ fa.errors('title') }}
    <button id="add-button">Add</button>
    <button id="add-quietly" data-fa-page="none">Add without the page</button>
  {% endcall %}

  {% call fa.form(action('board.note'), id='note', class_='grid') %}
    <label for="note-text">Note</label>
    <input id="note-text" name="text">
    <button id="note-button">Save note</button>
  {% endcall %}
  <div id="note-messages"></div>

  {% call fa.form(action('board.clear'), id='clear', confirm='Clear the board?') %}
    <button id="clear-button">Clear the board</button>
  {% endcall %}

  {% call fa.form(action('board.note'), id='quiet-note', data_fa_page='none') %}
    <input id="quiet-text" name="text">
    <button id="quiet-button">Save quietly</button>
  {% endcall %}
</body>
</html>
"""

#: A stylesheet, never style attributes: the pages run under a strict CSP.
STYLES = """
.grid { display: grid; grid-template-columns: 6rem 1fr auto; gap: 4px; }
"""


class Board:
    """The board's state, what ran, and the barriers a test sets."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.cards: dict[int, dict[str, t.Any]] = {
            1: {"id": 1, "title": "Write tests", "column": "todo"},
            2: {"id": 2, "title": "Fix bugs", "column": "todo"},
        }
        self.next_id = 3
        self.notes: list[str] = []
        self.runs: collections.Counter[str] = collections.Counter()
        #: ``(where, key)``: the request whose action has this key waits at
        #: ``where`` ("before" its write, "after" its page was rendered)
        #: until :attr:`release` is set. ``reached`` says it got there.
        self.hold: tuple[str, str] | None = None
        self.reached = threading.Event()
        self.release = threading.Event()
        #: "csrf", "bound" or None: the kind of token the next POST finds
        #: expired (see :class:`ExpireNextPost`).
        self.expire: str | None = None

    def barrier(self, where: str, key: str) -> None:
        """Hold here if the test asked for it."""
        if self.hold != (where, key):
            return
        if where == "after":
            g.hold_after = key  # held in after_request, once the page is rendered
            return
        self.reached.set()
        if not self.release.wait(WAIT):
            raise RuntimeError("the test did not release the barrier")

    def column_of(self, card_id: int) -> str | None:
        card = self.cards.get(card_id)
        return None if card is None else t.cast(str, card["column"])


class ExpireNextPost:
    """WSGI middleware: the next POST finds the page's CSRF token ("csrf") or
    its bound-argument tokens ("bound") expired, as if the tab had been left
    open for hours; later requests are judged normally again."""

    SETTINGS: t.ClassVar[dict[str, tuple[str, float]]] = {
        "csrf": ("WTF_CSRF_TIME_LIMIT", -1),
        "bound": ("ACTIONS_BOUND_MAX_AGE", 1e-9),
    }

    def __init__(self, app: Flask, board: Board) -> None:
        self.app = app
        self.wsgi_app: WSGIApplication = app.wsgi_app
        self.board = board

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        kind = self.board.expire
        if environ["REQUEST_METHOD"] != "POST" or kind is None:
            return self.wsgi_app(environ, start_response)
        self.board.expire = None
        key, value = self.SETTINGS[kind]
        config = self.app.config
        missing = object()
        saved = config.get(key, missing)
        config[key] = value
        try:
            return list(self.wsgi_app(environ, start_response))
        finally:
            if saved is missing:
                config.pop(key)
            else:
                config[key] = saved


def make_app(board: Board) -> Flask:
    bp = ActionBlueprint("board", __name__)

    @bp.get("/")
    def index() -> str:
        with board.lock:
            cards = sorted(board.cards.values(), key=lambda c: t.cast(int, c["id"]))
        density = request.cookies.get("density", "comfortable")
        return render_template(
            "board.html", cards=cards, columns=COLUMNS, density=density
        )

    @bp.get("/board.css")
    def stylesheet() -> Response:
        return Response(STYLES, mimetype="text/css")

    title = fields.Str(required=True, validate=validate.Length(min=1, max=40))

    @bp.action(schema={"title": title})
    def add(data: dict[str, str]) -> dict[str, int]:
        # No revalidate_*: the enhanced page still shows the new card, as the
        # page after the no-JS redirect does.
        board.runs["add"] += 1
        with board.lock:
            card_id = board.next_id
            board.next_id += 1
            board.cards[card_id] = {
                "id": card_id,
                "title": data["title"],
                "column": "todo",
            }
        set_message(f"Added “{data['title']}”.")
        return {"id": card_id}

    @bp.action(schema={"title": title})
    def rename(card_id: int, data: dict[str, str]) -> None:
        board.barrier("before", f"rename:{card_id}")
        board.runs["rename"] += 1
        with board.lock:
            board.cards[card_id]["title"] = data["title"]

    @bp.action
    def delete(card_id: int) -> None:
        board.runs["delete"] += 1
        with board.lock:
            board.cards.pop(card_id, None)
        revalidate_tag("board")

    @bp.action
    def clear() -> None:
        board.runs["clear"] += 1
        with board.lock:
            board.cards.clear()

    @bp.action
    def move(card_id: int, column: str) -> None:
        board.barrier("before", f"move:{column}")
        board.runs["move"] += 1
        with board.lock:
            board.cards[card_id]["column"] = column
        board.barrier("after", f"move:{column}")
        revalidate_tag("board")

    @bp.action
    def toggle_density() -> None:
        board.runs["toggle_density"] += 1
        compact = request.cookies.get("density") != "compact"
        set_cookie("density", "compact" if compact else "comfortable")
        board.barrier("after", "density")

    @bp.action(schema={"text": fields.Str(required=True)})
    def note(data: dict[str, str]) -> None:
        board.runs["note"] += 1
        board.notes.append(data["text"])

    app = Flask(__name__)
    app.config.update(SECRET_KEY="board secret for the browser tests")
    app.jinja_loader = DictLoader({"board.html": BOARD})
    ActionExtension(app)
    app.register_blueprint(bp)

    @app.after_request
    def hold_after_render(response: Response) -> Response:
        if g.pop("hold_after", None) is not None:
            board.reached.set()
            if not board.release.wait(WAIT):
                raise RuntimeError("the test did not release the barrier")
        return response

    app.wsgi_app = ExpireNextPost(app, board)  # type: ignore[method-assign]
    return app


def expect(target: t.Any) -> t.Any:
    """Playwright's retrying assertions (imported late: without playwright
    the ``chromium`` fixture skips these tests)."""
    from playwright.sync_api import expect

    return expect(target)


@pytest.fixture
def board() -> Iterator[Board]:
    board = Board()
    yield board
    board.release.set()  # never leave a request thread waiting


@pytest.fixture
def open_tab(
    board: Board,
    live_server: Callable[..., LiveServer],
    browser_page: Callable[..., Page],
) -> Iterator[Callable[..., Tab]]:
    """Factory: ``open_tab(js=True)``, a tab on the board; at the end, the
    strict CSP refused nothing in it."""
    server = live_server(make_app(board))
    tabs: list[Tab] = []

    def open_tab(js: bool = True) -> Tab:
        tab = Tab(browser_page(js=js), server, js).open()
        tabs.append(tab)
        return tab

    yield open_tab
    for tab in tabs:
        if tab.js and not tab.page.is_closed():
            assert tab.violations() == []


@pytest.fixture
def tab(open_tab: Callable[..., Tab]) -> Tab:
    return open_tab()


def press(tab: Tab, selector: str) -> None:
    """Press a button and wait until the page shows the outcome."""
    if tab.js:
        settled = len([e for e in tab.events() if e.startswith("fa:after")])
        tab.page.click(selector)
        tab.wait_after(settled + 1)
    else:
        with tab.page.expect_navigation():
            tab.page.click(selector)


def column_on_screen(page: Page, card_id: int) -> str | None:
    column: str | None = page.evaluate(
        """id => {
          const card = document.getElementById('card-' + id);
          return card ? card.parentElement.id.replace('list-', '') : null;
        }""",
        card_id,
    )
    return column


def fail_posts(page: Page, url: str) -> None:
    """Make every POST to ``url`` (with any query) a network failure."""

    def abort(route: t.Any) -> None:
        if route.request.method == "POST":
            route.abort()
        else:
            route.continue_()

    page.route(the_page(url), abort)


# --- 1. Order: an older answer never replaces a newer page ----------------------


def test_an_older_page_never_replaces_a_newer_one(tab: Tab, board: Board) -> None:
    page = tab.page
    # A: move card 1 to "doing"; its page is rendered, then its answer waits.
    board.hold = ("after", "move:doing")
    page.click("#move-1-doing")
    assert board.reached.wait(WAIT)
    # B: move it on to "done" (another form); its answer arrives first.
    page.click("#move-1-done")
    tab.wait_after(1)
    assert column_on_screen(page, 1) == "done"

    board.release.set()
    tab.wait_after(2)
    # A's page is older than B's: the card stays where the database has it.
    assert board.column_of(1) == "done"
    assert column_on_screen(page, 1) == "done"
    page.wait_for_load_state("networkidle")  # a refresh of the page, if any
    assert column_on_screen(page, 1) == "done"
    # Both submissions settled, with their events; nothing was sent twice.
    assert tab.events() == [
        "fa:before move-form-1-doing",
        "fa:before move-form-1-done",
        "fa:success move-form-1-done",
        "fa:after #document",  # B's page has no "to done" form for a done card
        "fa:success move-form-1-doing",
        "fa:after move-form-1-doing",
    ]
    assert board.runs["move"] == 2
    assert len(tab.posts) == 2
    assert tab.same_document()


def test_an_answer_held_before_its_write_is_the_newest_page(
    tab: Tab, board: Board
) -> None:
    # The other placement of the barrier: A waits *before* writing, so it
    # writes last and its page, rendered last, is the newest. Sending order
    # alone would wrongly skip it.
    page = tab.page
    board.hold = ("before", "move:doing")
    page.click("#move-1-doing")
    assert board.reached.wait(WAIT)
    page.click("#move-1-done")
    tab.wait_after(1)
    assert column_on_screen(page, 1) == "done"

    board.release.set()
    tab.wait_after(2)
    assert board.column_of(1) == "doing"
    assert column_on_screen(page, 1) == "doing"
    assert board.runs["move"] == 2


def test_a_skipped_page_whose_action_set_a_cookie_is_fetched_again(
    tab: Tab, board: Board
) -> None:
    page = tab.page
    # A: the density toggle sets a cookie; its page (compact) is rendered,
    # then its answer waits.
    board.hold = ("after", "density")
    page.click("#density-button")
    assert board.reached.wait(WAIT)
    # B: a move, sent before A's cookie reached the browser: its page, newer
    # than A's, still shows the old density.
    page.click("#move-2-doing")
    tab.wait_after(1)
    assert column_on_screen(page, 2) == "doing"
    assert page.inner_text("#density") == "comfortable"

    board.release.set()
    tab.wait_after(2)
    # A's page is older than B's (it does not have the move), yet what A
    # changed (the cookie) is not in B's page either: the script fetches the
    # page again, and the screen shows both.
    expect(page.locator("#density")).to_have_text("compact")
    assert column_on_screen(page, 2) == "doing"
    assert board.runs == {"toggle_density": 1, "move": 1}


# --- 3. Expired tokens: renewed, the submission sent again once ------------------


@pytest.mark.parametrize("expired", ["csrf", "bound"])
def test_an_expired_token_is_renewed_and_the_submission_runs_once(
    tab: Tab, board: Board, expired: str
) -> None:
    page = tab.page
    page.fill("#new-title", "typed in another form")
    page.fill("#title-1", "Renamed")
    board.expire = expired
    page.click("#save-1")
    tab.wait_after()

    # The server refused the first request without running the action; the
    # script took the fresh token (and the fresh page) and sent it again.
    assert [p.headers["x-flask-actions"] for p in tab.posts] == ["form", "form"]
    assert board.runs == {"rename": 1}
    assert board.cards[1]["title"] == "Renamed"
    assert tab.events() == [
        "fa:before rename-1",
        "fa:success rename-1",
        "fa:after rename-1",
    ]
    assert page.input_value("#title-1") == "Renamed"
    assert page.input_value("#new-title") == "typed in another form"
    assert page.locator("[role=alert]").count() == 0
    assert tab.same_document()

    # Every form on the page has a token that works: the next submission
    # goes through at once, without a reload.
    token = page.get_attribute("meta[name=csrf-token]", "content")
    assert (
        page.evaluate(
            """() => [...document.querySelectorAll('input[name=csrf_token]')]
                   .map(input => input.value)"""
        )
        == [token] * page.locator("input[name=csrf_token]").count()
    )
    page.click("#move-2-done")
    tab.wait_after(2)
    assert board.column_of(2) == "done"
    assert len(tab.posts) == 3


def test_a_lost_session_is_recovered_without_a_reload(tab: Tab, board: Board) -> None:
    page = tab.page
    # The session cookie (which holds the CSRF secret) is gone: every token
    # on the page is invalid now.
    page.context.clear_cookies()
    page.fill("#new-title", "Milk")
    page.click("#add-button")
    tab.wait_after()
    assert board.runs == {"add": 1}
    assert len(tab.posts) == 2
    assert [c["title"] for c in board.cards.values()][-1] == "Milk"
    expect(page.locator("#list-todo li").last).to_have_id("card-3")


def test_a_call_with_an_expired_token_is_sent_again_once(
    tab: Tab, board: Board
) -> None:
    board.expire = "csrf"
    ok = tab.page.evaluate(
        """() => FlaskActions.call(document.getElementById('card-1').dataset.toDone)
                 .then(result => result.ok)"""
    )
    assert ok is True
    assert board.runs == {"move": 1}
    assert [p.headers["x-flask-actions"] for p in tab.posts] == ["call", "call"]
    # The second one carries the token the refusal brought. (Not the page's
    # token now: the second answer's page renders one of its own, which is
    # another when its second on the clock is another.)
    refusal = tab.posts[0].response()
    assert refusal is not None and refusal.status == 403
    token = refusal.json()["csrf_token"]
    assert token and tab.posts[1].headers["x-csrftoken"] == token


def test_a_call_brings_the_fresh_token_to_every_form(tab: Tab, board: Board) -> None:
    page = tab.page
    stale = page.get_attribute("meta[name=csrf-token]", "content")
    # The session (and the CSRF secret in it) is gone; a call that changes
    # nothing on the page, so its answer carries no page to morph.
    page.context.clear_cookies()
    ok = page.evaluate(
        """() => FlaskActions.call(document.body.dataset.note, {text: 'hi'})
                 .then(result => result.ok && result.html === null)"""
    )
    assert ok is True
    assert board.runs == {"note": 1}
    assert len(tab.posts) == 2

    token = page.get_attribute("meta[name=csrf-token]", "content")
    assert token != stale
    hidden = page.evaluate(
        "() => [...document.querySelectorAll('input[name=csrf_token]')].map(i => i.value)"
    )
    assert set(hidden) == {token}
    # fa.button values: REF~TOKEN outside an fa.form; a confirming button
    # inside one (REF~~?) keeps its flag and gets no token of its own.
    values = page.evaluate(
        "() => [...document.querySelectorAll('[data-fa-button]')].map(b => b.value)"
    )
    moves = [v for v in values if not v.endswith("~?")]
    assert moves and all(v.split("~")[1] == token for v in moves)
    assert [v.split("~")[1:] for v in values if v.endswith("~?")] == [["", "?"]] * 2
    # The forms work at once: one request each.
    page.click("#move-1-done")
    tab.wait_after()
    page.fill("#new-title", "Milk")
    page.click("#add-button")
    tab.wait_after(2)
    assert len(tab.posts) == 4
    assert board.runs == {"note": 1, "move": 1, "add": 1}


# --- 4. Typed text belongs to the user --------------------------------------------


def test_text_kept_after_a_failure_survives_updates_from_other_forms(
    tab: Tab, board: Board
) -> None:
    page = tab.page
    page.fill("#new-title", "x" * 41)
    press(tab, "#add-button")
    assert tab.result()["status"] == 422
    expect(page.locator("#add .fa-errors")).to_have_count(1)
    assert page.input_value("#new-title") == "x" * 41

    # Another form's success brings a page whose add form is empty again:
    # the text the user typed stays.
    press(tab, "#move-2-doing")
    assert column_on_screen(page, 2) == "doing"
    assert page.input_value("#new-title") == "x" * 41
    page.fill("#note-text", "half a thought")
    press(tab, "#move-2-done")
    assert page.input_value("#new-title") == "x" * 41
    assert page.input_value("#note-text") == "half a thought"

    # The form's own success resets it, as a reload would.
    page.fill("#new-title", "Short")
    press(tab, "#add-button")
    assert page.input_value("#new-title") == ""
    assert page.input_value("#note-text") == "half a thought"
    assert board.runs["add"] == 1


# --- 5. Moved elements keep their identity ----------------------------------------


def test_a_moved_card_keeps_its_node_focus_and_caret(tab: Tab, board: Board) -> None:
    page = tab.page
    page.evaluate("() => { document.getElementById('card-1').marker = 'same node'; }")
    page.fill("#title-1", "Write more tests")
    page.focus("#title-1")
    page.evaluate("() => document.getElementById('title-1').setSelectionRange(2, 5)")

    ok = page.evaluate(
        """() => FlaskActions.call(document.getElementById('card-1').dataset.toDone)
                 .then(result => result.ok && result.html !== null)"""
    )
    assert ok is True
    assert board.column_of(1) == "done"
    assert column_on_screen(page, 1) == "done"
    assert page.evaluate("() => document.getElementById('card-1').marker") == (
        "same node"
    )
    focused = page.evaluate(
        """() => {
          const el = document.activeElement;
          return [el.id, el.value, el.selectionStart, el.selectionEnd];
        }"""
    )
    assert focused == ["title-1", "Write more tests", 2, 5]


def test_a_moved_card_keeps_its_pending_state(tab: Tab, board: Board) -> None:
    page = tab.page
    board.hold = ("before", "rename:1")
    page.fill("#title-1", "Renamed while moving")
    page.click("#save-1")
    assert board.reached.wait(WAIT)
    page.evaluate("() => { document.getElementById('rename-1').marker = 'same form'; }")

    # While the rename waits, a call moves the card to another column.
    page.evaluate(
        "() => FlaskActions.call(document.getElementById('card-1').dataset.toDoing)"
    )
    assert column_on_screen(page, 1) == "doing"
    assert page.evaluate("() => document.getElementById('rename-1').marker") == (
        "same form"
    )
    assert page.get_attribute("#rename-1", "aria-busy") == "true"
    assert page.is_disabled("#save-1")
    assert page.inner_text("#save-1") == "Saving…"

    board.release.set()
    tab.wait_after()
    assert board.cards[1] == {
        "id": 1,
        "title": "Renamed while moving",
        "column": "doing",
    }
    assert page.get_attribute("#rename-1", "aria-busy") is None
    assert page.is_enabled("#save-1")
    assert page.inner_text("#save-1") == "Save"
    assert page.input_value("#title-1") == "Renamed while moving"
    assert column_on_screen(page, 1) == "doing"


# --- 6. Parity with the page without JavaScript; no page when not wanted ------------


@pytest.mark.parametrize("js", [False, True], ids=["no-js", "js"])
def test_a_success_shows_what_the_page_without_javascript_shows(
    open_tab: Callable[..., Tab], board: Board, js: bool
) -> None:
    tab = open_tab(js)
    page = tab.page
    page.fill("#new-title", "Milk")
    press(tab, "#add-button")  # an action that revalidates nothing

    expect(page.locator("#card-3 input[name=title]")).to_have_value("Milk")
    assert column_on_screen(page, 3) == "todo"
    assert page.inner_text("[data-fa-message][role=status]") == "Added “Milk”."
    assert page.input_value("#new-title") == ""
    assert page.title() == "Board (3)"
    assert board.runs == {"add": 1}


def test_a_form_a_button_or_a_call_can_ask_for_no_page(tab: Tab, board: Board) -> None:
    page = tab.page
    # A form that says data-fa-page="none".
    page.fill("#quiet-text", "a note")
    press(tab, "#quiet-button")
    # A button that says it.
    page.fill("#new-title", "Quiet card")
    press(tab, "#add-quietly")
    # A call that says it.
    ok = page.evaluate(
        """() => FlaskActions.call(document.getElementById('card-1').dataset.toDone,
                                   undefined, {page: false}).then(r => r.ok && r.html)"""
    )

    assert [p.headers.get("x-flask-actions-page") for p in tab.posts] == ["none"] * 3
    assert ok is None
    assert board.notes == ["a note"]
    assert board.column_of(1) == "done"
    assert [c["title"] for c in board.cards.values()][-1] == "Quiet card"
    # Nothing came back to show: the forms are reset as after a reload, and
    # the page shows what it showed.
    assert page.input_value("#quiet-text") == ""
    assert page.input_value("#new-title") == ""
    assert page.locator("#card-3").count() == 0
    assert column_on_screen(page, 1) == "todo"


# --- 7. Messages for people ---------------------------------------------------------


@pytest.mark.parametrize("status", [413, 404])
def test_an_error_page_instead_of_json_shows_a_message_and_sends_once(
    board: Board,
    live_server: Callable[..., LiveServer],
    browser_page: Callable[..., Page],
    status: int,
) -> None:
    app = make_app(board)
    app.config["ACTIONS_MAX_CONTENT_LENGTH"] = 4096

    # The app turns rejections into its own HTML pages, JSON callers too.
    @app.errorhandler(status)
    def error_page(error: Exception) -> tuple[str, int]:
        return "<!doctype html><h1>Our own error page</h1>", status

    tab = Tab(browser_page(), live_server(app)).open()
    page = tab.page
    text = "long " * 2000
    page.fill("#note-text", text)
    if status == 404:  # an action id the server does not know (any more)
        page.evaluate(
            "() => { document.querySelector('#note [name=_action]').value = 'A'.repeat(22); }"
        )
        text = "short"
        page.fill("#note-text", text)
    page.click("#note-button")
    tab.wait_after()

    expected = "tooLarge" if status == 413 else "refused"
    assert page.inner_text("[data-fa-message]:has(+ #note)") == page.evaluate(
        f"() => FlaskActions.messages.{expected}"
    )
    assert tab.result()["status"] == status
    assert tab.events() == ["fa:before note", "fa:failure note", "fa:after note"]
    # One request: the form is not sent again natively, the page stays.
    assert len(tab.posts) == 1
    assert tab.same_document()
    assert page.input_value("#note-text") == text
    assert board.runs == {}
    assert tab.violations() == []


def test_an_old_success_message_goes_when_a_failure_shows(tab: Tab) -> None:
    page = tab.page
    page.fill("#new-title", "Milk")
    press(tab, "#add-button")
    expect(page.locator("[data-fa-message][role=status]")).to_have_text("Added “Milk”.")

    fail_posts(page, tab.server.url + "/")
    page.fill("#note-text", "lost connection")
    press(tab, "#note-button")

    assert page.locator("[data-fa-message][role=status]").count() == 0
    assert page.inner_text("[role=alert]") == page.evaluate(
        "() => FlaskActions.messages.network"
    )
    assert page.input_value("#note-text") == "lost connection"


@pytest.mark.parametrize("js", [False, True], ids=["no-js", "js"])
def test_a_refused_action_still_takes_the_user_to_the_sign_in_page(
    board: Board,
    live_server: Callable[..., LiveServer],
    browser_page: Callable[..., Page],
    js: bool,
) -> None:
    app = make_app(board)
    # What Flask-Login's login_required does for every view of a blueprint.
    admin = ActionBlueprint("admin", __name__)

    @admin.before_request
    def sign_in_first() -> Response | None:
        if request.cookies.get("user") is None:
            return flask_redirect("/sign-in?next=/")
        return None

    @admin.action
    def purge() -> None:
        board.runs["purge"] += 1

    @app.get("/sign-in")
    def sign_in() -> str:
        return "<!doctype html><title>Sign in</title><h1 id='sign-in'>Sign in</h1>"

    app.register_blueprint(admin)
    app.jinja_loader = DictLoader(
        {
            "board.html": BOARD.replace(
                "<main>",
                "{% call fa.form(action('admin.purge'), id='purge') %}"
                "<button id='purge-button'>Purge</button>{% endcall %}<main>",
            )
        }
    )
    tab = Tab(browser_page(js=js), live_server(app), js).open()
    with tab.page.expect_navigation(url=tab.server.url + "/sign-in?next=/"):
        tab.page.click("#purge-button")
    assert tab.page.inner_text("#sign-in") == "Sign in"
    assert board.runs == {}
    assert len(tab.posts) == 1


# --- 8. Enter does what the user means ---------------------------------------------


@pytest.mark.parametrize("js", [False, True], ids=["no-js", "js"])
def test_enter_in_a_field_runs_the_forms_own_action(
    open_tab: Callable[..., Tab], board: Board, js: bool
) -> None:
    # The rename form's first visible button is an fa.button "Delete".
    tab = open_tab(js)
    page = tab.page
    assert page.locator("#rename-1 button:visible").first.get_attribute("id") == (
        "delete-1"
    )
    page.fill("#title-1", "Renamed with Enter")
    if js:
        page.press("#title-1", "Enter")
        tab.wait_after()
        assert tab.events() == [
            "fa:before rename-1",
            "fa:success rename-1",
            "fa:after rename-1",
        ]
    else:
        with page.expect_navigation():
            page.press("#title-1", "Enter")
    assert board.runs == {"rename": 1}
    assert board.cards[1]["title"] == "Renamed with Enter"
    assert page.input_value("#title-1") == "Renamed with Enter"


def test_the_hidden_default_button_is_no_submitter(tab: Tab, board: Board) -> None:
    # Enter "clicks" the hidden default button: the script gives it no
    # pending state, and the form's own visible buttons stay as they are.
    page = tab.page
    board.hold = ("before", "rename:1")
    page.fill("#title-1", "Renamed with Enter")
    page.press("#title-1", "Enter")
    assert board.reached.wait(WAIT)
    assert page.get_attribute("#rename-1", "aria-busy") == "true"
    assert (
        page.evaluate(
            "() => [...document.querySelectorAll('#rename-1 button')].filter(b => b.disabled).length"
        )
        == 0
    )
    assert "_button" not in tab.posts[0].post_data
    board.release.set()
    tab.wait_after()
    assert board.runs == {"rename": 1}


# --- 9. Where messages go ------------------------------------------------------------


def test_a_message_goes_where_the_page_wants_it(tab: Tab) -> None:
    page = tab.page
    fail_posts(page, tab.server.url + "/")
    # Where each field of the grid form is, within the form.
    layout = """() => {
      const form = document.getElementById('note');
      const origin = form.getBoundingClientRect();
      return [...form.children].filter(el => el.getClientRects().length).map(el => {
        const box = el.getBoundingClientRect();
        return [el.id || el.nodeName, box.left - origin.left, box.top - origin.top];
      });
    }"""
    before = page.evaluate(layout)

    # No place named: right before the form, outside its grid.
    press(tab, "#note-button")
    message = page.locator("[data-fa-message]:has(+ #note)")
    assert message.inner_text() == page.evaluate("() => FlaskActions.messages.network")
    assert message.get_attribute("role") == "alert"
    assert page.evaluate(layout) == before
    assert page.locator("#note [data-fa-message]").count() == 0

    # The form names an element elsewhere.
    page.evaluate(
        """() => {
          document.querySelector('[data-fa-message]').remove();
          document.getElementById('note').dataset.faMessageTarget = '#note-messages';
        }"""
    )
    press(tab, "#note-button")
    assert page.inner_text("#note-messages") == page.evaluate(
        "() => FlaskActions.messages.network"
    )
    assert page.locator("[data-fa-message]:has(+ #note)").count() == 0

    # An element of its own, inside, wins.
    page.evaluate(
        """() => {
          document.getElementById('note-messages').textContent = '';
          const own = document.createElement('p');
          own.id = 'own-message';
          own.setAttribute('data-fa-message', '');
          document.getElementById('note').append(own);
        }"""
    )
    press(tab, "#note-button")
    assert page.inner_text("#own-message") == page.evaluate(
        "() => FlaskActions.messages.network"
    )
    assert page.inner_text("#note-messages") == ""


# --- Buttons that ask first (issue 14, point 6) --------------------------------------


@pytest.mark.parametrize("answer", ["accept", "dismiss"])
@pytest.mark.parametrize(
    ("button", "question", "runs"),
    [
        pytest.param("#delete-1", "Delete “Write tests”?", {"delete": 1}, id="button"),
        pytest.param("#clear-button", "Clear the board?", {"clear": 1}, id="form"),
    ],
)
def test_a_button_or_form_that_asks_first(
    tab: Tab,
    board: Board,
    answer: str,
    button: str,
    question: str,
    runs: dict[str, int],
) -> None:
    page = tab.page
    asked: list[str] = []

    def on_dialog(dialog: t.Any) -> None:
        asked.append(f"{dialog.type}: {dialog.message}")
        getattr(dialog, answer)()

    page.on("dialog", on_dialog)
    page.click(button)
    if answer == "accept":
        tab.wait_after()
        assert asked == [f"confirm: {question}"]
        assert board.runs == runs
        assert 1 not in board.cards
        assert page.locator("#card-1").count() == 0
        assert "_confirmed=1" in tab.posts[0].post_data.split("&")
        assert len(tab.posts) == 1
        return
    # Then something that surely settles, to know the click did all it was
    # going to do: nothing was sent for it.
    press(tab, "#move-2-doing")
    assert asked == [f"confirm: {question}"]
    assert board.runs == {"move": 1}
    assert len(tab.posts) == 1
    assert page.locator("#card-1").count() == 1
    assert tab.events() == [
        "fa:before move-form-2-doing",
        "fa:success move-form-2-doing",
        "fa:after #document",
    ]


# --- A failure whose form the new page no longer has -------------------------------


def one_page_app(bp: ActionBlueprint, templates: dict[str, str], secret: str) -> Flask:
    """An app of one blueprint whose views render ``templates``."""
    app = Flask(__name__)
    app.config.update(SECRET_KEY=secret)
    app.jinja_loader = DictLoader(templates)
    ActionExtension(app)
    app.register_blueprint(bp)
    return app


LIST = """\
{% import "flask_actions/macros.html" as fa %}
<!doctype html>
<html><head><title>Tasks</title>{{ fa.script() }}</head>
<body>
  <h1>Tasks</h1>
  <ul>
  {%- for id, title in tasks.items() %}
    <li id="task-{{ id }}">
      {% call fa.form(action('tasks.rename').bind(id), id='rename-%d' % id) %}
        <input id="title-{{ id }}" name="title" value="{{ fa.value('title', title) }}">
        <button id="save-{{ id }}">Save</button>
      {% endcall %}
    </li>
  {%- endfor %}
  </ul>
</body></html>
"""


@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
def test_a_failure_whose_form_is_gone_still_says_why(
    live_server: Callable[..., LiveServer],
    browser_page: Callable[..., Page],
    js: bool,
) -> None:
    # Another tab deleted the task this one renames: the action refuses, and
    # the page sent back has no row (nor form) for it any more. The user is
    # told why the row vanished, with JavaScript as without: at the top of
    # the page.
    tasks = {1: "Write tests", 2: "Fix bugs"}
    bp = ActionBlueprint("tasks", __name__)

    @bp.route("/")
    def index() -> str:
        return render_template("list.html", tasks=tasks)

    @bp.action(schema={"title": fields.Str(required=True)})
    def rename(task_id: int, data: dict[str, str]) -> None:
        if task_id not in tasks:
            raise ActionError("This task was deleted meanwhile.", status=409)
        tasks[task_id] = data["title"]

    app = one_page_app(bp, {"list.html": LIST}, "a secret for the task list " * 2)
    server = live_server(app)
    tab = Tab(browser_page(js=js), server, js=js).open()
    page = tab.page
    page.fill("#title-1", "Write more tests")
    del tasks[1]  # in another tab
    page.click("#save-1")
    alert = page.locator("[role=alert]")
    alert.wait_for()
    assert alert.count() == 1
    assert alert.inner_text() == "This task was deleted meanwhile."
    # Where the page without JavaScript shows it: first in the body.
    assert (
        page.evaluate("() => document.body.firstElementChild.getAttribute('role')")
        == "alert"
    )
    assert page.locator("#task-1").count() == 0
    assert page.input_value("#title-2") == "Fix bugs"


def test_a_button_outside_any_form_is_pointed_out_in_the_console(
    live_server: Callable[..., LiveServer],
    browser_page: Callable[..., Page],
) -> None:
    # HTML submits forms only: an fa.button with no form around it does
    # nothing when clicked, with the script or without. The developer is
    # told in the console; buttons in a form are not mentioned.
    bp = ActionBlueprint("likes", __name__)
    likes = collections.Counter[int]()

    @bp.route("/")
    def index() -> str:
        return render_template("likes.html")

    @bp.action
    def like(photo_id: int) -> None:
        likes[photo_id] += 1

    app = Flask(__name__)
    app.config.update(SECRET_KEY="a secret for the likes page " * 2)
    app.jinja_loader = DictLoader(
        {
            "likes.html": """{% import "flask_actions/macros.html" as fa %}
<!doctype html><html><head>{{ fa.script() }}</head><body>
{{ fa.button(action('likes.like').bind(1), 'Like', id='stray') }}
<form method="post">{{ fa.button(action('likes.like').bind(2), 'Like', id='kept') }}</form>
</body></html>"""
        }
    )
    ActionExtension(app)
    app.register_blueprint(bp)
    page = browser_page()
    warnings: list[t.Any] = []
    page.on("console", lambda m: warnings.append(m) if m.type == "warning" else None)
    page.goto(live_server(app).url + "/")
    page.wait_for_function("() => window.FlaskActions !== undefined")
    hints = [m for m in warnings if "outside any <form>" in m.text]
    assert len(hints) == 1
    assert hints[0].args[1].evaluate("button => button.id") == "stray"
    page.click("#kept")
    page.wait_for_function("() => !document.querySelector('[aria-busy]')")
    page.click("#stray")
    assert likes == {2: 1}


# --- Two forms of one action on one page -------------------------------------

NEWSLETTER = """\
{% import "flask_actions/macros.html" as fa %}
<!doctype html>
<html><head><title>News</title>{{ fa.script() }}</head>
<body>
  <header>
    {% call fa.form(action('news.subscribe'), id='top') %}
      {{ fa.message() }}
      {{ fa.field('email', label='Email') }}
      <button id="top-send">Subscribe</button>
    {% endcall %}
  </header>
  <main><p>{{ count }} subscribers</p></main>
  <footer>
    {% call fa.form(action('news.subscribe'), id='bottom') %}
      {{ fa.message() }}
      {{ fa.field('email', label='Email') }}
      <button id="bottom-send">Subscribe</button>
    {% endcall %}
  </footer>
</body></html>
"""


@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
def test_of_two_forms_of_one_action_only_the_one_sent_shows_its_answer(
    live_server: Callable[..., LiveServer],
    browser_page: Callable[..., Page],
    js: bool,
) -> None:
    # Found using my own app: a page with the same form at its top and its
    # bottom (a newsletter, "add a book"). Sending the bottom one showed its
    # errors and what was typed in both, and a success's message too.
    emails = ["taken@example.com"]
    bp = ActionBlueprint("news", __name__)

    @bp.route("/")
    def index() -> str:
        return render_template("news.html", count=len(emails))

    @bp.action(schema={"email": fields.Email(required=True)})
    def subscribe(data: dict[str, str]) -> None:
        if data["email"] in emails:
            raise ValidationError({"email": ["Already subscribed."]})
        emails.append(data["email"])
        set_message("Subscribed.")
        revalidate_tag("news")

    app = one_page_app(
        bp, {"news.html": NEWSLETTER}, "a secret for the newsletter " * 2
    )
    server = live_server(app)
    tab = Tab(browser_page(js=js), server, js=js).open()
    page = tab.page
    page.fill("#bottom [name=email]", "taken@example.com")
    page.click("#bottom-send")
    page.locator("#bottom .fa-errors li").wait_for()
    assert page.locator(".fa-errors li").all_inner_texts() == ["Already subscribed."]
    assert page.input_value("#bottom [name=email]") == "taken@example.com"
    assert page.input_value("#top [name=email]") == ""
    assert page.locator("#top [aria-invalid]").count() == 0

    page.fill("#top [name=email]", "new@example.com")
    page.click("#top-send")
    page.locator("#top [role=status], #top [role=alert]").wait_for()
    assert page.locator("text=2 subscribers").count() == 1
    assert page.locator("#top").inner_text().count("Subscribed.") == 1
    assert "Subscribed." not in page.locator("#bottom").inner_text()
    assert page.locator(".fa-errors li").count() == 0


# --- A list without ids: what the user typed stays with its row ---------------

ROWS = """\
{% import "flask_actions/macros.html" as fa %}
<!doctype html>
<html><head><title>Cards</title>{{ fa.script() }}</head>
<body>
  <ul>
  {%- for card in cards %}
    <li>
      {% call fa.form(action('cards.rename').bind(card.id), class_='row') %}
        <input name="title" value="{{ fa.value('title', card.title) }}" aria-label="Title">
        {{ fa.errors('title') }}
        <button>Save</button>
        {{ fa.button(action('cards.delete').bind(card.id), 'Delete') }}
        {{ fa.button(action('cards.to_end').bind(card.id), 'To the end') }}
      {% endcall %}
    </li>
  {%- endfor %}
  </ul>
</body></html>
"""


class Cards(t.NamedTuple):
    app: Flask
    cards: list[dict[str, t.Any]]
    #: Set to let go the answer of a rename sent empty (held after its page
    #: was rendered) when the app was made with ``hold=True``.
    release: threading.Event


def cards_app(hold: bool = False) -> Cards:
    """Cards in rows without ids, as the Flask tutorial writes them."""
    cards = [
        {"id": 1, "title": "alpha"},
        {"id": 2, "title": "beta"},
        {"id": 3, "title": "gamma"},
    ]
    bp = ActionBlueprint("cards", __name__)

    def card(card_id: int) -> dict[str, t.Any]:
        return next(c for c in cards if c["id"] == card_id)

    @bp.route("/")
    def index() -> str:
        return render_template("rows.html", cards=cards)

    @bp.action(schema={"title": fields.Str(validate=validate.Length(min=1))})
    def rename(card_id: int, data: dict[str, str]) -> None:
        card(card_id)["title"] = data["title"]

    @bp.action
    def delete(card_id: int) -> None:
        cards.remove(card(card_id))

    @bp.action
    def to_end(card_id: int) -> None:
        cards.append(card(card_id))
        cards.remove(card(card_id))  # the first of the two

    app = one_page_app(bp, {"rows.html": ROWS}, "a secret for the cards " * 2)
    release = threading.Event()
    if hold:

        @app.after_request
        def hold_an_empty_rename(response: Response) -> Response:
            if request.method == "POST" and request.form.get("title") == "":
                release.wait(WAIT)
            return response

    return Cards(app, cards, release)


def test_a_list_without_ids_keeps_typed_text_with_its_own_row(
    live_server: Callable[..., LiveServer], browser_page: Callable[..., Page]
) -> None:
    # Found using my own app: rows written as the Flask tutorial writes them,
    # no ids. Text typed (not saved) in the second row; the first row
    # deleted: the rows were matched by position, the typed text moved to
    # the third row's form, and its Save renamed the third card with it.
    app, cards, _ = cards_app()
    server = live_server(app)
    page = Tab(browser_page(js=True), server, js=True).open().page

    def shown() -> list[str]:
        return t.cast(
            list[str],
            page.eval_on_selector_all("[name=title]", "e => e.map(i => i.value)"),
        )

    def idle() -> None:
        page.wait_for_function("() => !document.querySelector('[aria-busy]')")

    row = page.locator("body > ul > li")
    row.nth(1).locator("[name=title]").fill("beta, typed")
    row.nth(0).locator("button", has_text="Delete").click()
    page.wait_for_function(
        "() => document.querySelectorAll('body > ul > li').length === 2"
    )
    idle()
    assert shown() == ["beta, typed", "gamma"]
    row.nth(1).locator("button", has_text="Save").click()  # gamma's
    idle()
    assert [c["title"] for c in cards] == ["beta", "gamma"]

    # Moving a row: typed text goes with its row.
    row.nth(1).locator("[name=title]").fill("gamma, typed")
    row.nth(0).locator("button", has_text="To the end").click()  # beta's
    page.wait_for_function(
        "() => document.querySelector('li [name=title]').value === 'gamma, typed'"
    )
    idle()
    assert shown() == ["gamma, typed", "beta"]
    # Another tab moves gamma to the end again: the failure of beta's form
    # (sent empty) brings a page where beta comes first. The error shows in
    # beta's form, gamma's typed text stays in gamma's.
    cards.append(cards.pop(0))
    row.nth(1).locator("[name=title]").fill("")
    row.nth(1).locator("button", has_text="Save").click()  # beta's, empty
    page.locator(".fa-errors li").wait_for()
    idle()
    assert shown() == ["", "gamma, typed"]
    assert row.nth(0).locator(".fa-errors li").count() == 1
    assert row.nth(1).locator(".fa-errors").count() == 0
    row.nth(1).locator("button", has_text="Save").click()  # gamma's
    idle()
    assert [c["title"] for c in cards] == ["beta", "gamma, typed"]


def test_an_older_failure_goes_to_its_own_row_of_a_list_without_ids(
    live_server: Callable[..., LiveServer], browser_page: Callable[..., Page]
) -> None:
    # An older page is not applied, but for the errors of the form that
    # failed, which go to that form alone. In a list without ids that form
    # was found by its index among the forms: after a row before it went,
    # the index named the next row's form, which took the failed row's
    # content (its title and its bound card).
    app, cards, release = cards_app(hold=True)
    server = live_server(app)
    page = Tab(browser_page(js=True), server, js=True).open().page
    rows = page.locator("body > ul > li")
    rows.nth(1).locator("[name=title]").fill("")
    rows.nth(1).locator("button", has_text="Save").click()  # beta's: fails, held
    rows.nth(2).locator("[name=title]").fill("gamma, typed")
    rows.nth(0).locator("button", has_text="Delete").click()  # alpha's
    page.wait_for_function(
        "() => document.querySelectorAll('body > ul > li').length === 2"
    )
    release.set()
    page.locator(".fa-errors li").wait_for()
    page.wait_for_function("() => !document.querySelector('[aria-busy]')")
    assert [c["title"] for c in cards] == ["beta", "gamma"]
    assert rows.count() == 2
    assert rows.nth(0).locator(".fa-errors li").count() == 1
    assert rows.nth(1).locator(".fa-errors").count() == 0
    values = page.eval_on_selector_all("[name=title]", "e => e.map(i => i.value)")
    assert values == ["", "gamma, typed"]
    # Each form still sends for its own card.
    rows.nth(0).locator("[name=title]").fill("beta 2")
    rows.nth(0).locator("button", has_text="Save").click()
    page.wait_for_function("() => !document.querySelector('[aria-busy]')")
    rows.nth(1).locator("button", has_text="Save").click()
    page.wait_for_function("() => !document.querySelector('[aria-busy]')")
    assert [c["title"] for c in cards] == ["beta 2", "gamma, typed"]
