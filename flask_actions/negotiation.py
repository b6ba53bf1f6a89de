"""How the client wants the answer (the response mode), read from the
request's headers.

It sits below :mod:`~flask_actions.wire` and
:mod:`~flask_actions.exceptions`: a rejection renders in the mode of the
request that caused it, from the ``environ`` Werkzeug hands it, and the
request walk reads the same mode once per action request.
"""

from __future__ import annotations

import typing as t

from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header

if t.TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

#: The header of a script's call naming the action it invokes.
ACTION_HEADER = "X-Action"
#: The header the browser script sends to say how it wants the answer.
MODE_HEADER = "X-Flask-Actions"

#: How the client wants the answer.
#: ``"form"``: a browser without the script (303 or a page);
#: ``"enhanced"``: the script submitting a form (JSON, with the page HTML);
#: ``"call"``: the script's ``FlaskActions.call`` (JSON, with the page HTML
#: when the action changed something);
#: ``"json"``: any other JavaScript or API caller (JSON).
Mode = t.Literal["form", "enhanced", "call", "json"]


def environ_key(header: str) -> str:
    """The WSGI environ key of request header ``header`` (what
    ``request.headers.get`` looks up, without its per-call work)."""
    key = header.upper().replace("-", "_")
    return key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key


ACTION_KEY = environ_key(ACTION_HEADER)
MODE_KEY = environ_key(MODE_HEADER)


def response_mode(environ: WSGIEnvironment) -> Mode:
    """The mode the request of ``environ`` asks for."""
    mode = str(environ.get(MODE_KEY, "")).lower()
    if mode == "form":
        return "enhanced"
    if mode == "call":
        return "call"
    if mode or ACTION_KEY in environ:
        return "json"
    accept = parse_accept_header(environ.get("HTTP_ACCEPT"), MIMEAccept)
    best = accept.best_match(["text/html", "application/json"])
    return "json" if best == "application/json" else "form"
