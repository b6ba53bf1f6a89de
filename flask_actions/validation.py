"""Validate-only requests: the schema's verdict on a form, the action not run.

A form rendered with ``fa.form(..., live=True)`` asks the browser script
(``flask-actions-live.js``) to check its fields while the user types. The
script posts the form as it is, with ``X-Flask-Actions: validate``. The
request walks the same way as a submission up to the action's endpoint
(size, origin, identity, CSRF token, bound arguments; then the app's and the
action's blueprint's ``before_request`` functions, its guards), and there
only the action's schema loads the payload:

- ``204 No Content``: the form is valid as it stands;
- ``422`` with ``{"ok": false, "errors": {...}}``: the errors, as a failed
  submission would have them.

Its ``before_action`` hooks run before the schema, as they do before a
submission's: they are guards (strict mode counts them), and one that
refuses gets its status and no errors. The action, its ``after_action``
hooks and the ``action_*`` signals never run for it. An action declared with decorators
(``decorators=[login_required]``, or stacked under ``@bp.action``) is
refused live checks (403): its decorators cannot run without it, and a
verdict must not reach whom they would refuse. A
field marked ``metadata={"live": False}`` (a check that is costly or has
side effects) is not loaded at all: it is left out of the schema used here,
and so are file fields (the script does not send files for a check: they
are checked on submission only).
"""

from __future__ import annotations

import functools
import logging
import typing as t

from flask import current_app
from flask import Flask
from marshmallow import fields as ma
from marshmallow import Schema
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from . import codec
from . import messages
from .exceptions import ActionError
from .negotiation import MODE_KEY
from .uploads import File
from .wire import current_request
from .wire import form_indexes

if t.TYPE_CHECKING:
    from .registry import Entry
    from .wire import Submission

logger = logging.getLogger("flask_actions")

#: The value of ``X-Flask-Actions`` that asks for validation only.
VALIDATE = "validate"


def requested() -> bool:
    """Whether the current request asks for validation only."""
    mode = current_request().environ.get(MODE_KEY, "")
    return str(mode).lower() == VALIDATE


def _live_excluded(schema: Schema, depth: int = 0) -> dict[str, t.Any]:
    """``schema``'s fields marked ``live: False``, by payload name: ``True``
    for the field itself, a dict of the same kind for a nested schema that
    has such fields."""
    out: dict[str, t.Any] = {}
    for attr, field in schema.load_fields.items():
        name = field.data_key or attr
        item = field.inner if isinstance(field, ma.List) else field
        # Files are not sent for live checks (the script leaves them out):
        # they are checked on submission only.
        if field.metadata.get("live") is False or isinstance(item, File):
            out[name] = True
        elif isinstance(field, ma.Nested) and not field.many and depth < 16:
            nested = field.schema
            rules = (
                _live_excluded(nested, depth + 1) if isinstance(nested, Schema) else {}
            )
            if rules:
                out[name] = rules
    return out


def _without(payload: dict[str, t.Any], left_out: dict[str, t.Any]) -> dict[str, t.Any]:
    """``payload`` without the fields of ``left_out``."""
    out = {}
    for key, value in payload.items():
        rule = left_out.get(key)
        if rule is True:
            continue
        if rule and isinstance(value, dict):
            value = _without(value, rule)
        out[key] = value
    return out


def _attr_paths(
    schema: Schema, left_out: dict[str, t.Any], prefix: str = ""
) -> list[str]:
    by_name = {f.data_key or a: a for a, f in schema.load_fields.items()}
    out = []
    for name, rule in left_out.items():
        attr = prefix + by_name[name]
        if rule is True:
            out.append(attr)
        else:
            nested = t.cast(ma.Nested, schema.load_fields[by_name[name]]).schema
            out.extend(_attr_paths(nested, rule, attr + "."))
    return out


@functools.lru_cache(maxsize=256)
def _live_schema(schema: Schema) -> tuple[Schema, dict[str, t.Any]]:
    """The schema a validate-only request loads with: ``schema`` without its
    fields marked ``live: False`` (nested schemas' too), and those fields
    (see :func:`_live_excluded`), to leave out of the payload."""
    left_out = _live_excluded(schema)
    if not left_out:
        return schema, left_out
    copy = type(schema)(
        only=t.cast("set[str] | None", schema.only),
        exclude=(*schema.exclude, *_attr_paths(schema, left_out)),
        many=schema.many,
        load_only=schema.load_only,
        dump_only=schema.dump_only,
        partial=schema.partial,
        unknown=schema.unknown,
    )
    return copy, left_out


def answer(entry: Entry, submission: Submission) -> Response:
    """The answer to a validate-only request that its guards let through."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    if entry.action.decorated:
        # Its decorators (login_required...) wrap the function: they cannot
        # run without it, and a verdict must not reach whom they would refuse
        # (a validator may look a name up: who could probe them then?).
        _refusing_decorated(entry.action.name)
        return _no_verdict(app, 403)
    refusal = _refused_by_hooks(app, entry, submission)
    if refusal is not None:
        return refusal
    schema = entry.action.schema
    if schema is None:
        return app.response_class(status=204)
    # Left-out fields first, then the translation: the live copy is a new
    # schema, which would lose the translated messages.
    schema, left_out = _live_schema(schema)
    schema = messages.translated_schema(schema)
    payload = _without(submission.payload, left_out) if left_out else submission.payload
    try:
        # validate(), not load(): the verdict without @post_load, which builds
        # what the action would use (a model, a lookup): the action's work.
        found = schema.validate(payload)
    except Exception:
        # A validator that fails on a partial form: the page keeps what it
        # shows (the script applies only 204 and 422), the submission will say.
        logger.exception(
            "A validator of %s raised an error during a live check (a validator"
            " should expect any input, e.g. a missing key in @validates_schema).",
            entry.action.name,
        )
        return _no_verdict(app, 500)
    if found:
        errors = form_indexes(found) if isinstance(found, dict) else {"_schema": found}
        return _json_answer(app, 422, {"ok": False, "status": 422, "errors": errors})
    return app.response_class(status=204)


def _refused_by_hooks(
    app: Flask, entry: Entry, submission: Submission
) -> Response | None:
    """Run the action's ``before_action`` hooks, which are guards as much as
    a ``before_request`` function is (strict mode counts them): the answer
    when one refuses (its status, no errors), else ``None``."""
    try:
        for hook in entry.before:
            app.ensure_sync(hook)(entry.action, submission.args)
    except ActionError as e:
        status = e.status
    except HTTPException as e:  # abort(401), abort(redirect(...))
        status = e.response.status_code if e.response is not None else e.code or 403
    except Exception:
        logger.exception(
            "A before_action hook of %s raised an error during a live check.",
            entry.action.name,
        )
        status = 500
    else:
        return None
    return _no_verdict(app, status if status >= 400 else 401)


@functools.lru_cache(maxsize=256)
def _refusing_decorated(name: str) -> None:
    """Say once per action why its live checks are refused."""
    logger.warning(
        "Live checks of %s are refused: it is declared with decorators"
        " (decorators= or stacked under @bp.action), which cannot run without the"
        " action. Guard it with a before_request function of its blueprint for"
        " live checks to work.",
        name,
    )


def _no_verdict(app: Flask, status: int) -> Response:
    """A refusal that says nothing of the fields (who may not submit the
    form learns nothing of what it holds)."""
    return _json_answer(app, status, {"ok": False, "status": status, "errors": {}})


def _json_answer(app: Flask, status: int, body: dict[str, t.Any]) -> Response:
    response = app.response_class(
        codec.json_text(body), status=status, mimetype="application/json"
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def refused(response: Response) -> Response:
    """A validate-only request that a guard refused: the guard's status, and
    no errors (a user who may not submit learns nothing of the fields)."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    status = response.status_code if response.status_code >= 400 else 401
    return _no_verdict(app, status)
