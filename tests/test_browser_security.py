"""What the browser script refuses to do (issue 12), in headless Chromium
against live servers: it sends nothing to another origin and applies nothing
from one, follows only http(s) redirects, hands an action's own response (a
download, a page) to the browser without sending the form again, works under
a strict Content-Security-Policy, and lets no field name reach
``Object.prototype``.
"""

from __future__ import annotations

import collections
import io
import json
import typing as t

import pytest
from flask import Flask
from flask import render_template_string
from flask import request
from flask import Response
from flask import send_file
from flask_wtf.csrf import generate_csrf
from servers import Tab

from flask_actions import ActionBlueprint
from flask_actions import ActionError
from flask_actions import ActionExtension
from flask_actions import revalidate_tag

if t.TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Iterable

    from _typeshed.wsgi import StartResponse
    from _typeshed.wsgi import WSGIApplication
    from _typeshed.wsgi import WSGIEnvironment
    from playwright.sync_api import Page
    from servers import LiveServer

pytestmark = pytest.mark.browser

PAGE = """\
{% import "flask_actions/macros.html" as fa %}
<!doctype html>
<html>
<head><title>Safe</title>{{ fa.script() }}</head>
<body>
  <p id="count">{{ count }} saved</p>
  {% call fa.form(action('safe.save'), id='save') %}
    <input id="text" name="text" value="typed">
    <button id="save-button">Save</button>
  {% endcall %}

  {#- A button whose formaction names another origin (what a decoded
      "/\\\\host" path made of fa.button's before the server encoded it). #}
  <form method="post" id="elsewhere">
    <input name="text" value="secret typed text">
    <button id="elsewhere-button" type="submit" name="_button" data-fa-button
            value="{{ action_ref(action('safe.save')) }}~{{ csrf_token() }}"
            formaction="{{ other }}/steal" formmethod="post">Save</button>
  </form>
  <form method="post" id="elsewhere-form" data-fa-form action="{{ other }}/steal">
    {{ fa.hidden(action('safe.save')) }}
    <button id="elsewhere-form-button">Save</button>
  </form>
  {#- Same origin, but answered with a 307 to another origin. #}
  <form method="post" id="hop">
    <button id="hop-button" type="submit" name="_button" data-fa-button
            value="{{ action_ref(action('safe.save')) }}~{{ csrf_token() }}"
            formaction="/hop" formmethod="post">Save</button>
  </form>
  {#- Answered with JSON that a forger wrote (see Forged). #}
  <form method="post" id="forged" data-fa-form action="/forged">
    <button id="forged-button">Go</button>
  </form>

  {% call fa.form(action('safe.export'), id='export-form') %}
    <button id="export">Export</button>
  {% endcall %}
  <form method="post">
    {{- fa.button(action('safe.export'), 'Export', id='export-button') -}}
    {{- fa.button(action('safe.export_unicode'), 'Export (Unicode name)', id='export-unicode') -}}
    {{- fa.button(action('safe.receipt'), 'Receipt', id='receipt-button') -}}
  </form>
</body>
</html>
"""

EVIL_PAGE = """<!doctype html><html><body>
<img id="pwned" src="x" onerror="window.__pwned = 1"><p id="evil">evil</p>
</body></html>"""


class Counts:
    """What ran, per action, on one app."""

    def __init__(self) -> None:
        self.runs: collections.Counter[str] = collections.Counter()


class Forged:
    """WSGI middleware: POST /hop answers a 307 to ``other``; POST /forged
    answers the JSON in :attr:`answer` (what a compromised or confused
    server could send: the client must still refuse what it must refuse)."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app
        self.other = ""
        self.answer: dict[str, t.Any] = {}

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        path = environ["PATH_INFO"]
        if environ["REQUEST_METHOD"] == "POST" and path == "/hop":
            start_response(
                "307 Temporary Redirect", [("Location", self.other + "/steal")]
            )
            return [b""]
        if environ["REQUEST_METHOD"] == "POST" and path == "/forged":
            body = json.dumps(self.answer).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        return self.app(environ, start_response)


def make_app(counts: Counts) -> tuple[Flask, Forged]:
    bp = ActionBlueprint("safe", __name__)

    @bp.get("/")
    def index() -> str:
        return render_template_string(
            PAGE, count=counts.runs["save"], other=app.config["OTHER"]
        )

    @bp.action
    def save() -> None:
        counts.runs["save"] += 1
        revalidate_tag("page")

    @bp.action
    def export() -> Response:
        counts.runs["export"] += 1
        response = Response("id,title\n1,Write tests\n", mimetype="text/csv")
        response.headers.set("Content-Disposition", "attachment", filename="cards.csv")
        return response

    @bp.action
    def export_unicode() -> Response:
        counts.runs["export_unicode"] += 1
        return send_file(
            io.BytesIO("id,title\n1,Überblick\n".encode()),
            mimetype="text/csv",
            as_attachment=True,
            download_name="Übersicht 2026.csv",
        )

    @bp.action
    def receipt() -> Response:
        counts.runs["receipt"] += 1
        page = "<!doctype html><title>Receipt</title><h1 id='receipt'>Paid, once.</h1>"
        return Response(page, mimetype="text/html")

    app = Flask(__name__)
    app.config.update(SECRET_KEY="security secret for the browser tests", OTHER="")
    app.jinja_env.globals["csrf_token"] = generate_csrf
    ActionExtension(app)
    app.register_blueprint(bp)
    forged = Forged(app.wsgi_app)
    app.wsgi_app = forged  # type: ignore[method-assign]
    return app, forged


def make_other_origin(seen: list[str]) -> Flask:
    """Another site: it records every request and answers everything with
    CORS wide open and an action-shaped JSON whose page would run code."""
    other = Flask("other_origin")

    @other.route("/<path:path>", methods=["GET", "POST", "OPTIONS"])
    def anything(path: str) -> Response:
        seen.append(f"{request.method} /{path}")
        body = {"ok": True, "status": 200, "html": EVIL_PAGE, "rendered_at": 2**62}
        response = Response(json.dumps(body), mimetype="application/json")
        response.headers["Access-Control-Allow-Origin"] = request.headers.get(
            "Origin", "*"
        )
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["Access-Control-Allow-Headers"] = "*, x-flask-actions, accept"
        response.headers["Access-Control-Allow-Methods"] = "POST, GET"
        return response

    return other


class Site:
    def __init__(
        self,
        live_server: Callable[..., LiveServer],
        browser_page: Callable[..., Page],
    ) -> None:
        self.counts = Counts()
        self.seen_elsewhere: list[str] = []
        self.other = live_server(make_other_origin(self.seen_elsewhere), csp=False)
        self.app, self.forged = make_app(self.counts)
        self.app.config["OTHER"] = self.other.url
        self.forged.other = self.other.url
        self.live_server = live_server
        self.browser_page = browser_page

    def open(self, js: bool = True, csp: bool = True, **context: t.Any) -> Tab:
        server = self.live_server(self.app, csp=csp)
        return Tab(self.browser_page(js=js, **context), server, js).open()


@pytest.fixture
def site(
    live_server: Callable[..., LiveServer], browser_page: Callable[..., Page]
) -> Site:
    return Site(live_server, browser_page)


def message(page: Page) -> str:
    return t.cast(str, page.inner_text("[data-fa-message][role=alert]"))


def script_message(page: Page, name: str) -> str:
    return t.cast(str, page.evaluate("name => FlaskActions.messages[name]", name))


# --- another origin: nothing sent there, nothing taken from there ----------------


@pytest.mark.parametrize(
    ("button", "expected"),
    [
        pytest.param("#elsewhere-button", "otherSite", id="button-formaction"),
        pytest.param("#elsewhere-form-button", "otherSite", id="form-action"),
        pytest.param("#hop-button", "network", id="redirected-there"),
    ],
)
def test_nothing_is_sent_to_or_applied_from_another_origin(
    site: Site, button: str, expected: str
) -> None:
    # Without the CSP, whose connect-src 'self' would block the request by
    # itself: most sites have none, and this is the script's own guard.
    tab = site.open(csp=False)
    page = tab.page
    page.click(button)
    tab.wait_after()

    assert site.seen_elsewhere == []  # not even a CORS preflight
    assert page.locator("#pwned, #evil").count() == 0
    assert page.evaluate("() => window.__pwned") is None
    assert message(page) == script_message(page, expected)
    assert tab.same_document()
    assert site.counts.runs == {}


@pytest.mark.parametrize(
    "location",
    [
        "javascript:window.__pwned = 1",
        " JavaScript:window.__pwned = 1",
        "data:text/html,<script>window.__pwned = 1</script>",
    ],
)
def test_only_http_redirects_are_followed(site: Site, location: str) -> None:
    # Without the CSP, which would block a javascript: URL by itself: this is
    # the script's own guard.
    tab = site.open(csp=False)
    page = tab.page
    site.forged.answer = {"ok": True, "status": 200, "redirect": location, "html": None}
    page.click("#forged-button")
    tab.wait_after()

    assert page.evaluate("() => window.__pwned") is None
    assert tab.same_document()
    assert page.url == tab.server.url + "/"
    assert tab.events() == ["fa:before forged", "fa:failure forged", "fa:after forged"]
    assert message(page) == script_message(page, "badRedirect")

    # The same from a call.
    error = page.evaluate(
        """location => {
          const forged = new URL('/forged', document.baseURI).href;
          history.replaceState(null, '', forged);
          return FlaskActions.call('ref').then(() => 'resolved', (e) => e.message);
        }""",
        location,
    )
    assert error == script_message(page, "badRedirect")
    assert page.evaluate("() => window.__pwned") is None


# --- an action's own response: handed to the browser, sent once ---------------------


@pytest.mark.parametrize("js", [False, True], ids=["no-js", "js"])
@pytest.mark.parametrize(
    ("button", "action", "filename"),
    [
        ("#export", "export", "cards.csv"),
        ("#export-button", "export", "cards.csv"),
        ("#export-unicode", "export_unicode", "Übersicht 2026.csv"),
    ],
)
def test_a_download_runs_the_action_once(
    site: Site, js: bool, button: str, action: str, filename: str
) -> None:
    tab = site.open(js=js)
    page = tab.page
    with page.expect_download() as download_info:
        page.click(button)
    download = download_info.value
    assert download.suggested_filename == filename
    path = download.path()
    assert path is not None
    assert "1,Write tests" in path.read_text() or "Überblick" in path.read_text("utf-8")
    if js:
        tab.wait_after()
        assert tab.events()[-1].startswith("fa:after")
        assert tab.same_document()
    assert len(tab.posts) == 1
    assert site.counts.runs == {action: 1}


def test_a_page_an_action_returns_is_shown_and_the_action_runs_once(site: Site) -> None:
    tab = site.open()
    page = tab.page
    page.click("#receipt-button")
    page.locator("#receipt").wait_for()

    assert page.inner_text("#receipt") == "Paid, once."
    assert page.title() == "Receipt"
    assert len(tab.posts) == 1
    assert site.counts.runs == {"receipt": 1}
    assert tab.same_document()  # shown in place: nothing was sent again


# --- a strict Content-Security-Policy -------------------------------------------------


def test_the_strict_csp_is_in_force(
    live_server: Callable[..., LiveServer], browser_page: Callable[..., Page]
) -> None:
    app = Flask("csp")

    @app.get("/")
    def index() -> str:
        return render_template_string(
            """<!doctype html><title>CSP</title>
            <p id="styled" style="color: rgb(255, 0, 0)">styled inline</p>
            <script>window.__inline = 1;</script>
            <script nonce="{{ csp_nonce() }}">window.__nonced = 1;</script>"""
        )

    server = live_server(app)
    page = browser_page()
    response = page.goto(server.url + "/")
    assert response is not None
    policy = response.headers["content-security-policy"]
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
    assert page.evaluate("() => [window.__inline, window.__nonced]") == [None, 1]
    assert (
        page.evaluate("() => getComputedStyle(document.getElementById('styled')).color")
        != "rgb(255, 0, 0)"
    )
    violations = page.evaluate("() => window.__cspViolations")
    assert sorted(v.split()[0] for v in violations) == [
        "script-src-elem",
        "style-src-attr",
    ]


def test_the_script_works_under_the_strict_csp(site: Site) -> None:
    tab = site.open()
    page = tab.page
    # The script tag carries the request's nonce (and 'self' allows it too).
    nonce = page.get_attribute("script[src*=flask-actions]", "nonce")
    assert nonce is not None
    # Every way the script writes to the page: pending state, a page update,
    # a message it adds, a download link.
    page.click("#save-button")
    tab.wait_after()
    assert page.inner_text("#count") == "1 saved"
    page.click("#elsewhere-button")
    tab.wait_after(2)
    with page.expect_download():
        page.click("#export")
    tab.wait_after(3)
    assert site.counts.runs == {"save": 1, "export": 1}
    assert tab.violations() == []


# --- prototype pollution ------------------------------------------------------------

#: Field names of the form (a name that is both a value and the start of
#: dotted names is refused by the server, so "__proto__" alone is not one).
POLLUTING_NAMES = [
    "__proto__[x]",
    "__proto__.x",
    "constructor[prototype][x]",
    "constructor.prototype.y",
    "prototype",
]
#: What the optimistic template reads from the submitted fields.
TEMPLATE_FIELDS = ["__proto__", "constructor", "__proto__[x]", "hasOwnProperty"]


def test_field_names_never_reach_object_prototype(
    live_server: Callable[..., LiveServer], browser_page: Callable[..., Page]
) -> None:
    bp = ActionBlueprint("proto", __name__)

    @bp.get("/")
    def index() -> str:
        return render_template_string(
            """{% import "flask_actions/macros.html" as fa %}<!doctype html>
            <title>Proto</title>{{ fa.script() }}
            <ul id="items"></ul>
            {% call fa.form(action('proto.refuse'), id='proto') %}
              {% for name in names %}<input name="{{ name }}" value="x">{% endfor %}
              <button id="go">Go</button>
              <template data-fa-optimistic data-target="#items">
                {% for name in template_fields %}<li data-fa-field="{{ name }}"></li>{% endfor %}
              </template>
            {% endcall %}
            <p id="ref">{{ action_ref(action('proto.refuse')) }}</p>""",
            names=POLLUTING_NAMES,
            template_fields=TEMPLATE_FIELDS,
        )

    @bp.action
    def refuse() -> None:
        # Errors whose names would walk into the prototype if treated as paths.
        raise ActionError(
            "Refused.",
            errors={
                "__proto__": {"x": ["bad"]},
                "constructor": {"prototype": {"x": ["bad"]}},
                "__proto__[x]": ["bad"],
            },
            status=422,
        )

    app = Flask(__name__)
    app.config.update(SECRET_KEY="prototype secret for the browser tests")
    ActionExtension(app)
    app.register_blueprint(bp)
    tab = Tab(browser_page(), live_server(app)).open()
    page = tab.page
    page.click("#go")
    tab.wait_after()
    assert tab.result()["status"] == 422
    page.evaluate(
        """() => FlaskActions.call(document.getElementById('ref').textContent,
                   JSON.parse('{"__proto__": {"x": 1}, "constructor": {"prototype": {"x": 1}}}'))
                 .catch(() => null)"""
    )
    polluted = page.evaluate(
        """() => [({}).x, Object.prototype.x, Object.keys(Object.prototype),
                  Object.getOwnPropertyNames(Object.prototype).includes('x')]"""
    )
    assert polluted == [None, None, [], False]
    assert tab.violations() == []
