"""Flashing a result: across the post/redirect/get of a form without
JavaScript, as Flask's :func:`~flask.flash` carries a message.

After a successful action the browser is sent a ``303`` and loads the page
again; the result rides along in a short-lived cookie (the result cookie),
sealed with AES-GCM (it may hold private data) and tied to the destination
path. The page that shows it removes the cookie. A result too large for a
cookie is never truncated: :mod:`flask_actions.respond` then renders the page
in the response itself.
"""

from __future__ import annotations

import typing as t
import zlib

from flask import current_app
from flask import g
from flask import request
from werkzeug.wrappers import Response

from . import codec
from .crypto import BadToken
from .keys import keys_of
from .results import ActionResult

COOKIE_NAME = "flask_actions_result"
#: Browsers keep cookies up to 4096 bytes, name and attributes included.
MAX_COOKIE_VALUE = 3800
#: Seconds a result waits for its page.
MAX_AGE = 120

_G_RESULT = "_flask_actions_result"
_G_LOADED = "_flask_actions_cookie_loaded"
_CONTEXT = b"result"


def _cookie_path() -> str:
    return request.script_root or "/"


def flash_result(response: Response, result: ActionResult, path: str) -> bool:
    """Flash ``result`` to the page at ``path`` in a cookie of ``response``;
    ``False`` (and no cookie) when it cannot fit in one."""
    fields = {
        "ok": result.ok,
        "status": result.status,
        "message": result.message,
        "redirect": result.redirect,
        "paths": result.revalidated_paths,
        "tags": result.revalidated_tags,
        "action": result.action,
        "args": list(result.args),
        "path": path,
    }
    if result.form_number != 1:  # the second form of its target, or later
        fields["form"] = result.form_number
    try:
        raw = codec.dumps({**fields, "data": result.data})
    except codec.CodecError:
        raw = codec.dumps({**fields, "data": codec.to_json(result.data)})
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    sealed = keys_of(app).ring(app).seal("result", zlib.compress(raw), _CONTEXT)
    if len(sealed) > MAX_COOKIE_VALUE:
        return False
    response.set_cookie(
        COOKIE_NAME,
        sealed,
        max_age=MAX_AGE,
        path=_cookie_path(),
        secure=request.is_secure,
        httponly=True,
        samesite="Lax",
    )
    return True


def show_result(result: ActionResult) -> None:
    """Make ``result`` what ``action_result()`` returns during this request."""
    setattr(g, _G_RESULT, result)


def get_flashed_result() -> ActionResult | None:
    """The result shown on this page: the one of this request's action
    (:func:`show_result`), or the one flashed to this path."""
    result = g.get(_G_RESULT)
    if result is None and not g.get(_G_LOADED):
        setattr(g, _G_LOADED, True)
        result = _load()
        if result is not None:
            setattr(g, _G_RESULT, result)
    return t.cast("ActionResult | None", result)


def _load() -> ActionResult | None:
    sealed = request.cookies.get(COOKIE_NAME)
    if not sealed or request.method not in ("GET", "HEAD"):
        return None
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        raw = keys_of(app).ring(app).unseal("result", sealed, _CONTEXT, max_age=MAX_AGE)
        fields = codec.loads(zlib.decompress(raw))
    except (BadToken, codec.CodecError, zlib.error):
        return None
    if not isinstance(fields, dict) or fields.get("path") != request.path:
        return None
    return ActionResult(
        ok=bool(fields["ok"]),
        status=int(fields["status"]),
        data=fields["data"],
        message=fields["message"],
        redirect=fields["redirect"],
        revalidated_paths=list(fields["paths"]),
        revalidated_tags=list(fields["tags"]),
        action=fields["action"],
        args=tuple(fields["args"]),
        form_number=int(fields.get("form", 1)),
    )


def discard_flashed_result(response: Response) -> Response:
    """An ``after_request`` function: the page that a result was flashed to
    removes the cookie, whether or not it showed the result."""
    if (
        request.method == "GET"
        and COOKIE_NAME in request.cookies
        and get_flashed_result() is not None
        and g.get(_G_LOADED)
    ):
        response.delete_cookie(COOKIE_NAME, path=_cookie_path())
    return response
