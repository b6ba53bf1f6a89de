"""What an action request carries: its identity, how it wants the answer, and
its payload.

See ``docs/wire.md`` for the protocol. Nothing read here chooses Python code:
the identity is looked up in the registry of actions, never used as a name.
"""

from __future__ import annotations

import functools
import json
import typing as t

from flask import Request
from flask import request
from marshmallow import fields as ma_fields
from marshmallow import Schema
from werkzeug.datastructures import FileStorage
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import RequestEntityTooLarge

from .exceptions import MalformedRequest
from .exceptions import PayloadTooLarge

ACTION_FIELD = "_action"
BUTTON_FIELD = "_button"
#: Separates the ref from the CSRF token in the value of an ``fa.button``
#: outside an ``fa.form`` (``"REF~TOKEN"``): neither contains it.
BUTTON_TOKEN_SEPARATOR = "~"
ACTION_HEADER = "X-Action"
MODE_HEADER = "X-Flask-Actions"

FORM_MIMETYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

#: How the client wants the answer.
#: ``"form"``: a browser without the script (303 or a page);
#: ``"enhanced"``: the script submitting a form (JSON, with the page HTML);
#: ``"call"``: the script's ``FlaskActions.call`` (JSON, with the page HTML
#: when the action changed something);
#: ``"json"``: any other JavaScript or API caller (JSON).
Mode = t.Literal["form", "enhanced", "call", "json"]

#: The deepest JSON payload accepted (objects and arrays).
MAX_JSON_DEPTH = 64


def current_request() -> Request:
    """The request itself, not its proxy: hot paths read it many times."""
    return t.cast(Request, request._get_current_object())  # type: ignore[attr-defined]


def read_ref() -> str | None:
    """The ref of the action this POST invokes, or ``None`` if it is not an
    action request.

    :raises MalformedRequest: when the request names more than one action.
    """
    req = current_request()
    # One lookup, not getlist(), which walks the whole environ: WSGI joins
    # repeated headers into one value anyway.
    header = req.headers.get(ACTION_HEADER)
    headers = [] if header is None else [header]
    actions: list[str] = []
    buttons: list[str] = []
    if req.mimetype in FORM_MIMETYPES:
        try:
            form = req.form
        except RequestEntityTooLarge:
            raise PayloadTooLarge(
                "The form has more fields, or a larger field, than this site accepts"
                " (MAX_FORM_PARTS, MAX_FORM_MEMORY_SIZE). Send less data."
            ) from None
        actions = form.getlist(ACTION_FIELD)
        buttons = form.getlist(BUTTON_FIELD)
    if not (headers or actions or buttons):
        return None
    if (
        len(headers) > 1
        or len(actions) > 1
        or len(buttons) > 1
        or (headers and (actions or buttons))
    ):
        raise MalformedRequest(
            "This request names more than one action. A form carries one _action"
            " field and at most one clicked _button; a script call one X-Action header."
        )
    ref = (buttons or headers or actions)[0]
    ref = ref.partition(BUTTON_TOKEN_SEPARATOR)[0].strip() if buttons else ref.strip()
    if not ref:
        raise MalformedRequest(
            "The request names an action, but the action field is empty."
        )
    return ref


def button_csrf_token(form: MultiDict[str, str]) -> str | None:
    """The CSRF token the clicked ``fa.button`` brought in its value, if any
    (a button outside an ``fa.form``, whose form may have no token field)."""
    value = form.get(BUTTON_FIELD)
    if value is None:
        return None
    return value.partition(BUTTON_TOKEN_SEPARATOR)[2].strip() or None


def response_mode() -> Mode:
    req = current_request()
    mode = req.headers.get(MODE_HEADER, "").lower()
    if mode == "form":
        return "enhanced"
    if mode == "call":
        return "call"
    if mode or ACTION_HEADER in req.headers:
        return "json"
    best = req.accept_mimetypes.best_match(["text/html", "application/json"])
    return "json" if best == "application/json" else "form"


def _is_multiple(field: ma_fields.Field[t.Any]) -> bool:
    return isinstance(field, (ma_fields.List, ma_fields.Tuple)) or bool(
        field.metadata.get("multiple")
    )


@functools.lru_cache(maxsize=256)
def _sensitive_names(schema: Schema) -> frozenset[str]:
    """The payload names of ``schema``'s fields marked ``sensitive`` (built
    once per schema, not once per submitted field)."""
    marked: dict[str, bool] = {}
    for attr, field in schema.load_fields.items():
        marked.setdefault(field.data_key or attr, bool(field.metadata.get("sensitive")))
    return frozenset(name for name, sensitive in marked.items() if sensitive)


def _is_sensitive(name: str, schema: Schema | None) -> bool:
    if "password" in name.lower():
        return True
    return schema is not None and name in _sensitive_names(schema)


def _nest(flat: dict[str, t.Any], known: t.Collection[str]) -> dict[str, t.Any]:
    """Turn ``{"address.city": "x"}`` into ``{"address": {"city": "x"}}`` for
    names the schema does not declare as they are."""
    out: dict[str, t.Any] = {}
    for key, value in flat.items():
        if "." not in key or key in known:
            out[key] = value
            continue
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise MalformedRequest(
                    f"The field {key!r} conflicts with the field {part!r}."
                )
            node = child
        node[leaf] = value
    return out


def _form_payload(
    schema: Schema | None, reserved: t.Collection[str]
) -> dict[str, t.Any]:
    req = current_request()
    multiple = set()
    if schema is not None:
        multiple = {
            f.data_key or n for n, f in schema.load_fields.items() if _is_multiple(f)
        }
    flat: dict[str, t.Any] = {}
    form: MultiDict[str, str] = req.form
    for key in form:
        if key in reserved:
            continue
        values = form.getlist(key)
        # The last value wins, so a hidden "0" before a checkbox "1" works.
        flat[key] = values if key in multiple else values[-1]
    uploads: MultiDict[str, FileStorage] = req.files
    for key in uploads:
        files = [f for f in uploads.getlist(key) if f.filename or f.content_length]
        if files:
            flat[key] = files if key in multiple else files[-1]
    known = (
        {f.data_key or n for n, f in schema.load_fields.items()} if schema else set()
    )
    return _nest(flat, known)


def _depth(value: t.Any, limit: int) -> bool:
    """Whether ``value`` nests no deeper than ``limit`` (iteratively)."""
    stack = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return True


def _json_payload() -> dict[str, t.Any]:
    req = current_request()
    raw = req.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedRequest("The JSON body is not valid UTF-8.") from None
    try:
        body = json.loads(text)
    except RecursionError:
        raise MalformedRequest(
            f"The JSON body nests deeper than {MAX_JSON_DEPTH} levels."
        ) from None
    except ValueError:
        raise MalformedRequest("The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise MalformedRequest(
            f"The JSON body must be an object of fields, not {type(body).__name__}."
        )
    # Nesting needs an opening bracket per level: most bodies cannot be too
    # deep, and counting bytes is cheaper than walking the object.
    too_many = raw.count(b"{") + raw.count(b"[") > MAX_JSON_DEPTH
    if too_many and not _depth(body, MAX_JSON_DEPTH):
        raise MalformedRequest(
            f"The JSON body nests deeper than {MAX_JSON_DEPTH} levels."
        )
    return body


def read_payload(
    schema: Schema | None, csrf_field: str
) -> tuple[dict[str, t.Any], dict[str, t.Any]]:
    """The payload to load with ``schema``, and the values to refill the form.

    Form bodies (urlencoded, multipart) become a dict: one value per field,
    lists for ``List``/``Tuple`` fields, :class:`~werkzeug.datastructures.FileStorage`
    for files (empty file inputs are left out), dotted names nested. JSON
    bodies must be objects.

    :raises MalformedRequest: for unreadable bodies and unsupported types.
    """
    req = current_request()
    mimetype = req.mimetype
    if mimetype in FORM_MIMETYPES:
        payload = _form_payload(schema, (ACTION_FIELD, BUTTON_FIELD, csrf_field))
    elif req.is_json:
        payload = _json_payload()
    elif req.content_length or req.get_data(cache=True):
        raise MalformedRequest(
            f"An action cannot read a {mimetype or 'body without a content type'}."
            " Send a form (urlencoded or multipart) or JSON."
        )
    else:
        payload = {}
    values = {
        k: v
        for k, v in payload.items()
        if not _is_sensitive(k, schema)
        and not isinstance(v, FileStorage)
        and not (isinstance(v, list) and v and isinstance(v[0], FileStorage))
    }
    return payload, values
