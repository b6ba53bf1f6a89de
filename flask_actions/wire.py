"""What an action request carries: its identity, how it wants the answer, and
its payload.

See ``docs/wire.md`` for the protocol. Nothing read here chooses Python code:
the identity is looked up in the registry of actions, never used as a name,
and a form's dotted names only ever build plain dicts.

What a form payload means is decided once per schema (:class:`_FormShape`):
which fields take several values, which names are dotted on purpose, and which
fields are not text, so that the empty string a browser sends for an empty
input of theirs means "not given" (see ``docs/validation.md``).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import re
import typing as t

from flask import current_app
from flask import g
from flask import Request
from flask import request
from marshmallow import fields as ma_fields
from marshmallow import Schema
from werkzeug.datastructures import FileStorage
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.routing import Rule

from .exceptions import ActionRejected
from .exceptions import MalformedRequest
from .exceptions import PayloadTooLarge
from .negotiation import ACTION_HEADER
from .negotiation import ACTION_KEY
from .negotiation import Mode

ACTION_FIELD = "_action"
BUTTON_FIELD = "_button"
#: Separates the ref from the CSRF token in the value of an ``fa.button``
#: outside an ``fa.form`` (``"REF~TOKEN"``): neither contains it.
BUTTON_TOKEN_SEPARATOR = "~"
#: The last part of a confirming ``fa.button``'s value (``"REF~TOKEN~?"``):
#: ask before running; once asked, the page renders it confirmed (``"!"``).
BUTTON_ASKS = "?"
BUTTON_CONFIRMED = "!"
#: The field of an ``fa.form(confirm=...)`` holding its question.
CONFIRM_FIELD = "_confirm"
#: ``"1"`` when the user confirmed: the script's dialog, or the page that
#: asked without JavaScript.
CONFIRMED_FIELD = "_confirmed"
#: The field of a form's submission key (``docs/idempotency.md``); an
#: ``fa.button`` outside an ``fa.form`` carries its own in its value
#: (``"REF~TOKEN~FLAG~KEY"``).
KEY_FIELD = "_submission"
#: Which of a page's ``fa.form``\ s of the same target (action and bound
#: arguments) this is, from 2 on (the first carries none): its answer shows
#: in that form only.
FORM_FIELD = "_form"
#: The most forms of one target that a page tells apart.
MAX_FORM_NUMBER = 1000
#: Set in ``g`` while a page is rendered for every query of its path (the
#: page cache's ``query=False``): its forms post to the path alone.
G_WITHOUT_QUERY = "_flask_actions_without_query"
#: Form fields that are the extension's, never the schema's.
RESERVED_FIELDS = frozenset(
    {ACTION_FIELD, BUTTON_FIELD, CONFIRM_FIELD, CONFIRMED_FIELD, KEY_FIELD, FORM_FIELD}
)

FORM_MIMETYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def csrf_field_name(config: t.Mapping[str, t.Any]) -> str:
    """The form field that carries the CSRF token: Flask-WTF's
    ``WTF_CSRF_FIELD_NAME``, read with its default."""
    return str(config.get("WTF_CSRF_FIELD_NAME", "csrf_token"))


def csrf_enabled(config: t.Mapping[str, t.Any]) -> bool:
    """Whether CSRF tokens are on: Flask-WTF's ``WTF_CSRF_ENABLED``, read
    with its default."""
    return bool(config.get("WTF_CSRF_ENABLED", True))


#: The deepest payload accepted: JSON objects and arrays, and the dicts that a
#: form's dotted names (``address.city``) build.
MAX_JSON_DEPTH = 64

logger = logging.getLogger("flask_actions")


def current_request() -> Request:
    """The request itself, not its proxy: hot paths read it many times."""
    return t.cast(Request, request._get_current_object())  # type: ignore[attr-defined]


@dataclasses.dataclass
class Submission:
    """An action request that passed the checks, as read: what it carries,
    how it wants the answer and the page it was posted to. The action it
    invokes travels with it in :mod:`~flask_actions.dispatch`."""

    args: tuple[t.Any, ...]
    payload: dict[str, t.Any]
    values: dict[str, t.Any]
    mode: Mode
    #: The page's GET rule and arguments, once matched (see :meth:`page`).
    matched_page: tuple[Rule, dict[str, t.Any]] | None | t.Literal[False]
    #: A rejection shown in the page with the user's input rather than as a
    #: bare error page (an expired token on a same-site form post).
    soft_rejection: ActionRejected | None = None
    #: The question to ask before running the action (``confirm=``), if the
    #: user has not confirmed yet.
    confirmation: str | None = None
    #: The submission key, scoped, as the store knows it (``None``: no key).
    key: bytes | None = None
    #: A live check (``X-Flask-Actions: validate``): the schema's verdict
    #: only, nothing runs.
    checking: bool = False
    #: Which of the page's forms of its target was sent (:data:`FORM_FIELD`).
    form_number: int = 1

    def page(self) -> tuple[Rule, dict[str, t.Any]] | None:
        """The GET route of the page the form was posted to (matched only when
        a response re-renders the page, or url_value_preprocessors need it)."""
        if self.matched_page is False:
            self.matched_page = match_get_route(current_request().path)
        return self.matched_page


def match_get_route(path: str) -> tuple[Rule, dict[str, t.Any]] | None:
    """The GET route serving ``path`` in this app, and its arguments, if any."""
    adapter = current_app.create_url_adapter(request)
    if adapter is None:
        return None
    try:
        rule, args = adapter.match(path, method="GET", return_rule=True)
    except HTTPException:
        return None
    return rule, dict(args)


def read_form() -> MultiDict[str, str]:
    """The request's form fields, parsed once.

    :raises PayloadTooLarge: when Werkzeug's own limits (``MAX_CONTENT_LENGTH``,
        ``MAX_FORM_PARTS``, ``MAX_FORM_MEMORY_SIZE``) refuse the form, or a
        body bounded by :func:`~flask_actions.security.check_size` goes past
        its limit.
    """
    req = current_request()
    try:
        return req.form
    except PayloadTooLarge:
        raise
    except RequestEntityTooLarge:
        logger.warning(
            "Refused a form that Flask's limits do not accept: too many fields"
            " (MAX_FORM_PARTS), a field too large (MAX_FORM_MEMORY_SIZE) or a body"
            " too large (MAX_CONTENT_LENGTH). Raise the one your forms need."
        )
        raise PayloadTooLarge(
            "The form is too large, or has more fields or a larger field than this"
            " site accepts. Send less data (smaller files, shorter text)."
        ) from None


def form_number(form: MultiDict[str, str]) -> int:
    """Which of the page's forms of one target ``form`` is
    (:data:`FORM_FIELD`): 1 when it says none, or nothing this page renders
    (it only chooses where the answer shows)."""
    if FORM_FIELD not in form:
        return 1
    value = form[FORM_FIELD]
    if not (0 < len(value) <= 4 and value.isascii() and value.isdigit()):
        return 1
    number = int(value)
    return number if 1 < number <= MAX_FORM_NUMBER else 1


def is_form(req: Request) -> bool:
    """Whether the body of ``req`` is a form (urlencoded or multipart)."""
    return req.mimetype in FORM_MIMETYPES


def read_ref(req: Request, form_body: bool) -> str | None:
    """The ref of the action this POST invokes, or ``None`` if it is not an
    action request.

    :param form_body: whether the body is a form (:func:`is_form`).
    :raises MalformedRequest: when the request names more than one action.
    """
    # One lookup in the environ, not getlist(), which walks the whole
    # environ: WSGI joins repeated headers into one value anyway.
    header = req.environ.get(ACTION_KEY)
    headers = [] if header is None else [header]
    actions: list[str] = []
    buttons: list[str] = []
    if form_body:
        form = read_form()
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
        logger.warning(
            "Refused a request naming more than one action: a form carries one"
            " %s field and at most one clicked %s, a script call one %s header and"
            " no such field.",
            ACTION_FIELD,
            BUTTON_FIELD,
            ACTION_HEADER,
        )
        raise MalformedRequest(
            "This submission names more than one action, so nothing was run. Reload"
            " the page and submit again."
        )
    ref = (buttons or headers or actions)[0]
    ref = ref.partition(BUTTON_TOKEN_SEPARATOR)[0].strip() if buttons else ref.strip()
    if not ref:
        raise MalformedRequest(
            "Nothing was run: the action field is empty. Reload the page and submit"
            " again."
        )
    return ref


def button_csrf_token(form: MultiDict[str, str]) -> str | None:
    """The CSRF token the clicked ``fa.button`` brought in its value, if any
    (a button outside an ``fa.form``, whose form may have no token field)."""
    value = form.get(BUTTON_FIELD)
    if value is None:
        return None
    parts = value.split(BUTTON_TOKEN_SEPARATOR)
    return parts[1].strip() if len(parts) > 1 and parts[1].strip() else None


def pending_confirmation(form_body: bool) -> str | None:
    """What to ask the user before running the submitted action, or ``None``
    when it needs no confirmation or the user gave it.

    A form carries its question in :data:`CONFIRM_FIELD`; a button can only
    say that it asks (its text is on the page, next to it). The user confirms
    with :data:`CONFIRMED_FIELD` (the script, or the form that asked) or by
    pressing a button rendered confirmed.

    :param form_body: whether the body is a form (:func:`is_form`).
    """
    if not form_body:
        return None
    form = read_form()
    button = form.get(BUTTON_FIELD)
    flag = button.split(BUTTON_TOKEN_SEPARATOR)[2:3] if button is not None else []
    if form.get(CONFIRMED_FIELD) == "1" or flag == [BUTTON_CONFIRMED]:
        return None
    if flag == [BUTTON_ASKS]:
        return "Press the button again to confirm."
    if button is None and CONFIRM_FIELD in form:
        return form[CONFIRM_FIELD].strip() or "Press the button again to confirm."
    return None


def _is_multiple(field: ma_fields.Field[t.Any]) -> bool:
    return isinstance(field, (ma_fields.List, ma_fields.Tuple)) or bool(
        field.metadata.get("multiple")
    )


#: Fields for which the empty string can never be a value: a browser sends it
#: for an input left empty, which means "not given". Text fields (``Str``,
#: ``Raw``, and fields whose deserialisation is the app's own) keep it.
_NOT_TEXT: tuple[type[ma_fields.Field[t.Any]], ...] = (
    ma_fields.Number,
    ma_fields.Boolean,
    ma_fields.DateTime,
    ma_fields.Date,
    ma_fields.Time,
    ma_fields.TimeDelta,
    ma_fields.UUID,
    ma_fields.Email,
    ma_fields.Url,
    ma_fields.IP,
    ma_fields.IPInterface,
    ma_fields.Enum,
    ma_fields.Mapping,
    ma_fields.Nested,
)


def empty_means_missing(field: ma_fields.Field[t.Any]) -> bool:
    # Pluck loads the one field it names, of any type: left as it is.
    return isinstance(field, _NOT_TEXT) and not isinstance(field, ma_fields.Pluck)


@dataclasses.dataclass(frozen=True)
class _FormShape:
    """What a form payload means for one schema, by payload name."""

    #: Names that keep every value (``List``, ``Tuple``, ``multiple``).
    multiple: frozenset[str]
    #: Names the schema declares, dots included.
    known: frozenset[str]
    #: Names whose empty value means "not given".
    empty_is_missing: frozenset[str]
    #: Multi-valued names whose empty values are dropped (a ``List`` of such
    #: fields); none left means "not given".
    empty_items: frozenset[str]
    #: Names of nested schemas (``Nested``, one object), whose dotted fields
    #: follow that schema's shape.
    nested: t.Mapping[str, ma_fields.Nested]
    #: Names of lists whose items are sent with their index (``items.0.name``,
    #: ``tags.0``): a ``List``, or ``Nested(many=True)``, by name.
    indexed: t.Mapping[str, ma_fields.Field[t.Any]] = dataclasses.field(
        default_factory=dict
    )

    def item_shape(self, name: str) -> _FormShape | None:
        """The shape of each item of the indexed list ``name``, if its items
        are objects of a schema."""
        field = self.indexed[name]
        if isinstance(field, ma_fields.List):
            field = field.inner
        if not isinstance(field, ma_fields.Nested) or isinstance(
            field, ma_fields.Pluck
        ):
            return None
        schema = field.schema
        return _form_shape(schema) if isinstance(schema, Schema) else None

    def of(self, name: str) -> _FormShape | None:
        """The shape of the nested schema at ``name``, if any."""
        field = self.nested.get(name)
        if field is None:
            return None
        schema = field.schema
        return _form_shape(schema) if isinstance(schema, Schema) else None


_NO_SHAPE = _FormShape(frozenset(), frozenset(), frozenset(), frozenset(), {})


@functools.lru_cache(maxsize=256)
def _form_shape(schema: Schema) -> _FormShape:
    """Built once per schema (nested schemas only when a payload reaches them:
    a schema may nest itself)."""
    multiple: set[str] = set()
    known: set[str] = set()
    empty_is_missing: set[str] = set()
    empty_items: set[str] = set()
    nested: dict[str, ma_fields.Nested] = {}
    indexed: dict[str, ma_fields.Field[t.Any]] = {}
    for attr, field in schema.load_fields.items():
        name = field.data_key or attr
        known.add(name)
        if isinstance(field, ma_fields.List) or (
            isinstance(field, ma_fields.Nested)
            and not isinstance(field, ma_fields.Pluck)
            and field.many
        ):
            indexed[name] = field
        if _is_multiple(field):
            multiple.add(name)
            item = field.inner if isinstance(field, ma_fields.List) else field
            if not isinstance(field, ma_fields.Tuple) and empty_means_missing(item):
                empty_items.add(name)
        elif empty_means_missing(field):
            empty_is_missing.add(name)
        if (
            isinstance(field, ma_fields.Nested)
            and not isinstance(field, ma_fields.Pluck)
            and not field.many
        ):
            nested[name] = field
    return _FormShape(
        frozenset(multiple),
        frozenset(known),
        frozenset(empty_is_missing),
        frozenset(empty_items),
        nested,
        indexed,
    )


@functools.lru_cache(maxsize=256)
def _sensitive_names(schema: Schema) -> frozenset[str]:
    """The payload names of ``schema``'s fields marked ``sensitive`` (built
    once per schema, not once per submitted field)."""
    marked: dict[str, bool] = {}
    for attr, field in schema.load_fields.items():
        marked.setdefault(field.data_key or attr, bool(field.metadata.get("sensitive")))
    return frozenset(name for name, sensitive in marked.items() if sensitive)


def is_sensitive(name: str, schema: Schema | None) -> bool:
    return _secret(name, _marked(schema))


def _marked(schema: Schema | None) -> t.Collection[str]:
    return _sensitive_names(schema) if schema is not None else ()


def _secret(name: str, marked: t.Collection[str]) -> bool:
    """The one rule of what is never shown again: a name the schema marks
    (``marked``, :func:`_marked`), or one that says "password"."""
    return name in marked or "password" in name.lower()


def _shown(submitted: dict[str, t.Any], schema: Schema | None) -> dict[str, t.Any]:
    """What of ``submitted`` may be shown again: not what is sensitive
    (the rule of :func:`is_sensitive`, with the schema's names looked up
    once), nor files."""
    marked = _marked(schema)
    return {
        k: v
        for k, v in submitted.items()
        if not _secret(k, marked)
        and not isinstance(v, FileStorage)
        and not (type(v) is list and v and isinstance(v[0], FileStorage))
    }


def _nest(flat: dict[str, t.Any], known: t.Collection[str]) -> dict[str, t.Any]:
    """Turn ``{"address.city": "x"}`` into ``{"address": {"city": "x"}}`` for
    names the schema does not declare as they are.

    Only plain dicts are built, keyed by the parts of the name as sent: a name
    such as ``__class__.x`` or ``__proto__.x`` is a key like any other, which
    the schema refuses or drops as it does every field it does not declare.
    """
    out: dict[str, t.Any] = {}
    for key, value in flat.items():
        if "." not in key or key in known:
            out[key] = value
            continue
        *parents, leaf = key.split(".")
        if len(parents) >= MAX_JSON_DEPTH:
            raise MalformedRequest(
                f"A field name nests deeper than {MAX_JSON_DEPTH} levels."
            )
        node = out
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                logger.warning(
                    "Refused a form whose field %r conflicts with its field %r: a"
                    " name is either a value or the start of dotted names.",
                    key[:100],
                    part[:100],
                )
                raise MalformedRequest(
                    f"The field {key!r} conflicts with the field {part!r}."
                )
            node = child
        node[leaf] = value
    return out


def _without_empty(data: dict[str, t.Any], shape: _FormShape) -> dict[str, t.Any]:
    """``data`` without the empty values that mean "not given" for ``shape``."""
    out: dict[str, t.Any] = {}
    for key, value in data.items():
        if type(value) is str:
            if not value and key in shape.empty_is_missing:
                continue
        elif type(value) is list:
            if key in shape.empty_items:
                value = [item for item in value if item != ""]
                if not value:
                    continue
        elif type(value) is dict:
            inner = shape.of(key)
            if inner is not None:
                value = _without_empty(value, inner)
        out[key] = value
    return out


def _form_payload(
    schema: Schema | None, reserved: t.Collection[str]
) -> tuple[dict[str, t.Any], dict[str, t.Any]]:
    """The payload to load, and what was submitted (empty values kept)."""
    req = current_request()
    shape = _NO_SHAPE if schema is None else _form_shape(schema)
    multiple = shape.multiple
    flat: dict[str, t.Any] = {}
    empty = False
    form: MultiDict[str, str] = req.form
    for key in form:
        if key in reserved:
            continue
        values = form.getlist(key)
        if key in multiple:
            flat[key] = values
            empty = empty or "" in values
        else:
            # The last value wins, so a hidden "0" before a checkbox "1" works.
            value = flat[key] = values[-1]
            empty = empty or not value
    uploads: MultiDict[str, FileStorage] = req.files
    for key in uploads:
        files = [f for f in uploads.getlist(key) if f.filename or f.content_length]
        if files:
            flat[key] = files if key in multiple else files[-1]
    submitted = _nest(flat, shape.known)
    payload = submitted
    if empty and schema is not None:
        payload = _without_empty(submitted, shape)
    if shape.indexed or shape.nested:
        payload = _as_lists(payload, shape)
    return payload, submitted


_G_MOVED = "_flask_actions_moved_items"


def _moved_items() -> list[tuple[tuple[str | int, ...], list[int]]]:
    """This request's lists whose items are not at their form index: the
    path of each, and the form index of each of its items."""
    moved: list[tuple[tuple[str | int, ...], list[int]]] | None = g.get(_G_MOVED)
    if moved is None:
        moved = []
        setattr(g, _G_MOVED, moved)
    return moved


def form_indexes(errors: dict[str, t.Any]) -> dict[str, t.Any]:
    """``errors`` of the payload, with the items of indexed lists under the
    index their form gave them (``pets.3.name``), not their position in the
    list the schema loaded (0, when rows 0 to 2 were left blank)."""
    moved = g.get(_G_MOVED)
    for path, indexes in sorted(moved or (), key=lambda m: -len(m[0])):
        node: t.Any = errors
        for part in path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        found = node.get(path[-1]) if isinstance(node, dict) else None
        if isinstance(found, dict):
            node[path[-1]] = {
                indexes[k] if type(k) is int and 0 <= k < len(indexes) else k: v
                for k, v in found.items()
            }
    return errors


def _blank(value: t.Any) -> bool:
    """Whether every value typed in ``value`` (a row: a dict of inputs) is
    empty."""
    if type(value) is dict:
        return all(_blank(v) for v in value.values())
    return bool(value == "")


#: The longest index of an indexed name (``items.123456.name``).
_MAX_INDEX_DIGITS = 6


def _as_lists(
    data: dict[str, t.Any], shape: _FormShape, path: tuple[str | int, ...] = ()
) -> dict[str, t.Any]:
    """``data`` with the indexed names of ``shape``'s lists as lists:
    ``{"items": {"0": {...}, "1": {...}}}`` becomes ``{"items": [{...}, {...}]}``,
    in the order of the indexes (gaps closed), each item's empty values
    handled by its own schema, a row whose inputs are all empty left out.
    Anything else under such a name is left for the schema to refuse. Where
    an item's position differs from its index, :func:`form_indexes` gives
    the errors their form index back."""
    out = data
    for key, value in data.items():
        if type(value) is not dict:
            continue
        new: t.Any
        if key in shape.indexed:
            if not value or not all(
                len(k) <= _MAX_INDEX_DIGITS and k.isascii() and k.isdigit()
                for k in value
            ):
                continue
            # A row of the form left blank is no item.
            kept = [k for k in sorted(value, key=int) if not _blank(value[k])]
            new = [value[k] for k in kept]
            if kept != [str(i) for i in range(len(kept))]:
                _moved_items().append(((*path, key), [int(k) for k in kept]))
            inner = shape.item_shape(key)
            if inner is not None:
                new = [
                    _as_lists(_without_empty(item, inner), inner, (*path, key, i))
                    if type(item) is dict
                    else item
                    for i, item in enumerate(new)
                ]
        elif (nested := shape.of(key)) is not None:
            new = _as_lists(value, nested, (*path, key))
        else:
            continue
        if out is data:
            out = dict(data)
        out[key] = new
    return out


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


def _json_payload(req: Request) -> dict[str, t.Any]:
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
    # Valid UTF-8 holds no surrogates; only a \uD800-\uDFFF escape makes one,
    # so a body without such an escape needs no walk.
    if _SURROGATE_ESCAPE.search(raw) and _has_lone_surrogate(body):
        raise MalformedRequest(
            "The data sent contains a broken character (half of an emoji, for"
            " example). Remove it and send again."
        )
    return body


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")


def _has_lone_surrogate(value: t.Any) -> bool:
    """Whether a string anywhere in ``value`` (keys too) holds half of a
    surrogate pair, which no UTF-8 text can carry."""
    stack = [value]
    while stack:
        node = stack.pop()
        if type(node) is str:
            if not node.isascii():
                try:
                    node.encode("utf-8")
                except UnicodeEncodeError:
                    return True
        elif type(node) is dict:
            stack.extend(node)
            stack.extend(node.values())
        elif type(node) is list:
            stack.extend(node)
    return False


def read_payload(
    schema: Schema | None, csrf_field: str, form_body: bool | None = None
) -> tuple[dict[str, t.Any], dict[str, t.Any]]:
    """The payload to load with ``schema``, and the values to refill the form.

    Form bodies (urlencoded, multipart) become a dict: one value per field,
    lists for ``List``/``Tuple`` fields, :class:`~werkzeug.datastructures.FileStorage`
    for files (empty file inputs are left out), dotted names nested (at most
    :data:`MAX_JSON_DEPTH` levels), and empty values of fields that are not
    text left out (they mean "not given"; the values to refill keep them).
    JSON bodies must be objects of valid Unicode text, and are taken as sent.

    :param form_body: whether the body is a form (:func:`is_form`; found
        out when not given).
    :raises MalformedRequest: for unreadable bodies and unsupported types.
    """
    req = current_request()
    if form_body is None:
        form_body = is_form(req)
    if form_body:
        payload, submitted = _form_payload(schema, (*RESERVED_FIELDS, csrf_field))
        return payload, _shown(submitted, schema)
    if req.is_json:
        payload = _json_payload(req)
    elif req.content_length or req.get_data(cache=True):
        mimetype = req.mimetype
        raise MalformedRequest(
            f"An action cannot read a {mimetype or 'body without a content type'}."
            " Send a form (urlencoded or multipart) or JSON."
        )
    else:
        payload = {}
    return payload, _shown(payload, schema)
