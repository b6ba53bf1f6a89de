"""Bindings and sealed tokens kept for reuse are bounded in bytes.

A list page binds every row's id on every render; each app keeps those
bindings with the tokens they were sealed into (``flask_actions.reuse``), so
that a re-render encrypts nothing new. What a page binds may come from the URL
(a slug), so an attacker chooses its size: the cache holds at most its budget
in bytes, the least recently used entries dropped first, whatever the
requests bind.
"""

from __future__ import annotations

import gc
import re
import tracemalloc
import typing as t

from flask import Flask
from flask import render_template_string
from servers import SAME_ORIGIN

from flask_actions import ActionBlueprint
from flask_actions import ActionExtension
from flask_actions.registry import get_registry
from flask_actions.reuse import REUSE_BUDGET

MiB = 1024 * 1024

#: A page that binds what its URL says, as a tag or a search page does.
SLUG_PAGE = """{% import "flask_actions/macros.html" as fa %}
{% for i in range(rows) %}{{ fa.button(follow.bind(slug ~ "/" ~ i), "Follow") }}{% endfor %}"""

#: A list page of a few rows, bound by id.
ROWS_PAGE = """{% import "flask_actions/macros.html" as fa %}
{% for i in range(10) %}{{ fa.button(take.bind(i), "Take") }}{% endfor %}"""


def _app(secret: str = "token cache tests " * 3) -> tuple[Flask, list[object]]:
    bp = ActionBlueprint("tags", __name__)
    done: list[object] = []

    @bp.action
    def follow(slug: str) -> None:
        done.append(slug)

    @bp.action
    def take(row: int) -> None:
        done.append(row)

    @bp.route("/tags/<path:slug>")
    def tag(slug: str) -> str:
        return render_template_string(SLUG_PAGE, follow=follow, slug=slug, rows=20)

    @bp.route("/big/<int:size>")
    def big(size: int) -> str:
        return render_template_string(SLUG_PAGE, follow=follow, slug="y" * size, rows=1)

    @bp.route("/rows")
    def rows() -> str:
        return render_template_string(ROWS_PAGE, take=take)

    app = Flask(__name__)
    app.config.update(SECRET_KEY=secret, TESTING=True, WTF_CSRF_ENABLED=False)
    ActionExtension(app)
    app.register_blueprint(bp)
    return app, done


def _refs(html: str) -> list[str]:
    return re.findall(r'name="_button" value="([^"]+)"', html)


def _sealed(html: str) -> list[str]:
    """The refs of a page's buttons: ``action id.token``, without what each
    value carries after it (the CSRF token, a submission key)."""
    return [value.partition("~")[0] for value in _refs(html)]


def _press(client: t.Any, ref: str, path: str) -> int:
    return int(
        client.post(path, data={"_button": ref}, headers=SAME_ORIGIN).status_code
    )


def _long_slug(number: int) -> str:
    return f"{number:05d}-" + "x" * 3900


def _flood(client: t.Any, numbers: t.Iterable[int]) -> str:
    for number in numbers:
        response = client.get(f"/tags/{_long_slug(number)}")
        assert response.status_code == 200
    return str(response.text)


def test_long_bound_arguments_stay_within_the_budgets() -> None:
    # 200 pages, each binding 20 attacker-chosen values of about 3.9 KB: about
    # 56 MiB of bindings and tokens if the caches kept them all.
    app, done = _app()
    client = app.test_client()
    _flood(client, range(3))  # warm up: templates compiled, keys derived
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        last = _flood(client, range(200))
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert 8 * MiB >= REUSE_BUDGET, "a few MiB, as docs/security.md says"
    assert grown < REUSE_BUDGET + MiB / 2, f"the app kept {grown / MiB:.1f} MiB"
    reuse = get_registry(app).reuse
    assert 0 < reuse.size <= REUSE_BUDGET
    # Besides the cache, the flood leaves about 1 MiB in the URL caches of
    # urllib and Werkzeug's test client (128 of the 4 KB URLs, split).
    assert grown < reuse.size + 1.5 * MiB, "the cache counts at least what it holds"
    # The page just rendered still works, whatever was dropped meanwhile.
    refs = _refs(last)
    assert len(refs) == 20
    assert _press(client, refs[-1], "/rows") == 303
    assert done == [_long_slug(199) + "/19"]


def test_recently_used_tokens_outlive_a_flood() -> None:
    app, done = _app()
    client = app.test_client()
    page = client.get("/rows").text
    for number in range(30):  # about two budgets of long bindings...
        _flood(client, [number])
        # ...while the list page is rendered between them: it keeps its tokens.
        assert _sealed(client.get("/rows").text) == _sealed(page)
    _flood(client, range(30, 70))  # as much again, the list page unseen
    again = client.get("/rows").text
    assert not set(_sealed(again)) & set(_sealed(page)), "its tokens were dropped"
    assert [_press(client, ref, "/rows") for ref in _refs(again)] == [303] * 10
    assert [_press(client, ref, "/rows") for ref in _refs(page)] == [303] * 10
    assert done == list(range(10)) * 2


def test_one_huge_binding_is_not_kept_and_drops_nothing() -> None:
    app, _ = _app()
    client = app.test_client()
    page = client.get("/rows").text
    huge = client.get("/big/1000000").text
    assert len(huge) > 1_300_000
    assert _sealed(client.get("/rows").text) == _sealed(page)
    again = client.get("/big/1000000").text
    assert _sealed(again) != _sealed(huge), "sealed afresh: not kept"
    assert get_registry(app).reuse.size <= REUSE_BUDGET


def test_each_app_keeps_its_own_tokens() -> None:
    # A flood on one app drops bindings from the process's cache, but not the
    # tokens of another app: its page is sealed as it was.
    first, _ = _app()
    second, _ = _app("another token cache secret " * 2)
    page = second.test_client().get("/rows").text
    _flood(first.test_client(), range(40))
    assert get_registry(first).reuse.size <= REUSE_BUDGET
    assert _sealed(second.test_client().get("/rows").text) == _sealed(page)
