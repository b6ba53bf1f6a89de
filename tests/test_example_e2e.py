"""The todo example (``examples/todos``) end to end: a user's path through the
app in headless Chromium, against a real server and a real SQLite file.

Every scenario runs with JavaScript disabled (plain form posts, redirects and
re-rendered pages) and, when the browser script is built, with JavaScript on
(the script submits with ``fetch`` and morphs the page). What the user sees
and what ends up in the database must be the same.
"""

from __future__ import annotations

import contextlib
import sqlite3
import typing as t
from pathlib import Path

import pytest

from examples.todos.app import create_app

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from flask import Flask
    from playwright.sync_api import Locator
    from playwright.sync_api import Page
    from playwright.sync_api import Response
    from servers import LiveServer

pytestmark = pytest.mark.browser

SCRIPT = (
    Path(__file__).resolve().parent.parent
    / "flask_actions"
    / "static"
    / "flask-actions.min.js"
)
JS = [
    pytest.param(False, id="no-js"),
    pytest.param(
        True,
        id="js",
        marks=pytest.mark.skipif(
            not SCRIPT.exists(),
            reason="flask_actions/static/flask-actions.min.js is not built yet",
        ),
    ),
]

#: Counts the script's settled submissions in every document the page loads.
SETTLED = """
window.__settled = 0;
document.addEventListener("fa:after", () => { window.__settled += 1; });
"""

#: 3,000 characters a user might paste: several scripts, emoji (also joined
#: ones), combining marks, markup, quotes, tabs, blank lines, and line breaks
#: at both ends.
PIECES = [
    "Déjà vu, naïve café. ",
    "日本語のテキスト。",
    "Ελληνικά κείμενο. ",
    "نص عربي من اليمين. ",
    "👩‍👩‍👧 🚀 ✓ ",
    "e\u0301 a\u0308 ",
    '<script>alert("x")</script> & &amp; ',
    "'single' \"double\" ",
    "\ttabbed\n",
    "\n",
    "\u00a0non-breaking\u00a0space ",
    "{{ not_jinja }} {% raw %} ",
]


def long_text(size: int = 3000) -> str:
    text = "\n"
    i = 0
    while len(text) < size - 1:
        text += PIECES[i % len(PIECES)]
        i += 1
    return text[: size - 1] + "\n"


class User:
    """A user in a browser tab on the example app."""

    def __init__(self, page: Page, server: LiveServer, js: bool) -> None:
        self.page = page
        self.server = server
        self.js = js
        self.posts: list[str] = []
        self.loads = 0
        page.on(
            "request",
            lambda r: self.posts.append(r.url) if r.method == "POST" else None,
        )
        page.on("load", self._loaded)
        if js:
            page.add_init_script(SETTLED)

    def _loaded(self, page: Page) -> None:
        self.loads += 1

    @property
    def database(self) -> str:
        return t.cast(str, self.server.app.config["DATABASE"])

    def open(self, path: str = "/") -> None:
        self.page.goto(self.server.url + path)
        if self.js:
            self.page.wait_for_function("() => window.FlaskActions !== undefined")

    def press(self, button: Locator) -> Response:
        """Click ``button``, wait until the page shows the outcome, and return
        the response to the POST it sent."""
        loads = self.loads
        with self.page.expect_response(
            lambda r: r.request.method == "POST" and r.url.startswith(self.server.url)
        ) as posted:
            if self.js:
                settled = self.page.evaluate("window.__settled")
                button.click()
            else:
                with self.page.expect_navigation():
                    button.click()
        if self.js:
            self.page.wait_for_function("n => window.__settled > n", arg=settled)
            assert self.loads == loads, "the script should not reload the page"
        return posted.value

    def press_and_follow(self, button: Locator, path: str) -> None:
        """Click ``button`` of a form whose action redirects to ``path``."""
        with self.page.expect_navigation(url=self.server.url + path):
            button.click()
        self.page.wait_for_load_state()

    def todo(self, todo_id: int) -> Locator:
        return self.page.locator(f"#todo-{todo_id}")

    def message(self) -> Locator:
        return self.page.locator("main > [data-fa-message]")


def expect(target: t.Any) -> t.Any:
    """Playwright's auto-retrying assertions (imported late: without the
    playwright package, the ``chromium`` fixture skips these tests)."""
    from playwright.sync_api import expect

    return expect(target)


def rows(database: str) -> list[dict[str, t.Any]]:
    with contextlib.closing(sqlite3.connect(database)) as conn:
        conn.row_factory = sqlite3.Row
        query = "SELECT id, title, notes, done, likes FROM todo ORDER BY id"
        return [dict(row) for row in conn.execute(query)]


def seed(database: str, *todos: str | tuple[str, bool]) -> None:
    with contextlib.closing(sqlite3.connect(database)) as conn, conn:
        for todo in todos:
            title, done = todo if isinstance(todo, tuple) else (todo, False)
            conn.execute("INSERT INTO todo (title, done) VALUES (?, ?)", (title, done))


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    return create_app(
        {"DATABASE": str(tmp_path / "todos.sqlite"), "SECRET_KEY": "e2e " * 8}
    )


@pytest.fixture
def user(
    request: pytest.FixtureRequest,
    app: Flask,
    live_server: Callable[..., LiveServer],
    browser_page: Callable[..., Page],
) -> User:
    js: bool = request.param
    return User(browser_page(js=js), live_server(app), js)


def success(user: User) -> int:
    """The status of a successful submission: a redirect without the script,
    the JSON result with it."""
    return 200 if user.js else 303


parametrize_js = pytest.mark.parametrize("user", JS, indirect=True)


@parametrize_js
def test_add(user: User) -> None:
    page = user.page
    user.open()
    expect(page.locator("#summary")).to_have_text("Nothing to do. Add a todo below.")
    page.get_by_label("Title", exact=True).last.fill("  Buy milk ")
    page.get_by_label("Notes").fill("Two litres,\nsemi-skimmed.")
    response = user.press(page.get_by_role("button", name="Add", exact=True))
    assert response.status == success(user)

    expect(user.message()).to_have_text("Added “Buy milk”.")
    expect(user.todo(1).locator("input[name=title]")).to_have_value("Buy milk")
    expect(user.todo(1).locator(".notes")).to_have_text("Two litres,\nsemi-skimmed.")
    expect(user.todo(1)).to_have_class("new")
    expect(page.locator("#summary")).to_have_text("1 todo, 0 done.")
    expect(page.locator("footer")).to_contain_text("1 change saved; the last one: add.")
    # The add form is ready for the next todo.
    expect(page.locator("#new-title")).to_have_value("")
    expect(page.locator("#new-notes")).to_have_value("")
    assert rows(user.database) == [
        {
            "id": 1,
            "title": "Buy milk",
            "notes": "Two litres,\nsemi-skimmed.",
            "done": 0,
            "likes": 0,
        }
    ]
    assert len(user.posts) == 1


@parametrize_js
def test_add_invalid_shows_the_error_next_to_the_field(user: User) -> None:
    page = user.page
    user.open()
    # Spaces pass the browser's `required` check; the server says no.
    page.locator("#new-title").fill("   ")
    response = user.press(page.get_by_role("button", name="Add", exact=True))
    assert response.status == 422

    errors = page.locator("#new-title-errors")
    expect(errors).to_have_text("Enter a title.")
    expect(page.locator("#new-title")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#new-title")).to_have_attribute(
        "aria-describedby", "new-title-errors"
    )
    expect(page.locator("#new-title")).to_have_value("   ")
    expect(page.locator("#todo-list > li")).to_have_count(0)
    assert rows(user.database) == []

    # Fixing the title and submitting again works, and the error goes away.
    page.locator("#new-title").fill("Fixed")
    response = user.press(page.get_by_role("button", name="Add", exact=True))
    assert response.status == success(user)
    expect(errors).to_have_count(0)
    expect(user.message()).to_have_text("Added “Fixed”.")
    assert [r["title"] for r in rows(user.database)] == ["Fixed"]


@parametrize_js
def test_long_text_comes_back_intact_after_a_failure(user: User) -> None:
    page = user.page
    text = long_text()
    assert len(text) == 3000
    user.open()
    page.locator("#new-title").fill(" ")
    page.locator("#new-notes").fill(text)
    response = user.press(page.get_by_role("button", name="Add", exact=True))
    assert response.status == 422
    expect(page.locator("#new-title-errors")).to_have_text("Enter a title.")
    assert page.locator("#new-notes").input_value() == text
    assert rows(user.database) == []

    page.locator("#new-title").fill("Long one")
    response = user.press(page.get_by_role("button", name="Add", exact=True))
    assert response.status == success(user)
    expect(user.message()).to_have_text("Added “Long one”.")
    assert rows(user.database)[0]["notes"] == text


@parametrize_js
def test_toggle(user: User) -> None:
    seed(user.database, "One", "Two")
    user.open()
    button = user.todo(2).locator("form.toggle").get_by_role("button")
    expect(button).to_have_attribute("aria-pressed", "false")
    response = user.press(button)
    assert response.status == success(user)
    expect(user.message()).to_have_text("Marked “Two” as done.")
    expect(button).to_have_attribute("aria-pressed", "true")
    expect(user.todo(2)).to_have_class("done")
    expect(user.todo(1)).not_to_have_class("done")
    expect(user.page.locator("#summary")).to_have_text("2 todos, 1 done.")
    assert [r["done"] for r in rows(user.database)] == [0, 1]

    user.press(button)
    expect(user.message()).to_have_text("Marked “Two” as not done.")
    expect(button).to_have_attribute("aria-pressed", "false")
    assert [r["done"] for r in rows(user.database)] == [0, 0]


@parametrize_js
def test_rename_and_the_nested_delete(user: User) -> None:
    seed(user.database, "One", "Two", "Three")
    user.open()

    # "Save" renames the todo whose form it is in, and only it.
    user.todo(2).locator("input[name=title]").fill("Deux")
    response = user.press(user.todo(2).get_by_role("button", name="Save"))
    assert response.status == success(user)
    expect(user.message()).to_have_text("Renamed “Two” to “Deux”.")
    expect(user.todo(2).locator("input[name=title]")).to_have_value("Deux")
    assert [r["title"] for r in rows(user.database)] == ["One", "Deux", "Three"]

    # "Delete", nested in the rename form of the third todo, deletes that
    # todo, even with an empty title field, and renames nothing.
    user.todo(3).locator("input[name=title]").fill("")
    response = user.press(user.todo(3).get_by_role("button", name="Delete"))
    assert response.status == success(user)
    expect(user.message()).to_have_text("Deleted “Three”.")
    expect(user.todo(3)).to_have_count(0)
    expect(user.todo(1).locator("input[name=title]")).to_have_value("One")
    assert [r["title"] for r in rows(user.database)] == ["One", "Deux"]

    # The first todo's Delete deletes the first todo.
    user.press(user.todo(1).get_by_role("button", name="Delete"))
    expect(user.message()).to_have_text("Deleted “One”.")
    expect(user.page.locator("#todo-list > li")).to_have_count(1)
    assert [r["title"] for r in rows(user.database)] == ["Deux"]


@parametrize_js
def test_rename_invalid_keeps_the_value_in_its_own_form(user: User) -> None:
    seed(user.database, "One", "Two")
    user.open()
    user.todo(1).locator("input[name=title]").fill("two")
    response = user.press(user.todo(1).get_by_role("button", name="Save"))
    assert response.status == 422
    expect(user.page.locator("#title-1-errors")).to_have_text(
        "“two” is already on the list."
    )
    expect(user.todo(1).locator("input[name=title]")).to_have_value("two")
    expect(user.todo(2).locator("input[name=title]")).to_have_value("Two")
    expect(user.page.locator("#title-2-errors")).to_have_count(0)
    assert [r["title"] for r in rows(user.database)] == ["One", "Two"]


@parametrize_js
def test_clear_completed(user: User) -> None:
    seed(user.database, ("One", True), "Two", ("Three", True))
    user.open()
    response = user.press(user.page.get_by_role("button", name="Clear completed (2)"))
    assert response.status == success(user)
    expect(user.message()).to_have_text("Cleared 2 completed todos.")
    expect(user.page.locator("#todo-list > li")).to_have_count(1)
    expect(user.page.get_by_role("button", name="Clear completed")).to_have_count(0)
    assert [r["title"] for r in rows(user.database)] == ["Two"]


@parametrize_js
def test_create_on_its_own_page_redirects_to_the_list(user: User) -> None:
    page = user.page
    user.open("/new")
    page.get_by_label("Title").fill("  ")
    page.get_by_label("Notes").fill("kept")
    response = user.press(page.get_by_role("button", name="Create"))
    assert response.status == 422
    # Without JavaScript the browser shows the URL posted to, "/new?".
    assert page.url.removesuffix("?") == user.server.url + "/new"
    expect(page.locator("#create-title-errors")).to_have_text("Enter a title.")
    expect(page.get_by_label("Notes")).to_have_value("kept")

    page.get_by_label("Title").fill("Call mum")
    user.press_and_follow(page.get_by_role("button", name="Create"), "/")
    expect(page.locator("h1")).to_have_text("Todos")
    expect(user.message()).to_have_text("Added “Call mum”.")
    expect(user.todo(1).locator("input[name=title]")).to_have_value("Call mum")
    expect(user.todo(1).locator(".notes")).to_have_text("kept")
    assert [r["title"] for r in rows(user.database)] == ["Call mum"]


@parametrize_js
def test_reload_after_success_does_not_resubmit(user: User) -> None:
    page = user.page
    user.open()
    page.locator("#new-title").fill("Once")
    user.press(page.get_by_role("button", name="Add", exact=True))
    expect(user.message()).to_have_text("Added “Once”.")
    page.reload()
    expect(user.todo(1).locator("input[name=title]")).to_have_value("Once")
    expect(user.message()).to_have_count(0)
    assert len(user.posts) == 1
    assert [r["title"] for r in rows(user.database)] == ["Once"]


@parametrize_js
def test_like(user: User) -> None:
    seed(user.database, "One", "Two")
    user.open()
    button = user.todo(2).locator("form.like").get_by_role("button")
    with user.page.expect_response(lambda r: r.request.method == "POST") as posted:
        if user.js:
            button.click()
        else:
            with user.page.expect_navigation():
                button.click()
    if user.js:
        # The page calls the action from JavaScript: no submission, no reload.
        assert posted.value.request.headers["x-flask-actions"] == "call"
        assert posted.value.status == 200
    else:
        assert posted.value.status == 303
    expect(button.locator(".likes")).to_have_text("1")
    expect(user.todo(1).locator(".likes")).to_have_text("0")
    assert [r["likes"] for r in rows(user.database)] == [0, 1]
