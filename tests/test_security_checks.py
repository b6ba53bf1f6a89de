"""The checks a request passes before an action runs, over raw HTTP.

Each test sends the bytes an attacker (or an unusual client) would send and
asserts what comes back, what the action saw and what was written: body size
limits (announced, chunked, on pages with and without a POST route of their
own), the origin check (scheme, ``Sec-Fetch-Site``, no headers at all with
CSRF tokens off), text that is not valid Unicode, field names that try to
reach Python internals, and empty form inputs for fields that are not text.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import http.client
import io
import json
import logging
import typing as t
import uuid
from importlib import metadata
from urllib.parse import urlencode

import pytest
from flask import Flask
from flask import jsonify
from flask import request
from marshmallow import EXCLUDE
from marshmallow import fields
from marshmallow import Schema
from servers import SAME_ORIGIN
from werkzeug.datastructures import FileStorage
from werkzeug.datastructures import MultiDict
from werkzeug.test import encode_multipart
from werkzeug.test import TestResponse

from flask_actions import ActionBlueprint
from flask_actions import ActionExtension
from flask_actions.exceptions import PayloadTooLarge
from flask_actions.testing import call
from flask_actions.testing import prepare

LIMIT = 64 * 1024
ORIGIN = SAME_ORIGIN["Origin"]
FORM = "application/x-www-form-urlencoded"


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class NoteSchema(Schema):
    title = fields.Str(required=True)


class UploadSchema(Schema):
    title = fields.Str(load_default="")
    doc = fields.Raw(load_default=None)


class AddressSchema(Schema):
    city = fields.Str(load_default="")
    zip = fields.Int(load_default=None)


class OptionalSchema(Schema):
    """Every kind of field a form may leave empty."""

    qty = fields.Int(load_default=1)
    price = fields.Float(load_default=None)
    amount = fields.Decimal(load_default=None)
    day = fields.Date(load_default=None)
    at = fields.DateTime(load_default=None)
    alarm = fields.Time(load_default=None)
    flag = fields.Bool(load_default=False)
    ref = fields.UUID(load_default=None)
    color = fields.Enum(Color, by_value=True, load_default=None)
    email = fields.Email(load_default=None)
    site = fields.Url(load_default=None)
    note = fields.Str(load_default="default")
    tags = fields.List(fields.Int(), load_default=list)
    labels = fields.List(fields.Str(), load_default=list)
    address = fields.Nested(AddressSchema, load_default=dict)
    due = fields.Int(data_key="amount-due", load_default=0)


class RequiredSchema(Schema):
    qty = fields.Int(required=True)
    day = fields.Date(required=True)


class LenientSchema(Schema):
    """Drops what it does not declare; ``meta`` takes any mapping."""

    class Meta:
        unknown = EXCLUDE

    title = fields.Str(load_default="")
    meta = fields.Dict(load_default=dict)
    address = fields.Nested(AddressSchema, load_default=dict)


class TreeSchema(Schema):
    """Refers to itself: a name like ``child.child.child...`` nests it."""

    name = fields.Str()
    child = fields.Nested(lambda: TreeSchema())


def make_app(**config: t.Any) -> Flask:
    """An app with a GET-only page (``/``), a page whose own route takes
    POST too (``/own``), and actions that record what they were given in
    ``app.extensions["seen"]``."""
    bp = ActionBlueprint("checks", __name__)
    seen: list[tuple[str, t.Any]] = []

    @bp.route("/")
    def index() -> str:
        return "the page"

    @bp.route("/own", methods=["GET", "POST"])
    def own() -> t.Any:
        if request.method == "GET":
            return "the page with a form of its own"
        form = request.form
        files = request.files
        return jsonify(
            fields=sorted(form),
            text=sum(len(v) for v in form.values()),
            files={k: len(f.read()) for k, f in files.items()},
            data=len(request.get_data()),
        )

    def action(name: str, schema: t.Any) -> None:
        def run(data: dict[str, t.Any]) -> dict[str, t.Any]:
            seen.append((name, data))
            return {"ran": name}

        run.__name__ = name
        bp.action(schema=schema)(run)

    action("note", NoteSchema)
    action("upload", UploadSchema)
    action("optional", OptionalSchema)
    action("required", RequiredSchema)
    action("lenient", LenientSchema)
    action("tree", TreeSchema)

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="security checks secret " * 3,
        TESTING=True,
        ACTIONS_MAX_CONTENT_LENGTH=LIMIT,
    )
    app.config.update(config)
    ActionExtension(app)
    app.register_blueprint(bp)
    app.extensions["seen"] = seen
    return app


@pytest.fixture
def app() -> Flask:
    return make_app()


@pytest.fixture
def seen(app: Flask) -> list[tuple[str, t.Any]]:
    return t.cast(list[tuple[str, t.Any]], app.extensions["seen"])


class Recording(io.BytesIO):
    """A request body that remembers how many of its bytes the server read."""

    consumed = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.consumed += len(data)
        return data

    def read1(self, size: int = -1) -> bytes:
        data = super().read1(size)
        self.consumed += len(data)
        return data

    def readinto(self, buffer: t.Any) -> int:
        count = super().readinto(buffer)
        self.consumed += count
        return count

    def readline(self, size: int | None = -1) -> bytes:
        data = super().readline(size)
        self.consumed += len(data)
        return data


def send(
    client: t.Any,
    body: bytes,
    content_type: str,
    *,
    path: str = "/",
    chunked: bool = False,
    announced: int | None = None,
    headers: t.Mapping[str, str] | None = None,
) -> tuple[TestResponse, Recording]:
    """POST ``body`` as raw bytes: with its length, with ``announced`` as its
    ``Content-Length``, or chunked (no length, as a de-chunking server such
    as gunicorn or Werkzeug's passes it on)."""
    stream = Recording(body)
    sent = {"Origin": ORIGIN, **(headers or {})}
    environ: dict[str, t.Any] = {}
    if chunked:
        sent["Transfer-Encoding"] = "chunked"
        environ["wsgi.input_terminated"] = True
    elif announced is not None:
        environ["CONTENT_LENGTH"] = str(announced)
    response = client.open(
        path,
        method="POST",
        input_stream=stream,
        content_type=content_type,
        headers=sent,
        environ_overrides=environ,
    )
    return response, stream


def form_fields(client: t.Any, target: str, **values: t.Any) -> dict[str, t.Any]:
    """What a rendered form of ``target`` posts: its ref, a CSRF token for
    ``client``'s session, and ``values``."""
    ref, token, _ = prepare(client, target)
    return {"_action": ref, "csrf_token": token, **values}


def urlencoded(fields: t.Mapping[str, t.Any]) -> bytes:
    return urlencode(fields, doseq=True).encode()


def multipart(fields: t.Mapping[str, t.Any]) -> tuple[bytes, str]:
    """A multipart body, encoded in memory; ``(stream, filename)`` values are
    files."""
    encoded = MultiDict(
        {
            name: FileStorage(value[0], filename=value[1])
            if isinstance(value, tuple)
            else value
            for name, value in fields.items()
        }
    )
    boundary, body = encode_multipart(encoded)
    return body, f"multipart/form-data; boundary={boundary}"


def big_upload(client: t.Any, size: int) -> tuple[bytes, str]:
    return multipart(
        {
            **form_fields(client, "checks.upload", title="typed"),
            "doc": (io.BytesIO(b"x" * size), "big.bin"),
        }
    )


def json_call(client: t.Any, target: str, body: bytes) -> t.Any:
    ref, token, _ = prepare(client, target)
    return client.post(
        "/",
        data=body,
        content_type="application/json",
        headers={
            "Origin": ORIGIN,
            "X-Action": ref,
            "X-CSRFToken": token,
            "X-Flask-Actions": "call",
            "Accept": "application/json",
        },
    )


# -- size: chunked bodies (no Content-Length) ---------------------------------


def _chunked_bodies(client: t.Any) -> dict[str, tuple[bytes, str, dict[str, str]]]:
    """320 KiB urlencoded, a 1.25 MiB upload, and JSON: five times the limit
    and more."""
    ref, token, _ = prepare(client, "checks.note")
    upload_body, upload_type = big_upload(client, 1280 * 1024)
    return {
        "urlencoded": (
            urlencoded(form_fields(client, "checks.note", title="x" * 320 * 1024)),
            FORM,
            {},
        ),
        "multipart": (upload_body, upload_type, {}),
        "json": (
            json.dumps({"title": "x" * 320 * 1024}).encode(),
            "application/json",
            {"X-Action": ref, "X-CSRFToken": token or ""},
        ),
    }


@pytest.mark.parametrize("kind", ["urlencoded", "multipart", "json"])
@pytest.mark.parametrize("path", ["/", "/own"])
def test_chunked_body_over_the_limit_is_413_and_runs_nothing(
    app: Flask, seen: list[t.Any], kind: str, path: str
) -> None:
    client = app.test_client()
    body, content_type, headers = _chunked_bodies(client)[kind]
    response, stream = send(
        client, body, content_type, path=path, chunked=True, headers=headers
    )
    assert response.status_code == 413, response.text[:300]
    assert seen == []
    if path == "/own" and kind != "json":
        # Read to find the action, from this site, without JavaScript: the
        # page itself comes back (with what was typed), not an error page,
        # with the message (this page has no place for it: at its end).
        page, message = response.text.split("<p", 1)
        assert page == "the page with a form of its own"
        assert "64 KiB" in message and 'role="alert"' in message
    else:
        assert "64 KiB" in response.text
    if path == "/":
        # The page's route takes no POST: this can only be an action, and the
        # server stops reading one byte past the limit.
        assert stream.consumed <= LIMIT + 1


@pytest.mark.parametrize("kind", ["urlencoded", "multipart", "json"])
def test_chunked_body_within_the_limit_runs(
    app: Flask, seen: list[t.Any], kind: str
) -> None:
    client = app.test_client()
    ref, token, _ = prepare(client, "checks.upload")
    bodies = {
        "urlencoded": (
            urlencoded(form_fields(client, "checks.upload", title="hi")),
            FORM,
        ),
        "multipart": multipart(
            {
                **form_fields(client, "checks.upload", title="hi"),
                "doc": (io.BytesIO(b"y" * 1000), "small.bin"),
            }
        ),
        "json": (b'{"title": "hi"}', "application/json"),
    }
    body, content_type = bodies[kind]
    headers = {"X-Action": ref, "X-CSRFToken": token or ""} if kind == "json" else {}
    response, _ = send(client, body, content_type, chunked=True, headers=headers)
    assert response.status_code in (200, 303), response.text[:300]
    assert [(name, data["title"]) for name, data in seen] == [("upload", "hi")]


def test_chunked_form_over_the_limit_over_real_http(live_server: t.Any) -> None:
    app = make_app(WTF_CSRF_ENABLED=False)
    server = live_server(app)
    ref, _, _ = prepare(app.test_client(), "checks.note")
    body = urlencoded({"_action": ref, "title": "x" * 320 * 1024})
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request(
            "POST",
            "/",
            body=(body[i : i + 16384] for i in range(0, len(body), 16384)),
            headers={"Content-Type": FORM, "Origin": server.url},
            encode_chunked=True,
        )
        response = conn.getresponse()
        text = response.read().decode()
    finally:
        conn.close()
    assert response.status == 413, text[:300]
    assert app.extensions["seen"] == []


# -- size: an announced length over the limit ----------------------------------


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/", {}),  # the page takes no POST: only an action can be meant
        ("/nowhere", {}),  # no route at all
        ("/own", {"X-Action": "named in the header"}),
    ],
)
def test_announced_length_over_the_limit_is_413_before_reading(
    app: Flask, seen: list[t.Any], path: str, headers: dict[str, str]
) -> None:
    client = app.test_client()
    body, content_type = big_upload(client, 64 * 1024)
    response, stream = send(
        client,
        body,
        content_type,
        path=path,
        announced=3 * 1024 * 1024,
        headers=headers,
    )
    assert response.status_code == 413, response.text[:300]
    assert "The submission is 3 MiB, more than the 64 KiB" in response.text
    assert stream.consumed == 0
    assert seen == []


def test_announced_length_over_the_limit_answers_before_the_body_arrives(
    live_server: t.Any,
) -> None:
    # The client announces 3 MiB, sends 64 KiB and waits: the answer must not
    # wait for the rest.
    app = make_app(WTF_CSRF_ENABLED=False)
    server = live_server(app)
    body, content_type = multipart(
        {
            "_action": prepare(app.test_client(), "checks.upload")[0],
            "doc": (io.BytesIO(b"x" * 64 * 1024), "big.bin"),
        }
    )
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        conn.putrequest("POST", "/")
        conn.putheader("Content-Type", content_type)
        conn.putheader("Content-Length", str(3 * 1024 * 1024))
        conn.putheader("Origin", server.url)
        conn.endheaders()
        conn.send(body)
        response = conn.getresponse()
        text = response.read().decode()
    finally:
        conn.close()
    assert response.status == 413, text[:300]
    assert app.extensions["seen"] == []


def test_the_apps_own_post_route_is_not_limited(app: Flask, seen: list[t.Any]) -> None:
    # A POST that names no action is the page's own business, whatever its
    # size or framing: it arrives whole.
    client = app.test_client()
    text = urlencoded({"comment": "z" * 200 * 1024})
    for chunked in (False, True):
        response, _ = send(client, text, FORM, path="/own", chunked=chunked)
        assert response.status_code == 200, response.text[:300]
        assert response.json["text"] == 200 * 1024
    body, content_type = multipart({"doc": (io.BytesIO(b"f" * 300 * 1024), "a.bin")})
    for chunked in (False, True):
        response, _ = send(client, body, content_type, path="/own", chunked=chunked)
        assert response.status_code == 200, response.text[:300]
        assert response.json["files"] == {"doc": 300 * 1024}
    data = json.dumps({"a": "j" * 200 * 1024}).encode()
    for chunked in (False, True):
        response, _ = send(
            client, data, "application/json", path="/own", chunked=chunked
        )
        assert response.status_code == 200
        assert response.json["data"] == len(data)
    assert seen == []


def test_an_action_on_a_page_with_its_own_post_route_is_limited(
    app: Flask, seen: list[t.Any]
) -> None:
    client = app.test_client()
    body, content_type = big_upload(client, 200 * 1024)
    for chunked in (False, True):
        response, _ = send(client, body, content_type, path="/own", chunked=chunked)
        assert response.status_code == 413, response.text[:300]
    assert seen == []


def test_a_413_carries_the_text_fields_it_read(app: Flask) -> None:
    # What the page needs to show the form again with what was typed.
    @app.errorhandler(PayloadTooLarge)
    def too_large(error: PayloadTooLarge) -> t.Any:
        form = None if error.form is None else error.form.to_dict(flat=False)
        return jsonify(message=error.description, form=form), 413

    client = app.test_client()
    body, content_type = big_upload(client, 200 * 1024)
    # Read: the page's own route takes POST, so the body was parsed to find
    # out whether it names an action at all. (A script's submission: without
    # one, the page itself is rendered with what was typed.)
    script = {"X-Flask-Actions": "form", "Accept": "application/json"}
    response, _ = send(client, body, content_type, path="/own", headers=script)
    assert response.status_code == 413
    assert response.json["form"]["title"] == ["typed"]
    assert "doc" not in response.json["form"]
    # Not read: refused from its announced length alone.
    response, stream = send(client, body, content_type, path="/")
    assert response.status_code == 413
    assert response.json["form"] is None
    assert stream.consumed == 0


def test_rejection_messages_speak_to_users_and_hints_go_to_the_log(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    client = app.test_client()
    body, content_type = big_upload(client, 100 * 1024)
    with caplog.at_level(logging.WARNING, logger="flask_actions"):
        response, _ = send(client, body, content_type)
    assert response.status_code == 413
    assert "Send less data (smaller files)." in response.text
    assert "ACTIONS_MAX_CONTENT_LENGTH" not in response.text
    assert any("ACTIONS_MAX_CONTENT_LENGTH" in r.getMessage() for r in caplog.records)

    caplog.clear()
    many = {f"f{i}": "1" for i in range(1100)}
    body, content_type = multipart(form_fields(client, "checks.lenient", **many))
    app.config["ACTIONS_MAX_CONTENT_LENGTH"] = 10 * 1024 * 1024
    with caplog.at_level(logging.WARNING, logger="flask_actions"):
        response, _ = send(client, body, content_type)
    assert response.status_code == 413
    assert "more fields" in response.text
    assert "MAX_FORM_PARTS" not in response.text
    assert any("MAX_FORM_PARTS" in r.getMessage() for r in caplog.records)


# -- text that is not valid Unicode ---------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        rb'{"title": "ok", "\ud800": 1}',
        rb'{"title": "a\ud800b"}',
        rb'{"title": "a\udfffb"}',
        rb'{"title": "\ude00\ud83d"}',  # a pair in the wrong order
        rb'{"title": "ok", "nested": {"list": ["\ud800"]}}',
    ],
)
def test_lone_surrogates_in_json_are_400_before_the_action(
    app: Flask, seen: list[t.Any], body: bytes
) -> None:
    response = json_call(app.test_client(), "checks.note", body)
    assert response.status_code == 400, response.text[:300]
    assert response.json["reason"] == "bad_request"
    assert "broken character" in response.json["message"]
    assert seen == []


def test_escaped_surrogate_pairs_and_backslashes_are_text(
    app: Flask, seen: list[t.Any]
) -> None:
    client = app.test_client()
    response = json_call(client, "checks.note", rb'{"title": "\ud83d\ude00"}')
    assert response.status_code == 200, response.text[:300]
    response = json_call(client, "checks.note", rb'{"title": "\\ud800"}')
    assert response.status_code == 200, response.text[:300]
    assert [data["title"] for _, data in seen] == ["\U0001f600", "\\ud800"]


def _is_text(value: t.Any) -> bool:
    """Whether every string in ``value`` can be written as UTF-8."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_is_text(k) and _is_text(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_is_text(v) for v in value)
    return True


@pytest.mark.parametrize(
    ("body", "runs"),
    [
        # percent-encoded surrogates (CESU-8) and invalid bytes: kept quoted
        (b"title=a%ED%A0%80b&%ED%A0%80=1&x=%FF", True),
        # raw bytes that are not UTF-8: the form cannot be read at all
        (b"title=a\xed\xa0\x80b", False),
        (b"title=\xff\xfe", False),
    ],
)
def test_urlencoded_forms_never_carry_a_broken_string(
    app: Flask, seen: list[t.Any], body: bytes, runs: bool
) -> None:
    client = app.test_client()
    ref, token, _ = prepare(client, "checks.lenient")
    head = f"_action={ref}&csrf_token={token}&".encode()
    response, _ = send(client, head + body, FORM)
    assert response.status_code < 500, response.text[:300]
    assert len(seen) == runs
    assert all(_is_text(data) for _, data in seen)


@pytest.mark.parametrize(
    ("name", "value", "filename"),
    [
        (b"title", b"a\xed\xa0\x80b\xff", None),
        (b"t\xed\xa0\x80", b"v", None),
        (b"t\xff", b"v", None),
        (b"doc", b"data", b"a\xed\xa0\x80.txt"),
    ],
)
def test_multipart_forms_never_carry_a_broken_string(
    app: Flask, seen: list[t.Any], name: bytes, value: bytes, filename: bytes | None
) -> None:
    client = app.test_client()
    ref, token, _ = prepare(client, "checks.upload")
    extra = b"" if filename is None else b'; filename="' + filename + b'"'
    body = (
        b'--B\r\nContent-Disposition: form-data; name="_action"\r\n\r\n'
        + ref.encode()
        + b'\r\n--B\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
        + (token or "").encode()
        + b'\r\n--B\r\nContent-Disposition: form-data; name="'
        + name
        + b'"'
        + extra
        + b"\r\n\r\n"
        + value
        + b"\r\n--B--\r\n"
    )
    response, _ = send(client, body, "multipart/form-data; boundary=B")
    assert response.status_code < 500, response.text[:300]
    for _, data in seen:
        assert _is_text(data)
        doc = data.get("doc")
        if doc is not None and not isinstance(doc, str):
            assert _is_text(doc.filename)


# -- field names that reach for Python internals ------------------------------


POLLUTING = {
    "__proto__.x": "1",
    "__class__.x": "1",
    "constructor.prototype.x": "1",
    "a.__dict__": "1",
    "meta.__class__": "str",
    "meta.__proto__.polluted": "yes",
    "meta.__init__.__globals__.x": "1",
    "title": "kept",
}


def test_polluting_field_names_build_plain_data(app: Flask, seen: list[t.Any]) -> None:
    result = call(app.test_client(), "checks.lenient", POLLUTING)
    assert result.ok, (result.errors, result.message)
    [(_, data)] = seen
    assert data == {
        "title": "kept",
        "meta": {
            "__class__": "str",
            "__proto__": {"polluted": "yes"},
            "__init__": {"__globals__": {"x": "1"}},
        },
        "address": {},
    }
    assert type(data) is dict and type(data["meta"]["__proto__"]) is dict
    # Nothing anywhere grew an attribute.
    assert not hasattr(dict, "polluted") and not hasattr({}, "x")
    assert {}.__class__ is dict


def test_polluting_field_names_are_unknown_fields_to_a_strict_schema(
    app: Flask, seen: list[t.Any]
) -> None:
    client = app.test_client()
    result = call(client, "checks.note", POLLUTING)
    assert result.status == 422
    assert set(result.errors) == {"__proto__", "__class__", "constructor", "a", "meta"}
    result = call(client, "checks.lenient", {"address.__dict__.zip": "1"})
    assert result.status == 422
    assert result.errors == {"address": {"__dict__": ["Unknown field."]}}
    assert seen == []


def test_dotted_names_nest_at_most_as_deep_as_json(
    app: Flask, seen: list[t.Any]
) -> None:
    client = app.test_client()
    result = call(client, "checks.tree", {"child." * 63 + "name": "leaf"})
    assert result.ok, result.message
    result = call(client, "checks.tree", {"child." * 2000 + "name": "leaf"})
    assert result.status == 400
    assert "nests deeper than 64 levels" in (result.message or "")
    assert len(seen) == 1


# -- origin: scheme, host and port --------------------------------------------


def _origin_call(
    app: Flask, headers: dict[str, str], base_url: str = "http://localhost"
) -> int:
    client = app.test_client()
    ref, token, _ = prepare(client, "checks.note")
    response = client.post(
        "/",
        base_url=base_url,
        data={"_action": ref, "csrf_token": token, "title": "x"},
        headers=headers,
    )
    return response.status_code


@pytest.mark.parametrize(
    ("base_url", "headers", "status"),
    [
        ("http://localhost", {"Origin": "http://localhost"}, 303),
        ("http://localhost", {"Origin": "https://localhost"}, 403),
        ("https://localhost", {"Origin": "https://localhost"}, 303),
        ("https://localhost", {"Origin": "http://localhost"}, 403),
        ("https://localhost", {"Origin": "https://localhost:443"}, 303),
        ("https://localhost", {"Origin": "http://localhost:443"}, 403),
        ("http://localhost", {"Referer": "https://localhost/page"}, 403),
        ("https://localhost", {"Referer": "http://localhost/page"}, 403),
        ("https://localhost", {"Referer": "https://localhost/page"}, 303),
    ],
)
def test_scheme_host_and_port_must_all_match(
    app: Flask, seen: list[t.Any], base_url: str, headers: dict[str, str], status: int
) -> None:
    assert _origin_call(app, headers, base_url) == status
    assert len(seen) == (1 if status == 303 else 0)


@pytest.mark.parametrize(
    ("base_url", "pattern", "origin", "status"),
    [
        # no scheme: HTTPS, or the site's own scheme
        ("https://api.test", "app.test", "https://app.test", 303),
        ("https://api.test", "app.test", "http://app.test", 403),
        ("http://api.test", "app.test", "http://app.test", 303),
        ("http://api.test", "app.test", "https://app.test", 303),
        # a scheme: that one only
        ("https://api.test", "http://app.test", "http://app.test", 303),
        ("https://api.test", "http://app.test", "https://app.test", 403),
        ("http://api.test", "https://app.test", "http://app.test", 403),
        ("https://api.test", "https://*.test:8443", "https://app.test:8443", 303),
        ("https://api.test", "https://*.test:8443", "https://app.test", 403),
    ],
)
def test_allowed_origins_match_the_scheme_they_name(
    base_url: str, pattern: str, origin: str, status: int
) -> None:
    # Tokens off: the test client's session cookie is for localhost only, and
    # the Origin header alone vouches for a request.
    app = make_app(ACTIONS_ALLOWED_ORIGINS=[pattern], WTF_CSRF_ENABLED=False)
    assert _origin_call(app, {"Origin": origin}, base_url) == status


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Sec-Fetch-Site": "cross-site", "Origin": ORIGIN}, 403),
        ({"Sec-Fetch-Site": "same-site", "Origin": ORIGIN}, 403),
        ({"Sec-Fetch-Site": "Cross-Site", "Origin": ORIGIN}, 403),
        ({"Sec-Fetch-Site": "cross-site", "Referer": ORIGIN + "/page"}, 403),
        ({"Sec-Fetch-Site": "same-origin", "Origin": "http://evil.example"}, 403),
        ({"Sec-Fetch-Site": "same-origin", "Origin": ORIGIN}, 303),
        ({"Sec-Fetch-Site": "none", "Origin": ORIGIN}, 303),
        # another origin the app allows: the browser rightly says so
        ({"Sec-Fetch-Site": "same-site", "Origin": "http://app.localhost"}, 303),
        ({"Sec-Fetch-Site": "cross-site", "Origin": "http://partner.test"}, 303),
        ({"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"}, 403),
    ],
)
def test_a_header_that_says_cross_site_wins(
    headers: dict[str, str], status: int
) -> None:
    app = make_app(ACTIONS_ALLOWED_ORIGINS=["app.localhost", "partner.test"])
    assert _origin_call(app, headers) == status
    assert len(app.extensions["seen"]) == (1 if status == 303 else 0)


def test_no_origin_headers_without_csrf_tokens_is_403() -> None:
    app = make_app(WTF_CSRF_ENABLED=False)
    client = app.test_client()
    ref = prepare(client, "checks.note")[0]
    response = client.post("/", data={"_action": ref, "title": "x"})
    assert response.status_code == 403
    assert "does not say which site it comes from" in response.text
    assert app.extensions["seen"] == []
    # With an origin header, the origin check alone vouches for it.
    response = client.post(
        "/", data={"_action": ref, "title": "x"}, headers={"Origin": ORIGIN}
    )
    assert response.status_code == 303
    assert len(app.extensions["seen"]) == 1


def test_no_origin_headers_without_csrf_tokens_when_the_app_opts_out() -> None:
    app = make_app(WTF_CSRF_ENABLED=False, ACTIONS_ALLOW_UNVERIFIED_ORIGIN=True)
    client = app.test_client()
    ref = prepare(client, "checks.note")[0]
    response = client.post("/", data={"_action": ref, "title": "x"})
    assert response.status_code == 303
    assert len(app.extensions["seen"]) == 1


def test_no_origin_headers_with_a_csrf_token_runs(
    app: Flask, seen: list[t.Any]
) -> None:
    client = app.test_client()
    response = client.post("/", data=form_fields(client, "checks.note", title="x"))
    assert response.status_code == 303
    assert len(seen) == 1


# -- empty form inputs ----------------------------------------------------------


EMPTY = {
    "qty": "",
    "price": "",
    "amount": "",
    "day": "",
    "at": "",
    "alarm": "",
    "flag": "",
    "ref": "",
    "color": "",
    "email": "",
    "site": "",
    "note": "",
    "tags": ["", ""],
    "labels": ["", "b"],
    "address.city": "",
    "address.zip": "",
    "amount-due": "",
}


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_empty_inputs_of_fields_that_are_not_text_are_missing(
    app: Flask, seen: list[t.Any], encoding: str
) -> None:
    client = app.test_client()
    ref, token, _ = prepare(client, "checks.optional")
    data = {"_action": ref, "csrf_token": token, **EMPTY}
    if encoding == "urlencoded":
        body, content_type = urlencoded(data), FORM
    else:
        body, content_type = multipart(data)
    response, _ = send(client, body, content_type)
    assert response.status_code == 303, response.text[:500]
    [(_, loaded)] = seen
    assert loaded == {
        "qty": 1,
        "price": None,
        "amount": None,
        "day": None,
        "at": None,
        "alarm": None,
        "flag": False,
        "ref": None,
        "color": None,
        "email": None,
        "site": None,
        "note": "",  # a text field keeps what was typed, even nothing
        "tags": [],
        "labels": ["", "b"],
        "address": {"city": "", "zip": None},
        "due": 0,
    }


def test_values_typed_next_to_empty_inputs_still_load(
    app: Flask, seen: list[t.Any]
) -> None:
    result = call(
        app.test_client(),
        "checks.optional",
        {
            "qty": "3",
            "price": "",
            "day": "2026-01-02",
            "tags": ["", "4", ""],
            "ref": str(uuid.UUID(int=7)),
            "amount": "1.50",
            "color": "blue",
            "at": "",
        },
    )
    assert result.ok, result.errors
    [(_, loaded)] = seen
    assert loaded["qty"] == 3 and loaded["price"] is None
    assert loaded["day"] == datetime.date(2026, 1, 2)
    assert loaded["tags"] == [4]
    assert loaded["ref"] == uuid.UUID(int=7)
    assert loaded["amount"] == decimal.Decimal("1.50")
    assert loaded["color"] is Color.BLUE and loaded["at"] is None


def test_an_empty_required_input_is_missing_data(app: Flask, seen: list[t.Any]) -> None:
    result = call(app.test_client(), "checks.required", {"qty": "", "day": ""})
    assert result.status == 422
    assert result.errors == {
        "qty": ["Missing data for required field."],
        "day": ["Missing data for required field."],
    }
    # What was typed (nothing) comes back as typed.
    assert result.values == {"qty": "", "day": ""}
    assert seen == []


def test_json_keeps_empty_strings_as_sent(app: Flask, seen: list[t.Any]) -> None:
    result = call(
        app.test_client(), "checks.optional", {"qty": "", "note": ""}, mode="json"
    )
    assert result.status == 422
    assert result.errors == {"qty": ["Not a valid integer."]}
    assert seen == []


@pytest.mark.skipif(
    tuple(int(p) for p in metadata.version("flask").split(".")[:2]) < (3, 1),
    reason="TRUSTED_HOSTS is a setting of Flask 3.1",
)
def test_trusted_hosts_refuse_a_rebound_host_name() -> None:
    # DNS rebinding: evil.example now resolves to this server, so its page's
    # Origin matches the Host its requests name. Only the host list knows.
    for trusted, status in ((None, 303), (["localhost"], 400)):
        app = make_app(TRUSTED_HOSTS=trusted, WTF_CSRF_ENABLED=False)
        client = app.test_client()
        ref = prepare(client, "checks.note")[0]
        response = client.post(
            "/",
            base_url="http://evil.example",
            data={"_action": ref, "title": "x"},
            headers={"Origin": "http://evil.example"},
        )
        assert response.status_code == status
        assert len(app.extensions["seen"]) == (1 if status == 303 else 0)
