"""One intent, one effect, in Chromium (``docs/idempotency.md``), on the slow
shop of ``tests/apps/orders_app.py``: a double click and a resend after
going back without JavaScript; a connection lost after the server committed,
a form sent offline, and a page shown again from the history with it."""

from __future__ import annotations

import os
import socket
import threading
import time
import typing as t
from pathlib import Path

import pytest
from apps.orders_app import create_app
from apps.orders_app import order_count
from flask import Flask
from servers import CHROMIUM_ARGS

if t.TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Iterator

    from _typeshed.wsgi import StartResponse
    from _typeshed.wsgi import WSGIApplication
    from _typeshed.wsgi import WSGIEnvironment
    from playwright.sync_api import Browser
    from playwright.sync_api import Page
    from servers import LiveServer

pytestmark = pytest.mark.browser


class Shop(t.NamedTuple):
    server: LiveServer
    database: str
    posts: list[str]


@pytest.fixture
def shop(live_server: Callable[..., LiveServer], tmp_path: Path) -> Shop:
    return _serve(live_server, tmp_path, delay=0)


def _serve(
    live_server: Callable[..., LiveServer], tmp_path: Path, delay: float
) -> Shop:
    database = str(tmp_path / "orders.sqlite3")
    app = create_app(
        {
            "ORDERS_DB": database,
            "ORDERS_DELAY": delay,
            "ACTIONS_IDEMPOTENCY_PATH": str(tmp_path / "keys.sqlite3"),
        }
    )
    posts: list[str] = []
    app.wsgi_app = _Counting(app.wsgi_app, posts)  # type: ignore[method-assign]
    return Shop(live_server(app), database, posts)


class _Counting:
    """Counts the POSTs that reach the app."""

    def __init__(self, app: WSGIApplication, posts: list[str]) -> None:
        self.app, self.posts = app, posts

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> t.Iterable[bytes]:
        if environ["REQUEST_METHOD"] == "POST":
            self.posts.append(environ["PATH_INFO"])
        return self.app(environ, start_response)


@pytest.fixture(scope="module")
def chromium_with_history(chromium: Browser) -> Iterator[Browser]:
    """Chromium with its back/forward cache, as users have it (Playwright
    turns it off): going back shows the page as it was, keys included."""
    executable = os.environ.get("FLASK_ACTIONS_CHROMIUM", "/usr/bin/chromium")
    browser = chromium.browser_type.launch(
        executable_path=executable,
        headless=True,
        args=CHROMIUM_ARGS,
        ignore_default_args=["--disable-back-forward-cache"],
    )
    yield browser
    browser.close()


@pytest.fixture
def history_page(chromium_with_history: Browser) -> Iterator[Callable[..., Page]]:
    """Like ``browser_page``, in :func:`chromium_with_history`; each page
    records whether it was shown from the back/forward cache."""
    contexts = []

    def new_page(js: bool = True) -> Page:
        context = chromium_with_history.new_context(java_script_enabled=js)
        contexts.append(context)
        context.add_init_script(
            "addEventListener('pageshow', (e) => { window.__restored = e.persisted; });"
        )
        return context.new_page()

    yield new_page
    for context in contexts:
        context.close()


def open_shop(shop: Shop, browser_page: Callable[..., Page], js: bool) -> Page:
    page = browser_page(js=js)
    page.set_default_timeout(15_000)
    page.goto(shop.server.url + "/")
    if js:
        page.wait_for_function("() => window.FlaskActions !== undefined")
    return page


def fill_order(page: Page, item: str = "tea", quantity: str = "2") -> None:
    page.fill("#item", item)
    page.fill("#quantity", quantity)


def test_js_off_a_double_click_on_a_slow_action_creates_one_order(
    live_server: Callable[..., LiveServer],
    tmp_path: Path,
    browser_page: Callable[..., Page],
) -> None:
    shop = _serve(live_server, tmp_path, delay=1.0)
    page = open_shop(shop, browser_page, js=False)
    fill_order(page)
    box = page.locator("#send").bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.click(x, y)
    _wait_for(lambda: len(shop.posts) == 1)
    page.mouse.click(x, y)  # impatient: the answer is late, the form still shows
    # The second sending aborts the first one's navigation: wait for the URL.
    for _attempt in range(3):
        try:
            page.wait_for_url("**/orders/*")
            break
        except Exception:  # the aborted navigation's error
            continue
    page.wait_for_load_state()
    assert len(shop.posts) == 2  # the browser did send the form twice
    assert order_count(shop.database) == 1
    assert page.locator("#order").inner_text() == "Order 1: tea × 2"


def _wait_for(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_js_off_back_and_send_again_shows_the_same_order(
    shop: Shop, history_page: Callable[..., Page]
) -> None:
    page = open_shop(shop, history_page, js=False)
    fill_order(page)
    page.click("#send")
    page.wait_for_url("**/orders/1")
    page.go_back(wait_until="commit")  # a restored page fires no load
    page.wait_for_url(shop.server.url + "/", wait_until="commit")
    fill_order(page)  # as the form was, if the browser did not keep it
    page.click("#send")
    page.wait_for_url("**/orders/*")
    assert len(shop.posts) == 2
    assert order_count(shop.database) == 1
    assert page.locator("#order").inner_text() == "Order 1: tea × 2"


class _DropOnce:
    """Runs the first POST to the end (the order is committed), then closes
    the connection instead of answering, as a lost network would."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app
        self.dropped = threading.Event()

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> t.Iterable[bytes]:
        if environ["REQUEST_METHOD"] != "POST" or self.dropped.is_set():
            return self.app(environ, start_response)
        self.dropped.set()
        body = self.app(environ, lambda *args: lambda data: None)
        try:
            b"".join(body)
        finally:
            getattr(body, "close", lambda: None)()
        connection: socket.socket = environ["werkzeug.socket"]
        connection.shutdown(socket.SHUT_RDWR)
        connection.close()
        return []


def test_js_on_a_retry_after_the_connection_dropped_creates_no_second_order(
    shop: Shop, browser_page: Callable[..., Page]
) -> None:
    app: Flask = shop.server.app
    dropper = _DropOnce(app.wsgi_app)
    app.wsgi_app = dropper  # type: ignore[method-assign]
    page = open_shop(shop, browser_page, js=True)
    fill_order(page)
    page.click("#send")
    page.wait_for_url("**/orders/*")
    assert dropper.dropped.is_set()
    assert len(shop.posts) >= 2  # sent again after the lost answer
    assert order_count(shop.database) == 1
    assert page.locator("#order").inner_text() == "Order 1: tea × 2"


def test_js_on_a_form_sent_offline_waits_and_is_sent_once(
    shop: Shop, browser_page: Callable[..., Page]
) -> None:
    page = open_shop(shop, browser_page, js=True)
    fill_order(page)
    page.context.set_offline(True)
    page.click("#send")
    page.get_by_text("Offline: this is sent when the connection is back.").wait_for()
    assert page.locator("#order").get_attribute("aria-busy") == "true"
    assert shop.posts == [] and order_count(shop.database) == 0
    page.context.set_offline(False)
    page.wait_for_url("**/orders/*")
    assert len(shop.posts) == 1
    assert order_count(shop.database) == 1
    assert page.locator("#order").inner_text() == "Order 1: tea × 2"


def order_then_go_back(page: Page) -> str:
    """Order on the page, then go back from the order's page to it as the
    history shows it; the key the page had at first."""
    first_key = page.locator("[name=_submission]").input_value()
    fill_order(page)
    page.click("#send")
    page.wait_for_url("**/orders/1")
    page.go_back(wait_until="commit")  # a restored page fires no load
    return first_key


def test_js_on_a_page_shown_again_from_the_history_sends_a_new_order(
    shop: Shop, history_page: Callable[..., Page]
) -> None:
    page = open_shop(shop, history_page, js=True)
    first_key = order_then_go_back(page)
    page.wait_for_function("() => window.__restored === true")
    # The same page, from the back/forward cache: its keys are new.
    assert page.locator("[name=_submission]").input_value() != first_key
    fill_order(page)
    page.click("#send")
    page.wait_for_url("**/orders/2")
    assert order_count(shop.database) == 2


def test_js_off_back_without_the_page_cache_and_send_again_shows_the_same_order(
    shop: Shop, browser_page: Callable[..., Page]
) -> None:
    # Playwright's Chromium keeps no back/forward cache: Back shows the page
    # from the HTTP cache, keys included, unless the POST dropped it there.
    # It dropped the page when the form posted to the page's own URL (RFC
    # 9111, section 4.4); the forms post to "/?" now, another URL to the
    # cache. A returning visitor: the page was cached with its cookie.
    page = open_shop(shop, browser_page, js=False)
    page.goto(shop.server.url + "/")
    assert page.locator("form#order").get_attribute("action") == "/?"
    fill_order(page)
    page.click("#send")
    page.wait_for_url("**/orders/1")
    page.go_back()
    page.wait_for_url(shop.server.url + "/")
    fill_order(page)
    page.click("#send")
    page.wait_for_url("**/orders/*")
    assert len(shop.posts) == 2
    assert order_count(shop.database) == 1
    assert page.locator("#order").inner_text() == "Order 1: tea × 2"


def test_js_off_first_visit_back_from_the_history_cache_and_send_again_shows_the_same_order(
    shop: Shop, history_page: Callable[..., Page]
) -> None:
    # The first visit of the known gap below, in Chromium as users have it
    # (with its back/forward cache): Back shows the page as it was, its key
    # included, so sending it again is the same order.
    page = open_shop(shop, history_page, js=False)
    first_key = order_then_go_back(page)
    page.locator("#send").wait_for()
    assert page.locator("[name=_submission]").input_value() == first_key
    assert shop.posts == ["/"]  # shown again, not fetched again
    page.click("#send")
    page.wait_for_function("() => location.pathname === '/orders/1'")
    page.locator("#order").wait_for()
    assert len(shop.posts) == 2
    assert order_count(shop.database) == 1
    assert page.locator("#order").inner_text() == "Order 1: tea × 2"


@pytest.mark.xfail(
    strict=True,
    reason="known gap (docs/idempotency.md): on a first visit, Back fetches the"
    " page again with a new key, and Chromium restores only the fields the user"
    " changed",
)
def test_js_off_back_to_a_page_fetched_again_and_send_again_shows_the_same_order(
    shop: Shop, browser_page: Callable[..., Page]
) -> None:
    # The first visit's page was cached under no cookie and varies on the
    # cookie it set: going back fetches it again, with a new key. Chromium
    # restores the typed values, not the key (not as a hidden field, nor as
    # a text field never shown: it restores only fields whose value the user
    # changed), so this is a second order.
    page = open_shop(shop, browser_page, js=False)
    fill_order(page)
    page.click("#send")
    page.wait_for_url("**/orders/1")
    page.go_back()
    page.wait_for_url(shop.server.url + "/")
    assert page.input_value("#item") == "tea"  # restored, not typed again
    page.click("#send")
    page.wait_for_url("**/orders/*")
    assert len(shop.posts) == 2
    assert order_count(shop.database) == 1
    assert page.locator("#order").inner_text() == "Order 1: tea × 2"
