"""What a marshmallow field allows, said once for every other language.

:func:`of` reads a field's validators (``Length``, ``Range``, ``OneOf``,
``NoneOf``, ``Equal``, ``Regexp``, ``ContainsOnly``, ``ContainsNoneOf``,
``And``) into :class:`Constraints`. Two readers share it:

- :mod:`~flask_actions.fields` turns them into the HTML attributes a browser
  enforces without JavaScript (:func:`html_attributes`): ``required``,
  ``minlength``/``maxlength``, ``min``/``max``/``step``, ``pattern`` and
  ``accept``, and the input's ``type`` (:func:`input_type`);
- the JSON Schema and TypeScript export of ``flask actions schema``.

A browser constraint must never refuse what the server accepts (the user
would be stuck, with no message from the server). So a constraint is left to
the server when the browser would read it otherwise: a regex is given as a
``pattern`` only when it means the same in JavaScript (:func:`js_pattern`),
``required`` only when the schema refuses the empty value too, an exclusive
bound of a decimal number not at all.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import functools
import re
import typing as t

from marshmallow import fields as ma
from marshmallow import validate

from .uploads import File
from .wire import empty_means_missing

#: ``validate.And`` is missing from older marshmallow 3 releases.
_AND: t.Any = getattr(validate, "And", ())


@dataclasses.dataclass
class Constraints:
    """What one field's validators allow (``None``: no such constraint)."""

    min_length: int | None = None
    max_length: int | None = None
    minimum: t.Any = None
    maximum: t.Any = None
    exclusive_minimum: t.Any = None
    exclusive_maximum: t.Any = None
    #: ``OneOf``: the values allowed, and their labels (``OneOf(labels=...)``).
    choices: tuple[t.Any, ...] | None = None
    labels: tuple[str, ...] | None = None
    #: ``NoneOf``: the values refused.
    excluded: tuple[t.Any, ...] | None = None
    #: ``Equal``: the one value allowed (a tuple, so that ``None`` can be it).
    equal: tuple[t.Any] | None = None
    #: ``Regexp``: the regexes a value must match at its start (Python's
    #: ``re.match``), as compiled.
    regexes: tuple[re.Pattern[t.Any], ...] = ()
    #: ``ContainsOnly`` / ``ContainsNoneOf`` on a list: per item.
    item_choices: tuple[t.Any, ...] | None = None
    item_excluded: tuple[t.Any, ...] | None = None
    format: str | None = None

    @property
    def patterns(self) -> tuple[str, ...] | None:
        """The regexes as JavaScript patterns of the same meaning, or ``None``
        when one of them has none."""
        out = tuple(js_pattern(r) for r in self.regexes)
        return None if None in out else t.cast(tuple[str, ...], out)


def of(field: ma.Field[t.Any]) -> Constraints:
    """The constraints of ``field``'s own validators (not its items' or
    nested fields')."""
    out = Constraints()
    for validator in field.validators:
        _read(out, validator)
    return out


def _tightest(old: t.Any, new: t.Any, pick: t.Callable[..., t.Any]) -> t.Any:
    return new if old is None else pick(old, new)


def _read(out: Constraints, validator: t.Any) -> None:
    if isinstance(validator, validate.Length):
        low = validator.equal if validator.equal is not None else validator.min
        high = validator.equal if validator.equal is not None else validator.max
        if low is not None:
            out.min_length = _tightest(out.min_length, low, max)
        if high is not None:
            out.max_length = _tightest(out.max_length, high, min)
    elif isinstance(validator, validate.Range):
        if validator.min is not None:
            if validator.min_inclusive:
                out.minimum = validator.min
            else:
                out.exclusive_minimum = validator.min
        if validator.max is not None:
            if validator.max_inclusive:
                out.maximum = validator.max
            else:
                out.exclusive_maximum = validator.max
    elif isinstance(validator, validate.ContainsOnly):  # before OneOf: a subclass
        out.item_choices = tuple(validator.choices)
    elif isinstance(validator, validate.ContainsNoneOf):
        out.item_excluded = tuple(validator.iterable)
    elif isinstance(validator, validate.OneOf):
        out.choices = tuple(validator.choices)
        labels = tuple(str(label) for label in validator.labels)
        out.labels = labels if len(labels) == len(out.choices) else None
    elif isinstance(validator, validate.NoneOf):
        out.excluded = tuple(validator.iterable)
    elif isinstance(validator, validate.Equal):
        out.equal = (validator.comparable,)
    elif isinstance(validator, validate.Regexp):
        out.regexes = (*out.regexes, validator.regex)
    elif isinstance(validator, validate.Email):
        out.format = "email"
    elif isinstance(validator, validate.URL):
        out.format = "uri"
    elif isinstance(validator, _AND):
        for inner in validator.validators:
            _read(out, inner)


# -- HTML ---------------------------------------------------------------------

#: What a ``File()`` takes without ``accept``: any type it recognises.
_ANY_FILE = File().accept

#: The ``<input type>`` of each field type, most specific first.
_INPUT_TYPES: tuple[tuple[type[ma.Field[t.Any]], str], ...] = (
    (File, "file"),
    (ma.Email, "email"),
    (ma.Url, "url"),
    (ma.Boolean, "checkbox"),
    (ma.AwareDateTime, "text"),  # datetime-local has no time zone
    # Before DateTime: marshmallow before 3.21 derives Date and Time from it.
    (ma.Date, "date"),
    (ma.Time, "time"),
    (ma.DateTime, "datetime-local"),
    (ma.Number, "number"),
)


def input_type(field: ma.Field[t.Any]) -> str:
    """The ``type`` of the ``<input>`` for ``field`` (``"text"`` for any
    other)."""
    if isinstance(field, ma.List):
        field = field.inner
    for cls, name in _INPUT_TYPES:
        if isinstance(field, cls):
            return name
    return "password" if field.metadata.get("sensitive") else "text"


def html_value(value: t.Any) -> str:
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, datetime.datetime):
        return value.replace(tzinfo=None).isoformat(timespec="minutes")
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _step(field: ma.Field[t.Any]) -> str | None:
    if isinstance(field, ma.Integer):
        return None  # the default step of a number input, 1
    if isinstance(field, ma.Decimal) and field.places is not None:
        # marshmallow keeps it as a quantum: Decimal("0.01") for places=2
        return str(field.places)
    if isinstance(field, ma.Number):
        return "any"
    return None


def _refuses_empty(field: ma.Field[t.Any], constraints: Constraints) -> bool:
    """Whether the schema refuses an input left empty, so that the browser may
    too (``required``): a ``required`` list (a ``<select multiple>`` or a file
    input sends nothing then) or field whose empty value means "not given"
    (numbers, dates, ... see ``docs/validation.md``), and a ``required`` text
    field whose validators refuse ``""`` (a ``Length`` of at least one, a
    regex or choices without the empty string)."""
    if not field.required:
        return False
    if isinstance(field, ma.List) or empty_means_missing(field):
        return True
    return (
        (constraints.min_length or 0) > 0
        or any(regex.match("") is None for regex in constraints.regexes)
        or (constraints.choices is not None and "" not in constraints.choices)
    )


def _accept(field: ma.Field[t.Any]) -> str | None:
    """The ``accept`` of a file input: the types its field takes."""
    kinds = getattr(field, "accept", None)
    if not kinds or kinds == _ANY_FILE:
        return None
    return ",".join(kind.mimetype for kind in kinds)


def html_attributes(field: ma.Field[t.Any]) -> dict[str, t.Any]:
    """The attributes that let a browser check ``field`` without JavaScript,
    each one only where the browser reads it as the schema does."""
    constraints = of(field)
    kind = input_type(field)
    attrs: dict[str, t.Any] = {}
    if kind == "checkbox":
        # A required checkbox must be ticked: only a field that must be true.
        attrs["required"] = field.required and constraints.equal == (True,)
        return attrs
    attrs["required"] = _refuses_empty(field, constraints)
    if isinstance(field, ma.List):
        attrs["multiple"] = True
        attrs["accept"] = _accept(field.inner)
        return attrs
    if isinstance(field, File):
        attrs["accept"] = _accept(field)
        return attrs
    if kind in ("number", "date", "datetime-local", "time"):
        low, high = constraints.minimum, constraints.maximum
        integer = isinstance(field, ma.Integer)
        if integer and constraints.exclusive_minimum is not None:
            low = _tightest(low, constraints.exclusive_minimum + 1, max)
        if integer and constraints.exclusive_maximum is not None:
            high = _tightest(high, constraints.exclusive_maximum - 1, min)
        attrs["min"] = None if low is None else html_value(low)
        attrs["max"] = None if high is None else html_value(high)
        attrs["step"] = _step(field)
        return attrs
    # Text: lengths count characters; a browser counts UTF-16 units, so an
    # emoji counts twice there (see docs/templates.md).
    attrs["minlength"] = constraints.min_length
    attrs["maxlength"] = constraints.max_length
    patterns = constraints.patterns
    if patterns and len(patterns) == 1:
        attrs["pattern"] = html_pattern(patterns[0])
    return attrs


# -- Regexes: Python's re in JavaScript ---------------------------------------

#: What Python's ``\s`` matches in a str pattern (JavaScript's ``\s`` differs).
_UNICODE_SPACE = (
    r"\t\n\v\f\r\u{1c}-\u{1f} \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}"
    r"\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}"
)
_ASCII_SPACE = r"\t\n\v\f\r "
#: Class contents of Python's ``\d``, ``\w``, ``\s`` (Unicode, and under
#: ``re.ASCII``), in JavaScript with the ``u`` or ``v`` flag.
_CLASSES = {
    (False, "d"): r"\p{Nd}",
    (False, "w"): r"\p{L}\p{N}_",
    (False, "s"): _UNICODE_SPACE,
    (True, "d"): "0-9",
    (True, "w"): "A-Za-z0-9_",
    (True, "s"): _ASCII_SPACE,
}
_QUANTIFIER = re.compile(r"\{(\d*)(?:(,)(\d*))?\}")
_CONTROL_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v", "a": "\a"}


class _Untranslatable(Exception):
    pass


def _char(c: str) -> str:
    """One literal character, written so that it means itself in any place of
    a JavaScript pattern with the ``u`` or ``v`` flag."""
    if c.isalnum() or c in " _":
        return c
    return f"\\u{{{ord(c):x}}}"


class _Translator:
    """A recursive-descent reading of the part of Python's regex syntax
    that has a JavaScript twin; anything else raises :class:`_Untranslatable`."""

    def __init__(self, source: str, ascii: bool) -> None:
        self.src = source
        self.pos = 0
        self.ascii = ascii

    def peek(self, n: int = 1) -> str:
        return self.src[self.pos : self.pos + n]

    def take(self, n: int = 1) -> str:
        out = self.src[self.pos : self.pos + n]
        self.pos += n
        return out

    def alternation(self) -> str:
        parts = [self.sequence()]
        while self.peek() == "|":
            self.take()
            parts.append(self.sequence())
        return "|".join(parts)

    def sequence(self) -> str:
        out = []
        while self.pos < len(self.src) and self.peek() not in "|)":
            atom, quantifiable = self.atom()
            quantifier = self.quantifier()
            if quantifier and not quantifiable:
                raise _Untranslatable("a repeated assertion")
            out.append(atom + quantifier)
        return "".join(out)

    def quantifier(self) -> str:
        c = self.peek()
        if c in ("*", "+", "?"):
            q = self.take()
        elif c == "{" and (m := _QUANTIFIER.match(self.src, self.pos)):
            low, comma, high = m.group(1), m.group(2), m.group(3)
            if not comma and not low:
                return ""  # "{}" is a literal in Python
            self.pos = m.end()
            q = "{" + (low or "0") + (comma or "") + (high or "") + "}"
        else:
            return ""
        if self.peek() == "?":
            q += self.take()
        elif self.peek() == "+":
            raise _Untranslatable("a possessive quantifier")
        return q

    def atom(self) -> tuple[str, bool]:
        c = self.take()
        if c == "(":
            return self.group()
        if c == "[":
            return self.char_class(), True
        if c == ".":
            return r"[^\n]", True
        if c in "^$":
            return c, False
        if c == "\\":
            return self.escape()
        return _char(c), True

    def group(self) -> tuple[str, bool]:
        if self.peek() != "?":
            head, quantifiable = "(?:", True  # captures: nothing refers to them
        elif self.peek(2) == "?:":
            self.take(2)
            head, quantifiable = "(?:", True
        elif self.peek(2) in ("?=", "?!"):
            head, quantifiable = "(" + self.take(2), False
        elif self.peek(3) in ("?<=", "?<!"):
            head, quantifiable = "(" + self.take(3), False
        elif self.peek(3) == "?P<":
            end = self.src.find(">", self.pos)
            if end < 0:
                raise _Untranslatable("a group name")
            self.pos = end + 1
            head, quantifiable = "(?:", True
        else:
            raise _Untranslatable("a group Python has alone")
        inner = self.alternation()
        if self.take() != ")":
            raise _Untranslatable("an unclosed group")
        return head + inner + ")", quantifiable

    def escape(self) -> tuple[str, bool]:
        c = self.take()
        if c == "d" and not self.ascii:
            return r"\p{Nd}", True
        if c in "dws":
            return "[" + _CLASSES[(self.ascii, c)] + "]", True
        if c in "DWS":
            return "[^" + _CLASSES[(self.ascii, c.lower())] + "]", True
        if c in "bB":
            if not self.ascii:  # JavaScript's \b knows ASCII words only
                raise _Untranslatable("a Unicode word boundary")
            return "\\" + c, False
        if c == "A":
            return "^", False
        if c == "Z":
            return "$", False
        return _char(self.literal_escape(c)), True

    def literal_escape(self, c: str) -> str:
        """The character an escape such as ``\\.`` or ``\\x41`` stands for."""
        if c in _CONTROL_ESCAPES:
            return _CONTROL_ESCAPES[c]
        for letter, size in (("x", 2), ("u", 4), ("U", 8)):
            if c == letter:
                return chr(int(self.take(size), 16))
        if c == "N" and self.peek() == "{":
            import unicodedata

            end = self.src.index("}", self.pos)
            name = self.src[self.pos + 1 : end]
            self.pos = end + 1
            return unicodedata.lookup(name)
        if c.isalnum():  # octal, back references
            raise _Untranslatable("an escape Python has alone")
        return c

    def char_class(self) -> str:
        out = "["
        if self.peek() == "^":
            out += self.take()
        first = True
        while first or self.peek() != "]":
            if self.pos >= len(self.src):
                raise _Untranslatable("an unclosed class")
            first = False
            item = self.class_item()
            if self.peek() == "-" and self.peek(2) != "-]" and self.peek(2)[1:] != "]":
                self.take()
                if item[1] is None or (end := self.class_item())[1] is None:
                    raise _Untranslatable("a range of a class")
                out += item[0] + "-" + end[0]
            else:
                out += item[0]
        self.take()
        return out + "]"

    def class_item(self) -> tuple[str, str | None]:
        """A class member as written for JavaScript, and the character it is
        (``None`` for ``\\d`` and the like)."""
        c = self.take()
        if c != "\\":
            return _char(c), c
        c = self.take()
        if c in "dws":
            return _CLASSES[(self.ascii, c)], None
        if c in "DWS":
            raise _Untranslatable("a negated class inside a class")
        if c == "b":
            return _char("\b"), "\b"
        literal = self.literal_escape(c)
        return _char(literal), literal


@functools.lru_cache(maxsize=256)
def js_pattern(regex: re.Pattern[t.Any]) -> str | None:
    """``regex`` as a JavaScript pattern (``u`` or ``v`` flag) that matches the
    same strings, or ``None`` when there is no such translation here (flags
    other than ``re.ASCII``, back references, Python-only syntax).

    Like Python's ``re.match``, the pattern matches at the start of a value;
    wrap it as :func:`html_pattern` does for a whole value. ``$`` means the
    end of the value in JavaScript, while Python's also allows one newline
    after it: a single-line input never has one.
    """
    if not isinstance(regex.pattern, str):
        return None
    flags = regex.flags & ~re.UNICODE
    if flags & ~re.ASCII:
        return None
    translator = _Translator(regex.pattern, ascii=bool(flags & re.ASCII))
    try:
        out = translator.alternation()
        if translator.pos != len(regex.pattern):
            return None  # an unmatched ")": Python would not have compiled it
    except (_Untranslatable, ValueError, KeyError, IndexError):
        return None
    return out


def html_pattern(pattern: str) -> str:
    """The ``pattern`` attribute for a :func:`js_pattern`: a browser matches
    it against the whole value, Python's ``re.match`` at its start."""
    if pattern.endswith("$") and "|" not in pattern:
        return pattern[:-1]
    return f"(?:{pattern})[\\s\\S]*"


def search_pattern(pattern: str) -> str:
    """The JSON Schema ``pattern`` for a :func:`js_pattern`: JSON Schema
    searches the value, ``re.match`` anchors at its start."""
    if "|" in pattern:
        return f"^(?:{pattern})"
    return pattern if pattern.startswith("^") else "^" + pattern
