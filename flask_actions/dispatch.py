"""The request walk: recognise → check → decode → call → respond.

:func:`recognise` listens to Flask's ``request_started`` signal, which fires
after URL matching and before any ``before_request`` function. For a POST that
names an action it checks size, origin, identity, CSRF token and bound
arguments, reads the payload, and routes the request to the action's endpoint,
so that Flask then runs the app's and the *action's* blueprint's
``before_request`` functions and calls :func:`run_action`, whatever page the
form was on and whether or not that page's route accepts POST.

Every rejection happens here, before any ``before_request`` function, hook or
action runs, but for those a page of this site recovers from: an expired CSRF
token or bound-argument token on a form post or an enhanced form, and a form
too large for an action (answered with the page and what was typed). Those
are routed to the action's endpoint like a checked request, so the app's and
the action's blueprint's ``before_request`` functions (and
``url_value_preprocessors``) run; then the invocation fails with the
rejection's status and message without running any ``before_action`` hook or
the action, and ``after_action`` hooks and ``action_failed`` see that failed
result (:func:`invoke`).
"""

from __future__ import annotations

import copy
import functools
import logging
import secrets
import typing as t
from collections.abc import Generator

from flask import current_app
from flask import Flask
from flask import g
from flask import session
from flask_wtf.csrf import generate_csrf
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Rule
from werkzeug.wrappers import Response

from . import codec
from . import idempotency
from . import messages
from . import security
from . import streaming
from . import validation
from . import wire
from .crypto import BadToken
from .crypto import TokenExpired
from .exceptions import ActionError
from .exceptions import ActionRejected
from .exceptions import BadBoundArguments
from .exceptions import BoundArgumentsExpired
from .exceptions import CSRFTokenInvalid
from .exceptions import PayloadTooLarge
from .exceptions import UnknownAction
from .keys import keys_of
from .negotiation import response_mode
from .registry import Entry
from .registry import get_registry
from .respond import respond
from .results import ActionResult
from .results import begin_effects
from .results import begin_own_call
from .results import Effects
from .results import end_effects
from .results import end_own_call
from .results import Redirect
from .signals import action_failed
from .signals import action_started
from .signals import action_succeeded
from .signals import redirected
from .wire import csrf_field_name
from .wire import match_get_route
from .wire import Submission

if t.TYPE_CHECKING:
    from .action import Action

logger = logging.getLogger("flask_actions")

_G_SUBMISSION = "_flask_actions_submission"


def recognise(app: Flask, **extra: t.Any) -> None:
    """Recognise and check an action request (a ``request_started`` receiver)."""
    req = wire.current_request()
    if req.method != "POST":
        return
    config = app.config
    too_large: PayloadTooLarge | None = None
    try:
        security.check_size(req, config["ACTIONS_MAX_CONTENT_LENGTH"])
    except PayloadTooLarge as e:
        if e.form is None:  # refused unread: nothing to give back
            raise
        too_large = e  # read to find the action: what was typed can come back
    form_body = wire.is_form(req)
    ref = wire.read_ref(req, form_body)
    if ref is None:
        return
    vouched = security.check_origin(req)
    mode = response_mode(req.environ)
    if too_large is not None and not (vouched and mode == "form"):
        raise too_large  # the script keeps what was typed itself
    registry = get_registry(app)

    action_id, _, token = ref.partition(".")
    entry = registry.lookup_id(app, action_id)
    if entry is None:
        raise UnknownAction(
            "This action does not exist (any more). The page may be older than the"
            " last deploy or its secret: reload the page and try again."
        )
    # A page of this site whose token or form expired gets an answer it can
    # recover from (the page with fresh tokens, what was typed kept).
    recoverable = vouched and mode != "json"
    soft: ActionRejected | None = too_large
    try:
        security.check_csrf(req, form_body)
    except CSRFTokenInvalid as e:
        if recoverable and mode == "call":  # no page to render: the token only
            e.fresh_token = generate_csrf()
        if not recoverable or mode == "call":
            raise
        soft = soft or e

    args: tuple[t.Any, ...] = ()
    try:
        args = _open_args(app, entry, token, config["ACTIONS_BOUND_MAX_AGE"])
    except BoundArgumentsExpired as e:
        # A call has no form to refresh: only a page can bring fresh arguments.
        if not (recoverable and mode != "call"):
            raise
        soft = soft or e
        # Authentic, only old: its arguments still tell which form to refill.
        args = _open_args(app, entry, token, max_age=None)

    key: bytes | None = None
    checking = validation.requested()  # nothing will run: no key, no question
    csrf_field = csrf_field_name(config)
    try:
        if not checking:
            key = idempotency.read_key(app, entry.action, req, form_body, csrf_field)
    except idempotency.BadSubmissionKey as e:
        if not recoverable:
            raise
        soft = soft or e

    payload, values = wire.read_payload(entry.action.schema, csrf_field, form_body)

    # The page URL's values (a language code...) reach url_value_preprocessors.
    page: tuple[Rule, dict[str, t.Any]] | None | t.Literal[False] = False
    if app.url_value_preprocessors:
        page = match_get_route(req.path)
    req.url_rule = _action_rule(req.path, entry.endpoint)
    req.view_args = dict(page[1]) if page else {}
    req.routing_exception = None
    submission = Submission(args, payload, values, mode, page, soft)
    submission.checking = checking
    if form_body:
        submission.form_number = wire.form_number(req.form)
    if soft is None and not checking:
        submission.confirmation = wire.pending_confirmation(form_body)
        submission.key = key
    setattr(g, _G_SUBMISSION, (entry, submission))


@functools.lru_cache(maxsize=1024)
def _action_rule(path: str, endpoint: str) -> Rule:
    """The rule a recognised request is routed by (Flask only reads it, so
    one per page and action serves every request)."""
    return Rule(path, endpoint=endpoint, methods=["POST"])


def _open_args(
    app: Flask, entry: Entry, token: str, max_age: float | None
) -> tuple[t.Any, ...]:
    action = entry.action
    if not token:
        args: tuple[t.Any, ...] = ()
    else:
        ring = keys_of(app).ring(app)
        try:
            raw = ring.unseal("bound", token, action.name.encode(), max_age=max_age)
            decoded = codec.loads(raw)
        except TokenExpired as e:
            raise BoundArgumentsExpired(
                "This form has expired. Reload the page and submit again."
            ) from e
        except BadToken as e:
            raise BadBoundArguments(
                "The form's hidden data was changed or belongs to another form."
            ) from e
        except codec.CodecError as e:
            raise BadBoundArguments("The form's hidden data cannot be read.") from e
        if not isinstance(decoded, list):
            raise BadBoundArguments("The form's hidden data cannot be read.")
        args = tuple(decoded)
    try:
        action.check_arity(len(args))
    except TypeError:
        raise BadBoundArguments(
            "The form's hidden data does not fit this action (the page may be older"
            " than the last deploy): reload the page and submit again."
        ) from None
    return args


def run_action(**_view_args: t.Any) -> t.Any:
    """The view function of every action endpoint."""
    pending: tuple[Entry, Submission] | None = g.pop(_G_SUBMISSION, None)
    if pending is None:  # only reachable by routing to the endpoint by hand
        raise UnknownAction("Actions are invoked by POSTing a form or a call.")
    entry, submission = pending
    if submission.checking:  # the schema's verdict only: nothing runs
        return validation.answer(entry, submission)
    if submission.confirmation is not None:
        # Nothing runs and nothing happened: the page asks, the same button
        # (now rendered confirmed) runs it.
        asking = ActionResult(
            ok=False,
            status=200,
            message=submission.confirmation,
            action=entry.action.name,
            args=submission.args,
            values=submission.values,
            awaiting_confirmation=True,
        )
        return respond(submission, asking, Effects(), None)
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    ticket = idempotency.claim(app, entry.action, submission)
    if isinstance(ticket, ActionResult):  # a duplicate, or a refusal to run
        return respond(submission, ticket, Effects(), None)
    if streaming.wants_stream(entry.action.func, submission):
        answer = _streamed_answer(app, entry, submission, ticket)
        return streaming.streamed(answer, lambda: _let_go(app, ticket))
    if ticket is None:
        result, effects, passthrough = invoke(entry, submission)
        return respond(submission, result, effects, passthrough)
    try:
        result, effects, passthrough = invoke(entry, submission)
    except BaseException:
        # What invoke lets through (a hook after the action, a signal
        # receiver): a crash, which lets the key go as any crash does.
        idempotency.release(app, ticket)
        raise
    idempotency.settle(app, ticket, result, effects, passthrough)
    return respond(submission, result, effects, passthrough)


def _streamed_answer(
    app: Flask, entry: Entry, submission: Submission, ticket: t.Any
) -> Generator[bytes, None, Response]:
    """The events of a streamed invocation, then the JSON answer that ends
    it: the invocation as any, run as the response's body is written,
    recorded for its submission key. What fails after the action (a page that
    does not render, a hook, a response of its own where a streaming action
    returns data) is a crash with its reference, since the stream has
    begun."""
    settled = False
    try:
        result, effects, passthrough = yield from invocation(
            entry, submission, streamed=True
        )
        if passthrough is not None:
            raise TypeError(
                f"action {entry.action.name} returned a response of its own while"
                " streaming; a streaming action returns data"
            )
        if ticket is not None:
            idempotency.settle(app, ticket, result, effects, None)
            settled = True
        return respond(submission, result, effects, None)
    except Exception as error:
        failed = ActionResult(
            ok=False,
            action=entry.action.name,
            args=submission.args,
            values=submission.values,
        )
        _crashed(app, failed, error)
        return app.response_class(
            codec.json_text(failed.to_json()), mimetype="application/json"
        )
    finally:
        # A crash, or a client that went away (GeneratorExit is no
        # Exception): the key is let go, as for any crash.
        if ticket is not None and not settled:
            idempotency.release(app, ticket)


def _let_go(app: Flask, ticket: t.Any) -> None:
    """Release the key of an invocation that never began."""
    if ticket is not None:
        idempotency.release(app, ticket)


def refused_before_the_action(response: Response) -> Response:
    """An ``after_request`` function: report a call that a ``before_request``
    function (or a ``url_value_preprocessor``) refused before the action's
    view was reached, as a failed result with the refusal's status.

    Without JavaScript the refusal's own response (the sign-in redirect, the
    403 page) is what the user gets; a script gets the result as JSON, with
    the sign-in page as its ``redirect``.
    """
    pending: tuple[Entry, Submission] | None = g.pop(_G_SUBMISSION, None)
    if pending is None:
        return response
    entry, submission = pending
    if submission.checking:  # no signal, no errors: the guard's status
        return validation.refused(response)
    action = entry.action
    result = ActionResult(
        ok=False,
        status=response.status_code,
        action=action.name,
        args=submission.args,
        values=submission.values,
    )
    location = response.location if 300 <= response.status_code < 400 else None
    if location:
        _sent_to_sign_in(result, location)
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    _announce(app, action, result, None)
    if submission.mode == "form":
        return response
    return app.response_class(
        codec.json_text(result.to_json()),
        status=result.status,
        mimetype="application/json",
    )


def _error_reference() -> str:
    return f"E-{secrets.token_hex(5).upper()}"


def _validation_result(error: ValidationError) -> tuple[dict[str, t.Any], str | None]:
    messages = error.messages
    if isinstance(messages, dict):
        general = messages.get("_schema")
        message = " ".join(map(str, general)) if isinstance(general, list) else None
        return wire.form_indexes(dict(messages)), message
    return {"_schema": list(messages)}, " ".join(map(str, messages))


_ATOMIC = (str, bytes, int, float, bool, type(None))


def _snapshot(mapping: t.Any) -> dict[str, t.Any]:
    """A deep copy of ``mapping`` (the session), made cheaply when every value
    is immutable (a session usually holds only a CSRF token and a user id)."""
    saved = dict(mapping._get_current_object())
    if all(type(value) in _ATOMIC for value in saved.values()):
        return saved
    return copy.deepcopy(saved)


#: Statuses that make a browser send the form again to the new location.
_METHOD_KEEPING = (307, 308)


#: What an invocation gives: its result, its effects and the response of its
#: own that the action returned, if any.
Invoked: t.TypeAlias = "tuple[ActionResult, Effects, Response | None]"


def invoke(entry: Entry, submission: Submission) -> Invoked:
    """Run the action of a checked submission and build its result
    (:func:`invocation`, its pieces dropped: a streaming action runs to its
    end)."""
    return streaming.result_of(invocation(entry, submission, streamed=False))


def invocation(
    entry: Entry, submission: Submission, *, streamed: bool
) -> Generator[bytes, None, Invoked]:
    """Run the action of a checked submission and build its result; with
    ``streamed``, yield the events of what a streaming action yields as it
    yields them (:func:`.streaming.pieces`), in this thread: the request's.

    The call's outcomes, each handled by its own function below: a return
    value or a response of its own (:func:`_returned`), a redirect
    (:func:`_follow`), a failure (:func:`_failed`: validation, an
    :class:`ActionError`, an HTTP error, a crash). A call that a decorator or
    hook refused (the action's own function never ran) is a failure with the
    status of the refusal. A rejection the page recovers from fails without
    running the ``before_action`` hooks or the action (:func:`_recover`).
    """
    if submission.soft_rejection is not None:
        return _recover(entry, submission, submission.soft_rejection)
    action = entry.action
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    result = ActionResult(
        ok=False, action=action.name, args=submission.args, values=submission.values
    )
    passthrough: Response | None = None
    exception: BaseException | None = None
    effects = begin_effects()
    saved_session = _snapshot(session)
    ran, token = begin_own_call()
    try:
        for hook in entry.before:
            app.ensure_sync(hook)(action, submission.args)
        call_args = submission.args
        if action.schema is not None:
            schema = messages.translated_schema(action.schema)
            call_args = (*call_args, schema.load(submission.payload))
        elif not action.hinted and submission.payload:
            _hint_unread(action, submission)
        if action_started.receivers:
            action_started.send(
                app, action=action, args=submission.args, _async_wrapper=app.ensure_sync
            )
        rv = app.ensure_sync(action.func)(*call_args)
        if streaming.is_stream(rv):
            if streamed:
                rv = yield from streaming.pieces(rv)
            else:
                rv = streaming.drain(rv)
        result.ran = _ran(action, ran, refusal=isinstance(rv, Response))
        if not result.ran and not isinstance(rv, Response):
            rv = app.make_response(rv)  # a decorator's answer: a view's return value
        passthrough = _returned(action, result, rv)
    except Redirect as r:
        result.ran = _ran(action, ran, refusal=False)
        _follow(action, result, r.location, r.code)
    except Exception as e:
        exception = e
        _failed(app, action, result, e, ran)
    finally:
        end_own_call(token)
        end_effects()
        if not result.ok and not effects.keep:
            _undo(effects, saved_session)
        if result.ok and result.message is None:
            result.message = effects.message
        result.revalidated_paths = list(effects.paths)
        result.revalidated_tags = list(effects.tags)
        effects.emit()

    result = _after_hooks(app, entry, result)
    _announce(app, action, result, exception)
    return result, effects, passthrough


def _hint_unread(action: Action[t.Any, t.Any], submission: Submission) -> None:
    """Tell the developer, once per action, that fields named like its
    parameters never reach a function declared without a schema."""
    unread = action.unread_fields(submission.payload, len(submission.args))
    if not unread:
        return
    action.hinted = True
    fields = ", ".join(repr(name) for name in unread)
    logger.warning(
        "Action %s has no schema, so the submitted field(s) %s did not reach its"
        " parameter(s) of the same name: without a schema an action receives its"
        " bound arguments only. To receive the fields, declare a schema, for"
        " example @bp.action(schema={%s}), and take the loaded data as the last"
        " argument (docs/actions.md).",
        action.name,
        fields,
        ", ".join(f"{name!r}: fields.Str()" for name in unread),
    )


def _recover(
    entry: Entry, submission: Submission, rejection: ActionRejected
) -> tuple[ActionResult, Effects, None]:
    """The failure of a rejection a page of this site recovers from: no
    ``before_action`` hook and no action runs; ``after_action`` hooks and
    ``action_failed`` see the failed result, as for any failure."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    result = ActionResult(
        ok=False,
        status=rejection.code or 400,
        message=rejection.get_message(),
        action=entry.action.name,
        args=submission.args,
        values=submission.values,
    )
    result = _after_hooks(app, entry, result)
    _announce(app, entry.action, result, rejection)
    return result, Effects(), None


def _after_hooks(app: Flask, entry: Entry, result: ActionResult) -> ActionResult:
    for hook in entry.after:
        replaced = app.ensure_sync(hook)(entry.action, result)
        if replaced is not None:
            result = replaced
    return result


def _returned(
    action: Action[t.Any, t.Any], result: ActionResult, rv: t.Any
) -> Response | None:
    """Succeed with the value the action returned, or record a response of
    its own (:func:`_own_response`), which is passed through unless it
    redirects."""
    if isinstance(rv, Response):
        return _own_response(action, result, rv)
    result.ok, result.status, result.data = True, 200, rv
    return None


def _failed(
    app: Flask,
    action: Action[t.Any, t.Any],
    result: ActionResult,
    error: Exception,
    ran: list[bool],
) -> None:
    """Fail with what ``error`` says: a validation error (422, the field
    errors), an :class:`ActionError` (its status, message and errors), an
    HTTP error (its status; a refusal if the action's own function did not
    run), anything else a crash (500 and a reference, :func:`_crashed`)."""
    result.ran = ran[0]
    if isinstance(error, ValidationError):
        result.status = 422
        result.errors, result.message = _validation_result(error)
    elif isinstance(error, ActionError):
        result.status, result.message = error.status, error.message
        result.errors = dict(error.errors)
    elif isinstance(error, HTTPException):
        result.ran = _ran(action, ran, refusal=True)
        result.status, result.message = error.code or 500, error.description
    else:
        _crashed(app, result, error)


def _ran(action: Action[t.Any, t.Any], box: list[bool], *, refusal: bool) -> bool:
    """Whether the action's own function ran. An action whose decorators are
    stacked under ``@bp.action`` cannot be watched: there an outcome shaped
    like a refusal (a response, an HTTP error) counts as one."""
    if action.watched:
        return box[0]
    return not refusal


def _own_response(
    action: Action[t.Any, t.Any], result: ActionResult, response: Response
) -> Response | None:
    """Record a response the action (or a decorator refusing it) returned; the
    response itself, unless it is a redirect, which is checked and followed as
    :func:`~flask_actions.redirect` is."""
    status = response.status_code
    if 300 <= status < 400 and response.location:
        if result.ran:
            _follow(action, result, response.location, status)
        else:
            _sent_to_sign_in(result, response.location)
        return None
    result.status = status
    result.ok = status < 400 and result.ran
    return response


def _follow(
    action: Action[t.Any, t.Any], result: ActionResult, location: str, code: int
) -> None:
    """Succeed with a redirect to ``location``, if it may be followed."""
    result.ok = True
    if not security.is_safe_redirect(location):
        _refuse_redirect(result, location)
        result.status = 200  # done, and the user stays on the page
        return
    # A 307 or 308 would make the browser send the form again, to the target.
    result.status = 303 if code in _METHOD_KEEPING else code
    result.redirect = location
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    redirected.send(
        app,
        action=action,
        location=location,
        code=result.status,
        _async_wrapper=app.ensure_sync,
    )


def _sent_to_sign_in(result: ActionResult, location: str) -> None:
    """A refusal that redirects (to sign in): a failure, 401, and the user
    still goes there if the location may be followed."""
    result.status = 401
    if security.is_safe_redirect(location):
        result.redirect = location
    else:
        _refuse_redirect(result, location)


def _refuse_redirect(result: ActionResult, location: str) -> None:
    logger.warning(
        "Action %s tried to send the user to %r, which is not this site, so the"
        " user stays on the page (add the host to ACTIONS_ALLOWED_REDIRECT_HOSTS if"
        " it is yours).",
        result.action,
        location,
    )
    result.redirect, result.redirect_refused = None, location
    if result.ok:
        result.message = (
            "Done. The link it wanted to open leads to another site, so you stay"
            " on this page."
        )
    else:
        result.message = "The link it wanted to open leads to another site."


def _crashed(app: Flask, result: ActionResult, error: Exception) -> None:
    reference = _error_reference()
    logger.exception(
        "Action %s failed with an unexpected error (reference %s)",
        result.action,
        reference,
        exc_info=error,
    )
    result.status, result.reference = 500, reference
    if app.debug or app.testing:
        result.message = f"{type(error).__name__}: {error} (reference {reference})"
    else:
        text = messages.translated(messages.CRASHED)
        result.message = text.format(reference=reference)


def _undo(effects: Effects, saved_session: dict[str, t.Any]) -> None:
    """A failure leaves the browser as it was: the session as before the call
    (but for flashed messages, which tell the user why) and no cookies."""
    effects.cookies.clear()
    flashes = session.get("_flashes")
    current = dict(session)
    current.pop("_flashes", None)
    before = {k: v for k, v in saved_session.items() if k != "_flashes"}
    if current != before:
        session.clear()
        session.update(before)
    if flashes:
        session["_flashes"] = flashes


def _announce(
    app: Flask,
    action: Action[t.Any, t.Any],
    result: ActionResult,
    exception: BaseException | None,
) -> None:
    if result.ok:
        if action_succeeded.receivers:
            action_succeeded.send(
                app, action=action, result=result, _async_wrapper=app.ensure_sync
            )
    else:
        action_failed.send(
            app,
            action=action,
            result=result,
            exception=exception,
            _async_wrapper=app.ensure_sync,
        )
