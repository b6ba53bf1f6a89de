"""Errors raised by flask-actions.

Two families:

- :class:`ActionError` is raised *inside* an action to fail it with a message a
  user can act on. It becomes a failed :class:`~flask_actions.ActionResult`.
- :class:`ActionRejected` and its subclasses are raised *before* an action runs,
  when a request cannot be trusted or understood. They are Werkzeug HTTP
  exceptions: customise them with ``app.errorhandler``. JSON callers get the
  same JSON shape as results (:meth:`ActionResult.to_json
  <flask_actions.ActionResult.to_json>`), with a ``reason`` naming why.

A rejection answers in the mode of the request that caused it, read from the
``environ`` Werkzeug hands it (:mod:`~flask_actions.negotiation`).
"""

from __future__ import annotations

import typing as t

from markupsafe import escape
from werkzeug.exceptions import BadRequest
from werkzeug.exceptions import Forbidden
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import NotFound
from werkzeug.exceptions import RequestEntityTooLarge

from . import codec
from . import messages
from .negotiation import response_mode
from .results import ActionResult

if t.TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment
    from werkzeug.datastructures import MultiDict

Errors = dict[str, t.Any]


class ActionError(Exception):
    """Fail the running action with ``message`` and HTTP ``status``.

    :param message: shown to the user, above the form.
    :param errors: optional field errors, ``{field: [messages]}``.
    :param status: the HTTP status of the failed result (400 by default).
    """

    def __init__(
        self, message: str, errors: Errors | None = None, status: int = 400
    ) -> None:
        super().__init__(message)
        self.message = message
        self.errors: Errors = errors or {}
        self.status = status


class ActionRejected(HTTPException):
    """Base of the errors that reject a request before any action runs."""

    #: A short, stable name of the reason, sent to JSON callers as ``reason``.
    reason = "bad_request"

    def get_headers(
        self,
        environ: WSGIEnvironment | None = None,
        scope: dict[str, t.Any] | None = None,
    ) -> list[tuple[str, str]]:
        if _wants_json(environ):
            return [("Content-Type", "application/json"), ("Cache-Control", "no-store")]
        return [*super().get_headers(environ, scope), ("Cache-Control", "no-store")]

    def get_body(
        self,
        environ: WSGIEnvironment | None = None,
        scope: dict[str, t.Any] | None = None,
    ) -> str:
        if not _wants_json(environ):
            return super().get_body(environ, scope)
        result = ActionResult(
            ok=False, status=self.code or 400, message=self.get_message()
        )
        return codec.json_text(result.to_json(reason=self.reason, **self.json_extra()))

    def get_message(self) -> str:
        """The description, in the user's language (:mod:`.messages`)."""
        return messages.translated(str(self.description or ""))

    def get_description(
        self,
        environ: WSGIEnvironment | None = None,
        scope: dict[str, t.Any] | None = None,
    ) -> str:
        return f"<p>{escape(self.get_message())}</p>"

    def json_extra(self) -> dict[str, t.Any]:
        """More of the JSON body, for a reason that carries data: keyword
        arguments of :meth:`~flask_actions.ActionResult.to_json`."""
        return {}


def _wants_json(environ: WSGIEnvironment | None) -> bool:
    return environ is not None and response_mode(environ) != "form"


class MalformedRequest(ActionRejected, BadRequest):
    """The request names an action but cannot be read (two identities, bad JSON...)."""

    reason = "bad_request"


class CrossSiteRequest(ActionRejected, Forbidden):
    """The request comes from another site, or its origin cannot be established."""

    reason = "cross_site"


class CSRFTokenInvalid(ActionRejected, Forbidden):
    """The CSRF token is missing, expired or does not match the session."""

    reason = "csrf"
    #: A fresh token for the page of this site that sent an expired one, so
    #: that it can send the call again without a reload.
    fresh_token: str | None = None

    def json_extra(self) -> dict[str, t.Any]:
        return {"csrf_token": self.fresh_token} if self.fresh_token else {}


class UnknownAction(ActionRejected, NotFound):
    """No action has this id (an old page after the secret changed, or a forgery)."""

    reason = "unknown_action"


class BadBoundArguments(ActionRejected, BadRequest):
    """The bound-argument token was tampered with, truncated, made for another
    action, sealed with an unknown key, or has expired."""

    reason = "bad_bound_arguments"


class BoundArgumentsExpired(BadBoundArguments):
    """The bound-argument token is authentic but older than
    ``ACTIONS_BOUND_MAX_AGE``: a page of this site can be rendered again from
    it."""


class PayloadTooLarge(ActionRejected, RequestEntityTooLarge):
    """The body is larger than ``ACTIONS_MAX_CONTENT_LENGTH``."""

    reason = "too_large"
    #: The form's text fields as sent (every one, the CSRF token and password
    #: fields too; files aside) when the form had to be read to know that it
    #: names an action; ``None`` when it was refused unread, or could not be
    #: read whole within the limits.
    form: MultiDict[str, str] | None = None
