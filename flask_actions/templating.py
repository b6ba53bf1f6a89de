"""Template globals and the helpers behind ``flask_actions/macros.html``.

Globals (visible in imported macros too): ``action(name)``,
``action_result(target=None)``, ``action_ref(target)``, and
``_flask_actions``, the macros' private helper.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
import typing as t
from functools import lru_cache
from pathlib import Path

from flask import current_app
from flask import Flask
from flask import g
from flask import url_for
from flask_wtf.csrf import generate_csrf
from markupsafe import escape
from markupsafe import Markup

from . import fields
from . import flashing
from . import idempotency
from .action import Action
from .action import BoundAction
from .action import no_template_context
from .action import Target
from .registry import get_registry
from .respond import post_url
from .respond import same_page_url
from .results import ActionResult
from .reuse import Reuse
from .reuse import token_reuse
from .wire import ACTION_FIELD
from .wire import BUTTON_ASKS
from .wire import BUTTON_CONFIRMED
from .wire import BUTTON_FIELD
from .wire import BUTTON_TOKEN_SEPARATOR
from .wire import CONFIRM_FIELD
from .wire import CONFIRMED_FIELD
from .wire import csrf_enabled
from .wire import csrf_field_name
from .wire import FORM_FIELD
from .wire import G_WITHOUT_QUERY
from .wire import KEY_FIELD
from .wire import MAX_FORM_NUMBER

_G_RENDER = "_flask_actions_render"
#: What fa.button sets itself; a keyword argument cannot change them.
_BUTTON_OWN = frozenset(
    {"type", "name", "value", "formaction", "formmethod", "formnovalidate"}
)
#: The first submit button of every fa.form, so that Enter in one of its
#: fields runs the form's own action, never an fa.button that comes first.
_DEFAULT_BUTTON = (
    '<button type="submit" hidden tabindex="-1" aria-hidden="true"'
    " data-fa-default></button>"
)
_STATIC = Path(__file__).parent / "static"
SCRIPT = "flask-actions.min.js"


def action(name: str) -> Action[t.Any, t.Any]:
    """The action registered under ``name`` (``"todos.add"``).

    :raises LookupError: if there is none, listing the names there are.
    """
    registry = get_registry()
    entry = registry.lookup_name(name)
    if entry is None:
        known = ", ".join(sorted(e.action.name for e in registry.entries())) or "none"
        raise LookupError(f"No action is named {name!r}. Registered actions: {known}.")
    return entry.action


def _resolve(target: Target | str) -> Target:
    return action(target) if isinstance(target, str) else target


def action_ref(target: Target | str) -> str:
    """A string naming ``target`` and its bound arguments, for
    ``FlaskActions.call(ref, data)`` in JavaScript."""
    return _resolve(target).ref


def action_result(target: Target | str | None = None) -> ActionResult | None:
    """The result of the last submission on this page, if it belongs to
    ``target`` (any action when ``None``)."""
    result = flashing.get_flashed_result()
    if result is None:
        return None
    if target is None:
        return result
    return result if result.matches(_resolve(target)) else None


def _hidden_input(name: str, value: str) -> str:
    return f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'


@lru_cache(maxsize=512)
def _attr_name(key: str) -> str:
    """The HTML name of a keyword argument (cached: the same few names come
    back on every row of a page).

    :raises ValueError: for a name HTML would read as something else
        (``**{"x onfocus": ...}`` would add an attribute).
    """
    name = key.rstrip("_").replace("_", "-")
    if not _ATTR_NAME.fullmatch(name):
        raise ValueError(
            f"{key!r} cannot be an HTML attribute name: use letters, digits,"
            " '-', '_' (written '-'), ':' and '.'."
        )
    return name


#: What an attribute name may be here: the XML Name subset HTML agrees on.
_ATTR_NAME = re.compile(r"[A-Za-z_:][-A-Za-z0-9_:.]*")


def _attr_value(value: t.Any) -> str:
    """``escape(value)``, without the work for a plain string that has none of
    the five characters ``escape`` replaces (most values: refs, URLs, words)."""
    if type(value) is str and not (
        "&" in value or "<" in value or ">" in value or '"' in value or "'" in value
    ):
        return value
    return str(escape(value))


class _Render:
    """What every form and button of one request shares, computed once: a page
    may hold a button per row."""

    __slots__ = (
        "app",
        "reuse",
        "generation",
        "token_reuse",
        "fresh_since",
        "forms",
        "form_numbers",
        "form_counts",
        "csrf_enabled",
        "csrf_input",
        "button_token",
        "post_url",
        "button_head",
        "button_tail",
        "label_tails",
        "minter",
    )

    def __init__(self) -> None:
        self.app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
        self.reuse: Reuse = get_registry(self.app).reuse
        #: The generation of the app's keys (a changed secret starts a new one).
        self.generation = self.reuse.renew(self.app)
        self.token_reuse = token_reuse(self.app)
        #: A token sealed before this (``time.monotonic``) is not reused.
        self.fresh_since = time.monotonic() - self.token_reuse
        #: The targets of the fa.form calls being rendered, innermost last.
        self.forms: list[Target] = []
        #: Which of the page's forms of its target each of ``forms`` is.
        self.form_numbers: list[int] = []
        #: How many fa.forms of each target the page has rendered so far.
        self.form_counts: dict[Target, int] = {}
        self.csrf_enabled = csrf_enabled(self.app.config)
        self.csrf_input: str | None = None
        #: What follows the ref in the value of a button outside any fa.form.
        self.button_token: str | None = None
        #: Where this page's forms and buttons post (:func:`post_url`).
        self.post_url = post_url(same_page_url(not g.get(G_WITHOUT_QUERY)))
        self.button_head = f'<button type="submit" name="{BUTTON_FIELD}" value="'
        self.button_tail = (
            f'" formaction="{_attr_value(self.post_url)}" formmethod="post"'
            " formnovalidate data-fa-button"
        )
        #: What follows the value in a button with only a text label, by label.
        self.label_tails: dict[str, str] = {}
        #: The submission keys of this page's lone buttons (made when needed).
        self.minter: idempotency.Minter | None = None

    def ref(self, target: Target) -> str:
        """``target.ref``, without looking up the app and its state again."""
        if type(target) is not BoundAction:
            return target.ref
        sealed = target.sealed
        if (
            sealed is not None
            and sealed[0] == self.generation
            and sealed[2] > self.fresh_since
        ):
            return sealed[1]
        return self.reuse.seal(self.app, target, self.token_reuse)[0]

    def identity(self, target: Target) -> str:
        """What the fa.forms of ``target`` are known by from one render of a
        page to the next, in any process (``data-fa-form``): the action's id,
        or a keyed hash of it and the bound arguments, which tells nothing of
        them. The script keeps a form the user typed into, wherever the list
        around it moved, by this name."""
        if type(target) is not BoundAction:
            return target.action.id
        known = target.identity
        if known is not None and known[0] == self.generation:
            return known[1]
        ring = self.reuse.keys.ring(self.app)
        made = ring.identity(target.action.id.encode(), target.payload)
        target.identity = (self.generation, made)
        return made


#: The globals object itself, not the ``g`` proxy: one attribute lookup
#: through the proxy costs more than the rest of a button.
_current_globals = g._get_current_object


def _render() -> _Render:
    namespace = _current_globals()
    state = getattr(namespace, _G_RENDER, None)
    if state is None:
        state = _Render()
        setattr(namespace, _G_RENDER, state)
    return t.cast(_Render, state)


def _csrf_input(render: _Render | None = None) -> str:
    """The hidden CSRF field (Flask-WTF keeps one token per request too)."""
    render = render or _render()
    if render.csrf_input is None:
        field = csrf_field_name(current_app.config)
        render.csrf_input = _hidden_input(field, generate_csrf())
    return render.csrf_input


def _button_token(render: _Render) -> str:
    """``"~TOKEN"`` (the request's CSRF token), or ``""`` with CSRF off."""
    if not render.csrf_enabled:
        return ""
    return BUTTON_TOKEN_SEPARATOR + _attr_value(generate_csrf())


class _Macros:
    """What the macros call, as the template global ``_flask_actions``: not
    part of the API (use the macros)."""

    def attrs(self, attributes: t.Mapping[str, t.Any], **defaults: t.Any) -> Markup:
        """Render keyword arguments as HTML attributes, escaped. ``class_`` →
        ``class``, ``data_x`` → ``data-x``; ``True`` renders a bare attribute,
        ``False`` and ``None`` nothing."""
        # By the name rendered: the user's ``action_`` replaces a default
        # ``action``.
        merged = {_attr_name(key): value for key, value in defaults.items()}
        merged.update((_attr_name(key), value) for key, value in attributes.items())
        parts = []
        for name, value in merged.items():
            if value is None or value is False:
                continue
            if value is True:
                parts.append(f" {name}")
            else:
                parts.append(f' {name}="{_attr_value(value)}"')
        return Markup("".join(parts))

    def errors_attrs(self, field: str, attributes: t.Mapping[str, t.Any]) -> Markup:
        """The ``<ul>`` attributes of ``fa.errors``: the ``fa-errors`` class
        (kept when a ``class_`` is given) and ``data-fa-errors``."""
        extra = attributes.get("class_") or attributes.get("class")
        merged = {k: v for k, v in attributes.items() if k not in ("class_", "class")}
        classes = f"fa-errors {extra}" if extra else "fa-errors"
        return self.attrs(merged, class_=classes, data_fa_errors=field)

    @no_template_context
    def hidden(self, target: Target | str) -> Markup:
        resolved = _resolve(target)
        html = _hidden_input(ACTION_FIELD, resolved.ref)
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        if csrf_enabled(app.config):
            html += _csrf_input()
        key = idempotency.mint(app, resolved.action)
        if key is not None:
            html += _hidden_input(KEY_FIELD, key)
        return Markup(html)

    @no_template_context
    def form(
        self,
        target: Target | str,
        files: bool = False,
        caller: t.Callable[[], str] | None = None,
        confirm: str | None = None,
        live: bool = False,
        **attributes: t.Any,
    ) -> Markup:
        """``fa.form``: see ``macros.html``."""
        resolved = _resolve(target)
        render = _render()
        # The same form may come twice (at the top and the bottom of a page):
        # the answer to one shows in that one only.
        number = render.form_counts.get(resolved, 0) + 1
        render.form_counts[resolved] = number
        enctype = ' enctype="multipart/form-data"' if files else ""
        asks = ""
        if number > 1 and number <= MAX_FORM_NUMBER:
            asks = _hidden_input(FORM_FIELD, str(number))
        if live:  # checked as the user types: flask-actions-live.js
            attributes = {**attributes, "data_fa_live": True}
        if confirm is not None:
            attributes = {**attributes, "data_fa_confirm": confirm}
            asks += _hidden_input(CONFIRM_FIELD, confirm)
            if self._awaiting(resolved, number):
                asks += _hidden_input(CONFIRMED_FIELD, "1")
        identity = render.identity(resolved)
        if number > 1:
            identity = f"{identity}.{number}"
        html = (
            f'<form method="post"{enctype}'
            f"{self.attrs(attributes, action=render.post_url, data_fa_form=identity)}>"
            f"{self.hidden(resolved)}{asks}{_DEFAULT_BUTTON}"
        )
        if caller is not None:
            forms, numbers = render.forms, render.form_numbers
            forms.append(resolved)
            numbers.append(number)
            try:
                html += str(caller())
            finally:
                forms.pop()
                numbers.pop()
        return Markup(html + "</form>")

    @no_template_context
    def button(
        self,
        target: Target | str,
        label: str | None = None,
        caller: t.Callable[[], str] | None = None,
        confirm: str | None = None,
        **attributes: t.Any,
    ) -> Markup:
        """``fa.button``: see ``macros.html``.

        Outside any ``fa.form`` (in a hand-written form, which may have no CSRF
        field) the button's value also carries the CSRF token, ``REF~TOKEN``:
        only the clicked button is submitted, so a form of many buttons sends
        one token.
        """
        # A page may hold a button per row: the common case (a bound action,
        # a text label, no attributes) takes the fewest steps.
        render = _render()
        resolved = target if type(target) is BoundAction else _resolve(target)
        ref = render.ref(resolved)  # base64url and ".": nothing to escape
        token = "" if render.forms else render.button_token
        if token is None:
            token = render.button_token = _button_token(render)
        if label is None and caller is None:
            label = self.label(resolved)
        # Only plain str labels are cached: Markup("<b>Go</b>") and the text
        # "<b>Go</b>" are equal keys, yet only one of them may go unescaped.
        if confirm is not None:
            return self._confirming(
                render, resolved, ref, token, label, caller, confirm, attributes
            )
        if type(label) is str and caller is None and not attributes:
            tail = render.label_tails.get(label)
            if tail is None:
                tail = render.label_tails[label] = self._tail(
                    render, "", _attr_value(label)
                )
        else:
            inner = str(caller()) if caller is not None else _attr_value(label)
            merged = {k: v for k, v in attributes.items() if k not in _BUTTON_OWN}
            tail = self._tail(render, str(self.attrs(merged)), inner)
        key = self._own_key(render, resolved)
        if key is not None:  # REF~TOKEN~~KEY: no confirmation flag
            token = f"{token or BUTTON_TOKEN_SEPARATOR}~~{key}"
        # str.__new__: the markup is built here, escaped where needed, so
        # Markup's own check for an __html__ method is work for nothing.
        return str.__new__(Markup, f"{render.button_head}{ref}{token}{tail}")

    def _confirming(
        self,
        render: _Render,
        target: Target,
        ref: str,
        token: str,
        label: str | None,
        caller: t.Callable[[], str] | None,
        confirm: str,
        attributes: t.Mapping[str, t.Any],
    ) -> Markup:
        """An ``fa.button`` that asks ``confirm`` before running its action:
        the script shows a dialog; without it, the first press brings the page
        back asking, with this button rendered confirmed."""
        # A press comes with the number of the form it was in (1 outside any,
        # or in the first): the button of the other of two equal forms (top
        # and bottom), or one outside them, was not the one pressed.
        awaiting = self._awaiting(
            target, render.form_numbers[-1] if render.forms else 1
        )
        flag = BUTTON_CONFIRMED if awaiting else BUTTON_ASKS
        inner = str(caller()) if caller is not None else _attr_value(label)
        merged = {k: v for k, v in attributes.items() if k not in _BUTTON_OWN}
        merged["data_fa_confirm"] = confirm
        tail = self._tail(render, str(self.attrs(merged)), inner)
        question = (
            f'<strong class="fa-confirm" role="alert">{_attr_value(confirm)}</strong> '
            if awaiting
            else ""
        )
        # REF~TOKEN~FLAG, the token empty inside an fa.form.
        value = f"{ref}{token or BUTTON_TOKEN_SEPARATOR}{BUTTON_TOKEN_SEPARATOR}{flag}"
        key = self._own_key(render, target)
        if key is not None:  # REF~TOKEN~FLAG~KEY
            value += BUTTON_TOKEN_SEPARATOR + key
        return Markup(f"{question}{render.button_head}{value}{tail}")

    @staticmethod
    def _own_key(render: _Render, target: Target) -> str | None:
        """The submission key of a button outside any fa.form, a form of its
        own (inside one, the form's key is the form's action's)."""
        if render.forms:
            return None
        minter = render.minter
        if minter is None:
            minter = render.minter = idempotency.minter(render.app)
        return minter.key(target.action)

    def _awaiting(self, target: Target, number: int | None = None) -> bool:
        """Whether the page answers a press of ``target`` that asked first
        (in form ``number`` of those of ``target``, when it is a form's)."""
        result = self._result(target, number)
        return result is not None and result.awaiting_confirmation

    @staticmethod
    def _result(
        target: Target | None, number: int | None = None
    ) -> ActionResult | None:
        """:func:`action_result` for ``target``, and only for the form of it
        that was sent: inside fa.form ``number`` of those of ``target``
        (default: the enclosing form's number, when ``target`` is its
        target), the answer to another form of the same target is not this
        one's."""
        result = action_result(target)
        if result is None or target is None:
            return result
        if number is None:
            render = _render()
            if not render.forms or render.forms[-1] != target:
                return result
            number = render.form_numbers[-1]
        if result.form_number != number:
            return None
        # A form (or a button) of the action itself is not the one of a
        # binding of it that was sent.
        if type(target) is not BoundAction and result.args:
            return None
        return result

    @staticmethod
    def _tail(render: _Render, attributes: str, inner: str) -> str:
        """A button's markup after its value: its other attributes and
        ``inner``."""
        return f"{render.button_tail}{attributes}>{inner}</button>"

    def label(self, target: Target | str) -> str:
        return _resolve(target).action.func_name.replace("_", " ").capitalize()

    @no_template_context
    def field(
        self, name: str, target: Target | str | None = None, **options: t.Any
    ) -> Markup:
        """``fa.field``: see :mod:`.fields`."""
        own = {k: options.pop(k) for k in fields.OPTIONS if k in options}
        return fields.render(
            self, self._target(target), name, attributes=options, **own
        )

    @no_template_context
    def field_label(
        self,
        name: str,
        text: str | None = None,
        target: Target | str | None = None,
        **attributes: t.Any,
    ) -> Markup:
        """``fa.label``: see :mod:`.fields`."""
        return fields.label(self._target(target), name, text, self, attributes)

    def _target(self, target: Target | str | None) -> Target | None:
        if target is not None:
            return _resolve(target)
        forms = _render().forms
        return forms[-1] if forms else None

    def failure(self, target: Target | str | None) -> ActionResult | None:
        """The failed result for ``target`` (default: the enclosing form's)."""
        result = self._result(self._target(target))
        return result if result is not None and not result.ok else None

    def errors(self, field: str, target: Target | str | None = None) -> list[str]:
        result = self.failure(target)
        if result is None:
            return []
        node: t.Any = result.errors
        for part in field.split("."):
            if not isinstance(node, dict):
                return []
            node = node.get(int(part) if part.isdigit() and int(part) in node else part)
        if isinstance(node, dict):  # errors of a nested object's own fields
            return [str(m) for v in node.values() if isinstance(v, list) for m in v]
        return [str(m) for m in node] if isinstance(node, list) else []

    @no_template_context
    def errors_list(
        self, field: str, target: Target | str | None = None, **attributes: t.Any
    ) -> Markup:
        """``fa.errors``: the ``<ul>`` of ``field``'s messages, or nothing
        (see ``macros.html``; rendered in Python, as the macro rendered it)."""
        messages = self.errors(field, target)
        if not messages:
            return Markup("")
        items = "".join(f"<li>{escape(m)}</li>" for m in messages)
        return Markup(f"<ul{self.errors_attrs(field, attributes)}>{items}</ul>")

    @no_template_context
    def value_text(
        self, field: str, default: t.Any = "", target: Target | str | None = None
    ) -> Markup:
        """``fa.value``: what was typed in ``field``, escaped (see
        ``macros.html``)."""
        return escape(self.value(field, default, target))

    def value(
        self, field: str, default: t.Any = "", target: Target | str | None = None
    ) -> t.Any:
        result = self.failure(target)
        if result is None:
            return default
        node: t.Any = result.values
        for part in field.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    def message(self, target: Target | str | None = None) -> ActionResult | None:
        result = self._result(self._target(target))
        return result if result is not None and result.message else None

    @no_template_context
    def script(self, nonce: str | None = None) -> Markup:
        """``fa.script``: see ``macros.html``."""
        if nonce is None:
            # Flask-Talisman's csp_nonce(), or anything of that name.
            csp_nonce = current_app.jinja_env.globals.get("csp_nonce")
            nonce = csp_nonce() if callable(csp_nonce) else None
        src = url_for("flask_actions.static", filename=SCRIPT)
        html = (
            f'<meta name="csrf-token" content="{escape(generate_csrf())}">'
            if csrf_enabled(current_app.config)
            else ""
        )
        html += (
            f'<script src="{escape(src)}" integrity="{_integrity()}"'
            f'{self.attrs({"nonce": nonce})} crossorigin="anonymous" defer></script>'
        )
        return Markup(html)


@lru_cache(maxsize=1)
def _integrity() -> str:
    """The Subresource Integrity hash of the shipped script (read once)."""
    digest = hashlib.sha384((_STATIC / SCRIPT).read_bytes()).digest()
    return "sha384-" + base64.b64encode(digest).decode("ascii")


def install(app: t.Any) -> None:
    """Add the globals to ``app``'s Jinja environment (its context class is
    left as it is)."""
    app.jinja_env.globals.update(
        action=action,
        action_ref=action_ref,
        action_result=action_result,
        _flask_actions=_Macros(),
    )
