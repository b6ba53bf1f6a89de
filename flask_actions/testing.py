"""Test an app's actions through the full HTTP path in one line.

::

    from flask_actions.testing import call, submit

    def test_add(client):
        result = call(client, todos.add, {"title": "Buy milk"})
        assert result.ok and result.data == {"id": 1}

        result = call(client, todos.add, {"title": ""}, mode="json")
        assert result.status == 422 and "title" in result.errors

    def test_rename_from_the_page(client):
        result = submit(
            client,
            client.get("/"),
            form=todos.rename.bind(1),
            button="Save",
            data={"title": "Buy oat milk"},
        )
        assert result.ok and "Buy oat milk" in result.page

:func:`call` renders what a page would (the action's ref with its sealed bound
arguments, a CSRF token in the client's session, a same-site ``Origin``),
posts it like a browser without JavaScript (``mode="form"``) or like the
browser script (``mode="json"``), and returns the
:class:`~flask_actions.ActionResult` with the HTTP response attached.

:func:`submit` starts from a page instead: it reads the page's forms as a
browser does (:func:`read_forms`), presses a button of one of them after
typing ``data`` into its fields, and returns the result with the page the
user sees next.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import typing as t
from urllib.parse import urlencode
from urllib.parse import urljoin
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

from flask import current_app
from flask import Flask
from flask import request
from flask import session
from flask.testing import FlaskClient
from flask_wtf.csrf import generate_csrf
from werkzeug.datastructures import MultiDict
from werkzeug.test import TestResponse

from . import codec
from .action import Action
from .action import BoundAction
from .action import Target
from .crypto import BadToken
from .html_forms import Button
from .html_forms import Control
from .html_forms import entries as form_entries
from .html_forms import file_name
from .html_forms import Form
from .html_forms import read_forms as _read_forms
from .html_forms import read_page
from .html_forms import Typed
from .negotiation import ACTION_HEADER
from .negotiation import MODE_HEADER
from .registry import get_registry
from .results import ActionResult
from .signals import action_failed
from .signals import action_succeeded
from .templating import action as lookup_action
from .wire import ACTION_FIELD
from .wire import BUTTON_FIELD
from .wire import BUTTON_TOKEN_SEPARATOR
from .wire import csrf_enabled
from .wire import csrf_field_name

__all__ = [
    "Button",
    "CallResult",
    "Control",
    "Form",
    "SubmitResult",
    "call",
    "prepare",
    "read_forms",
    "submit",
]

_REDIRECTS = (301, 302, 303, 307, 308)
#: Redirects followed after a submission, at most.
_MAX_REDIRECTS = 10


@dataclasses.dataclass
class CallResult(ActionResult):
    """An :class:`~flask_actions.ActionResult` with the response it came in."""

    response: TestResponse | None = None


@dataclasses.dataclass
class SubmitResult(CallResult):
    """A :class:`CallResult` with the page the user sees next.

    ``response`` is the answer to the submission itself (a 303, the page with
    the errors, the JSON result...).
    """

    #: The HTML of the page the browser shows next: after a redirect, the page
    #: it leads to; after a failure without JavaScript, the page rendered with
    #: the errors; with ``mode="json"``, the page the script puts in place (the
    #: one submitted from when the answer brought none). ``None`` when the
    #: redirect leads to another site, or is a 307/308 (which repeats the post).
    page: str | None = None
    #: The URL of that page.
    url: str | None = None
    #: The response that brought ``page``, when one did (not when it came in
    #: the JSON result, or is the page submitted from).
    page_response: TestResponse | None = None


def prepare(
    client: FlaskClient, target: Target | str, page: str = "/"
) -> tuple[str, str | None, str]:
    """What a page showing ``target`` would give the browser: the ref, a CSRF
    token valid for ``client``'s session (``None`` when CSRF is off), and the
    page's origin."""
    app = client.application
    field = csrf_field_name(app.config)
    csrf: str | None = None
    with (
        client.session_transaction() as client_session,
        app.test_request_context(page) as ctx,
    ):
        resolved = lookup_action(target) if isinstance(target, str) else target
        ref = resolved.ref
        if csrf_enabled(current_app.config):
            # Sign the client's own session token, creating it if needed.
            if field in client_session:
                session[field] = client_session[field]
            csrf = generate_csrf()
            client_session[field] = session[field]
        origin = ctx.request.host_url.rstrip("/")
    return ref, csrf, origin


@contextlib.contextmanager
def _capturing(client: FlaskClient) -> t.Iterator[list[ActionResult]]:
    """Collect the results of the actions run meanwhile, from the signals."""
    app = client.application
    captured: list[ActionResult] = []

    def capture(sender: t.Any, result: ActionResult, **extra: t.Any) -> None:
        captured.append(result)

    with (
        action_succeeded.connected_to(capture, app),
        action_failed.connected_to(capture, app),
    ):
        yield captured


def call(
    client: FlaskClient,
    target: Target | str,
    data: t.Mapping[str, t.Any] | None = None,
    *,
    mode: t.Literal["form", "json"] = "form",
    page: str = "/",
    headers: t.Mapping[str, str] | None = None,
) -> CallResult:
    """Invoke ``target`` through HTTP as a browser would and return its result.

    :param client: the app's test client (``app.test_client()``).
    :param target: an action, a bound action or an action name.
    :param data: the payload. In form mode values may be lists (several
        values) and ``(file, filename)`` tuples (uploads).
    :param mode: ``"form"``: a plain form post, as without JavaScript (the
        response is a 303 or the re-rendered page); ``"json"``: a call like
        ``FlaskActions.call`` (the response is the JSON result).
    :param page: the URL of the page the form is on.
    :param headers: extra request headers (they win over the defaults, so a
        test can send a foreign ``Origin``).
    """
    app = client.application
    ref, csrf, origin = prepare(client, target, page)
    sent = {"Origin": origin}
    with _capturing(client) as captured:
        if mode == "json":
            sent.update(
                {ACTION_HEADER: ref, MODE_HEADER: "call", "Accept": "application/json"}
            )
            if csrf:
                sent["X-CSRFToken"] = csrf
            sent.update(headers or {})
            response = client.post(page, json=dict(data or {}), headers=sent)
        else:
            form: dict[str, t.Any] = {**(data or {}), ACTION_FIELD: ref}
            if csrf:
                form[csrf_field_name(app.config)] = csrf
            sent.update(headers or {})
            response = client.post(page, data=form, headers=sent)
    return CallResult(**_outcome(captured, response), response=response)


def _outcome(
    captured: list[ActionResult], response: TestResponse, *, page_ok: bool = False
) -> dict[str, t.Any]:
    """The result's fields: those of the action's result if one ran, else
    what the response says: a request rejected before any action ran, or
    (``page_ok``) a page that is no action's (ok below status 400)."""
    if captured:
        return {
            f.name: getattr(captured[-1], f.name)
            for f in dataclasses.fields(ActionResult)
        }
    try:
        body = json.loads(response.get_data(as_text=True))
    except ValueError:
        body = None
    if isinstance(body, dict) and "ok" in body:
        return {
            **ActionResult.fields_of_json(body),
            "status": response.status_code,
        }
    ok = page_ok and response.status_code < 400
    return {
        "ok": ok,
        "status": response.status_code,
        "message": None if ok else response.get_data(as_text=True),
    }


# -- submitting what a page shows ------------------------------------------------


def read_forms(page: str | TestResponse) -> list[Form]:
    """The forms of a page (its HTML or a response), as a browser reads them:
    each with its controls and submit buttons, its markup (``Form.html``) and
    the values it would send (``Form.value(name)``).
    """
    html = page if isinstance(page, str) else page.get_data(as_text=True)
    return _read_forms(html)


def submit(
    client: FlaskClient,
    page: str | TestResponse | SubmitResult,
    *,
    form: str | Target | Form | None = None,
    button: str | Target | Button | None = None,
    data: t.Mapping[str, Typed] | None = None,
    mode: t.Literal["form", "json"] = "form",
    url: str | None = None,
    headers: t.Mapping[str, str] | None = None,
) -> SubmitResult:
    """Press a button of a form of ``page`` after typing ``data``, as a user
    would, and return the result with the page shown next.

    The request is what a browser sends: the form's fields in order (hidden
    fields, checked boxes, selected options, textareas, files) with the
    pressed button's name and value, to its ``formaction`` or the form's
    ``action`` (by default the page's URL), with its method and encoding, an
    ``Origin`` of the page's site and the client's cookies. Constraints such as
    ``required`` are not checked (the server must check them anyway).

    :param client: the app's test client, holding the session the page was
        rendered for.
    :param page: the page: a response from ``client.get(...)``, its HTML, or
        the result of an earlier :func:`submit` (its next page).
    :param form: which form: its id (``"add"`` or ``"#add"``), the action or
        bound action it invokes (``todos.rename.bind(2)``), or a
        :class:`Form` from :func:`read_forms`. Default: the form of ``button``,
        else the only form of the page.
    :param button: the button pressed: ``"#id"``, its label (the text a
        screen reader reads, spaces collapsed: ``"Delete"``), the action or
        bound action of an ``fa.button``, or a :class:`Button` of a
        :class:`Form`. Default: the form's first submit button, which Enter
        presses (that of ``fa.form`` sends nothing of its own).
    :param data: what the user types, by field name: text for inputs and
        textareas (a list for several fields of one name), ``True``/``False``
        for a lone checkbox, a value or list of values for checkboxes, radio
        buttons and selects (an option must exist), ``(content, filename)``
        or ``(content, filename, content_type)`` for a file input (a list for
        ``multiple``). Naming a field the form lacks, or one a user cannot
        type into (hidden, read-only, disabled), is an error.
    :param mode: ``"form"``: as without JavaScript, redirects followed;
        ``"json"``: as the browser script submits the form (JSON answer; the
        page it puts in place, or the one it navigates to).
    :param url: the page's URL, for ``page`` given as HTML (default ``"/"``).
    :param headers: extra request headers; they win over the defaults.
    :raises LookupError: when the form or the button is not on the page, or
        not only once; the message lists what is there.
    :raises ValueError: for what a user cannot do (typing into a hidden
        field, choosing a missing option, pressing a disabled button).
    """
    app = client.application
    html, page_url = _page(page, url)
    with app.test_request_context(page_url):
        page_url = request.url
        forms, formless = read_page(html)
        if isinstance(form, Form):
            forms = [form]
        chosen, pressed = _choose(app, forms, form, button, formless)
    entries = form_entries(chosen, pressed, data or {})
    attrs = chosen.attrs
    own = pressed.attrs if pressed is not None else {}
    method = own.get("formmethod", attrs.get("method", "get")).strip().lower()
    if method not in ("post", "dialog"):
        method = "get"  # what browsers make of a missing or unknown method
    action = own["formaction"] if "formaction" in own else attrs.get("action", "")
    target = urljoin(page_url, action.strip()) if action.strip() else page_url
    enctype = own.get("formenctype", attrs.get("enctype", "")).strip().lower()
    scheme, netloc = urlsplit(page_url)[:2]
    sent = {"Origin": f"{scheme}://{netloc}"} if method == "post" else {}
    if mode == "json":
        sent.update({"Accept": "application/json", MODE_HEADER: "form"})
    sent.update(headers or {})

    if method == "dialog":
        raise ValueError("A form of method dialog closes a dialog; it sends nothing.")
    with _capturing(client) as captured:
        if method == "get":
            query = urlencode([(n, file_name(v)) for n, v in entries])
            target = urlunsplit((*urlsplit(target)[:3], query, ""))
            response = client.get(target, headers=sent)
        elif enctype == "multipart/form-data":
            response = client.post(
                target,
                data=MultiDict(entries),
                content_type="multipart/form-data",
                headers=sent,
            )
        elif enctype == "text/plain":
            body = "".join(f"{n}={file_name(v)}\r\n" for n, v in entries)
            response = client.post(
                target, data=body, content_type="text/plain", headers=sent
            )
        else:
            response = client.post(
                target,
                data=MultiDict([(n, file_name(v)) for n, v in entries]),
                content_type="application/x-www-form-urlencoded",
                headers=sent,
            )
    fields = _outcome(captured, response, page_ok=True)
    next_page, next_url, page_response = _next_page(
        client, response, target, method, mode, html, page_url
    )
    return SubmitResult(
        **fields,
        response=response,
        page=next_page,
        url=next_url,
        page_response=page_response,
    )


def _page(page: str | TestResponse | SubmitResult, url: str | None) -> tuple[str, str]:
    """The HTML of ``page`` and its URL."""
    if isinstance(page, SubmitResult):
        if page.page is None:
            raise ValueError(
                "This result has no next page to submit from (its redirect leads"
                f" to another site or repeats the post: {page.url})."
            )
        return page.page, url or page.url or "/"
    if isinstance(page, str):
        return page, url or "/"
    return page.get_data(as_text=True), url or page.request.url


def _choose(
    app: Flask,
    forms: list[Form],
    form: str | Target | Form | None,
    button: str | Target | Button | None,
    formless: list[Button],
) -> tuple[Form, Button | None]:
    """The form and the button ``form`` and ``button`` point to (``formless``:
    the page's buttons outside any form, for the message when one matches)."""
    candidates = forms
    if isinstance(form, str):
        wanted = form.removeprefix("#")
        candidates = [f for f in forms if f.id == wanted]
        if not candidates:
            raise LookupError(f"No form has the id {wanted!r}. {_listing(app, forms)}")
    elif isinstance(form, (Action, BoundAction)):
        candidates = [f for f in forms if _invokes(app, f.ref, form)]
        if not candidates:
            raise LookupError(f"No form invokes {form!r}. {_listing(app, forms)}")
    if button is None:
        if len(candidates) != 1:
            raise LookupError(
                f"Which form? {len(candidates)} match: pass form= (an id or an"
                f" action) or button=. {_listing(app, candidates)}"
            )
        chosen = candidates[0]
        pressed = chosen.buttons[0] if chosen.buttons else None
        if pressed is not None and pressed.disabled:
            raise ValueError(
                "The form's first submit button is disabled: Enter submits nothing."
            )
        return chosen, pressed
    found = [(f, b) for f in candidates for b in f.buttons if _is(app, b, button)]
    if isinstance(button, Button):
        found = found[:1]  # equal buttons send the same
    if len(found) != 1:
        if found:
            raise LookupError(
                f"{len(found)} buttons match {button!r}: pass form= to say in which"
                f" form. {_listing(app, [f for f in candidates if any(f is g for g, _ in found)])}"
            )
        if any(_is(app, b, button) for b in formless):
            raise LookupError(
                f"The button {button!r} is in no form: a browser cannot submit it."
                ' Put it in a <form method="post"> (or an fa.form).'
            )
        raise LookupError(f"No button matches {button!r}. {_listing(app, candidates)}")
    chosen, pressed = found[0]
    if pressed.disabled:
        raise ValueError(
            f"The button {pressed.label!r} is disabled: it cannot be pressed."
        )
    return chosen, pressed


def _is(app: Flask, candidate: Button, wanted: str | Target | Button) -> bool:
    if isinstance(wanted, Button):
        return candidate == wanted
    if isinstance(wanted, str):
        if wanted.startswith("#"):
            return candidate.id == wanted[1:]
        return candidate.label == " ".join(wanted.split())
    ref = candidate.value.partition(BUTTON_TOKEN_SEPARATOR)[0]
    return candidate.name == BUTTON_FIELD and _invokes(app, ref, wanted)


def _invokes(app: Flask, ref: str | None, target: Target) -> bool:
    """Whether ``ref`` (from a page) names ``target``, with its arguments."""
    if not ref:
        return False
    action_id, _, token = ref.strip().partition(".")
    registry = get_registry(app)
    entry = registry.lookup_id(app, action_id)
    if entry is None or entry.action is not target.action:
        return False
    if not isinstance(target, BoundAction):
        return True
    try:
        payload = registry.keys.ring(app).unseal("bound", token, target.name.encode())
    except BadToken:
        return False
    return payload == target.payload


def _describe(app: Flask, ref: str | None) -> str:
    """``todos.rename(2)`` for a ref, as a person reads it."""
    if not ref:
        return "no action"
    action_id, _, token = ref.strip().partition(".")
    registry = get_registry(app)
    entry = registry.lookup_id(app, action_id)
    if entry is None:
        return "an unknown action"
    name = entry.action.name
    if not token:
        return name
    try:
        args = codec.loads(
            registry.keys.ring(app).unseal("bound", token, name.encode())
        )
    except (BadToken, codec.CodecError):
        return f"{name}(?)"
    return f"{name}({', '.join(map(repr, args))})"


def _listing(app: Flask, forms: list[Form]) -> str:
    """What ``forms`` are, for an error message: ids, actions, buttons."""
    if not forms:
        return "The page has no form."
    described = []
    for form in forms:
        buttons = []
        for b in form.buttons:
            text = repr(b.label) if b.label else f"#{b.id}" if b.id else "(no label)"
            if b.name == BUTTON_FIELD:
                ref = b.value.partition(BUTTON_TOKEN_SEPARATOR)[0]
                text += f" [{_describe(app, ref)}]"
            buttons.append(text)
        described.append(
            (f"#{form.id} " if form.id else "")
            + f"({_describe(app, form.ref)}; buttons: {', '.join(buttons) or 'none'})"
        )
    return "Forms: " + "; ".join(described) + "."


def _next_page(
    client: FlaskClient,
    response: TestResponse,
    url: str,
    method: str,
    mode: str,
    html: str,
    page_url: str,
) -> tuple[str | None, str | None, TestResponse | None]:
    """The page the browser shows after ``response``: its HTML, URL and the
    response that brought it."""
    location = response.location
    if mode == "json" and method == "post" and response.is_json:
        body = response.get_json(silent=True)
        if not isinstance(body, dict):
            return html, page_url, None
        if not (body.get("ok") and body.get("redirect")):
            # The script puts the fresh page in place, if the answer has one.
            return str(body.get("html") or html), page_url, None
        location = str(body["redirect"])  # the script navigates there
    elif method == "post" and response.status_code in (307, 308):
        return None, urljoin(url, location or ""), None  # it would post again
    elif response.status_code not in _REDIRECTS or not location:
        return response.get_data(as_text=True), url, response
    for _ in range(_MAX_REDIRECTS):
        following = urljoin(url, location)
        if urlsplit(following).netloc != urlsplit(url).netloc:
            return None, following, None  # another site
        response, url = client.get(following), following
        location = response.location
        if response.status_code not in _REDIRECTS or not location:
            return response.get_data(as_text=True), url, response
    raise RuntimeError(f"More than {_MAX_REDIRECTS} redirects after the submission.")
