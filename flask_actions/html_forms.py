"""The forms of an HTML page, read as a browser reads them, and what a form
sends when a button is pressed (for :mod:`flask_actions.testing`).

Standard library only (:mod:`html.parser`). What a browser does and this
does too: controls outside a ``<form>`` that name it with ``form="id"``,
nothing inside ``<template>``, a nested ``<form>`` tag ignored, disabled
fieldsets, the first newline of a ``<textarea>`` dropped, an option's text as
its value, line breaks normalised before parsing.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import typing as t
from html.parser import HTMLParser

#: A file typed into a file input: ``(content, filename)`` or
#: ``(content, filename, content_type)``; ``content`` is bytes or a binary file.
FileValue: t.TypeAlias = (
    "tuple[bytes | t.IO[bytes], str] | tuple[bytes | t.IO[bytes], str, str]"
)
#: What ``submit(data=...)`` takes for one field.
Typed: t.TypeAlias = (
    "str | int | float | bool | FileValue | t.Sequence[str | FileValue]"
)

#: Input types that are buttons, not values.
_BUTTON_INPUTS = frozenset({"submit", "reset", "button", "image"})
#: Input types whose value loses its line breaks (value sanitisation).
_SINGLE_LINE = frozenset(
    {"text", "search", "tel", "url", "email", "password", "number", "date"}
)
#: Elements without an end tag.
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta"}
    | {"source", "track", "wbr"}
)


@dataclasses.dataclass
class Option:
    """An ``<option>`` of a ``<select>``."""

    value: str
    label: str
    selected: bool
    disabled: bool


@dataclasses.dataclass
class Control:
    """An ``<input>`` (other than a button), ``<select>`` or ``<textarea>``."""

    tag: str
    attrs: dict[str, str]
    #: The value attribute, the text of a textarea ("" for a select).
    value: str = ""
    #: Disabled itself or by a disabled ``<fieldset>``.
    disabled: bool = False
    options: list[Option] = dataclasses.field(default_factory=list)
    checked: bool = False

    @property
    def name(self) -> str:
        return self.attrs.get("name", "")

    @property
    def type(self) -> str:
        """``"textarea"``, ``"select"``, or the input's type (``"text"`` when
        absent)."""
        if self.tag != "input":
            return self.tag
        return self.attrs.get("type", "text").strip().lower() or "text"


@dataclasses.dataclass
class Button:
    """A submit button: ``<button>`` (of type submit) or ``<input type=submit>``."""

    attrs: dict[str, str]
    #: The accessible name: ``aria-label``, else the text (without what is
    #: ``aria-hidden``), else ``title``.
    label: str
    disabled: bool = False

    @property
    def name(self) -> str:
        return self.attrs.get("name", "")

    @property
    def value(self) -> str:
        return self.attrs.get("value", "")

    @property
    def id(self) -> str | None:
        return self.attrs.get("id")


@dataclasses.dataclass
class Form:
    """A ``<form>`` of a page, with its controls and submit buttons in tree
    order (those outside it that name it with ``form="id"`` included)."""

    attrs: dict[str, str]
    elements: list[Control | Button] = dataclasses.field(default_factory=list)
    #: The form's markup as it is in the page (line breaks normalised).
    html: str = ""

    @property
    def id(self) -> str | None:
        return self.attrs.get("id")

    @property
    def controls(self) -> list[Control]:
        return [e for e in self.elements if isinstance(e, Control)]

    @property
    def buttons(self) -> list[Button]:
        return [e for e in self.elements if isinstance(e, Button)]

    @property
    def ref(self) -> str | None:
        """The value of its ``_action`` field: the action it invokes."""
        return self.value("_action")

    def value(self, name: str) -> str | None:
        """The value the first control called ``name`` would send (``None``
        when none would: absent, unchecked, disabled)."""
        for control in self.controls:
            if control.name == name and not control.disabled:
                values = control_values(control)
                if values:
                    return values[0]
        return None


def control_values(control: Control) -> list[str]:
    """What ``control`` sends, as strings (a file input: nothing)."""
    kind = control.type
    if kind in ("checkbox", "radio"):
        return [control.attrs.get("value", "on")] if control.checked else []
    if kind == "select":
        return [o.value for o in selected_options(control) if not o.disabled]
    if kind == "file":
        return []
    return [control.value]


def selected_options(control: Control) -> list[Option]:
    """The options a ``<select>`` has selected, as a browser chooses them."""
    if "multiple" in control.attrs:
        return [o for o in control.options if o.selected]
    chosen = [o for o in control.options if o.selected]
    if chosen:
        return chosen[-1:]
    first = next((o for o in control.options if not o.disabled), None)
    return [first] if first is not None and "size" not in control.attrs else []


class _Text:
    """Text being collected for an element, minus what is ``aria-hidden``."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        #: Open elements inside, and whether each hides its content.
        self.open: list[tuple[str, bool]] = []

    @property
    def hidden(self) -> bool:
        return any(hidden for _, hidden in self.open)

    def add(self, text: str) -> None:
        if not self.hidden:
            self.parts.append(text)

    def text(self) -> str:
        return "".join(self.parts)


class _Reader(HTMLParser):
    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.source = source
        #: Where each line starts (getpos() counts lines and columns).
        self._line_starts = [
            0,
            *itertools.accumulate(len(line) + 1 for line in source.split("\n")),
        ]
        self.forms: list[Form] = []
        #: Submit buttons outside any form: a browser cannot submit them.
        self.formless: list[Button] = []
        #: Elements in tree order, and the form id they name (``form=``), if any.
        self._placed: list[tuple[Control | Button, Form | None, str | None]] = []
        self._form: Form | None = None
        self._form_start = 0
        self._templates = 0
        self._fieldsets: list[bool] = []
        self._select: Control | None = None
        #: Whether each open <optgroup> is disabled.
        self._groups: list[bool] = []
        self._option: tuple[Option, _Text, bool] | None = None
        self._text: tuple[Control | Button, _Text] | None = None

    def _offset(self) -> int:
        line, column = self.getpos()
        return self._line_starts[line - 1] + column

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._text is not None and isinstance(self._text[0], Control):
            self._text[1].add(self.get_starttag_text() or "")  # inside a textarea
            return
        if tag == "template":
            self._templates += 1
        if self._templates:
            return
        values = {key: value or "" for key, value in attrs}
        disabled = "disabled" in values or any(self._fieldsets)
        if tag == "fieldset":
            self._fieldsets.append("disabled" in values)
        elif tag == "form":
            if self._form is None:  # browsers ignore a form inside a form
                self._form = Form(values)
                self._form_start = self._offset()
                self.forms.append(self._form)
        elif tag == "input":
            kind = values.get("type", "text").strip().lower()
            if kind == "submit":
                label = values.get("aria-label") or values.get("value") or "Submit"
                self._place(Button(values, " ".join(label.split()), disabled), values)
            elif kind not in _BUTTON_INPUTS:
                value = values.get("value", "")
                if kind in _SINGLE_LINE:
                    value = value.replace("\n", "")
                checked = "checked" in values
                self._place(
                    Control("input", values, value, disabled, checked=checked), values
                )
        elif tag == "button":
            if values.get("type", "submit").strip().lower() == "submit":
                self._text = (Button(values, "", disabled), _Text())
                self._place(self._text[0], values)
        elif tag == "textarea":
            control = Control("textarea", values, "", disabled)
            self._text = (control, _Text())
            self._place(control, values)
        elif tag == "select":
            self._select = Control("select", values, "", disabled)
            self._place(self._select, values)
        elif tag == "optgroup" and self._select is not None:
            self._close_option()
            self._groups.append("disabled" in values)
        elif tag == "option" and self._select is not None:
            self._close_option()
            option = Option(
                values.get("value", ""),
                "",
                "selected" in values,
                "disabled" in values or any(self._groups),
            )
            self._option = (option, _Text(), "value" in values)
        if self._text is not None and tag != "button" and tag not in _VOID:
            self._text[1].open.append((tag, values.get("aria-hidden") == "true"))
        if self._text is not None and tag == "img" and "alt" in values:
            self._text[1].add(values["alt"])

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._text is not None:
            element, text = self._text
            if isinstance(element, Control):  # a textarea
                if tag != "textarea":
                    text.add(f"</{tag}>")
                    return
                value = text.text()
                element.value = value[1:] if value.startswith("\n") else value
                self._text = None
                return
            if tag == "button":
                content = " ".join(text.text().split())
                label = (
                    element.attrs.get("aria-label")
                    or content
                    or element.attrs.get("title", "")
                )
                element.label = " ".join(label.split())
                self._text = None
                return
            while text.open:
                if text.open.pop()[0] == tag:
                    break
        if tag == "template":
            self._templates = max(0, self._templates - 1)
            return
        if self._templates:
            return
        if tag == "fieldset" and self._fieldsets:
            self._fieldsets.pop()
        elif tag == "form" and self._form is not None:
            end = self.source.find(">", self._offset()) + 1
            self._form.html = self.source[self._form_start : end]
            self._form = None
        elif tag == "option":
            self._close_option()
        elif tag == "optgroup":
            self._close_option()
            if self._groups:
                self._groups.pop()
        elif tag == "select":
            self._close_option()
            self._groups.clear()
            self._select = None

    def handle_data(self, data: str) -> None:
        if self._option is not None:
            self._option[1].add(data)
        elif self._text is not None:
            self._text[1].add(data)

    def handle_comment(self, data: str) -> None:
        if self._text is not None and isinstance(self._text[0], Control):
            self._text[1].add(f"<!--{data}-->")

    def _close_option(self) -> None:
        if self._option is None or self._select is None:
            return
        option, text, has_value = self._option
        option.label = " ".join(text.text().split())
        if not has_value:
            option.value = option.label
        self._select.options.append(option)
        self._option = None

    def _place(self, element: Control | Button, attrs: dict[str, str]) -> None:
        self._placed.append((element, self._form, attrs.get("form")))

    def close(self) -> None:
        super().close()
        if self._form is not None:  # never closed: it ends with the page
            self._form.html = self.source[self._form_start :]
        by_id = {form.id: form for form in reversed(self.forms) if form.id}
        for element, inside, named in self._placed:
            owner = by_id.get(named) if named is not None else inside
            if owner is not None:
                owner.elements.append(element)
            elif isinstance(element, Button):
                self.formless.append(element)
        for form in self.forms:  # one checked radio button per group: the last
            radios = [c for c in form.controls if c.type == "radio" and c.checked]
            last = {c.name: c for c in radios}
            for control in radios:
                control.checked = control is last[control.name]


def read_page(html: str) -> tuple[list[Form], list[Button]]:
    """The forms of ``html`` in the order of the page, and the submit buttons
    that belong to none."""
    reader = _Reader(html.replace("\r\n", "\n").replace("\r", "\n"))
    reader.feed(reader.source)
    reader.close()
    return reader.forms, reader.formless


def read_forms(html: str) -> list[Form]:
    """The forms of ``html``, in the order of the page."""
    return read_page(html)[0]


# -- what a form sends ------------------------------------------------------------


#: A file as sent: its data, name and type.
SentFile: t.TypeAlias = "tuple[t.IO[bytes], str, str]"
#: One entry of the form data set.
Entry: t.TypeAlias = "tuple[str, str | SentFile]"


def entries(
    form: Form, pressed: Button | None, data: t.Mapping[str, Typed]
) -> list[Entry]:
    """The form data set: what the browser sends, in tree order."""
    controls = {
        id(c): dataclasses.replace(
            c, options=[dataclasses.replace(o) for o in c.options]
        )
        for c in form.controls
    }
    typed_files: dict[int, list[SentFile]] = {}
    for name, value in data.items():
        named = [controls[id(c)] for c in form.controls if c.name == name]
        if not named:
            fields = sorted(
                {c.name for c in form.controls if c.name and c.type != "hidden"}
            )
            raise LookupError(
                f"The form has no field named {name!r} to type into. Its fields: "
                + (", ".join(fields) or "none")
                + "."
            )
        _type(named, value, typed_files)
    entries: list[Entry] = []
    for element in form.elements:
        if isinstance(element, Button):
            if element is pressed and element.name:
                entries.append((element.name, element.value))
            continue
        control = controls[id(element)]
        if control.disabled or not control.name:
            continue
        if control.type == "file":
            files = typed_files.get(id(control))
            if not files:
                files = [(io.BytesIO(), "", "application/octet-stream")]
            entries.extend((control.name, f) for f in files)
            continue
        entries.extend((control.name, crlf(v)) for v in control_values(control))
    return [(crlf(name), value) for name, value in entries]


def _type(
    controls: list[Control],
    value: Typed,
    files: dict[int, list[SentFile]],
) -> None:
    """Type ``value`` into ``controls`` (those of one name), as a user can.

    Hidden fields of the name are left as they are (a hidden ``0`` before a
    checkbox ``1`` is a common way to send a value when the box is unchecked).
    """
    name = controls[0].name
    visible = [c for c in controls if c.type != "hidden"]
    if not visible:
        raise ValueError(
            f"The field {name!r} is hidden: a user cannot type into it. Post what"
            " you want to forge with client.post()."
        )
    first = visible[0]
    kind = first.type
    usable = [c for c in visible if not c.disabled]
    if not usable:
        raise ValueError(f"The field {name!r} is disabled: a user cannot change it.")
    if "readonly" in first.attrs and kind not in ("checkbox", "radio", "select"):
        raise ValueError(
            f"The field {name!r} is read-only: a user cannot type into it."
        )
    if kind in ("checkbox", "radio"):
        if isinstance(value, bool):
            if len(usable) != 1:
                raise ValueError(
                    f"{len(usable)} boxes are named {name!r}: give the values to check."
                )
            usable[0].checked = value
            return
        wanted = (
            [value] if isinstance(value, str) else list(t.cast(t.Sequence[str], value))
        )
        if kind == "radio" and len(wanted) != 1:
            raise ValueError(f"Only one radio button of {name!r} can be checked.")
        have = [c.attrs.get("value", "on") for c in usable]
        missing = [w for w in wanted if w not in have]
        if missing:
            raise ValueError(f"{name!r} has no option {missing[0]!r}; it has {have}.")
        for control in usable:
            control.checked = control.attrs.get("value", "on") in wanted
        return
    if kind == "select":
        wanted = (
            [value] if isinstance(value, str) else list(t.cast(t.Sequence[str], value))
        )
        if len(wanted) > 1 and "multiple" not in first.attrs:
            raise ValueError(f"The select {name!r} takes one value, not {len(wanted)}.")
        options = {o.value: o for o in first.options}
        for w in wanted:
            if w not in options or options[w].disabled:
                choices = [o.value for o in first.options if not o.disabled]
                raise ValueError(
                    f"{name!r} has no option {w!r} to choose; it has {choices}."
                )
        for option in first.options:
            option.selected = option.value in wanted
        return
    if kind == "file":
        given = (
            [value]
            if isinstance(value, tuple)
            else list(t.cast(t.Sequence[FileValue], value))
        )
        if len(given) > 1 and "multiple" not in first.attrs:
            raise ValueError(
                f"The file input {name!r} takes one file, not {len(given)}."
            )
        files[id(first)] = [_file(f) for f in given]
        return
    texts = (
        [value]
        if isinstance(value, (str, int, float))
        else list(t.cast(t.Sequence[str], value))
    )
    if len(texts) != len(usable):
        raise ValueError(
            f"{len(usable)} fields are named {name!r}: give a list of {len(usable)} values."
        )
    for control, text in zip(usable, texts, strict=True):
        if not isinstance(text, (str, int, float)) or isinstance(text, bool):
            raise ValueError(f"Type text into {name!r}, not {type(text).__name__}.")
        typed = str(text)
        control.value = (
            typed.replace("\n", "").replace("\r", "") if kind != "textarea" else typed
        )


def _file(value: FileValue) -> SentFile:
    content, filename, *rest = value
    stream = io.BytesIO(content) if isinstance(content, bytes) else content
    return stream, filename, rest[0] if rest else "application/octet-stream"


def file_name(value: str | SentFile) -> str:
    """What a file input sends in a form not encoded as multipart: its name."""
    return value if isinstance(value, str) else value[1]


def crlf(text: str) -> str:
    """Line breaks as browsers send them in forms (CR LF)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")
