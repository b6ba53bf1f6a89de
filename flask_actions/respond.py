"""Turn a result into a response.

- Without JavaScript: success is a ``303`` to the redirect target or back to
  the page (post/redirect/get), the result carried by :mod:`~flask_actions.carry`;
  failure is the page itself, rendered with the failure status, errors next to
  their fields and every typed value in place.
- JSON callers get the result as JSON; the browser script (its form
  submissions and its ``FlaskActions.call``) also gets the fresh page when
  something on it may have changed, so one round trip updates it.
"""

from __future__ import annotations

import typing as t
from urllib.parse import urljoin
from urllib.parse import urlsplit

from flask import current_app
from flask import render_template
from flask import request
from flask import session
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Rule
from werkzeug.wrappers import Response

from . import carry
from . import codec
from ._state import blueprint_chain
from .results import ActionResult
from .results import Effects
from .wire import current_request
from .wire import MODE_HEADER

if t.TYPE_CHECKING:
    from .dispatch import Submission


def respond(
    submission: Submission,
    result: ActionResult,
    effects: Effects,
    passthrough: Response | None,
) -> Response:
    """The response to an invocation, in the mode the client asked for."""
    ours = False
    if passthrough is not None and not (submission.mode != "form" and result.redirect):
        response = passthrough
    elif submission.mode == "form":
        response = _form_response(submission, result)
    else:
        response = _json_response(submission, result, effects)
        ours = True
    for method, args, options in effects.cookies:
        getattr(response, method)(*args, **options)
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


def same_page_url() -> str:
    """The URL of the page the form was posted to (path and query)."""
    query = request.query_string.decode("latin-1")
    return request.script_root + request.path + (f"?{query}" if query else "")


def _form_response(submission: Submission, result: ActionResult) -> Response:
    if not result.ok:
        response = render_page(submission, result, request.path)
        if response.status_code == 200:
            response.status_code = result.status
        return response
    location = result.redirect or same_page_url()
    code = result.status if result.redirect else 303  # redirect(location, code)
    path = _local_path(location)
    if path is None:  # an allowed external host: nothing of ours to show there
        return current_app.redirect(location, code)
    sealed = carry.dump(result, path)
    if sealed is not None:
        response = current_app.redirect(location, code)
        carry.attach(response, sealed)
        return response
    current_app.logger.info(
        "The result of %s is too large for a cookie; rendering %s in the response"
        " instead of redirecting.",
        result.action,
        path,
    )
    return render_page(submission, result, path)


def _local_path(location: str) -> str | None:
    """The path within this app that ``location`` points to, or ``None``."""
    absolute = urlsplit(urljoin(request.url, location))
    if absolute.netloc.lower() != request.host.lower():
        return None
    path = absolute.path
    root = request.script_root
    if root and path.startswith(root):
        path = path[len(root) :] or "/"
    return path


def _json_response(
    submission: Submission, result: ActionResult, effects: Effects
) -> Response:
    req = current_request()
    body = result.to_json()
    body["html"] = None
    # fetch() would follow a 3xx itself: a redirect travels in the body.
    status = 200 if result.ok and result.redirect else result.status
    body["status"] = status
    if submission.mode in ("enhanced", "call") and not result.redirect:
        changed = bool(
            result.revalidated_paths or result.revalidated_tags or effects.cookies
        )
        # A failed form shows its errors in the page; a failed call rejects.
        failed_form = not result.ok and submission.mode == "enhanced"
        if failed_form or (result.ok and (changed or session.modified)):
            page = render_page(submission, result, req.path)
            if page.status_code < 300 or page.status_code == result.status:
                body["html"] = page.get_data(as_text=True)
    response = current_app.response_class(
        codec.json_text(body), status=status, mimetype="application/json"
    )
    if result.ok and result.redirect and req.headers.get(MODE_HEADER):
        # The script navigates to the redirect target: carry the result there,
        # as the 303 does without JavaScript, so that page shows it too.
        path = _local_path(result.redirect)
        sealed = carry.dump(result, path) if path is not None else None
        if sealed is not None:
            carry.attach(response, sealed)
    return response


def match_get_route(path: str) -> tuple[Rule, dict[str, t.Any]] | None:
    """The GET route serving ``path`` in this app, and its arguments, if any."""
    adapter = current_app.create_url_adapter(request)
    if adapter is None:
        return None
    try:
        rule, args = adapter.match(path, method="GET", return_rule=True)
    except HTTPException:
        return None
    return rule, dict(args)


def render_page(submission: Submission, result: ActionResult, path: str) -> Response:
    """Render the page at ``path`` as a GET would, inside this request.

    The page's own ``url_value_preprocessors`` and those of its blueprints'
    ``before_request`` functions that have not run yet (the action's blueprints
    ran theirs) run first; then its view. ``action_result()`` returns
    ``result`` meanwhile. If no GET route serves ``path``, a small page with
    the message, the errors and the submitted values is rendered instead, so
    that nothing the user typed is lost.
    """
    carry.set_current(result)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    match = submission.page() if path == request.path else match_get_route(path)
    if match is None:
        html = render_template("flask_actions/result.html", result=result)
        return t.cast(Response, app.make_response((html, result.status)))
    rule, view_args = match
    saved = (request.method, request.url_rule, request.view_args)
    ran = set(blueprint_chain(submission.entry.blueprint))
    request.method = "GET"
    request.url_rule = rule
    request.view_args = dict(view_args)
    try:
        page_bps = blueprint_chain(rule.endpoint.rpartition(".")[0] or None)
        rv: t.Any = None
        for name in (None, *page_bps):
            for url_func in app.url_value_preprocessors.get(name, ()):
                url_func(rule.endpoint, request.view_args)
        for name in page_bps:
            if name in ran:
                continue
            for before in app.before_request_funcs.get(name, ()):
                rv = app.ensure_sync(before)()
                if rv is not None:
                    break
            if rv is not None:
                break
        if rv is None:
            rv = app.ensure_sync(app.view_functions[rule.endpoint])(**request.view_args)
        return t.cast(Response, app.make_response(rv))
    finally:
        request.method, request.url_rule, request.view_args = saved
