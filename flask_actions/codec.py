"""Turn bound arguments and results into bytes and back.

Bound arguments are rendered into pages and come back from browsers, so the
format is a closed set of types: JSON's own, plus the few that forms and
databases use every day. Nothing in the data can name a Python type to build;
an unknown tag is an error, never a lookup.

Supported: ``None``, ``bool``, ``int``, ``float`` (also NaN and infinities),
``str``, ``bytes``, ``list``, ``tuple``, ``dict`` with ``str`` keys,
:class:`~uuid.UUID`, :class:`~datetime.date`, :class:`~datetime.datetime`,
:class:`~datetime.time` and :class:`~decimal.Decimal`.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import json
import math
import typing as t
import uuid

#: The maximum nesting depth of encoded values; deeper data is rejected both
#: ways, so a hostile token cannot exhaust the stack.
MAX_DEPTH = 32


class CodecError(ValueError):
    """A value cannot be encoded, or bytes do not decode to a value."""


def _encode(value: t.Any, depth: int) -> t.Any:
    if depth > MAX_DEPTH:
        raise CodecError(
            f"Values nested deeper than {MAX_DEPTH} levels are not supported."
        )
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return {"$f": repr(value)}
    if isinstance(value, (list, tuple)):
        items = [_encode(item, depth + 1) for item in value]
        return items if isinstance(value, list) else {"$t": items}
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise CodecError(
                    f"Dictionary keys must be strings, not {type(key).__name__}."
                )
        return {"$m": {k: _encode(v, depth + 1) for k, v in value.items()}}
    if isinstance(value, uuid.UUID):
        return {"$u": str(value)}
    if isinstance(value, datetime.datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, datetime.date):
        return {"$d": value.isoformat()}
    if isinstance(value, datetime.time):
        return {"$tm": value.isoformat()}
    if isinstance(value, decimal.Decimal):
        return {"$n": str(value)}
    if isinstance(value, bytes):
        return {"$b": base64.b64encode(value).decode("ascii")}
    raise CodecError(
        f"Cannot encode a value of type {type(value).__name__}. Bound arguments may be"
        " None, bool, int, float, str, bytes, list, tuple, dict, UUID, date, datetime,"
        " time or Decimal."
    )


_DECODERS: dict[str, t.Callable[[str], t.Any]] = {
    "$f": float,
    "$u": uuid.UUID,
    "$dt": datetime.datetime.fromisoformat,
    "$d": datetime.date.fromisoformat,
    "$tm": datetime.time.fromisoformat,
    "$n": decimal.Decimal,
    "$b": lambda s: base64.b64decode(s, validate=True),
}


def _decode(value: t.Any, depth: int) -> t.Any:
    if depth > MAX_DEPTH:
        raise CodecError("The data is nested too deeply.")
    if isinstance(value, list):
        return [_decode(item, depth + 1) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) != 1:
        raise CodecError("Malformed tagged value.")
    ((tag, inner),) = value.items()
    if tag == "$m" and isinstance(inner, dict):
        return {k: _decode(v, depth + 1) for k, v in inner.items()}
    if tag == "$t" and isinstance(inner, list):
        return tuple(_decode(item, depth + 1) for item in inner)
    decoder = _DECODERS.get(tag)
    if decoder is None or not isinstance(inner, str):
        raise CodecError("Unknown tagged value.")
    try:
        return decoder(inner)
    except (ValueError, ArithmeticError, TypeError) as e:
        raise CodecError(f"Malformed {tag} value.") from e


#: One encoder for all calls: ``json.dumps`` with options builds one per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def json_text(value: t.Any) -> str:
    """Compact JSON of a JSON-compatible ``value`` (as :func:`to_json` makes
    it), non-ASCII characters as they are: the body of a JSON response."""
    return _ENCODER.encode(value)


def dumps(value: t.Any) -> bytes:
    """Encode ``value`` to compact UTF-8 JSON bytes.

    :raises CodecError: if the value holds an unsupported type.
    """
    if type(value) is list:
        if all(type(item) is int for item in value):  # row ids: the common case
            return f"[{','.join(map(str, value))}]".encode()
        if all(type(item) in _PLAIN for item in value):  # slugs: nothing to tag
            return _ENCODER.encode(value).encode()
    elif type(value) is dict:  # an action's {"id": 3}: one tag
        flat = _flat_object(value)
        if flat is not None:
            return f'{{"$m":{flat}}}'.encode()
        if all(type(k) is str and type(v) in _PLAIN for k, v in value.items()):
            return _ENCODER.encode({"$m": value}).encode()
    return _ENCODER.encode(_encode(value, 0)).encode()


_PLAIN = (int, str, bool, type(None))
_CONSTANTS = {None: "null", True: "true", False: "false"}


def _bare(text: str) -> bool:
    """Whether JSON writes ``text`` as it is between its quotes (as
    :data:`_ENCODER` does: only quotes, backslashes and control characters
    are escaped; anything not printable is left to it)."""
    return text.isprintable() and '"' not in text and "\\" not in text


def _flat_object(value: dict[t.Any, t.Any]) -> str | None:
    """The JSON of a small dict of ints, text, booleans and ``None`` that
    needs no escaping, written directly (the same text as :data:`_ENCODER`
    writes, without building an encoder per call); ``None`` for any other."""
    if len(value) > 8:
        return None
    items = []
    for key, item in value.items():
        kind = type(item)
        if type(key) is not str or not _bare(key):
            return None
        if kind is int:
            text = int.__repr__(item)
        elif kind is str and _bare(item):
            text = f'"{item}"'
        elif kind is bool or item is None:
            text = _CONSTANTS[item]
        else:
            return None
        items.append(f'"{key}":{text}')
    return "{" + ",".join(items) + "}"


def loads(data: bytes) -> t.Any:
    """Decode bytes made by :func:`dumps`.

    :raises CodecError: if the bytes are not such an encoding.
    """
    try:
        raw = json.loads(data)
    except (ValueError, RecursionError) as e:
        raise CodecError("The data is not valid JSON.") from e
    return _decode(raw, 0)


def to_json(value: t.Any) -> t.Any:
    """Make an action's return value JSON-compatible for JavaScript callers.

    Dates become ISO 8601 strings, UUIDs and Decimals strings, tuples lists, so a
    browser gets what it can read. Objects with a ``__json__`` method, and
    dataclasses, are converted too.
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (uuid.UUID, decimal.Decimal)):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    to_json_method = getattr(value, "__json__", None)
    if callable(to_json_method):
        return to_json(to_json_method())
    import dataclasses

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_json(dataclasses.asdict(value))
    raise TypeError(
        f"The action returned a {type(value).__name__}, which cannot be sent as JSON."
        " Return dicts, lists and plain values, or give the class a __json__ method."
    )
