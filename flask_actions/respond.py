"""Turn a result into a response.

- Without JavaScript: success is a ``303`` to the redirect target or back to
  the page (post/redirect/get), the result flashed by :mod:`~flask_actions.flashing`;
  failure is the page itself, rendered with the failure status, errors next to
  their fields and every typed value in place.
- JSON callers get the result as JSON; the browser script (its form
  submissions and its ``FlaskActions.call``) also gets the fresh page when
  something on it may have changed, so one round trip updates it.
"""

from __future__ import annotations

import re
import time
import typing as t
from urllib.parse import quote
from urllib.parse import unquote
from urllib.parse import urljoin
from urllib.parse import urlsplit

from flask import current_app
from flask import render_template
from flask import request
from flask import session
from flask_wtf.csrf import generate_csrf
from markupsafe import escape
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from . import codec
from . import flashing
from .negotiation import environ_key
from .negotiation import MODE_KEY
from .registry import blueprint_chain
from .results import ActionResult
from .results import Effects
from .wire import csrf_enabled
from .wire import current_request
from .wire import match_get_route
from .wire import Submission


def respond(
    submission: Submission,
    result: ActionResult,
    effects: Effects,
    passthrough: Response | None,
) -> Response:
    """The response to an invocation, in the mode the client asked for."""
    result.form_number = submission.form_number
    ours = False
    if passthrough is not None and not (submission.mode != "form" and result.redirect):
        response = passthrough
    elif submission.mode == "form":
        response = _form_response(submission, result, effects)
    else:
        response = _json_response(submission, result, effects)
        ours = True
    for change in effects.cookies:
        change(response)
    headers = response.headers
    if ours:  # built above without either header: add, without looking
        headers.add("Cache-Control", "no-store")
        headers.add("Vary", "Accept")
    else:
        headers["Cache-Control"] = "no-store"
        if "Vary" in headers:
            response.vary.add("Accept")
        else:  # the same header, without parsing and re-serialising a HeaderSet
            headers["Vary"] = "Accept"
    return response


#: What may stay as it is in the path of a URL we write into a page or a
#: ``Location``: everything else (``\\``, ``%``, spaces, controls, quotes,
#: non-ASCII) is percent-encoded, so the browser reads the path the server saw.
_PATH_SAFE = "/!$&'()*+,;=:@-._~"
_QUERY_SAFE = _PATH_SAFE + "?%"


def same_page_url(query: bool = True) -> str:
    """The URL of the page the form was posted to (path and query), encoded,
    without the mark of :func:`post_url`.

    The path Werkzeug hands over is decoded (``/%5Cevil.example`` is
    ``/\\evil.example``), and a browser reads ``/\\host`` or ``//host`` as
    another site: the path is encoded again and can never start with two
    slashes.
    """
    path = quote(request.script_root + request.path, safe=_PATH_SAFE)
    if path.startswith("//"):
        path = "/%2F" + path[2:]
    if not query:
        return path
    raw = request.query_string.decode("latin-1").rstrip("&")
    encoded = quote(raw, safe=_QUERY_SAFE)
    return path + (f"?{encoded}" if encoded else "")


def post_url(page_url: str) -> str:
    """Where the forms of the page at ``page_url`` post: the page's URL with
    an empty last query part (``/todos?``, ``/todos?page=2&``), which reads
    the same to the app and is another URL to the browser's cache.

    A successful ``POST`` makes the browser drop what it cached for the URL
    posted to (RFC 9111, section 4.4). Posting to the page's own URL dropped
    the page, so Back (without the back/forward cache) loaded it again, with
    a new submission key, and sending the form again was a second order
    (``docs/idempotency.md``). A page whose own URL already ends so (an
    empty ``GET`` form leads to ``/search?``) gets one ``&`` more."""
    url = page_url + ("&" if "?" in page_url else "?")
    if request.method in ("GET", "HEAD"):  # the page a browser keeps
        environ = request.environ
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or ""
        if "?" in raw and raw.partition("?")[2] == url.partition("?")[2]:
            url += "&"
    return url


def _form_response(
    submission: Submission, result: ActionResult, effects: Effects
) -> Response:
    if not result.ok and result.redirect:  # refused: sent to sign in first
        return current_app.redirect(result.redirect, 303)
    if not result.ok:
        response = render_page(submission, result, request.path, effects)
        if response.status_code == 200:
            response.status_code = result.status
        _show_message(response, result)
        return response
    location = result.redirect or same_page_url()
    code = result.status if result.redirect else 303  # redirect(location, code)
    path = _local_path(location)
    if path is None:  # an allowed external host: nothing of ours to show there
        return current_app.redirect(location, code)
    response = current_app.redirect(location, code)
    if flashing.flash_result(response, result, path):
        return response
    current_app.logger.info(
        "The result of %s is too large for a cookie; rendering %s in the response"
        " instead of redirecting.",
        result.action,
        path,
    )
    return render_page(submission, result, path, effects)


#: What holds no text a user sees, blanked (its length kept) before looking
#: for the text of a message or for where to put it.
_UNSEEN = re.compile(
    r"<!--.*?-->|<(script|style|template|textarea|title)\b.*?</\1\s*>",
    re.IGNORECASE | re.DOTALL,
)
#: A tag, quoted attribute values included (they may hold a ">").
_TAG = r"(?:[^>\"']|\"[^\"]*\"|'[^']*')*>"
_BODY = re.compile(r"<body\b" + _TAG, re.IGNORECASE)
_FORM = re.compile(r"<form\b", re.IGNORECASE)
_ANY_TAG = re.compile(r"<[a-zA-Z/!]" + _TAG)


def _show_message(response: Response, result: ActionResult) -> None:
    """Put a failure's message in the page sent back without JavaScript
    when the page shows it nowhere (no ``fa.message`` for its action, not
    its text, in an attribute, a script or a comment not counting): at the
    top of the body, which is what the browser shows of a page it loaded,
    else before the first form, else at the end. The script, which updates
    the page in place, puts it before the form instead."""
    if not result.message or response.is_streamed or response.mimetype != "text/html":
        return
    html = response.get_data(as_text=True)
    text = str(escape(result.message))
    seen = _UNSEEN.sub(lambda match: " " * len(match.group()), html)
    if text in _ANY_TAG.sub("", seen):
        return
    body = _BODY.search(seen)
    form = None if body else _FORM.search(seen)
    at = body.end() if body else form.start() if form else len(html)
    box = f'<p class="fa-message fa-failure" role="alert" data-fa-message>{text}</p>'
    response.set_data(html[:at] + box + html[at:])


def _local_path(location: str) -> str | None:
    """The path within this app that ``location`` points to, or ``None``:
    decoded, as ``request.path`` of the request for it will be (the result
    flashed to it is looked for there)."""
    absolute = urlsplit(urljoin(request.url, location))
    if absolute.netloc.lower() != request.host.lower():
        return None
    path = unquote(absolute.path, errors="replace")
    root = request.script_root
    if root and path.startswith(root):
        path = path[len(root) :] or "/"
    return path


def _json_response(
    submission: Submission, result: ActionResult, effects: Effects
) -> Response:
    req = current_request()
    html: str | None = None
    rendered_at: int | None = None
    if _wants_page(submission, result, effects):
        rendered_at = time.time_ns()
        page = render_page(submission, result, req.path, effects)
        if page.status_code < 300 or page.status_code == result.status:
            html = page.get_data(as_text=True)
        else:
            rendered_at = None
    soft = submission.soft_rejection
    # What every form on the page needs to be sent again.
    fresh = generate_csrf() if soft and csrf_enabled(current_app.config) else None
    body = result.to_json(
        html=html,
        rendered_at=rendered_at,
        reason=soft.reason if soft else None,
        csrf_token=fresh,
    )
    # fetch() would follow a 3xx itself: a redirect travels in the body.
    status = 200 if result.ok and result.redirect else result.status
    body["status"] = status
    # content_type: the header as is (a mimetype is looked up for a charset).
    response = current_app.response_class(
        codec.json_text(body), status=status, content_type="application/json"
    )
    if result.ok and result.redirect and req.environ.get(MODE_KEY):
        # The script navigates to the redirect target: flash the result there,
        # as the 303 does without JavaScript, so that page shows it too.
        path = _local_path(result.redirect)
        if path is not None:
            flashing.flash_result(response, result, path)
    return response


#: A script's request header: ``none`` asks for no page in the answer.
PAGE_HEADER = "X-Flask-Actions-Page"
_PAGE_KEY = environ_key(PAGE_HEADER)


def _wants_page(submission: Submission, result: ActionResult, effects: Effects) -> bool:
    """Whether a JSON answer carries the page.

    An enhanced form gets the page the no-JavaScript flow would show (its
    errors, or what the 303 leads to), a call only when the action changed
    something the page may show; neither when the client asked for no page
    or is about to navigate away.
    """
    if submission.mode not in ("enhanced", "call") or result.redirect:
        return False
    if str(current_request().environ.get(_PAGE_KEY, "")).lower() == "none":
        return False
    if submission.mode == "enhanced":
        return True
    changed = result.revalidated_paths or result.revalidated_tags or effects.cookies
    return result.ok and bool(changed or session.modified)


def render_page(
    submission: Submission,
    result: ActionResult,
    path: str,
    effects: Effects | None = None,
) -> Response:
    """Render the page at ``path`` as a GET would, inside this request.

    The page is only shown to whom its own GET would show it: every
    ``url_value_preprocessor`` and ``before_request`` function that a GET of
    the page passes through (the app's and its blueprints', including those
    that already ran for the action, since they judged the action, not the
    page) runs first, with the page's endpoint. If one of them refuses
    (returns a response or raises an HTTP error), or no GET route serves
    ``path``, a small page with only the message, the errors and the
    submitted values is rendered instead, so that nothing the user typed is
    lost and nothing of the page leaks.

    ``action_result()`` returns ``result`` meanwhile, and ``request.cookies``
    already holds the cookies the action set or deleted.
    """
    flashing.show_result(result)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    match = submission.page() if path == request.path else match_get_route(path)
    if match is None:
        return _result_page(result)
    rule, view_args = match
    saved = (request.method, request.url_rule, request.view_args, request.cookies)
    request.method = "GET"
    request.url_rule = rule
    request.view_args = dict(view_args)
    if effects is not None and effects.cookies:
        request.cookies = _cookies_after(request.cookies, effects)
    try:
        page_bps = blueprint_chain(rule.endpoint.rpartition(".")[0] or None)
        for name in (None, *page_bps):
            for url_func in app.url_value_preprocessors.get(name, ()):
                url_func(rule.endpoint, request.view_args)
        for name in (None, *page_bps):
            for before in app.before_request_funcs.get(name, ()):
                if app.ensure_sync(before)() is not None:
                    return _result_page(result)
        rv = app.ensure_sync(app.view_functions[rule.endpoint])(**request.view_args)
        return t.cast(Response, app.make_response(rv))
    except HTTPException:
        return _result_page(result)
    finally:
        request.method, request.url_rule, request.view_args, request.cookies = saved


def _result_page(result: ActionResult) -> Response:
    """The page of last resort: the result and what the user submitted."""
    html = render_template("flask_actions/result.html", result=result)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    return t.cast(Response, app.make_response((html, result.status)))


def _cookies_after(
    cookies: t.Mapping[str, str], effects: Effects
) -> ImmutableMultiDict[str, str]:
    """The request's cookies as the browser will send them after this
    response: with the action's :func:`~flask_actions.set_cookie` and
    :func:`~flask_actions.delete_cookie` applied."""
    after = dict(cookies)
    for change in effects.cookies:
        if change.value is None:
            after.pop(change.key, None)
        else:
            after[change.key] = change.value
    return ImmutableMultiDict(after)
