"""A response that carries one visitor's CSRF token is kept from shared caches.

The page cache stores a page with a placeholder and gives each visitor their
own CSRF token in it. A proxy or a CDN in front of the app cannot do that: if
the response said ``Cache-Control: public`` (or gave shared caches a lifetime
with ``s-maxage``), it would store the first visitor's token and hand it to
everyone after. Such a response is ``private`` whatever the view said.
"""

from __future__ import annotations

import re
import typing as t

import pytest
from flask import Flask
from flask import make_response
from flask import render_template_string
from flask import session
from werkzeug.datastructures import ResponseCacheControl
from werkzeug.http import parse_cache_control_header

from flask_actions import ActionBlueprint
from flask_actions import ActionExtension
from flask_actions.cache import PageCache

FORM_PAGE = """{% import "flask_actions/macros.html" as fa %}
<!doctype html><title>Notes</title>{{ fa.script() }}
{% call fa.form(action("notes.add")) %}<input name="title"><button>Add</button>{% endcall %}
"""
META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def make_app(**config: t.Any) -> Flask:
    page_cache = PageCache()
    bp = ActionBlueprint("notes", __name__)

    def shared(body: str) -> t.Any:
        response = make_response(body)
        response.cache_control.public = True
        response.cache_control.max_age = 600
        response.cache_control.s_maxage = 3600
        return response

    @bp.route("/")
    @page_cache.cached
    def index() -> t.Any:
        return shared(render_template_string(FORM_PAGE))

    @bp.route("/plain")
    @page_cache.cached
    def plain() -> t.Any:
        return shared("no form here")

    @bp.route("/login")
    def login() -> str:
        session["_user_id"] = "alice"
        return "ok"

    @bp.action(schema={})
    def add(data: dict[str, t.Any]) -> None: ...

    app = Flask(__name__)
    app.config.update(SECRET_KEY="cache sharing tests " * 3, TESTING=True, **config)
    ActionExtension(app)
    page_cache.init_app(app)
    app.register_blueprint(bp)
    return app


def cache_control(response: t.Any) -> ResponseCacheControl:
    return parse_cache_control_header(
        response.headers.get("Cache-Control"), cls=ResponseCacheControl
    )


def test_a_page_with_a_visitors_token_is_private_however_it_is_served() -> None:
    app = make_app()
    alice, bob = app.test_client(), app.test_client()
    carol = app.test_client()
    carol.get("/login")  # a personal session: served around the cache
    served = [
        ("MISS", alice.get("/")),
        ("HIT", bob.get("/")),
        ("HIT", alice.get("/")),
        ("BYPASS", carol.get("/")),
    ]
    tokens = set()
    for how, response in served:
        assert response.headers["X-Cache"] == how
        control = cache_control(response)
        assert control.private and not control.public, (how, control)
        assert control.s_maxage is None, "shared caches get no lifetime"
        assert control.max_age == 600, "the visitor's own browser may keep it"
        found = META.search(response.text)
        assert found is not None
        tokens.add(found[1])
    assert len(tokens) == 3, "each visitor has their own token"


def test_a_page_without_a_token_stays_public() -> None:
    app = make_app()
    for how in ("MISS", "HIT"):
        response = app.test_client().get("/plain")
        assert response.headers["X-Cache"] == how
        control = cache_control(response)
        assert control.public and not control.private
        assert control.s_maxage == 3600


@pytest.mark.parametrize("enabled", [True, False])
def test_with_csrf_off_a_page_carries_no_token_and_stays_public(enabled: bool) -> None:
    app = make_app(WTF_CSRF_ENABLED=False, ACTIONS_CACHE_ENABLED=enabled)
    response = app.test_client().get("/")
    assert response.headers["X-Cache"] == ("MISS" if enabled else "BYPASS")
    assert 'name="csrf_token"' not in response.text
    assert cache_control(response).public


def test_a_disabled_cache_still_keeps_a_visitors_token_private() -> None:
    app = make_app(ACTIONS_CACHE_ENABLED=False)
    response = app.test_client().get("/")
    assert response.headers["X-Cache"] == "BYPASS"
    assert 'name="csrf_token"' in response.text
    control = cache_control(response)
    assert control.private and not control.public and control.s_maxage is None
