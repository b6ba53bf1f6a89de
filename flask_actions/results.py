"""What an action produces, and the helpers that steer it from inside.

An action returns data or raises; either way the dispatcher builds an
:class:`ActionResult`. Inside an action, :func:`redirect`,
:func:`revalidate_path`, :func:`revalidate_tag`, :func:`set_cookie` and
:func:`delete_cookie` record *effects* on the running invocation; the
dispatcher applies them once the action has returned, so that caches are
invalidated after the data they describe was committed.
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools
import inspect
import typing as t

from flask import current_app
from flask import g

from . import codec
from .signals import path_revalidated
from .signals import tag_revalidated

if t.TYPE_CHECKING:
    from werkzeug.sansio.response import Response


class Named(t.Protocol):
    """What :meth:`ActionResult.matches` reads of an
    :class:`~flask_actions.Action` or a :class:`~flask_actions.BoundAction`
    (results sit below actions: an action's module imports this one)."""

    @property
    def name(self) -> str: ...


_G_EFFECTS = "_flask_actions_effects"


@dataclasses.dataclass
class ActionResult:
    """The outcome of one invocation of an action.

    Templates get it from ``action_result()``, JavaScript as JSON, tests from
    :mod:`flask_actions.testing`.
    """

    #: ``True`` when the action ran and returned (or redirected).
    ok: bool
    #: The HTTP status: 200, 422 for validation errors, the
    #: :class:`~flask_actions.ActionError` status, 500 for a crash...
    status: int = 200
    #: What the action returned.
    data: t.Any = None
    #: Field errors, marshmallow-style ``{field: [messages]}`` (nested for
    #: nested schemas).
    errors: dict[str, t.Any] = dataclasses.field(default_factory=dict)
    #: A form-level message, or ``None``.
    message: str | None = None
    #: What the user submitted, to refill the form (never password fields).
    values: dict[str, t.Any] = dataclasses.field(default_factory=dict)
    #: Where the action redirected to, or ``None``.
    redirect: str | None = None
    #: Paths revalidated by the action.
    revalidated_paths: list[str] = dataclasses.field(default_factory=list)
    #: Tags revalidated by the action.
    revalidated_tags: list[str] = dataclasses.field(default_factory=list)
    #: For unexpected errors: the reference also written to the server log.
    reference: str | None = None
    #: The name of the action that produced this result.
    action: str | None = None
    #: The bound arguments it ran with.
    args: tuple[t.Any, ...] = ()
    #: Whether the action's own function ran. ``False`` when a decorator, a
    #: hook or a ``before_request`` function refused the call, or the payload
    #: did not validate (see ``docs/actions.md``).
    ran: bool = False
    #: Where the action wanted to send the user when that was refused (another
    #: site): the work was done, the user stayed on the page.
    redirect_refused: str | None = None
    #: ``True`` when the action did not run because it asks for a confirmation
    #: first (``confirm=`` on ``fa.button`` or ``fa.form``); ``message`` is
    #: the question, and the page renders its form or button confirmed.
    awaiting_confirmation: bool = False
    #: Which of the page's ``fa.form``\ s of the same target (action and
    #: bound arguments) was sent, counted from 1 in the order the page
    #: renders them: the one whose messages, errors and values show it.
    form_number: int = 1

    @property
    def revalidated(self) -> dict[str, list[str]]:
        """``{"paths": [...], "tags": [...]}``, as JavaScript callers see it."""
        return {
            "paths": list(self.revalidated_paths),
            "tags": list(self.revalidated_tags),
        }

    def matches(self, target: Named | str | None) -> bool:
        """Whether this result belongs to ``target``.

        An :class:`~flask_actions.Action` (or its name) matches any invocation of
        it; a :class:`~flask_actions.BoundAction` only the invocation with the
        same bound arguments, so that errors show in the one form of a list of
        forms that was submitted.
        """
        if target is None:
            return True
        if isinstance(target, str):
            return target == self.action
        bound = getattr(target, "args", None)
        if bound is None:
            return target.name == self.action
        if target.name != self.action or tuple(bound) != tuple(self.args):
            return False
        # Equal, then by their encoding, which tells 1, True and 1.0 apart
        # (Python's == does not): each is a form of its own.
        payload = getattr(target, "payload", None)
        if payload is None:
            return True
        try:
            return bool(payload == codec.dumps(list(self.args)))
        except codec.CodecError:
            return True

    def to_json(
        self,
        *,
        html: str | None = None,
        rendered_at: int | None = None,
        reason: str | None = None,
        csrf_token: str | None = None,
    ) -> dict[str, t.Any]:
        """The JSON document sent to JavaScript callers (``docs/wire.md``).

        The one place its keys are written: results, rejections and the test
        helpers (:meth:`from_json`) all go through here.

        :param html: the page as it is now, when the answer carries it.
        :param rendered_at: when ``html`` was rendered (ns since the epoch).
        :param reason: why the request was rejected (``"csrf"``...).
        :param csrf_token: a fresh CSRF token, after an expired one.
        """
        body: dict[str, t.Any] = {
            "ok": self.ok,
            "status": self.status,
            "data": codec.to_json(self.data),
            "errors": self.errors,
            "message": self.message,
            "redirect": self.redirect,
            "revalidated": self.revalidated,
            "reference": self.reference,
            "ran": self.ran,
            "awaiting_confirmation": self.awaiting_confirmation,
            "html": html,
        }
        if rendered_at is not None:
            body["rendered_at"] = rendered_at
        if reason is not None:
            body["reason"] = reason
        if csrf_token is not None:
            body["csrf_token"] = csrf_token
        return body

    @classmethod
    def fields_of_json(cls, body: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
        """The fields of a result read back from :meth:`to_json`'s document
        (bound arguments and the action's name do not travel)."""
        revalidated = body.get("revalidated") or {}
        return {
            "ok": bool(body["ok"]),
            "status": body.get("status", 200),
            "data": body.get("data"),
            "errors": body.get("errors") or {},
            "message": body.get("message"),
            "redirect": body.get("redirect"),
            "revalidated_paths": list(revalidated.get("paths", [])),
            "revalidated_tags": list(revalidated.get("tags", [])),
            "reference": body.get("reference"),
            "ran": bool(body.get("ran", False)),
            "awaiting_confirmation": bool(body.get("awaiting_confirmation", False)),
        }


class Redirect(BaseException):
    """Raised by :func:`redirect` to end an action.

    It derives from :class:`BaseException`, like :class:`SystemExit`, so that
    ``except Exception`` inside an action does not swallow it.
    """

    def __init__(self, location: str, code: int) -> None:
        super().__init__(location, code)
        self.location = location
        self.code = code


@dataclasses.dataclass(frozen=True)
class CookieChange:
    """A cookie the running action sets (``value``) or deletes (``value`` is
    ``None``); called with the response, it applies itself to it."""

    key: str
    value: str | None
    #: The options of :meth:`werkzeug.wrappers.Response.set_cookie` (or
    #: ``delete_cookie``).
    options: dict[str, t.Any]

    def __call__(self, response: Response) -> None:
        if self.value is None:
            response.delete_cookie(self.key, **self.options)
        else:
            response.set_cookie(self.key, self.value, **self.options)


@dataclasses.dataclass
class Effects:
    """What the running action asked for besides its return value."""

    paths: list[str] = dataclasses.field(default_factory=list)
    tags: list[str] = dataclasses.field(default_factory=list)
    cookies: list[CookieChange] = dataclasses.field(default_factory=list)
    message: str | None = None
    #: Set by :func:`keep_changes`: a failure keeps the session and cookies.
    keep: bool = False

    def emit(self) -> None:
        """Send the revalidation signals for what was recorded."""
        if not (self.paths or self.tags):
            return
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        for path in self.paths:
            path_revalidated.send(app, path=path, _async_wrapper=app.ensure_sync)
        for tag in self.tags:
            tag_revalidated.send(app, tag=tag, _async_wrapper=app.ensure_sync)


def current_effects() -> Effects | None:
    """The effects of the action running in this request, if any."""
    return t.cast("Effects | None", g.get(_G_EFFECTS))


def begin_effects() -> Effects:
    effects = Effects()
    setattr(g, _G_EFFECTS, effects)
    return effects


def end_effects() -> None:
    g.pop(_G_EFFECTS, None)


def _require_effects(helper: str) -> Effects:
    effects = current_effects()
    if effects is None:
        raise RuntimeError(
            f"{helper}() can only be called while an action runs through a request."
            " Call the action through the test helpers or a form to use it."
        )
    return effects


def redirect(location: str, code: int = 303) -> t.NoReturn:
    """End the running action and send the user to ``location``.

    Without JavaScript the browser gets a ``303 See Other``; JavaScript callers
    get the location in the result and navigate. Only same-site locations are
    followed, unless their host is in ``ACTIONS_ALLOWED_REDIRECT_HOSTS``; an
    action that redirects elsewhere fails with status 400.

    Not caught by ``except Exception``. Call revalidation helpers before it.

    :param location: a path (``url_for(...)``) or an absolute URL.
    :param code: a redirect status: 303 (default), 302, 301, 307 or 308.
    """
    if code not in (301, 302, 303, 307, 308):
        raise ValueError(
            f"{code} is not a redirect status; use 303, 302, 301, 307 or 308."
        )
    raise Redirect(location, code)


def keep_changes() -> None:
    """Keep the running action's session and cookie changes even if it fails.

    A failed action (a crash, a :class:`~marshmallow.ValidationError`, an
    :class:`~flask_actions.ActionError`, an ``abort``) is undone as far as
    the browser is concerned: the session is restored to what it was before
    the call and the cookies set with :func:`set_cookie` are not sent, so the
    user is where they were before pressing the button. Flashed messages are
    the exception: they are how a failure speaks to the user. An action that
    records a failure on purpose (a counter of failed sign-ins) calls this
    first::

        session["failed_logins"] = session.get("failed_logins", 0) + 1
        keep_changes()
        raise ActionError("Wrong e-mail or password.")
    """
    _require_effects("keep_changes").keep = True


#: While an action request calls its action: ``[False]``, set to ``[True]``
#: by the action's own function (see :func:`watch_own_call`).
_own_call: contextvars.ContextVar[list[bool] | None] = contextvars.ContextVar(
    "flask_actions_own_call", default=None
)
_OWN_MARK = "__flask_actions_own__"


def watch_own_call(func: t.Callable[..., t.Any]) -> t.Callable[..., t.Any]:
    """Wrap an action's own function so that its result can tell whether it
    ran, or whether a decorator around it refused the call.

    A function that is already decorated (decorators stacked under
    ``@bp.action``, visible by their ``__wrapped__``) cannot be watched from
    inside: it is returned as it is.
    """
    if hasattr(func, "__wrapped__"):
        return func
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def own_async(*args: t.Any, **kwargs: t.Any) -> t.Any:
            box = _own_call.get()
            if box is not None:
                box[0] = True
            return await func(*args, **kwargs)

        wrapper: t.Callable[..., t.Any] = own_async
    else:

        @functools.wraps(func)
        def own(*args: t.Any, **kwargs: t.Any) -> t.Any:
            box = _own_call.get()
            if box is not None:
                box[0] = True
            return func(*args, **kwargs)

        wrapper = own
    setattr(wrapper, _OWN_MARK, True)
    return wrapper


def begin_own_call() -> tuple[list[bool], contextvars.Token[list[bool] | None]]:
    box = [False]
    return box, _own_call.set(box)


def end_own_call(token: contextvars.Token[list[bool] | None]) -> None:
    _own_call.reset(token)


def _revalidate(kind: t.Literal["paths", "tags"], value: str) -> None:
    effects = current_effects()
    if effects is None:  # outside an action: signal at once
        effects = Effects()
        getattr(effects, kind).append(value)
        effects.emit()
    elif value not in getattr(effects, kind):
        getattr(effects, kind).append(value)


def revalidate_path(path: str) -> None:
    """Mark the cached page at ``path`` stale.

    Inside an action the path is recorded on the result and
    :data:`~flask_actions.signals.path_revalidated` is sent once the action
    returned; outside one, the signal is sent at once.
    """
    _revalidate("paths", path)


def revalidate_tag(tag: str) -> None:
    """Mark every cached page tagged ``tag`` stale.

    Inside an action the tag is recorded on the result and
    :data:`~flask_actions.signals.tag_revalidated` is sent once the action
    returned; outside one, the signal is sent at once.
    """
    _revalidate("tags", tag)


def set_message(message: str) -> None:
    """Set the form-level message shown when the running action succeeds
    ("Added “Milk”."). It is the result's ``message``: ``fa.message()`` shows
    it, also on the page a ``redirect()`` leads to, and JavaScript gets it in
    the JSON result. A failure shows its own message instead.
    """
    _require_effects("set_message").message = message


def set_cookie(key: str, value: str = "", **options: t.Any) -> None:
    """Set a cookie on whatever response the running action produces: the
    redirect, the re-rendered page or the JSON result.

    Takes the arguments of :meth:`werkzeug.wrappers.Response.set_cookie`.
    ``flask.after_this_request`` works as well.
    """
    _require_effects("set_cookie").cookies.append(CookieChange(key, value, options))


def delete_cookie(key: str, **options: t.Any) -> None:
    """Delete a cookie on the response of the running action.

    Takes the arguments of :meth:`werkzeug.wrappers.Response.delete_cookie`.
    """
    _require_effects("delete_cookie").cookies.append(CookieChange(key, None, options))
