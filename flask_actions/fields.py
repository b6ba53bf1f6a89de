"""``fa.field`` and ``fa.label``: one form control from the action's schema.

``{{ fa.field("email", label="Email") }}`` in an ``fa.form`` renders what a
field otherwise takes three hand-written lines for: the right control for
the schema field (:func:`~flask_actions.constraints.input_type`, a
``<select>`` for ``OneOf``, a ``<textarea>`` when asked), the constraints a
browser checks without JavaScript (:func:`~flask_actions.constraints.html_attributes`),
the value typed before a failed submission (never a password's),
``aria-invalid`` and ``aria-describedby`` pointing at its error list, and
that list. Dotted names reach nested schemas and lists (``address.city``,
``items.0.name``). See ``docs/templates.md``.
"""

from __future__ import annotations

import enum
import functools
import typing as t

from flask import g
from markupsafe import escape
from markupsafe import Markup
from marshmallow import fields as ma
from marshmallow import Schema

from . import constraints
from .action import Target
from .wire import empty_means_missing
from .wire import is_sensitive

_G_IDS = "_flask_actions_field_ids"
#: The control's own attributes: a keyword argument cannot change them.
_OWN = frozenset({"name"})
#: The keyword arguments of ``fa.field`` that are options, not attributes.
OPTIONS = ("label", "textarea", "live", "value", "placeholder_option")
_TRUE = frozenset({"1", "true", "on", "yes", "y", "t", "True"})


class _Helper(t.Protocol):
    """What the macros' helper (``flask_actions.templating._Macros``, the
    template global ``_flask_actions``) gives a field."""

    def attrs(self, attributes: t.Mapping[str, t.Any], **defaults: t.Any) -> Markup: ...

    def errors(self, field: str, target: Target | str | None = None) -> list[str]: ...

    def value(
        self, field: str, default: t.Any = "", target: Target | str | None = None
    ) -> t.Any: ...


@functools.lru_cache(maxsize=512)
def _by_payload_name(schema: Schema) -> dict[str, ma.Field[t.Any]]:
    return {field.data_key or attr: field for attr, field in schema.load_fields.items()}


def _schema_field(schema: Schema, name: str) -> ma.Field[t.Any]:
    """The field of ``schema`` that the form name ``name`` fills
    (``address.city``: ``city`` of the nested schema; ``items.0.name``:
    ``name`` of the schema each item of ``items`` is).

    :raises LookupError: naming the fields there are.
    """
    current: Schema | ma.Field[t.Any] = schema
    for part in name.split("."):
        if isinstance(current, ma.List) and part.isdigit():
            current = current.inner
            continue
        if isinstance(current, ma.Nested) and current.many and part.isdigit():
            current = current.schema
            continue
        if isinstance(current, ma.Nested) and not isinstance(current, ma.Pluck):
            current = current.schema
        if not isinstance(current, Schema):
            raise LookupError(f"{name!r}: {part!r} is not inside a nested schema.")
        found = _by_payload_name(current).get(part)
        if found is None:
            known = ", ".join(_by_payload_name(current)) or "none"
            raise LookupError(
                f"The schema has no field {part!r} (for {name!r}). Its fields: {known}."
            )
        current = found
    if isinstance(current, Schema):
        raise LookupError(f"{name!r} is a whole schema, not one field.")
    return current


def _field_id(name: str, take: bool = True) -> str:
    """The id of the next control for ``name`` on this page: ``address-city``,
    then ``address-city-2`` for a second form with the same field (``take``:
    the id is the control's; else only told, for its label)."""
    ids: dict[str, int] | None = g.get(_G_IDS)
    if ids is None:
        ids = {}
        setattr(g, _G_IDS, ids)
    base = name.replace(".", "-")
    count = ids.get(base, 0) + 1
    if take:
        ids[base] = count
    return base if count == 1 else f"{base}-{count}"


def _schema_of(target: Target | None) -> Schema:
    if target is None:
        raise LookupError(
            "fa.field needs an action: call it inside fa.form, or pass target=."
        )
    schema = target.action.schema
    if schema is None:
        raise LookupError(f"The action {target.action.name} has no schema.")
    return schema


def _choices(field: ma.Field[t.Any]) -> list[tuple[str, str]] | None:
    """``(value, label)`` of each choice (``OneOf``, or a list's
    ``ContainsOnly`` or its items' ``OneOf``), or ``None``."""
    found = constraints.of(field)
    values, labels = found.choices, found.labels
    if isinstance(field, ma.List):
        inner = constraints.of(field.inner)
        values, labels = found.item_choices or inner.choices, inner.labels
        if found.item_choices is not None:
            labels = None
    if values is None and isinstance(field, ma.Enum):
        members: tuple[enum.Enum, ...] = tuple(t.cast(t.Any, field.enum))
        values = tuple(m.value if field.by_value else m.name for m in members)
        labels = labels or tuple(m.name.replace("_", " ").capitalize() for m in members)
    if values is None:
        return None
    texts = labels or tuple(constraints.html_value(v) for v in values)
    return [
        (constraints.html_value(v), str(text))
        for v, text in zip(values, texts, strict=True)
    ]


def render(
    helper: _Helper,
    target: Target | None,
    name: str,
    *,
    label: str | bool | None = None,
    textarea: bool = False,
    live: bool = True,
    value: t.Any = None,
    placeholder_option: str = "",
    attributes: t.Mapping[str, t.Any],
) -> Markup:
    """``fa.field``: the control for ``name``, its label and its error list."""
    schema = _schema_of(target)
    field = _schema_field(schema, name)
    control_id = str(attributes.get("id_") or attributes.get("id") or _field_id(name))
    errors_id = f"{control_id}-errors"
    messages = helper.errors(name, target)
    kind = constraints.input_type(field)
    sensitive = kind == "password" or is_sensitive(name, schema)
    if sensitive and kind == "text":
        kind = "password"
    typed = helper.value(name, None, target) if not sensitive else None
    if typed is None:
        typed = value
    own: dict[str, t.Any] = {
        "name": name,
        "id": control_id,
        **constraints.html_attributes(field),
    }
    if messages:
        own["aria_invalid"] = "true"
        own["aria_describedby"] = errors_id
    if not live or field.metadata.get("live") is False:
        own["data_fa_live"] = "off"
    extra = {
        k: v
        for k, v in attributes.items()
        if k.rstrip("_") not in _OWN and k not in ("id", "id_")
    }
    hint = extra.get("aria_describedby")
    if hint and messages:  # the page's own description (a hint) stays
        extra["aria_describedby"] = f"{hint} {errors_id}"
    choices = _choices(field)
    if choices is None and isinstance(field, ma.List) and kind != "file":
        raise LookupError(
            f"{name!r} is a list: render an input per item, fa.field({name + '.0'!r}),"
            f" fa.field({name + '.1'!r})..., or give its items choices (OneOf) for"
            " a <select multiple>."
        )
    if choices is not None:
        html = _select(helper, own, extra, choices, typed, placeholder_option, field)
    elif textarea:
        own.pop("pattern", None)
        text = "" if typed is None else constraints.html_value(typed)
        html = f"<textarea{helper.attrs(extra, **own)}>{escape(text)}</textarea>"
    elif kind == "checkbox":
        checked = typed is True or (isinstance(typed, str) and typed in _TRUE)
        hidden = f'<input type="hidden" name="{escape(name)}" value="0">'
        own.update(type="checkbox", value="1", checked=checked)
        html = hidden + f"<input{helper.attrs(extra, **own)}>"
    else:
        own["type"] = kind
        if kind != "file" and typed is not None and not isinstance(typed, list):
            own["value"] = constraints.html_value(typed)
        html = f"<input{helper.attrs(extra, **own)}>"
    if label:
        text = label if isinstance(label, str) else _label_text(field, name)
        tag = f'<label for="{escape(control_id)}">{escape(text)}</label>'
        html = html + " " + tag if kind == "checkbox" else tag + html
    return Markup(html + _error_list(helper, name, errors_id, messages))


def _select(
    helper: _Helper,
    own: dict[str, t.Any],
    extra: t.Mapping[str, t.Any],
    choices: list[tuple[str, str]],
    typed: t.Any,
    placeholder: str,
    field: ma.Field[t.Any],
) -> str:
    own.pop("minlength", None)
    own.pop("maxlength", None)
    own.pop("pattern", None)
    own.pop("accept", None)
    if isinstance(typed, list):
        chosen = {str(v) for v in typed}
    else:
        chosen = set() if typed is None else {constraints.html_value(typed)}
    options = []
    if not isinstance(field, ma.List) and (
        own.get("required") or empty_means_missing(field)
    ):
        # The empty choice: "choose one" when required (the browser refuses
        # it), "none" when the field may be left out.
        options.append(f'<option value="">{escape(placeholder)}</option>')
    for value, text in choices:
        selected = " selected" if value in chosen else ""
        options.append(
            f'<option value="{escape(value)}"{selected}>{escape(text)}</option>'
        )
    return f"<select{helper.attrs(extra, **own)}>{''.join(options)}</select>"


def _error_list(helper: _Helper, name: str, errors_id: str, messages: list[str]) -> str:
    """The ``<ul>`` of ``name``'s messages, as ``fa.errors`` renders it; empty
    and hidden when there are none, so that live checks have their place."""
    items = "".join(f"<li>{escape(m)}</li>" for m in messages)
    attrs = helper.attrs(
        {"hidden": not messages},
        class_="fa-errors",
        id=errors_id,
        data_fa_errors=name,
    )
    return f"<ul{attrs}>{items}</ul>"


def _label_text(field: ma.Field[t.Any], name: str) -> str:
    """A field's ``metadata["label"]``, else its name made readable
    (``address.zip_code``: "Zip code")."""
    text = field.metadata.get("label")
    if text:
        return str(text)
    return name.rsplit(".", 1)[-1].replace("_", " ").capitalize()


def label(
    target: Target | None,
    name: str,
    text: str | None,
    helper: _Helper,
    attributes: t.Mapping[str, t.Any],
) -> Markup:
    """``fa.label``: a ``<label>`` for the control ``fa.field`` renders next
    for ``name`` (call it first); the text defaults to the field's
    ``metadata["label"]``, else its name."""
    field = _schema_field(_schema_of(target), name)
    control_id = _field_id(name, take=False)
    shown = text or _label_text(field, name)
    attrs = helper.attrs(attributes, for_=control_id)
    return Markup(f"<label{attrs}>{escape(shown)}</label>")
