"""flask_actions.csrf.validate accepts and refuses exactly the tokens
Flask-WTF's validate_csrf accepts and refuses, with the same reason."""

from __future__ import annotations

import hashlib
import typing as t

import pytest
from flask import Flask
from flask import session
from flask_wtf.csrf import generate_csrf
from flask_wtf.csrf import validate_csrf
from itsdangerous import TimestampSigner
from itsdangerous import URLSafeTimedSerializer
from wtforms.validators import ValidationError

from flask_actions import csrf

SECRET = "test-secret-for-the-csrf-parity-tests-0123456789"
SALT = "wtf-csrf-token"


def _outcome(check: t.Callable[[t.Any], None], data: t.Any) -> str:
    try:
        check(data)
    except ValidationError as e:
        return str(e.args[0])
    except TypeError as e:  # a signed payload that is not text (needs the secret)
        return f"TypeError: {e}"
    return "valid"


class _Backdated(TimestampSigner):
    """Signs as if an hour and a minute ago."""

    def get_timestamp(self) -> int:
        return super().get_timestamp() - 3660


def _signed(value: t.Any, secret: str = SECRET, **kwargs: t.Any) -> str:
    return URLSafeTimedSerializer(secret, salt=SALT, **kwargs).dumps(value)


def _tokens(raw: str) -> dict[str, t.Any]:
    good = _signed(raw)
    payload, stamp, signature = good.split(".")
    # The first character: the last one of a 20-byte signature in base64
    # carries two unused bits, so changing it can decode to the same bytes
    # (a "tampered" token that is valid about one run in eight).
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    return {
        "valid": good,
        "missing": None,
        "empty": "",
        "tampered signature": f"{payload}.{stamp}.{flipped}",
        "other payload": f"{_signed('x' * 40).split('.')[0]}.{stamp}.{signature}",
        "other secret": _signed(raw, secret=SECRET + "-other"),
        "other salt": URLSafeTimedSerializer(SECRET, salt="other").dumps(raw),
        "other session token": _signed("0" * 40),
        "expired": _signed(raw, signer=_Backdated),
        "compressed payload": _signed("a" * 300),
        "not a string payload": _signed(12345),
        "no timestamp": f"{payload}.{signature}",
        "bad timestamp": f"{payload}.!!!.{signature}",
        "only dots": "..",
        "garbage": "not-a-token",
        "non-ASCII": "é.é.é",
        "bytes": good.encode(),
        "very long": good + "A" * 10_000,
    }


@pytest.fixture
def csrf_app() -> Flask:
    app = Flask(__name__)
    app.config.update(SECRET_KEY=SECRET, TESTING=True)
    return app


CONFIGS: list[dict[str, t.Any]] = [
    {},
    {"WTF_CSRF_TIME_LIMIT": None},
    {"WTF_CSRF_TIME_LIMIT": 7200},
    {"WTF_CSRF_SECRET_KEY": SECRET + "-other"},
    # Keys being rotated (itsdangerous tries each): the old one still signs.
    {"WTF_CSRF_SECRET_KEY": [SECRET, SECRET + "-new"]},
    {"WTF_CSRF_FIELD_NAME": "token"},
]


@pytest.mark.parametrize("config", CONFIGS)
def test_every_token_gets_the_same_verdict_as_flask_wtf(
    csrf_app: Flask, config: dict[str, t.Any]
) -> None:
    csrf_app.config.update(config)
    raw = hashlib.sha1(b"the session's token").hexdigest()
    verdicts: dict[str, str] = {}
    with csrf_app.test_request_context():
        session[config.get("WTF_CSRF_FIELD_NAME", "csrf_token")] = raw
        for name, token in _tokens(raw).items():
            ours = _outcome(csrf.validate, token)
            assert ours == _outcome(validate_csrf, token), name
            verdicts[name] = ours
    # The cases reach every branch: the defaults accept only the good token.
    if not config:
        assert verdicts["valid"] == "valid"
        assert verdicts["expired"] == "The CSRF token has expired."
        assert verdicts["tampered signature"] == "The CSRF token is invalid."
        assert verdicts["other session token"] == "The CSRF tokens do not match."
        assert verdicts["missing"] == "The CSRF token is missing."
        assert [n for n, v in verdicts.items() if v == "valid"] == ["valid", "bytes"]


def test_a_token_flask_wtf_generated_is_valid_and_without_a_session_token_is_not(
    csrf_app: Flask,
) -> None:
    with csrf_app.test_request_context():
        token = generate_csrf()
        assert _outcome(csrf.validate, token) == "valid"
        session.clear()
        expected = "The CSRF session token is missing."
        assert _outcome(csrf.validate, token) == expected
        assert _outcome(validate_csrf, token) == expected


def test_a_secret_changed_at_run_time_is_the_one_checked(csrf_app: Flask) -> None:
    with csrf_app.test_request_context():
        token = generate_csrf()
        assert _outcome(csrf.validate, token) == "valid"
        csrf_app.secret_key = SECRET + "-rotated"
        assert _outcome(csrf.validate, token) == "The CSRF token is invalid."
        assert _outcome(validate_csrf, token) == "The CSRF token is invalid."
