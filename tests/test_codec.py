from __future__ import annotations

import datetime
import decimal
import math
import uuid

import pytest

from flask_actions import codec

VALUES = [
    None,
    True,
    False,
    0,
    -(10**30),
    1.5,
    "",
    "héllo \n wörld ✓",
    b"\x00\xffbytes",
    [1, "two", [3.0, None]],
    (1, (2, "x")),
    {"a": 1, "nested": {"b": [True, {"c": None}]}},
    {"$u": "looks like a tag but is a plain dict"},
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    datetime.date(2026, 11, 21),
    datetime.datetime(2026, 11, 21, 12, 30, 5, 123456),
    datetime.datetime(
        2026, 11, 21, 12, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
    ),
    datetime.time(23, 59, 1),
    decimal.Decimal("12.3400"),
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_round_trip_keeps_type_and_value(value: object) -> None:
    back = codec.loads(codec.dumps(value))
    assert back == value
    assert type(back) is type(value)


def test_non_finite_floats_round_trip() -> None:
    back = codec.loads(codec.dumps([math.inf, -math.inf, math.nan]))
    assert back[0] == math.inf and back[1] == -math.inf and math.isnan(back[2])


@pytest.mark.parametrize("value", [object(), {1: "int key"}, {1.5}, lambda: None])
def test_unsupported_values_are_refused_with_a_reason(value: object) -> None:
    with pytest.raises(codec.CodecError, match="Cannot encode|keys must be strings"):
        codec.dumps(value)


def test_too_deep_values_are_refused() -> None:
    deep: list[object] = []
    for _ in range(codec.MAX_DEPTH + 2):
        deep = [deep]
    with pytest.raises(codec.CodecError, match="nested deeper"):
        codec.dumps(deep)


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b'{"$x": "1"}',
        b'{"$u": "not-a-uuid"}',
        b'{"$d": 5}',
        b'{"a": 1, "b": 2}',
        b"[" * 5000 + b"]" * 5000,
        b'{"$n": "1e999999999999"}',
    ],
)
def test_garbage_never_decodes_to_an_object(raw: bytes) -> None:
    try:
        codec.loads(raw)
    except codec.CodecError:
        pass
    else:  # only plain JSON values may come out
        assert raw.startswith(b'{"$n"')


def test_to_json_makes_browser_readable_values() -> None:
    value = {
        "when": datetime.date(2026, 1, 2),
        "id": uuid.UUID(int=1),
        "price": decimal.Decimal("1.10"),
        "tags": ("a", "b"),
        "ratio": math.nan,
    }
    assert codec.to_json(value) == {
        "when": "2026-01-02",
        "id": "00000000-0000-0000-0000-000000000001",
        "price": "1.10",
        "tags": ["a", "b"],
        "ratio": None,
    }


def test_to_json_explains_what_it_cannot_send() -> None:
    with pytest.raises(TypeError, match="__json__"):
        codec.to_json(object())
