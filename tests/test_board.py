"""A kanban board used as its users use it, in Chromium, with JavaScript on
and off: several forms on one page, cards that move, typed text after an
error, Enter in a field, a cookie that changes the look, two tabs
(``tests/apps/board_app.py``)."""

from __future__ import annotations

import sys
import typing as t
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "apps"))

from board_app import create_app

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from playwright.sync_api import Page
    from servers import LiveServer

pytestmark = pytest.mark.browser

JS = [pytest.param(False, id="js-off"), pytest.param(True, id="js-on")]


@pytest.fixture
def board(live_server: Callable[..., LiveServer], tmp_path: Path) -> LiveServer:
    return live_server(create_app({"DATABASE": str(tmp_path / "board.sqlite3")}))


def open_board(server: LiveServer, browser_page: Callable[..., Page], js: bool) -> Page:
    page = browser_page(js=js)
    page.goto(server.url + "/")
    return page


def settle(page: Page) -> None:
    """Wait until no form is busy (JS on) or the next page has loaded (off)."""
    page.wait_for_load_state()
    page.wait_for_function("() => !document.querySelector('[aria-busy=true]')")


def add(page: Page, title: str) -> None:
    page.fill("#title", title)
    page.click("#add-button")
    settle(page)


def titles(page: Page, column: str) -> list[str]:
    return page.locator(f"#col-{column} .title").all_inner_texts()


@pytest.mark.parametrize("js", JS)
def test_cards_are_added_and_moved_and_the_page_shows_what_the_server_has(
    board: LiveServer, browser_page: Callable[..., Page], js: bool
) -> None:
    page = open_board(board, browser_page, js)
    add(page, "Alpha")
    add(page, "Beta")
    assert titles(page, "todo") == ["Alpha", "Beta"]
    assert page.locator(".fa-message").inner_text() == "Added “Beta”."
    page.click("#move-1-doing")
    settle(page)
    assert titles(page, "doing") == ["Alpha"]
    page.reload()
    assert titles(page, "doing") == ["Alpha"] and titles(page, "todo") == ["Beta"]


@pytest.mark.parametrize("js", JS)
def test_enter_in_a_rename_field_renames_and_never_deletes(
    board: LiveServer, browser_page: Callable[..., Page], js: bool
) -> None:
    page = open_board(board, browser_page, js)
    add(page, "Alpha")
    page.fill("#rename-title-1", "Alpha, renamed by Enter")
    page.press("#rename-title-1", "Enter")
    settle(page)
    page.reload()
    assert titles(page, "todo") == ["Alpha, renamed by Enter"]


@pytest.mark.parametrize("js", JS)
def test_a_failed_rename_keeps_what_was_typed_and_shows_the_error(
    board: LiveServer, browser_page: Callable[..., Page], js: bool
) -> None:
    page = open_board(board, browser_page, js)
    add(page, "Alpha")
    page.fill("#rename-title-1", "x" * 81)
    page.evaluate(
        "document.querySelector('#rename-title-1').removeAttribute('maxlength')"
    )
    page.click("#rename-button-1")
    settle(page)
    assert page.locator("#rename-1 .fa-errors").inner_text() == (
        "Length must be between 1 and 80."
    )
    assert page.input_value("#rename-title-1") == "x" * 81


@pytest.mark.parametrize("js", JS)
def test_the_density_cookie_changes_the_look_at_once(
    board: LiveServer, browser_page: Callable[..., Page], js: bool
) -> None:
    page = open_board(board, browser_page, js)
    assert page.evaluate("document.body.className") == "roomy"
    page.click("#density-button")
    settle(page)
    assert page.evaluate("document.body.className") == "compact"
    assert page.inner_text("#density-button") == "Roomy"


def test_typed_text_survives_another_forms_action_with_javascript(
    board: LiveServer, browser_page: Callable[..., Page]
) -> None:
    page = open_board(board, browser_page, True)
    add(page, "Alpha")
    page.fill("#rename-title-1", "")
    page.click("#rename-button-1")
    settle(page)
    page.fill("#rename-title-1", "Half-typed")
    page.click("#density-button")
    settle(page)
    assert page.evaluate("document.body.className") == "compact"
    assert page.input_value("#rename-title-1") == "Half-typed"


def test_a_like_from_an_event_handler_asks_for_no_page(
    board: LiveServer, browser_page: Callable[..., Page]
) -> None:
    page = open_board(board, browser_page, True)
    add(page, "Alpha")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.click("#like-1")
    body = answer.value.json()
    assert body["ok"] and body["data"] == 1 and body["html"] is None
    assert answer.value.request.headers.get("x-flask-actions-page") == "none"
    page.wait_for_function(
        "() => document.querySelector('#likes-1').textContent === '1'"
    )


@pytest.mark.parametrize("js", JS)
def test_two_tabs_a_stale_tab_acts_on_a_card_the_other_moved(
    board: LiveServer, browser_page: Callable[..., Page], js: bool
) -> None:
    first = open_board(board, browser_page, js)
    add(first, "Alpha")
    second = first.context.new_page()
    second.goto(board.url + "/")
    first.click("#move-1-done")
    settle(first)
    # The second tab still shows Alpha in "todo": its delete still deletes it.
    assert titles(second, "todo") == ["Alpha"]
    second.once("dialog", lambda dialog: dialog.accept())
    second.click("#delete-1")
    settle(second)
    if not js:  # the page asks first; the same button pressed again deletes
        assert second.locator(".fa-confirm").inner_text() == "Delete “Alpha”?"
        second.click("#delete-1")
        settle(second)
    assert second.locator(".card").count() == 0
    assert second.locator(".flash").inner_text() == "Card deleted."
    first.reload()
    assert first.locator(".card").count() == 0


def test_another_cards_button_pressed_while_one_is_in_flight_runs_too(
    live_server: Callable[..., LiveServer],
    browser_page: Callable[..., Page],
    tmp_path: Path,
) -> None:
    slow = create_app(
        {"DATABASE": str(tmp_path / "slow.sqlite3"), "BOARD_SLOW_SECONDS": 0.6}
    )
    server = live_server(slow)
    page = open_board(server, browser_page, True)
    add(page, "Alpha")
    add(page, "Beta")
    page.click("#move-1-doing")
    # Every card's buttons sit in one form: the second press is its own
    # submission, not a repeat of the first, and is not dropped.
    page.click("#move-2-done")
    settle(page)
    assert titles(page, "doing") == ["Alpha"] and titles(page, "done") == ["Beta"]
    page.reload()
    assert titles(page, "doing") == ["Alpha"] and titles(page, "done") == ["Beta"]


@pytest.mark.parametrize("js", JS)
def test_delete_asks_first_and_one_accidental_press_deletes_nothing(
    board: LiveServer, browser_page: Callable[..., Page], js: bool
) -> None:
    page = open_board(board, browser_page, js)
    add(page, "Alpha")
    add(page, "Beta")
    asked: list[str] = []
    if js:
        page.once(
            "dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss())
        )
    page.click("#delete-1")
    settle(page)
    assert titles(page, "todo") == ["Alpha", "Beta"], "one press deleted nothing"
    elsewhere = page.context.new_page()
    elsewhere.goto(board.url + "/")
    assert titles(elsewhere, "todo") == ["Alpha", "Beta"], "not on the server either"
    elsewhere.close()
    if js:
        assert asked == ["Delete “Alpha”?"]
        page.once("dialog", lambda dialog: dialog.accept())
        page.click("#delete-1")
        settle(page)
    else:
        assert page.locator("#card-1 .fa-confirm").inner_text() == "Delete “Alpha”?"
        assert page.locator(".fa-confirm").count() == 1, "only the pressed one asks"
        page.click("#delete-1")
        settle(page)
    assert titles(page, "todo") == ["Beta"]
    assert page.locator(".flash").inner_text() == "Card deleted."
