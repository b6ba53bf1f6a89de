"""What a duplicate submission gets: the first one's outcome, as the store
keeps it (:func:`encode`, :func:`decode`), and, within
:data:`CARRY_EFFECTS_FOR` seconds, the session and cookies the first one
left (:func:`carried`), since the browser that sent the duplicate dropped
the first answer (``docs/idempotency.md``).

An outcome is its fields as JSON, a NUL (which JSON text escapes), its data
encoded with :mod:`~flask_actions.codec` (typed values come back typed), a
NUL, and the sealed session and cookies (AES-GCM, bound to the
submission's store key), at most :data:`~flask_actions.claims.MAX_OUTCOME`
bytes.
"""

from __future__ import annotations

import functools
import json
import logging
import typing as t

from flask import after_this_request
from flask import Flask
from flask import session

from . import claims
from . import codec
from .crypto import BadToken
from .keys import keys_of
from .results import ActionResult
from .results import CookieChange

if t.TYPE_CHECKING:
    from werkzeug.wrappers import Response

    from .action import Action
    from .results import Effects
    from .wire import Submission

logger = logging.getLogger("flask_actions")

_EFFECTS_CONTEXT = b"submission-effects:"

_ALREADY_DONE = "This was already done."
#: Made once: json.dumps with options builds an encoder per call.
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))


def encode(result: ActionResult, own_response: bool, carried: bytes) -> bytes:
    """The result, as a duplicate will get it (at most MAX_OUTCOME bytes):
    its fields as JSON, a NUL (which JSON text escapes), its data encoded
    with :mod:`~flask_actions.codec` (typed values come back typed), a NUL,
    and what it did to the browser, sealed (:func:`carried`)."""
    ok, status, message, data = result.ok, result.status, result.message, result.data
    if own_response:  # a file or a page of its own: not kept
        ok, status, message, data = True, 200, message or _ALREADY_DONE, None
    try:
        encoded = codec.dumps(data)
    except codec.CodecError:
        encoded = codec.dumps(codec.to_json(data))
    errors = codec.to_json(result.errors) if result.errors else {}
    fields: list[t.Any] = [ok, status, message, result.redirect]
    fields += [result.revalidated_paths, result.revalidated_tags]
    fields += [result.reference, result.ran, errors]
    if fields[2:7] == _NOTHING_SAID and not errors:  # the common case
        head = _plain_head(ok, status, result.ran)
    else:
        head = _COMPACT_JSON.encode(fields).encode()
    raw = head + b"\0" + encoded + b"\0" + carried
    if len(raw) > claims.MAX_OUTCOME:
        fields[2], fields[8] = message or _ALREADY_DONE, {}
        raw = _COMPACT_JSON.encode(fields).encode() + b"\0null\0" + carried
    if len(raw) > claims.MAX_OUTCOME:
        raw = raw[: -len(carried) or None]
    return raw


#: The fields of a result that says nothing but its status: no message, no
#: redirect, nothing revalidated, no reference.
_NOTHING_SAID: list[t.Any] = [None, None, [], [], None]


@functools.lru_cache(maxsize=64, typed=True)
def _plain_head(ok: bool, status: int, ran: bool) -> bytes:
    """The fields of such a result, encoded once per kind."""
    return _COMPACT_JSON.encode([ok, status, *_NOTHING_SAID, ran, {}]).encode()


#: Seconds during which a duplicate also gets what the first request did to
#: the browser (its session, its cookies): the first answer was lost, the
#: browser has what it had before. Later (going back and sending again an
#: hour on) the session may have moved on, and is left as it is.
CARRY_EFFECTS_FOR = 60


def carried(app: Flask, key: bytes, effects: Effects) -> bytes:
    """The session and cookies the action left, sealed for ``key`` (``b""``
    when it changed neither, or they cannot be encoded)."""
    changed = bool(getattr(session, "modified", False))
    if not (changed or effects.cookies):
        return b""
    cookies = [[c.key, c.value, c.options] for c in effects.cookies]
    try:
        raw = codec.dumps([dict(session) if changed else None, cookies])
    except codec.CodecError:
        logger.info("A duplicate will not get this action's session: not encodable.")
        return b""
    ring = keys_of(app).ring(app)
    return ring.seal("result", raw, _EFFECTS_CONTEXT + key).encode()


def _apply_carried(app: Flask, key: bytes, sealed: bytes) -> None:
    """Give this duplicate's browser the session and cookies of the first."""
    ring = keys_of(app).ring(app)
    try:
        raw = ring.unseal(
            "result", sealed.decode(), _EFFECTS_CONTEXT + key, CARRY_EFFECTS_FOR
        )
        saved, cookies = codec.loads(raw)
    except (BadToken, codec.CodecError, ValueError):
        return  # too old, or not ours: the session stays as it is
    if saved is not None:
        session.clear()
        session.update(saved)
    for name, value, options in cookies:
        change = CookieChange(name, value, dict(options))

        def apply(response: Response, change: CookieChange = change) -> Response:
            change(response)
            return response

        after_this_request(apply)


def decode(
    app: Flask,
    action: Action[t.Any, t.Any],
    submission: Submission,
    outcome: bytes,
) -> ActionResult:
    head, _, rest = outcome.partition(b"\0")
    data, _, carried = rest.partition(b"\0")
    if carried and submission.key is not None:
        _apply_carried(app, submission.key, carried)
    ok, status, message, redirect, paths, tags, reference, ran, errors = json.loads(
        head
    )
    logger.info(
        "A duplicate submission of %s got the first one's outcome.", action.name
    )
    return ActionResult(
        ok=bool(ok),
        status=int(status),
        data=codec.loads(data),
        errors=dict(errors),
        message=message,
        redirect=redirect,
        revalidated_paths=list(paths),
        revalidated_tags=list(tags),
        reference=reference,
        ran=bool(ran),
        action=action.name,
        args=submission.args,
        values=submission.values,
    )
