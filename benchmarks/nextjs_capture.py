"""Capture what real Chromium sends when a person submits each contender's form.

``make bench-nextjs`` replays these requests byte for byte (the body, the
method, the path and every header but ``Content-Length``, which the load
generator writes itself): the headers a browser sends, the cookies its
visit earned, the CSRF token the page gave it, Next.js' action id of this
build. Each capture starts from a fresh browser context that visits the page
first, as a person would, and submits with the mouse.

Chromium runs headless from ``/usr/bin/chromium`` through Playwright; no
browser is ever downloaded.
"""

from __future__ import annotations

import dataclasses
import json
import os
import typing as t

CHROMIUM = os.environ.get("FLASK_ACTIONS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TITLE = "Buy milk"
#: What every page that took the submission shows (and Next.js' answers carry).
ADDED = f"Added {TITLE}."
TIMEOUT_MS = 20_000


@dataclasses.dataclass(frozen=True)
class Captured:
    """One request as Chromium sent it."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def to_json(self) -> dict[str, t.Any]:
        return {
            "method": self.method,
            "path": self.path,
            "headers": [list(h) for h in self.headers],
            "body": self.body.decode("latin-1"),
        }


def _captured(request: t.Any) -> Captured:
    """A Playwright request, with the headers that went on the wire."""
    from urllib.parse import urlsplit

    url = urlsplit(request.url)
    path = url.path + (f"?{url.query}" if url.query else "")
    headers = tuple(
        (h["name"], h["value"])
        for h in request.headers_array()
        if not h["name"].startswith(":") and h["name"].lower() != "content-length"
    )
    return Captured(request.method, path, headers, request.post_data_buffer or b"")


class _Recorder:
    """The requests a page sends to its own server, in order."""

    def __init__(self, page: t.Any, origin: str) -> None:
        self.requests: list[t.Any] = []
        page.on(
            "request",
            lambda r: self.requests.append(r) if r.url.startswith(origin) else None,
        )

    def posts(self) -> list[t.Any]:
        return [r for r in self.requests if r.method == "POST"]

    def only_post(self, what: str) -> t.Any:
        posts = self.posts()
        if len(posts) != 1:
            raise RuntimeError(f"{what}: expected one POST, Chromium sent {len(posts)}")
        posts[0].response()  # the raw headers are known once it was answered
        return posts[0]


def _submit(page: t.Any, url: str, title: str = TITLE) -> None:
    page.goto(url, wait_until="networkidle", timeout=TIMEOUT_MS)
    page.fill('input[name="title"]', title)
    page.click("button:has-text('Add')")
    page.wait_for_selector(f"text={ADDED}", timeout=TIMEOUT_MS)


def capture(flask_url: str, view_url: str, next_url: str) -> dict[str, Captured]:
    """Submit every contender's form in Chromium and return the requests, by key:

    - ``view``: the hand-written view's page (``benchmarks/apps/handwritten.py``)
      sends the ``fetch`` an event handler would write: JSON to ``/todos``
      with the page's CSRF token in ``X-CSRFToken``;
    - ``action_form``: the action's form submitted with JavaScript on (the
      browser script's ``fetch``, answered with JSON and the page);
    - ``action_call``: ``FlaskActions.call(ref, data)`` from the page;
    - ``action_post`` and ``action_get``: the form without JavaScript, its
      ``POST`` (303) and the ``GET`` of the page the browser then makes;
    - ``next_js`` and ``next_post``: the Next.js form with JavaScript on (the
      Server Action's ``fetch``) and off (the progressive-enhancement POST,
      answered with the page).
    """
    from playwright.sync_api import sync_playwright

    out: dict[str, Captured] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:

            def session(url: str, javascript: bool = True) -> tuple[t.Any, _Recorder]:
                context = browser.new_context(java_script_enabled=javascript)
                page = context.new_page()
                return page, _Recorder(page, url)

            page, recorder = session(view_url)
            page.goto(view_url + "/", wait_until="networkidle", timeout=TIMEOUT_MS)
            status = page.evaluate(
                """async (title) => {
                  const token = document.querySelector('[name=csrf_token]').value;
                  const response = await fetch('/todos', {
                    method: 'POST',
                    headers: {'Content-Type': 'application/json',
                              'Accept': 'application/json', 'X-CSRFToken': token},
                    body: JSON.stringify({title, priority: 2, done: false}),
                  });
                  return response.status;
                }""",
                TITLE,
            )
            if status != 200:
                raise RuntimeError(f"the hand-written view answered {status}")
            out["view"] = _captured(recorder.only_post("hand-written view"))
            page.context.close()

            page, recorder = session(flask_url)
            _submit(page, flask_url + "/")
            out["action_form"] = _captured(recorder.only_post("action form, JS"))
            page.context.close()

            page, recorder = session(flask_url)
            page.goto(flask_url + "/", wait_until="networkidle", timeout=TIMEOUT_MS)
            result = page.evaluate(
                """async (title) => {
                  const ref = JSON.parse(document.getElementById('add-ref').textContent);
                  return await FlaskActions.call(ref, {title, priority: 2, done: false});
                }""",
                TITLE,
            )
            if not result.get("ok"):
                raise RuntimeError(f"FlaskActions.call failed: {json.dumps(result)}")
            out["action_call"] = _captured(recorder.only_post("action call, JS"))
            page.context.close()

            page, recorder = session(flask_url, javascript=False)
            _submit(page, flask_url + "/")
            post = recorder.only_post("action form, no JS")
            redirected = [r for r in recorder.requests if r.redirected_from == post]
            if not redirected:
                raise RuntimeError("the action's POST was not followed by a GET")
            redirected[0].response()
            out["action_post"] = _captured(post)
            out["action_get"] = _captured(redirected[0])
            page.context.close()

            page, recorder = session(next_url)
            _submit(page, next_url + "/")
            out["next_js"] = _captured(recorder.only_post("Next.js form, JS"))
            page.context.close()

            page, recorder = session(next_url, javascript=False)
            _submit(page, next_url + "/")
            out["next_post"] = _captured(recorder.only_post("Next.js form, no JS"))
            page.context.close()
        finally:
            browser.close()
    if out["next_js"].header("Next-Action") is None:
        raise RuntimeError(
            "The Next.js form was submitted before React hydrated it (no"
            " Next-Action header): the capture needs the JavaScript path."
        )
    if out["next_post"].header("Next-Action") is not None:
        raise RuntimeError("The Next.js form without JavaScript sent Next-Action.")
    return out
