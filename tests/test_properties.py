"""Properties of the wire decoding and the bound-argument token codec.

Hypothesis makes up the inputs: any request an action endpoint can receive
gets a clean 4xx or a valid call, never an unhandled exception (the app runs
with ``TESTING``, so an exception would reach the test); any supported value
survives sealing into a page and coming back; a token that was changed in any
way is refused, never misread.
"""

from __future__ import annotations

import contextlib
import datetime
import decimal
import json
import math
import typing as t
import uuid

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import HealthCheck
from hypothesis import settings
from hypothesis import strategies as st
from marshmallow import fields
from marshmallow import Schema
from marshmallow import validate

from flask_actions import ActionBlueprint
from flask_actions import ActionExtension
from flask_actions import codec
from flask_actions.crypto import BadToken
from flask_actions.crypto import KeyRing
from flask_actions.testing import call
from flask_actions.testing import prepare

settings.register_profile(
    "flask-actions-properties",
    max_examples=75,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
#: Applied per test rather than loaded, so other modules keep their settings.
PROFILE = settings.get_profile("flask-actions-properties")

# -- values -------------------------------------------------------------------

OFFSETS = st.sampled_from(
    [
        None,
        datetime.timezone.utc,
        datetime.timezone(datetime.timedelta(hours=5, minutes=30)),
        datetime.timezone(datetime.timedelta(hours=-8)),
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**200), max_value=2**200),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.binary(max_size=64),
    st.uuids(),
    st.dates(),
    st.datetimes(timezones=OFFSETS),
    st.times(),
    st.decimals(allow_nan=True, allow_infinity=True),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(st.text(max_size=8), inner, max_size=4),
    ),
    max_leaves=12,
)


def same(a: t.Any, b: t.Any) -> bool:
    """Equal, of the same type all the way down, NaN equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or repr(a) == repr(b)
    if isinstance(a, decimal.Decimal):
        return str(a) == str(b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (datetime.datetime, datetime.time)):
        return a == b and a.utcoffset() == b.utcoffset()
    return bool(a == b)


@PROFILE
@given(VALUES)
def test_codec_round_trips_every_supported_type(value: t.Any) -> None:
    assert same(codec.loads(codec.dumps(value)), value)


@PROFILE
@given(st.binary(max_size=200))
def test_codec_refuses_garbage_cleanly(data: bytes) -> None:
    try:
        value = codec.loads(data)
    except codec.CodecError:
        return
    assert same(codec.loads(codec.dumps(value)), value)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                ["$m", "$t", "$f", "$u", "$dt", "$d", "$tm", "$n", "$b", "x"]
            ),
            inner,
            max_size=2,
        )
    ),
    max_leaves=10,
)


@PROFILE
@given(JSON)
def test_codec_refuses_made_up_tags_cleanly(raw: t.Any) -> None:
    """Tagged values a client invents decode to a value or fail with CodecError."""
    try:
        value = codec.loads(json.dumps(raw).encode())
    except codec.CodecError:
        return
    assert same(codec.loads(codec.dumps(value)), value)


RING = KeyRing(["the current secret " * 3, "the previous secret " * 3])
OLD_RING = KeyRing(["the previous secret " * 3])


@PROFILE
@given(st.binary(max_size=300), st.binary(max_size=40))
def test_tokens_open_only_for_their_context(data: bytes, context: bytes) -> None:
    token = RING.seal("bound", data, context)
    assert RING.unseal("bound", token, context) == data
    with pytest.raises(BadToken):
        RING.unseal("bound", token, context + b"!")
    with pytest.raises(BadToken):
        RING.unseal("result", token, context)


@PROFILE
@given(st.binary(max_size=100), st.data())
def test_any_change_to_a_token_is_refused(data: bytes, draw: st.DataObject) -> None:
    token = RING.seal("bound", data, b"ctx")
    index = draw.draw(st.integers(0, len(token) - 1))
    char = draw.draw(st.sampled_from("ABCabc019-_=.%"))
    changed = token[:index] + char + token[index + 1 :]
    cut = token[: draw.draw(st.integers(0, len(token) - 1))]
    for forged in (changed, cut):
        if forged == token:
            continue
        try:
            opened = RING.unseal("bound", forged, b"ctx")
        except BadToken:
            continue
        # Base64 has slack in its last character: the same bytes may decode.
        assert opened == data


@PROFILE
@given(st.binary(max_size=100))
def test_old_key_tokens_open_while_the_key_is_a_fallback(data: bytes) -> None:
    token = OLD_RING.seal("bound", data, b"ctx")
    assert RING.unseal("bound", token, b"ctx") == data
    with pytest.raises(BadToken):
        KeyRing(["the current secret " * 3]).unseal("bound", token, b"ctx")


@PROFILE
@given(st.text(max_size=300))
def test_unsealing_any_text_fails_cleanly(text: str) -> None:
    with contextlib.suppress(BadToken):
        RING.unseal("bound", text, b"ctx")


# -- requests -----------------------------------------------------------------


class Address(Schema):
    city = fields.Str(required=True)


class Profile(Schema):
    name = fields.Str(required=True, validate=validate.Length(min=1, max=40))
    age = fields.Int()
    tags = fields.List(fields.Str())
    address = fields.Nested(Address)


def make_app() -> tuple[Flask, list[tuple[str, t.Any]]]:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="properties " * 4, TESTING=True, ACTIONS_MAX_CONTENT_LENGTH=4096
    )
    ActionExtension(app)
    bp = ActionBlueprint("prop", __name__)
    calls: list[tuple[str, t.Any]] = []

    @bp.route("/")
    def index() -> str:
        return "page"

    @bp.action
    def echo(*args: t.Any) -> None:
        calls.append(("echo", args))

    @bp.action(schema=Profile)
    def save(data: dict[str, t.Any]) -> None:
        calls.append(("save", data))

    app.register_blueprint(bp)
    return app, calls


@PROFILE
@given(st.lists(VALUES, max_size=3))
def test_bound_arguments_round_trip_through_a_page(args: list[t.Any]) -> None:
    app, calls = make_app()
    with app.test_request_context():
        target = app.extensions["actions"].lookup_name("prop.echo").action
    result = call(app.test_client(), target.bind(*args), mode="json")
    assert result.ok, result.message
    assert len(calls) == 1
    assert same(calls[0][1], tuple(args))


FIELD_NAMES = st.sampled_from(
    ["name", "age", "tags", "address.city", "address", "_action", "_button"]
    + ["csrf_token", "x.y.z", "name.first", "", "\x00", "é"]
)
FORM_VALUES = st.one_of(
    st.text(max_size=30), st.lists(st.text(max_size=10), max_size=3), st.just("1")
)
CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "APPLICATION/JSON",
        "application/json; charset=latin-1",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "multipart/form-data; boundary=xyz",
        "text/plain",
        "application/octet-stream",
        "",
    ]
)


@st.composite
def requests(draw: st.DrawFn) -> dict[str, t.Any]:
    """Anything a client may send to the page, as test-client arguments."""
    headers: dict[str, str] = {}
    how = draw(st.sampled_from(["json", "form", "raw"]))
    if draw(st.booleans()):
        headers["Origin"] = draw(
            st.sampled_from(["http://localhost", "null", "https://evil.example"])
            | st.text(st.characters(exclude_characters="\r\n"), max_size=20)
        )
    if draw(st.booleans()):
        headers["Accept"] = draw(st.sampled_from(["application/json", "text/html"]))
    if how == "json":
        body = draw(st.dictionaries(FIELD_NAMES, JSON | FORM_VALUES, max_size=5) | JSON)
        return {"json": body, "headers": headers}
    if how == "form":
        data = draw(st.dictionaries(FIELD_NAMES, FORM_VALUES, max_size=6))
        multipart = draw(st.booleans())
        return {
            "data": data,
            "headers": headers,
            "content_type": "multipart/form-data" if multipart else None,
        }
    return {
        "data": draw(st.binary(max_size=300)),
        "content_type": draw(CONTENT_TYPES),
        "headers": headers,
    }


CLEAN = {200, 303, 400, 403, 404, 405, 413, 422}


@PROFILE
@given(
    requests(),
    st.sampled_from(["save", "echo", "forged", None]),
    st.sampled_from(["header", "field", "both"]),
    st.booleans(),
)
def test_any_request_gets_a_clean_answer_or_a_valid_call(
    request: dict[str, t.Any], target: str | None, where: str, with_csrf: bool
) -> None:
    app, calls = make_app()
    client: FlaskClient = app.test_client()
    headers = request.setdefault("headers", {})
    if target is not None:
        name = "prop.save" if target == "forged" else f"prop.{target}"
        ref, csrf, _ = prepare(client, name)
        if target == "forged":
            ref = f"{ref}.{uuid.uuid4().hex}"
        if where in ("header", "both"):
            headers["X-Action"] = ref
        if where in ("field", "both") and isinstance(request.get("data"), dict):
            request["data"]["_action"] = ref
        if with_csrf and csrf:
            headers["X-CSRFToken"] = csrf
    request = {k: v for k, v in request.items() if v is not None}

    response = client.post("/", **request)

    assert response.status_code in CLEAN, response.get_data(as_text=True)[:300]
    if response.status_code in (200, 303):
        assert len(calls) <= 1
        if calls and calls[0][0] == "save":
            assert Profile().validate(calls[0][1]) == {}
            assert isinstance(calls[0][1]["name"], str)
    else:
        assert calls == []
