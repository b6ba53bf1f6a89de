"""Test an app's actions through the full HTTP path in one line.

::

    from flask_actions.testing import call

    def test_add(client):
        result = call(client, todos.add, {"title": "Buy milk"})
        assert result.ok and result.data == {"id": 1}

        result = call(client, todos.add, {"title": ""}, mode="json")
        assert result.status == 422 and "title" in result.errors

:func:`call` renders what a page would (the action's ref with its sealed bound
arguments, a CSRF token in the client's session, a same-site ``Origin``),
posts it like a browser without JavaScript (``mode="form"``) or like the
browser script (``mode="json"``), and returns the
:class:`~flask_actions.ActionResult` with the HTTP response attached.
"""

from __future__ import annotations

import dataclasses
import json
import typing as t

from flask import current_app
from flask import session
from flask.testing import FlaskClient
from flask_wtf.csrf import generate_csrf
from werkzeug.test import TestResponse

from .action import Target
from .results import ActionResult
from .signals import action_failed
from .signals import action_succeeded
from .templating import action as lookup_action
from .wire import ACTION_FIELD
from .wire import ACTION_HEADER
from .wire import MODE_HEADER


@dataclasses.dataclass
class CallResult(ActionResult):
    """An :class:`~flask_actions.ActionResult` with the response it came in."""

    response: TestResponse | None = None


def prepare(
    client: FlaskClient, target: Target | str, page: str = "/"
) -> tuple[str, str | None, str]:
    """What a page showing ``target`` would give the browser: the ref, a CSRF
    token valid for ``client``'s session (``None`` when CSRF is off), and the
    page's origin."""
    app = client.application
    field = app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    csrf: str | None = None
    with (
        client.session_transaction() as client_session,
        app.test_request_context(page) as ctx,
    ):
        resolved = lookup_action(target) if isinstance(target, str) else target
        ref = resolved.ref
        if current_app.config.get("WTF_CSRF_ENABLED", True):
            # Sign the client's own session token, creating it if needed.
            if field in client_session:
                session[field] = client_session[field]
            csrf = generate_csrf()
            client_session[field] = session[field]
        origin = ctx.request.host_url.rstrip("/")
    return ref, csrf, origin


def call(
    client: FlaskClient,
    target: Target | str,
    data: t.Mapping[str, t.Any] | None = None,
    *,
    mode: t.Literal["form", "json"] = "form",
    page: str = "/",
    headers: t.Mapping[str, str] | None = None,
) -> CallResult:
    """Invoke ``target`` through HTTP as a browser would and return its result.

    :param client: the app's test client (``app.test_client()``).
    :param target: an action, a bound action or an action name.
    :param data: the payload. In form mode values may be lists (several
        values) and ``(file, filename)`` tuples (uploads).
    :param mode: ``"form"``: a plain form post, as without JavaScript (the
        response is a 303 or the re-rendered page); ``"json"``: a call like
        ``FlaskActions.call`` (the response is the JSON result).
    :param page: the URL of the page the form is on.
    :param headers: extra request headers (they win over the defaults, so a
        test can send a foreign ``Origin``).
    """
    app = client.application
    ref, csrf, origin = prepare(client, target, page)
    sent = {"Origin": origin}
    captured: list[ActionResult] = []

    def capture(sender: t.Any, result: ActionResult, **extra: t.Any) -> None:
        captured.append(result)

    with (
        action_succeeded.connected_to(capture, app),
        action_failed.connected_to(capture, app),
    ):
        if mode == "json":
            sent.update(
                {ACTION_HEADER: ref, MODE_HEADER: "call", "Accept": "application/json"}
            )
            if csrf:
                sent["X-CSRFToken"] = csrf
            sent.update(headers or {})
            response = client.post(page, json=dict(data or {}), headers=sent)
        else:
            form: dict[str, t.Any] = {**(data or {}), ACTION_FIELD: ref}
            if csrf:
                form[app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")] = csrf
            sent.update(headers or {})
            response = client.post(page, data=form, headers=sent)
    if captured:
        fields = {
            f.name: getattr(captured[-1], f.name)
            for f in dataclasses.fields(ActionResult)
        }
        return CallResult(**fields, response=response)
    return _from_response(response)


def _from_response(response: TestResponse) -> CallResult:
    """A result for a request rejected before any action ran."""
    try:
        body = json.loads(response.get_data(as_text=True))
    except ValueError:
        body = None
    if isinstance(body, dict) and "ok" in body:
        revalidated = body.get("revalidated") or {}
        return CallResult(
            ok=bool(body["ok"]),
            status=response.status_code,
            data=body.get("data"),
            errors=body.get("errors") or {},
            message=body.get("message"),
            redirect=body.get("redirect"),
            revalidated_paths=list(revalidated.get("paths", [])),
            revalidated_tags=list(revalidated.get("tags", [])),
            reference=body.get("reference"),
            response=response,
        )
    return CallResult(
        ok=False,
        status=response.status_code,
        message=response.get_data(as_text=True),
        response=response,
    )
