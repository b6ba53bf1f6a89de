"""What a shared page cache may store, and whom it may serve.

A cached page is served to every visitor whose request has the same cache key,
so nothing in it may belong to one visitor:

- Requests that carry personal state are never looked up nor stored: anything
  but GET and HEAD (including the page re-rendered inside an action request),
  a result cookie or a result being shown, an ``Authorization`` header, and a
  session holding keys other than the CSRF token and the shareable keys
  (``ACTIONS_CACHE_SHARED_SESSION_KEYS``), unless the view varies on them
  (``vary=["session:_user_id"]`` keeps one page per user).
- A page is rendered with a random *placeholder* in place of the visitor's
  CSRF token (Flask-WTF's :func:`~flask_wtf.csrf.generate_csrf` returns what
  ``g`` holds under the token's field name, without touching the session).
  Whoever is served the page, just rendered or from the cache, gets the
  placeholder replaced by their own token. The placeholder is stored with the
  page, so every process can replace it.
- A response that carries the visitor's own token (from the cache or not) is
  ``Cache-Control: private``: a proxy or a CDN in front of the app would
  otherwise store the first visitor's token and give it to everyone after.
  A view's ``public`` and ``s-maxage`` are dropped; its ``max-age`` still
  lets the visitor's own browser keep the page.
- A rendered page is stored only if it is a plain ``200``, sets no cookie,
  allows shared caching (no ``Cache-Control: no-store`` or ``private``), its
  view did not modify the session, and it shows neither the visitor's CSRF
  token nor the session's CSRF secret. Reading the session is allowed: it
  holds nothing personal, or the request would have been turned away above.
"""

from __future__ import annotations

import functools
import json
import secrets
import typing as t

from flask import current_app
from flask import g
from flask import request
from flask import session
from flask_wtf.csrf import generate_csrf
from werkzeug.wrappers import Response

from .. import flashing
from ..wire import csrf_field_name
from ..wire import G_WITHOUT_QUERY

VaryItem = str | t.Callable[[], t.Any]

_VARY_SOURCES: dict[str, t.Callable[[str], t.Any]] = {
    "session": lambda name: session.get(name),
    "header": lambda name: request.headers.get(name),
    "cookie": lambda name: request.cookies.get(name),
}


class Vary:
    """What a cached view's pages differ by besides their URL.

    :param items: ``"session:<key>"``, ``"header:<Name>"``, ``"cookie:<name>"``
        or callables without arguments (``lambda: current_user.get_id()``).
    """

    def __init__(self, items: VaryItem | t.Iterable[VaryItem] | None) -> None:
        if items is None:
            items = ()
        elif isinstance(items, str) or callable(items):
            items = (items,)
        self._sources: list[t.Callable[[], t.Any]] = []
        session_keys = set()
        for item in items:
            if callable(item):
                self._sources.append(item)
                continue
            kind, _, name = str(item).partition(":")
            if kind not in _VARY_SOURCES or not name:
                raise ValueError(
                    f"Cannot vary a cached page on {item!r}: use 'session:<key>',"
                    " 'header:<Name>', 'cookie:<name>' or a function without"
                    " arguments."
                )
            if kind == "session":
                session_keys.add(name)
            self._sources.append(functools.partial(_VARY_SOURCES[kind], name))
        #: Session keys the pages are kept apart by, and so may be present.
        self.session_keys = frozenset(session_keys)

    def values(self) -> list[str]:
        return [repr(source()) for source in self._sources]


def _raw_session() -> t.Any:
    """The request's session. (Reading it marks it accessed, so Flask adds
    ``Vary: Cookie`` to the response: right for a page that holds a
    per-visitor CSRF token.)"""
    return session._get_current_object()  # type: ignore[attr-defined]


def csrf_field() -> str:
    return csrf_field_name(current_app.config)


def bypass_reason(vary: Vary, shared_session_keys: t.Iterable[str]) -> str | None:
    """Why this request must neither be served from nor stored in the cache,
    or ``None`` when it may be."""
    if request.method not in ("GET", "HEAD") or request.environ.get(
        "REQUEST_METHOD"
    ) not in ("GET", "HEAD"):
        return "method"
    if (
        flashing.COOKIE_NAME in request.cookies
        or flashing.get_flashed_result() is not None
    ):
        return "action result"
    if "Authorization" in request.headers:
        return "authorization"
    personal = (
        set(_raw_session().keys())
        - {csrf_field(), *shared_session_keys}
        - set(vary.session_keys)
    )
    if personal:
        return "session"
    return None


def key_material(vary: Vary, tags: t.Sequence[str], query: bool) -> str:
    """Everything that tells this page apart from others, as a string."""
    return json.dumps(
        [
            request.scheme,
            request.host,
            request.script_root,
            request.path,
            sorted(request.args.items(multi=True)) if query else None,
            vary.values(),
            sorted(tags),
        ]
    )


class Rendering:
    """Renders a view so that what it produces can be shared.

    Inside the ``with`` block, ``generate_csrf()`` returns :attr:`placeholder`
    and changes to the session are noticed.
    """

    def __init__(self, query: bool = True) -> None:
        self.query = query
        self.placeholder = "fa" + secrets.token_hex(16)
        self.session_modified = False
        self._field = csrf_field()
        self._visitor_token: str | None = None

    def __enter__(self) -> Rendering:
        self._visitor_token = g.get(self._field)
        setattr(g, self._field, self.placeholder)
        if not self.query:  # one page for every query: none of them in it
            setattr(g, G_WITHOUT_QUERY, True)
        self._modified = bool(getattr(_raw_session(), "modified", False))
        return self

    def __exit__(self, *exc_info: t.Any) -> None:
        g.pop(G_WITHOUT_QUERY, None)
        if self._visitor_token is None:
            g.pop(self._field, None)
        else:
            setattr(g, self._field, self._visitor_token)
        modified = bool(getattr(_raw_session(), "modified", False))
        self.session_modified = modified and not self._modified

    def storable(self, response: Response) -> bool:
        """Whether ``response`` may be served to other visitors."""
        if (
            response.status_code != 200
            or response.is_streamed
            or response.direct_passthrough
            or "Set-Cookie" in response.headers
            or response.cache_control.no_store
            or response.cache_control.private
            or self.session_modified
            or flashing.get_flashed_result() is not None
        ):
            return False
        raw = _raw_session()
        secret = dict.get(raw, self._field) if isinstance(raw, dict) else None
        body = response.get_data()
        return not any(
            isinstance(value, str) and value.encode() in body
            for value in (self._visitor_token, secret)
        )


def personalise(response: Response, placeholder: str | None) -> Response:
    """Put the visitor's own CSRF token where ``placeholder`` is (and keep the
    response from shared caches, see :func:`keep_private`)."""
    if not placeholder or response.is_streamed or response.direct_passthrough:
        return response
    mark = placeholder.encode()
    body = response.get_data()
    in_headers = [k for k, v in response.headers.items() if placeholder in v]
    if mark not in body and not in_headers:
        return response
    token = generate_csrf()
    if mark in body:
        response.set_data(body.replace(mark, token.encode()))
    for name in in_headers:
        response.headers[name] = response.headers[name].replace(placeholder, token)
    keep_private(response)
    return response


def keep_private_if_personal(response: Response) -> Response:
    """:func:`keep_private` for a response rendered outside the cache, if it
    shows the request's CSRF token (Flask-WTF keeps it in ``g``)."""
    token = g.get(csrf_field())
    if (
        isinstance(token, str)
        and not response.is_streamed
        and not response.direct_passthrough
        and (
            token.encode() in response.get_data()
            or any(token in value for value in response.headers.values())
        )
    ):
        keep_private(response)
    return response


def keep_private(response: Response) -> None:
    """Mark a response that carries one visitor's token ``private``: no
    shared cache may store it. ``max-age`` stays for the visitor's browser."""
    control = response.cache_control
    control.public = False
    control.s_maxage = None
    control.private = True
