"""Messages in the user's language, through Flask-Babel when the app has it.

With Flask-Babel set up on the app (``Babel(app)``) and a locale selected,
two kinds of messages are translated, from the ``flask_actions`` domain of
the app's translation directories (``ACTIONS_BABEL_DOMAIN`` names another,
``"messages"`` for the app's own catalogue):

- marshmallow's own messages ("Missing data for required field.", "Length
  must be between {min} and {max}."...), field types and validators alike:
  the schema is loaded through a copy whose messages are translated
  (:func:`translated_schema`, one per schema and language), so the values
  (``{min}``) are filled in after translation;
- the extension's own messages: rejections (:mod:`~flask_actions.exceptions`),
  the crash message, and the others that pass through :func:`translated`.

A message given per field (``error_messages={"required": ...}``, a
validator's ``error=``) is looked up too, so it can be an English message
id or a ``lazy_gettext`` of the app's.
:func:`~flask_actions.message_catalog.message_ids` lists every id, for a
translator's catalogue (``docs/validation.md``).

Without Flask-Babel nothing changes and it is never imported.
"""

from __future__ import annotations

import copy
import functools
import typing as t

from flask import current_app
from flask import has_request_context

if t.TYPE_CHECKING:
    from marshmallow import fields as ma
    from marshmallow import Schema

DEFAULT_DOMAIN = "flask_actions"
#: Set by ``init_app`` (see ``docs/configuration.md``).
DEFAULTS = {"ACTIONS_BABEL_DOMAIN": DEFAULT_DOMAIN}
#: The app's Flask-Babel domains, by name, in ``app.extensions``.
_EXTENSION_KEY = "flask_actions.babel_domains"

#: What a user reads when an action crashed (outside debug mode).
CRASHED = (
    "Something went wrong on our side and nothing was saved. Please try again;"
    " if it happens again, quote reference {reference}."
)


class _Translations(t.Protocol):
    def gettext(self, message: str) -> str: ...

    def __hash__(self) -> int: ...


def _translations() -> _Translations | None:
    """The catalogue of the current request's locale, or ``None`` without
    Flask-Babel (or outside a request)."""
    if not has_request_context() or "babel" not in current_app.extensions:
        return None
    import flask_babel

    if flask_babel.get_locale() is None:
        return None
    name = current_app.config.get("ACTIONS_BABEL_DOMAIN", DEFAULT_DOMAIN)
    # One Domain per app: a Domain caches its catalogues by locale alone.
    domains = current_app.extensions.setdefault(_EXTENSION_KEY, {})
    domain = domains.get(name)
    if domain is None:
        domain = domains[name] = flask_babel.Domain(domain=name)
    return t.cast(_Translations, domain.get_translations())


def translated(message: str) -> str:
    """``message`` in the user's language, if there is a translation."""
    translations = _translations()
    if translations is None or not message:
        return message
    return translations.gettext(message)


def _text(translations: _Translations, message: t.Any) -> t.Any:
    if isinstance(message, str):
        return translations.gettext(message)
    if hasattr(message, "__html__") or type(message).__name__ == "LazyString":
        return str(message)  # lazy_gettext: the language is known now
    return message


def translated_schema(schema: Schema) -> Schema:
    """``schema``, or a copy of it whose messages are in the user's language
    (made once per schema and catalogue)."""
    translations = _translations()
    if translations is None:
        return schema
    return _translated_copy(schema, translations)


@functools.lru_cache(maxsize=512)
def _translated_copy(schema: Schema, translations: _Translations) -> Schema:
    out = copy.deepcopy(schema)
    _translate_schema(out, translations, depth=0)
    return out


def _translate_schema(schema: Schema, translations: _Translations, depth: int) -> None:
    schema.error_messages = {
        k: _text(translations, v) for k, v in schema.error_messages.items()
    }
    for field in schema.fields.values():
        _translate_field(field, translations, depth)


def _translate_field(
    field: ma.Field[t.Any], translations: _Translations, depth: int
) -> None:
    from marshmallow import fields as ma
    from marshmallow import Schema

    field.error_messages = {
        k: _text(translations, v) for k, v in field.error_messages.items()
    }
    field.validators = [_translate_validator(v, translations) for v in field.validators]
    if isinstance(field, ma.List):
        _translate_field(field.inner, translations, depth)
    elif isinstance(field, ma.Tuple):
        for inner in field.tuple_fields:
            _translate_field(inner, translations, depth)
    elif isinstance(field, ma.Dict):
        for part in (field.key_field, field.value_field):
            if part is not None:
                _translate_field(part, translations, depth)
    elif isinstance(field, ma.Nested) and depth < 16:
        nested = field.schema  # the copy's own instance, made now
        if isinstance(nested, Schema):
            _translate_schema(nested, translations, depth + 1)


def _translate_validator(validator: t.Any, translations: _Translations) -> t.Any:
    names = message_attributes(type(validator))
    if not names and not hasattr(validator, "validators"):
        return validator
    out = copy.copy(validator)
    for name in names:
        value = getattr(validator, name, None)
        if value is not None:
            setattr(out, name, _text(translations, value))
    inner = getattr(validator, "validators", None)
    if isinstance(inner, (list, tuple)):  # validate.And
        out.validators = [_translate_validator(v, translations) for v in inner]
    return out


def message_attributes(cls: type[t.Any]) -> tuple[str, ...]:
    """The message attributes of a marshmallow validator class:
    ``default_message``, ``message_min``... and ``error`` (the one given)."""
    names = [
        n
        for n in dir(cls)
        if (n.startswith("message") or n == "default_message")
        and isinstance(getattr(cls, n, None), str)
    ]
    return (*names, "error")
