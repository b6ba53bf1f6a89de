"""Describe actions' payloads to other languages: JSON Schema and TypeScript.

What ``flask actions schema`` prints. The JSON Schema (draft 2020-12) of an
action describes the JSON object that ``FlaskActions.call(ref, data)`` may
send it, derived from the marshmallow schema that loads it: field types,
``required``, ``allow_none``, and the common validators (``Length``, ``Range``,
``OneOf``, ``Equal``, ``Regexp``, ``ContainsOnly``, ``NoneOf``). The
TypeScript declarations are generated from that JSON Schema, so both always
agree.

A field type this module does not know becomes "any value" (``{}`` and
``unknown``): the export never fails, it only becomes less precise.
"""

from __future__ import annotations

import enum
import json
import re
import typing as t

from marshmallow import fields as ma
from marshmallow import missing
from marshmallow import RAISE
from marshmallow import Schema

from . import constraints
from .uploads import File

if t.TYPE_CHECKING:
    from .action import Action

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

JSONSchema = dict[str, t.Any]

_STRING_FORMATS: tuple[tuple[type[ma.Field[t.Any]], str], ...] = (
    (ma.Email, "email"),
    (ma.Url, "uri"),
    (ma.UUID, "uuid"),
    (ma.IPv4, "ipv4"),
    (ma.IPv6, "ipv6"),
    (ma.NaiveDateTime, "date-time"),
    (ma.AwareDateTime, "date-time"),
    (ma.Date, "date"),
    (ma.Time, "time"),
    (ma.DateTime, "date-time"),
)


def _json_value(value: t.Any) -> t.Any:
    """``value`` as JSON would carry it (enums by value, others as strings)."""
    if isinstance(value, enum.Enum):
        value = value.value
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def schema_of_action(action: Action[t.Any, t.Any]) -> JSONSchema:
    """The JSON Schema of the payload ``action`` accepts."""
    doc = (action.__doc__ or "").strip().split("\n\n")[0]
    out: JSONSchema = {"title": action.name}
    if doc:
        out["description"] = " ".join(doc.split())
    if action.schema is None:
        out.update(type="object", description=out.get("description", "No payload."))
        return out
    out.update(schema_of(action.schema))
    return out


def schema_of(schema: Schema, _seen: tuple[type[Schema], ...] = ()) -> JSONSchema:
    """The JSON Schema of the object a marshmallow ``schema`` loads."""
    if type(schema) in _seen:  # a recursive schema: stop describing
        return {"type": "object"}
    seen = (*_seen, type(schema))
    properties: dict[str, JSONSchema] = {}
    required: list[str] = []
    for attr, field in schema.load_fields.items():
        key = field.data_key or attr
        properties[key] = field_schema(field, seen)
        if field.required:
            required.append(key)
    out: JSONSchema = {"type": "object", "properties": properties}
    if required:
        out["required"] = required
    if schema.unknown == RAISE:
        out["additionalProperties"] = False
    return out


def field_schema(
    field: ma.Field[t.Any], _seen: tuple[type[Schema], ...] = ()
) -> JSONSchema:
    """The JSON Schema of the value one marshmallow field loads."""
    out = _base_schema(field, _seen)
    _apply_constraints(out, field)
    metadata = field.metadata
    for key in ("title", "description", "examples", "deprecated"):
        if key in metadata:
            out[key] = metadata[key]
    default = field.load_default
    if not callable(default) and default is not missing:
        try:
            json.dumps(default)
        except (TypeError, ValueError):
            pass
        else:
            out["default"] = default
    if field.allow_none:
        _allow_null(out)
    return out


def _base_schema(field: ma.Field[t.Any], seen: tuple[type[Schema], ...]) -> JSONSchema:
    if isinstance(field, File):  # a part of a multipart form, not JSON text
        return {"type": "string", "format": "binary"}
    for cls, fmt in _STRING_FORMATS:
        if isinstance(field, cls):
            return {"type": "string", "format": fmt}
    if isinstance(field, ma.String):
        return {"type": "string"}
    if isinstance(field, ma.Boolean):
        return {"type": "boolean"}
    if isinstance(field, ma.Integer):
        return {"type": "integer"}
    if isinstance(field, ma.Decimal):
        return {"type": ["number", "string"], "format": "decimal"}
    if isinstance(field, (ma.Number, ma.TimeDelta)):
        return {"type": "number"}
    if isinstance(field, ma.Pluck):
        inner = field_schema(field.schema.fields[field.field_name], seen)
        return {"type": "array", "items": inner} if field.many else inner
    if isinstance(field, ma.Nested):
        inner = schema_of(field.schema, seen)
        return {"type": "array", "items": inner} if field.many else inner
    if isinstance(field, ma.List):
        return {"type": "array", "items": field_schema(field.inner, seen)}
    if isinstance(field, ma.Tuple):
        items = [field_schema(f, seen) for f in field.tuple_fields]
        return {"type": "array", "prefixItems": items, "items": False}
    if isinstance(field, ma.Mapping):
        out: JSONSchema = {"type": "object"}
        if field.value_field is not None:
            out["additionalProperties"] = field_schema(field.value_field, seen)
        return out
    if isinstance(field, ma.Enum):
        if field.by_value:
            return {"enum": [_json_value(m.value) for m in field.enum]}
        return {"type": "string", "enum": [m.name for m in field.enum]}
    if isinstance(field, ma.Constant):
        return {"const": _json_value(field.constant)}
    return {}


def _apply_constraints(out: JSONSchema, field: ma.Field[t.Any]) -> None:
    """What ``field``'s validators allow, read by :mod:`.constraints` (the
    same reading gives the HTML form its constraints)."""
    found = constraints.of(field)
    kind = out.get("type")
    names = {
        "string": ("minLength", "maxLength"),
        "array": ("minItems", "maxItems"),
        "object": ("minProperties", "maxProperties"),
    }.get(kind if isinstance(kind, str) else "")
    if names is not None:
        if found.min_length is not None:
            out[names[0]] = found.min_length
        if found.max_length is not None:
            out[names[1]] = found.max_length
    for key, bound in (
        ("minimum", found.minimum),
        ("exclusiveMinimum", found.exclusive_minimum),
        ("maximum", found.maximum),
        ("exclusiveMaximum", found.exclusive_maximum),
    ):
        if bound is not None:
            out[key] = _json_value(bound)
    if kind == "array" and found.item_choices is not None:
        choices = [_json_value(c) for c in found.item_choices]
        out["items"] = {**out.get("items", {}), "enum": choices}
    if kind == "array" and found.item_excluded is not None:
        banned = {"enum": [_json_value(c) for c in found.item_excluded]}
        out["items"] = {**out.get("items", {}), "not": banned}
    if found.choices is not None:
        out["enum"] = [_json_value(c) for c in found.choices]
    if found.excluded is not None:
        out["not"] = {"enum": [_json_value(c) for c in found.excluded]}
    if found.equal is not None:
        out["const"] = _json_value(found.equal[0])
    patterns = found.patterns
    if patterns and len(patterns) == 1:
        out["pattern"] = constraints.search_pattern(patterns[0])
    elif patterns:
        out["allOf"] = [{"pattern": constraints.search_pattern(p)} for p in patterns]
    if found.format is not None:
        out["format"] = found.format


def _allow_null(out: JSONSchema) -> None:
    if "enum" in out and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]
    kind = out.get("type")
    if isinstance(kind, str):
        out["type"] = [kind, "null"]
    elif isinstance(kind, list) and "null" not in kind:
        out["type"] = [*kind, "null"]


def json_schema(actions: t.Iterable[Action[t.Any, t.Any]]) -> JSONSchema:
    """One JSON Schema document with the payload of each action under
    ``$defs``, keyed by action name."""
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": "Payloads of flask-actions actions",
        "$defs": {a.name: schema_of_action(a) for a in actions},
    }


# -- TypeScript ---------------------------------------------------------------

_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")

_PRELUDE = """\
/* Generated by `flask actions schema --format typescript`. Do not edit:
   run the command again when the actions change. */

"""

_RUNTIME = """\
/** The name of every action, "<blueprint>.<function>". */
export type ActionName = keyof ActionPayloads;

/**
 * A ref from `action_ref(...)` in a template, tagged with the action it names.
 * Refs are opaque strings: tag one where it enters your code, e.g.
 * `const ref = button.dataset.ref as ActionRef<"todos.add">`.
 */
export type ActionRef<N extends ActionName = ActionName> = string & {
  readonly __action?: N;
};

/** Field errors: messages per field, nested like the payload. */
export interface ActionErrors {
  [field: string]: string[] | ActionErrors;
}

/** The JSON result of an action. */
export interface ActionResult<D = unknown> {
  ok: boolean;
  status: number;
  data: D;
  errors: ActionErrors;
  message: string | null;
  redirect: string | null;
  revalidated: { paths: string[]; tags: string[] };
  reference: string | null;
  /** Whether the action's own function ran (false when it was refused). */
  ran: boolean;
  /** The action waits for a confirmation (`confirm=`) and did not run. */
  awaiting_confirmation?: boolean;
  /** The page as it is now, when the answer carries it. */
  html?: string | null;
  /** When `html` was rendered (ns since the epoch): newer pages win. */
  rendered_at?: number;
  /** A rejection's reason ("csrf", "too_large", ...). */
  reason?: string;
  /** A fresh CSRF token, after an expired one. */
  csrf_token?: string;
}

/** What `FlaskActions.call` rejects with when the action fails. */
export interface ActionFailure extends Error {
  status: number;
  errors: ActionErrors;
  result: ActionResult;
}

export interface CallOptions {
  /** Abort the request (the promise rejects with an `AbortError`). */
  signal?: AbortSignal;
  /** Follow a redirect the action asks for (default `true`). */
  navigate?: boolean;
  /** `false`: the answer carries no page even if the action changed it. */
  page?: boolean;
}

export interface FlaskActionsAPI {
  call<N extends ActionName>(
    ref: ActionRef<N>,
    data?: ActionPayloads[N] | FormData,
    options?: CallOptions,
  ): Promise<ActionResult>;
  submit(form: HTMLFormElement, submitter?: HTMLElement | null): Promise<unknown>;
  morph(html: string): void;
  messages: { network: string; server: string; [key: string]: string };
}

declare global {
  /** The browser script's API, set by `{{ fa.script() }}`. */
  var FlaskActions: FlaskActionsAPI;
}
"""


def _literal(value: t.Any) -> str:
    return json.dumps(value) if value is not None else "null"


def _comment(text: str) -> str:
    return "/** " + text.replace("*/", "*\\/") + " */"


def _property_name(name: str) -> str:
    return name if _IDENTIFIER.match(name) else json.dumps(name)


def typescript_type(schema: JSONSchema, indent: str = "") -> str:
    """A TypeScript type for a JSON Schema made by this module."""
    if "const" in schema:
        return _literal(schema["const"])
    if "enum" in schema:
        return " | ".join(_literal(v) for v in schema["enum"]) or "never"
    kind = schema.get("type")
    if isinstance(kind, list):
        parts = [typescript_type({**schema, "type": k}, indent) for k in kind]
        return " | ".join(dict.fromkeys(parts))
    if kind == "string" and schema.get("format") == "binary":
        return "Blob"  # an upload, sent in a FormData
    if kind in ("string", "boolean"):
        return str(kind)
    if kind in ("integer", "number"):
        return "number"
    if kind == "null":
        return "null"
    if kind == "array":
        if "prefixItems" in schema:
            items = ", ".join(typescript_type(s, indent) for s in schema["prefixItems"])
            return f"[{items}]"
        inner = typescript_type(schema.get("items") or {}, indent)
        return f"({inner})[]" if "|" in inner else f"{inner}[]"
    if kind == "object":
        return _object_type(schema, indent)
    return "unknown"


def _object_type(schema: JSONSchema, indent: str) -> str:
    properties: dict[str, JSONSchema] = schema.get("properties", {})
    extra = schema.get("additionalProperties")
    if not properties and not isinstance(extra, dict):
        if extra is False:
            return "Record<string, never>"
        return "Record<string, unknown>"
    inner = indent + "  "
    required = set(schema.get("required", ()))
    lines = []
    for name, prop in properties.items():
        doc = prop.get("description")
        if doc:
            lines.append(f"{inner}{_comment(doc)}")
        optional = "" if name in required else "?"
        lines.append(
            f"{inner}{_property_name(name)}{optional}: {typescript_type(prop, inner)};"
        )
    if isinstance(extra, dict):
        lines.append(f"{inner}[key: string]: {typescript_type(extra, inner)};")
    return "{\n" + "\n".join(lines) + f"\n{indent}}}"


def typescript(actions: t.Iterable[Action[t.Any, t.Any]]) -> str:
    """TypeScript declarations for the payloads of ``actions`` and for
    ``FlaskActions.call``, whose ``data`` is then checked against the payload
    of the action the ref names."""
    entries = []
    for action in actions:
        schema = schema_of_action(action)
        doc = schema.get("description")
        comment = f"  {_comment(doc)}\n" if doc else ""
        body = typescript_type(schema, "  ")
        entries.append(f"{comment}  {json.dumps(action.name)}: {body};")
    payloads = "\n".join(entries)
    return (
        _PRELUDE
        + "/** The payload each action accepts, by action name. */\n"
        + f"export interface ActionPayloads {{\n{payloads}\n}}\n\n"
        + _RUNTIME
    )
