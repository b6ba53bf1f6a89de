"""Bad input: every request a hostile or unlucky client can send.

One table of cases, each a row: its name, how to build the request, the status
and message the client must get, and what may be written. The app behind it
(``tests/apps/hardening_app.py``) writes one SQLite row per action and records
every hook that runs, so each row also shows that a rejected request ran
nothing and wrote nothing.
"""

from __future__ import annotations

import dataclasses
import html
import io
import json
import time
import typing as t
from importlib.metadata import version
from pathlib import Path
from unittest import mock

import pytest
from apps import hardening_app
from apps.hardening_app import create_app
from apps.hardening_app import rows
from flask import Flask
from flask.testing import FlaskClient
from marshmallow import fields
from marshmallow import Schema
from werkzeug.datastructures import MultiDict
from werkzeug.test import encode_multipart

from flask_actions import ActionBlueprint
from flask_actions import ActionExtension
from flask_actions import codec
from flask_actions.action import Target
from flask_actions.crypto import KeyRing
from flask_actions.keys import keys_of
from flask_actions.testing import prepare

OLD_SECRET = "the secret before the rotation " * 2
NEW_SECRET = "the secret after the rotation " * 2
FOREIGN_SECRET = "another application's secret " * 2

Request = dict[str, t.Any]


def _at_least(package: str, wanted: tuple[int, int]) -> bool:
    return tuple(int(part) for part in version(package).split(".")[:2]) >= wanted


FLASK_31 = _at_least("flask", (3, 1))
WERKZEUG_31 = _at_least("werkzeug", (3, 1))


class Harness:
    """Builds requests as a page of the app (or an attacker) would."""

    def __init__(self, app: Flask, client: FlaskClient) -> None:
        self.app = app
        self.client = client
        _, self.csrf, self.origin = prepare(client, hardening_app.add)

    def origin_header(self, origin: str | None = "") -> dict[str, str]:
        """The ``Origin`` header a request sends: the page's own (``""``),
        ``origin``, or none at all (``None``)."""
        return {} if origin is None else {"Origin": origin or self.origin}

    def ref(self, target: Target | str) -> str:
        return prepare(self.client, target)[0]

    def id(self, target: Target | str) -> str:
        return self.ref(target).partition(".")[0]

    def seal(self, name: str, data: bytes, secret: str | None = None) -> str:
        """A token for ``name`` sealed with the app's key (or ``secret``)."""
        if secret is not None:
            return KeyRing([secret]).seal("bound", data, name.encode())
        with self.app.app_context():
            ring = keys_of(self.app).ring(self.app)
            return ring.seal("bound", data, name.encode())

    def json(
        self,
        ref: str,
        body: t.Any = None,
        *,
        csrf: str | None = "",
        origin: str | None = "",
        **headers: str,
    ) -> Request:
        """A call like ``FlaskActions.call``: JSON body, ``X-Action`` header."""
        sent = {"X-Action": ref, "X-Flask-Actions": "call"}
        sent["Accept"] = "application/json"
        if csrf is not None:
            sent["X-CSRFToken"] = csrf or self.csrf
        sent.update(self.origin_header(origin), **headers)
        request: Request = {"headers": sent}
        if isinstance(body, (str, bytes)):
            request["data"] = body
            request["content_type"] = "application/json"
        else:
            request["json"] = {"title": "hello"} if body is None else body
        return request

    def form(
        self,
        ref: str | None,
        fields: t.Mapping[str, t.Any] | None = None,
        *,
        csrf: str | None = "",
        origin: str | None = "",
        multipart: bool = False,
        **headers: str,
    ) -> Request:
        """A plain form post, as a browser without JavaScript sends it."""
        data: dict[str, t.Any] = {}
        if ref is not None:
            data["_action"] = ref
        if csrf is not None:
            data["csrf_token"] = csrf or self.csrf
        data.update({"title": "hello"} if fields is None else fields)
        sent = {**self.origin_header(origin), **headers}
        request: Request = {"data": data, "headers": sent}
        if multipart:
            request["content_type"] = "multipart/form-data"
        return request

    def raw(self, body: bytes, content_type: str, **headers: str) -> Request:
        return {
            "data": body,
            "content_type": content_type,
            "headers": {**self.origin_header(), **headers},
        }


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    build: t.Callable[[Harness], Request]
    status: int
    message: str
    #: ``reason`` of a JSON rejection (see docs/wire.md).
    reason: str | None = None
    #: Rows the request may write (``kind`` of each).
    writes: tuple[str, ...] = ()
    #: Hooks and actions that may run (see hardening_app._record).
    ran: tuple[str, ...] = ()
    config: t.Mapping[str, t.Any] = dataclasses.field(default_factory=dict)
    method: str = "POST"
    path: str = "/"
    #: The status and message on Werkzeug 3.0, where they differ (it refuses
    #: an undecodable urlencoded body as too large).
    werkzeug_30: tuple[int, str] | None = None
    #: Needs Flask 3.1 (a request's ``max_content_length`` is settable).
    flask_31: bool = False


add, toggle, rename = hardening_app.add, hardening_app.toggle, hardening_app.rename
lenient, upload = hardening_app.lenient, hardening_app.upload

#: What runs when a same-site form is turned away softly: the request reaches
#: the action's endpoint (so the page can be re-rendered with the user's input)
#: but the action and its before_action hooks do not run.
SOFT = ("app.before_request", "hard.before_request")
RAN_ADD = (*SOFT, "before_action hard.add", "action hard.add")
#: Before a page is shown in an action's response, the guards its own GET
#: passes through run for it (they judged the action, not the page).
PAGE = SOFT


def _tamper(ref: str) -> str:
    action_id, _, token = ref.partition(".")
    middle = len(token) // 2
    flipped = "A" if token[middle] != "A" else "B"
    return f"{action_id}.{token[:middle]}{flipped}{token[middle + 1 :]}"


def _expired(h: Harness, name: str, args: list[t.Any]) -> str:
    """A ref issued an hour ago (the clock is moved back while it is sealed)."""
    with mock.patch("time.time", return_value=time.time() - 3600):
        token = h.seal(name, codec.dumps(args))
    return f"{h.id(name)}.{token}"


def _deep(levels: int) -> str:
    return '{"title": "x", "a": ' + "[" * levels + "]" * levels + "}"


def _parts(h: Harness, count: int) -> Request:
    fields = {f"extra{i}": "1" for i in range(count)}
    return h.form(h.ref(lenient), {"title": "x", **fields}, multipart=True)


def _multipart(h: Harness, fields: dict[str, str]) -> Request:
    """A multipart body encoded here, in memory (the test client would spool a
    large one to a temporary file and leave it open)."""
    boundary, body = encode_multipart(MultiDict(fields))
    return h.raw(body, f"multipart/form-data; boundary={boundary}")


def _chunked(h: Harness, size: int) -> Request:
    body = json.dumps({"title": "x" * size}).encode()
    request = h.json(h.ref(add), body, **{"Transfer-Encoding": "chunked"})
    del request["data"]
    request["input_stream"] = io.BytesIO(body)
    # What a server that de-chunks the body (gunicorn) tells the app.
    request["environ_overrides"] = {"wsgi.input_terminated": True}
    return request


def _old_key_ref(name: str, args: list[t.Any]) -> str:
    ring = KeyRing([OLD_SECRET])
    token = ring.seal("bound", codec.dumps(args), name.encode())
    return f"{ring.action_id(name)}.{token}"


ROTATED = {"ACTIONS_SECRET_KEY": NEW_SECRET}
ROTATED_WITH_FALLBACK = {**ROTATED, "ACTIONS_SECRET_KEY_FALLBACKS": [OLD_SECRET]}

CASES = [
    # -- identity ----------------------------------------------------------
    Case(
        "unknown id",
        lambda h: h.json("AAAAAAAAAAAAAAAAAAAAAA"),
        404,
        "This action does not exist",
        "unknown_action",
    ),
    Case(
        "truncated id",
        lambda h: h.json(h.id(add)[:12]),
        404,
        "reload the page",
        "unknown_action",
    ),
    Case(
        "foreign id (another secret)",
        lambda h: h.json(KeyRing([FOREIGN_SECRET]).action_id("hard.add")),
        404,
        "does not exist",
        "unknown_action",
    ),
    Case(
        "action name instead of id",
        lambda h: h.form("hard.add"),
        404,
        "does not exist",
    ),
    Case(
        "huge id",
        lambda h: h.json("A" * 100_000),
        404,
        "does not exist",
        "unknown_action",
    ),
    Case(
        "empty action field",
        lambda h: h.form("  "),
        400,
        "the action field is empty",
    ),
    Case(
        "two action fields",
        lambda h: h.form(None, {"_action": [h.ref(add), h.ref(lenient)], "title": "x"}),
        400,
        "names more than one action",
    ),
    Case(
        "two button fields",
        lambda h: h.form(
            h.ref(add), {"_button": [h.ref(toggle.bind(1)), h.ref(toggle.bind(2))]}
        ),
        400,
        "names more than one action",
    ),
    Case(
        "header and field at once",
        lambda h: {
            **h.form(h.ref(add)),
            "headers": {**h.origin_header(), "X-Action": h.ref(lenient)},
        },
        400,
        "names more than one action",
    ),
    Case(
        "button overrides the form's action",
        lambda h: h.form(h.ref(add), {"_button": h.ref(toggle.bind(3))}),
        303,
        "Redirecting",
        writes=("toggle",),
        ran=(*SOFT, "before_action hard.toggle", "action hard.toggle"),
    ),
    # -- bound-argument tokens ---------------------------------------------
    Case(
        "tampered token",
        lambda h: h.json(_tamper(h.ref(toggle.bind(1))), {}),
        400,
        "hidden data was changed or belongs to another form",
        "bad_bound_arguments",
    ),
    Case(
        "truncated token",
        lambda h: h.json(h.ref(toggle.bind(1))[:-10], {}),
        400,
        "hidden data was changed",
        "bad_bound_arguments",
    ),
    Case(
        "token cut to a few bytes",
        lambda h: h.json(h.ref(toggle.bind(1))[:30], {}),
        400,
        "hidden data was changed",
        "bad_bound_arguments",
    ),
    Case(
        "token with characters outside base64url",
        lambda h: h.json(h.id(toggle) + ".%%%%!!!!<script>", {}),
        400,
        "hidden data was changed",
        "bad_bound_arguments",
    ),
    Case(
        "token replayed to another action",
        lambda h: h.json(
            h.id(rename) + "." + h.ref(toggle.bind(1)).partition(".")[2],
            {"title": "x"},
        ),
        400,
        "belongs to another form",
        "bad_bound_arguments",
    ),
    Case(
        "bound action without its token",
        lambda h: h.json(h.id(toggle), {}),
        400,
        "does not fit this action",
        "bad_bound_arguments",
    ),
    Case(
        "token with arguments the action does not take",
        lambda h: h.json(
            h.id(add) + "." + h.seal("hard.add", codec.dumps([1, 2])), {"title": "x"}
        ),
        400,
        "does not fit this action",
        "bad_bound_arguments",
    ),
    Case(
        "sealed token that is not encoded arguments",
        lambda h: h.json(h.id(toggle) + "." + h.seal("hard.toggle", b"\xff{"), {}),
        400,
        "hidden data cannot be read",
        "bad_bound_arguments",
    ),
    Case(
        "sealed token holding a mapping",
        lambda h: h.json(
            h.id(toggle) + "." + h.seal("hard.toggle", codec.dumps({"a": 1})), {}
        ),
        400,
        "hidden data cannot be read",
        "bad_bound_arguments",
    ),
    Case(
        "expired token (JSON call)",
        lambda h: h.json(_expired(h, "hard.toggle", [1]), {}),
        400,
        "This form has expired",
        "bad_bound_arguments",
        config={"ACTIONS_BOUND_MAX_AGE": 600},
    ),
    Case(
        "expired token (same-site form): page with typed values",
        lambda h: h.form(_expired(h, "hard.rename", [1]), {"title": "typed by hand"}),
        400,
        "This form has expired. Reload the page and submit again.</p>",
        ran=(*SOFT, *PAGE),
        config={"ACTIONS_BOUND_MAX_AGE": 600},
    ),
    Case(
        "old-key id and token, old key not in the fallbacks",
        lambda h: h.json(_old_key_ref("hard.toggle", [5]), {}),
        404,
        "does not exist",
        "unknown_action",
        config=ROTATED,
    ),
    Case(
        "current id with an old-key token, no fallbacks",
        lambda h: h.json(
            h.id(toggle) + "." + _old_key_ref("hard.toggle", [5]).partition(".")[2],
            {},
        ),
        400,
        "hidden data was changed",
        "bad_bound_arguments",
        config=ROTATED,
    ),
    Case(
        "old-key id and token while the old key is a fallback",
        lambda h: h.json(_old_key_ref("hard.toggle", [5]), {}),
        200,
        '"data":{"item":5}',
        writes=("toggle",),
        ran=(*SOFT, "before_action hard.toggle", "action hard.toggle"),
        config=ROTATED_WITH_FALLBACK,
    ),
    # -- CSRF ----------------------------------------------------------------
    Case(
        "missing CSRF token (JSON call)",
        lambda h: h.json(h.ref(add), csrf=None),
        403,
        "The CSRF token is missing",
        "csrf",
    ),
    Case(
        "wrong CSRF token",
        lambda h: h.json(h.ref(add), csrf="not-a-token"),
        403,
        "The CSRF token is invalid",
        "csrf",
    ),
    Case(
        "CSRF token of another session",
        lambda h: h.json(
            h.ref(add), csrf=prepare(h.app.test_client(), "hard.add")[1] or ""
        ),
        403,
        "reload the page",
        "csrf",
    ),
    Case(
        "missing CSRF token (same-site form): page with typed values",
        lambda h: h.form(h.ref(add), {"title": "typed by hand"}, csrf=None),
        403,
        "The CSRF token is missing. The page may have been open for too long",
        ran=(*SOFT, *PAGE),
    ),
    Case(
        "no origin headers and no CSRF token",
        lambda h: h.form(h.ref(add), csrf=None, origin=None),
        403,
        "The CSRF token is missing",
    ),
    # -- origin ----------------------------------------------------------------
    Case(
        "foreign Origin",
        lambda h: h.json(h.ref(add), origin="https://evil.example"),
        403,
        "comes from another site (https://evil.example)",
        "cross_site",
    ),
    Case(
        "foreign Origin, same-site Referer",
        lambda h: h.json(
            h.ref(add), origin="https://evil.example", Referer="http://localhost/"
        ),
        403,
        "another site",
        "cross_site",
    ),
    Case(
        "Origin: null",
        lambda h: h.json(h.ref(add), origin="null"),
        403,
        "a page without an origin",
        "cross_site",
    ),
    Case(
        "Origin: null in a form post",
        lambda h: h.form(h.ref(add), origin="null"),
        403,
        "a page without an origin",
    ),
    Case(
        "Origin on another port",
        lambda h: h.json(h.ref(add), origin="http://localhost:8081"),
        403,
        "another site",
        "cross_site",
    ),
    Case(
        "Origin with user info",
        lambda h: h.json(h.ref(add), origin="http://localhost@evil.example"),
        403,
        "another site",
        "cross_site",
    ),
    Case(
        "no Origin, Sec-Fetch-Site: cross-site",
        lambda h: h.form(h.ref(add), origin=None, **{"Sec-Fetch-Site": "cross-site"}),
        403,
        "reports this request as cross-site",
    ),
    Case(
        "no Origin, Sec-Fetch-Site: same-site (a sibling subdomain)",
        lambda h: h.json(h.ref(add), origin=None, **{"Sec-Fetch-Site": "same-site"}),
        403,
        "only accept requests from pages of this site",
        "cross_site",
    ),
    Case(
        "no Origin, Sec-Fetch-Site: same-origin",
        lambda h: h.json(h.ref(add), origin=None, **{"Sec-Fetch-Site": "same-origin"}),
        200,
        '"ok":true',
        writes=("add",),
        ran=(*RAN_ADD, *PAGE),
    ),
    Case(
        "Origin allowed by a wildcard",
        lambda h: h.json(h.ref(add), origin="https://app.example.com"),
        200,
        '"ok":true',
        writes=("add",),
        ran=(*RAN_ADD, *PAGE),
        config={"ACTIONS_ALLOWED_ORIGINS": ["*.example.com"]},
    ),
    Case(
        "Origin of a look-alike host",
        lambda h: h.json(h.ref(add), origin="https://app.example.com.evil.example"),
        403,
        "another site",
        "cross_site",
        config={"ACTIONS_ALLOWED_ORIGINS": ["*.example.com"]},
    ),
    Case(
        "no Origin, foreign Referer",
        lambda h: h.form(h.ref(add), origin=None, Referer="https://evil.example/x"),
        403,
        "another site",
    ),
    Case(
        "no Origin, same-site Referer",
        lambda h: h.form(h.ref(add), origin=None, Referer="http://localhost/page"),
        303,
        "Redirecting",
        writes=("add",),
        ran=RAN_ADD,
    ),
    Case(
        "no origin headers, valid CSRF token",
        lambda h: h.json(h.ref(add), origin=None),
        200,
        '"ok":true',
        writes=("add",),
        ran=(*RAN_ADD, *PAGE),
    ),
    # -- content types -------------------------------------------------------
    Case(
        "text/plain body",
        lambda h: h.raw(b"title=x", "text/plain", **h.json(h.ref(add))["headers"]),
        400,
        "cannot read a text/plain. Send a form (urlencoded or multipart) or JSON",
        "bad_request",
    ),
    Case(
        "XML body",
        lambda h: h.raw(b"<t/>", "application/xml", **h.json(h.ref(add))["headers"]),
        400,
        "cannot read a application/xml",
        "bad_request",
    ),
    Case(
        "upper-case JSON content type",
        lambda h: h.raw(
            b'{"title": "x"}', "APPLICATION/JSON", **h.json(h.ref(add))["headers"]
        ),
        200,
        '"ok":true',
        writes=("add",),
        ran=(*RAN_ADD, *PAGE),
    ),
    Case(
        "upper-case form content type",
        lambda h: h.raw(
            f"_action={h.ref(add)}&csrf_token={h.csrf}&title=x".encode(),
            "Application/X-WWW-Form-URLencoded",
        ),
        303,
        "Redirecting",
        writes=("add",),
        ran=RAN_ADD,
    ),
    Case(
        "JSON sent as a form",
        lambda h: h.raw(
            b'{"title": "x"}',
            "application/x-www-form-urlencoded",
            **h.json(h.ref(add))["headers"],
        ),
        422,
        "Unknown field.",
        ran=(*SOFT, "before_action hard.add"),
    ),
    # -- JSON ----------------------------------------------------------------
    Case(
        "malformed JSON",
        lambda h: h.json(h.ref(add), '{"title": "x",'),
        400,
        "The body is not valid JSON.",
        "bad_request",
    ),
    Case(
        "JSON array instead of an object",
        lambda h: h.json(h.ref(add), '["x"]'),
        400,
        "must be an object of fields, not list",
        "bad_request",
    ),
    Case(
        "JSON of the wrong shape",
        lambda h: h.json(h.ref(add), {"title": ["x"], "qty": "many"}),
        422,
        '"title":["Not a valid string."]',
        ran=(*SOFT, "before_action hard.add"),
    ),
    Case(
        "JSON nested 100 levels",
        lambda h: h.json(h.ref(add), _deep(100)),
        400,
        "nests deeper than 64 levels",
        "bad_request",
    ),
    Case(
        "JSON nested 100 000 levels",
        lambda h: h.json(h.ref(add), _deep(100_000)),
        400,
        "nests deeper than 64 levels",
        "bad_request",
    ),
    Case(
        "JSON with a 5000-digit number",
        lambda h: h.json(h.ref(add), '{"title": "x", "qty": ' + "9" * 5000 + "}"),
        400,
        "The body is not valid JSON.",
        "bad_request",
    ),
    Case(
        "JSON that is not UTF-8",
        lambda h: h.json(h.ref(add), b'{"title": "\xff\xfe"}'),
        400,
        "not valid UTF-8",
        "bad_request",
    ),
    # -- forms and sizes -------------------------------------------------------
    Case(
        "unknown field (schema refuses)",
        lambda h: h.json(h.ref(add), {"title": "x", "is_admin": True}),
        422,
        '"is_admin":["Unknown field."]',
        ran=(*SOFT, "before_action hard.add"),
    ),
    Case(
        "unknown field (schema drops it)",
        lambda h: h.json(h.ref(lenient), {"title": "x", "is_admin": True}),
        200,
        '"data":{"title":"x"}',
        writes=("lenient",),
        ran=(*SOFT, "before_action hard.lenient", "action hard.lenient"),
    ),
    Case(
        "field longer than the schema allows",
        lambda h: h.json(h.ref(add), {"title": "x" * 201}),
        422,
        "Length must be between 1 and 200.",
        ran=(*SOFT, "before_action hard.add"),
    ),
    Case(
        "dotted field clashing with a plain one",
        lambda h: h.form(h.ref(add), {"title": "x", "a": "1", "a.b": "2"}),
        400,
        "The field 'a.b' conflicts with the field 'a'.",
    ),
    Case(
        "too many form parts",
        lambda h: _parts(h, 1100),
        413,
        "more fields",
        config={"ACTIONS_MAX_CONTENT_LENGTH": 10 * 1024 * 1024},
    ),
    Case(
        "oversized form field",
        lambda h: _multipart(
            h, {"_action": h.ref(add), "csrf_token": h.csrf, "title": "x" * 600_000}
        ),
        413,
        "larger field",
        config={"ACTIONS_MAX_CONTENT_LENGTH": 10 * 1024 * 1024},
        flask_31=True,  # Flask 3.0 sets no MAX_FORM_MEMORY_SIZE
    ),
    Case(
        "oversized body",
        lambda h: h.form(h.ref(add), {"title": "x" * 300_000}),
        413,
        "more than the 256 KiB an action accepts",
    ),
    Case(
        "oversized JSON body",
        lambda h: h.json(h.ref(add), {"title": "x" * 300_000}),
        413,
        "more than the 256 KiB an action accepts",
        "too_large",
    ),
    Case(
        "oversized chunked JSON body (no Content-Length)",
        lambda h: _chunked(h, 300_000),
        413,
        "256 KiB",
        "too_large",
        flask_31=True,
    ),
    Case(
        "small chunked JSON body (no Content-Length)",
        lambda h: _chunked(h, 10),
        200,
        '"ok":true',
        writes=("add",),
        ran=(*RAN_ADD, *PAGE),
    ),
    Case(
        "oversized file",
        lambda h: h.form(
            h.ref(upload), {"doc": (io.BytesIO(b"x" * 300_000), "big.bin")}
        ),
        413,
        "Send less data (smaller files)",
    ),
    Case(
        "empty file input",
        lambda h: h.form(
            h.ref(upload),
            {"doc": (io.BytesIO(b""), "")},
            Accept="application/json",
            **{"X-Flask-Actions": "form"},
        ),
        422,
        "Missing data for required field.",
        ran=(*SOFT, "before_action hard.upload", *PAGE),
    ),
    Case(
        "text where a file is expected",
        lambda h: h.form(h.ref(upload), {"doc": "not a file"}),
        400,
        "Send a file.",
        ran=(*SOFT, "before_action hard.upload", "action hard.upload", *PAGE),
    ),
    Case(
        "raw non-UTF-8 bytes in a form (unreadable: not an action)",
        lambda h: h.raw(
            f"_action={h.ref(add)}&title=".encode() + b"\xff\xfe",
            "application/x-www-form-urlencoded",
        ),
        405,
        "The method is not allowed for the requested URL.",
        ran=("app.before_request",),
        werkzeug_30=(413, "has more fields or a larger field than this site accepts"),
    ),
    Case(
        "raw non-UTF-8 bytes in a form with X-Action",
        lambda h: h.raw(
            b"title=\xff\xfe",
            "application/x-www-form-urlencoded",
            **h.json(h.ref(add))["headers"],
        ),
        422,
        "Missing data for required field.",
        ran=(*SOFT, "before_action hard.add"),
        werkzeug_30=(413, "has more fields or a larger field than this site accepts"),
    ),
    Case(
        "percent-encoded non-UTF-8 bytes in a form",
        lambda h: h.raw(
            f"_action={h.ref(add)}&csrf_token={h.csrf}&title=%FF%FE".encode(),
            "application/x-www-form-urlencoded",
        ),
        303,
        "Redirecting",
        writes=("add",),
        ran=RAN_ADD,
    ),
    # -- methods -------------------------------------------------------------
    Case(
        "GET with an action in the query string",
        lambda h: {"query_string": {"_action": h.ref(add), "title": "x"}},
        200,
        "0 writes",
        ran=SOFT,
        method="GET",
    ),
    *(
        Case(
            f"{method} with an action",
            lambda h: h.json(h.ref(add)),
            405,
            "The method is not allowed",
            ran=("app.before_request",),
            method=method,
        )
        for method in ("PUT", "PATCH", "DELETE")
    ),
]


@pytest.fixture
def make(tmp_path: Path) -> t.Callable[..., tuple[Flask, Harness]]:
    def make(config: t.Mapping[str, t.Any] | None = None) -> tuple[Flask, Harness]:
        app = create_app(
            {"DATABASE": str(tmp_path / "hardening.sqlite3"), **(config or {})}
        )
        return app, Harness(app, app.test_client())

    return make


def _text(response: t.Any) -> str:
    text = response.get_data(as_text=True)
    return text if response.is_json else html.unescape(text)


def test_table_has_enough_cases() -> None:
    assert len(CASES) >= 30
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input(
    case: Case, make: t.Callable[..., tuple[Flask, Harness]], caplog: t.Any
) -> None:
    if case.flask_31 and not FLASK_31:
        pytest.skip("Needs Flask 3.1.")
    if case.werkzeug_30 and not WERKZEUG_31:
        status, message = case.werkzeug_30
        case = dataclasses.replace(case, status=status, message=message, ran=())
    app, h = make(case.config)
    request = case.build(h)
    calls = app.extensions["hardening_calls"]
    calls.clear()

    response = h.client.open(case.path, method=case.method, **request)

    text = _text(response)
    assert response.status_code == case.status, text[:500]
    assert case.message in text
    assert "Traceback" not in text
    if case.reason is not None:
        body = response.get_json()
        assert body["ok"] is False
        assert body["reason"] == case.reason
        assert case.message in body["message"]
    assert [kind for _, kind, _ in rows(app.config["DATABASE"])] == list(case.writes)
    assert calls == list(case.ran)
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


def test_soft_rejection_keeps_what_the_user_typed(
    make: t.Callable[..., tuple[Flask, Harness]],
) -> None:
    app, h = make({"ACTIONS_BOUND_MAX_AGE": 600})
    response = h.client.post(
        "/", **h.form(_expired(h, "hard.rename", [1]), {"title": "typed by hand"})
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'id="rename"' in page
    assert 'value="typed by hand"' in page
    assert rows(app.config["DATABASE"]) == []


@pytest.mark.parametrize("field", ["_action", "_button", "csrf_token"])
@pytest.mark.parametrize("how", ["name", "data_key"])
def test_reserved_field_names_fail_at_registration(field: str, how: str) -> None:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = "reserved " * 4
    ActionExtension(app)
    bp = ActionBlueprint("reserved", __name__)
    declared = (
        {field: fields.Str()}
        if how == "name"
        else {"harmless": fields.Str(data_key=field)}
    )

    with pytest.raises(ValueError, match=rf"declares .*{field}.*Rename the field"):

        @bp.action(schema=Schema.from_dict(declared))
        def act(data: t.Any) -> None:
            """Never registered."""

        app.register_blueprint(bp)


def test_custom_csrf_field_name_is_reserved_too() -> None:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="reserved " * 4, WTF_CSRF_FIELD_NAME="xsrf")
    ActionExtension(app)
    bp = ActionBlueprint("reserved", __name__)

    @bp.action(schema={"xsrf": fields.Str()})
    def act(data: t.Any) -> None:
        """Never invoked."""

    with pytest.raises(ValueError, match="CSRF token's field name"):
        app.register_blueprint(bp)
