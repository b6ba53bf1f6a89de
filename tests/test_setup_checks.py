"""What ``init_app`` checks in the configuration: the secret and the hosts.

A secret that is short, or that the documentation shows, lets anyone forge
action ids, bound arguments and result cookies: outside debug and testing
``init_app`` refuses it (unless ``ACTIONS_ALLOW_WEAK_SECRET``), and in debug
and testing it logs a warning. Without ``TRUSTED_HOSTS`` the origin check
trusts the ``Host`` header the client sends: ``init_app`` warns outside debug
and testing (that ``TRUSTED_HOSTS`` then refuses other hosts is
``test_security_checks.py::test_trusted_hosts_refuse_a_rebound_host_name``).
"""

from __future__ import annotations

import logging
import re
import typing as t
from pathlib import Path

import pytest
from flask import Flask

from flask_actions import ActionBlueprint
from flask_actions import ActionExtension
from flask_actions.testing import call

ROOT = Path(__file__).resolve().parent.parent
STRONG = "a strong secret of at least 32 bytes, random in real life"


def make_app(**config: t.Any) -> Flask:
    app = Flask(__name__)
    app.config.update(config)
    if "TRUSTED_HOSTS" in config and "TRUSTED_HOSTS" not in Flask.default_config:
        # Flask 3.0 has no setting: the request class carries the hosts.
        class Trusting(app.request_class):  # type: ignore[name-defined, misc]
            trusted_hosts = config["TRUSTED_HOSTS"]

        app.request_class = Trusting
    ActionExtension(app)
    return app


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "flask_actions" and r.levelno == logging.WARNING
    ]


# --- the secret ------------------------------------------------------------------

WEAK = {
    "short SECRET_KEY": ({"SECRET_KEY": "dev"}, "SECRET_KEY", "3 bytes"),
    "31 bytes": ({"SECRET_KEY": "x" * 31}, "SECRET_KEY", "31 bytes"),
    "placeholder": (
        {"SECRET_KEY": "change me: a long random string, the same on every server"},
        "SECRET_KEY",
        "placeholder",
    ),
    "short ACTIONS_SECRET_KEY": (
        {"SECRET_KEY": STRONG, "ACTIONS_SECRET_KEY": "s3cret"},
        "ACTIONS_SECRET_KEY",
        "6 bytes",
    ),
    "short SECRET_KEY beside a strong ACTIONS_SECRET_KEY": (
        {"SECRET_KEY": "dev", "ACTIONS_SECRET_KEY": STRONG},
        "SECRET_KEY",
        "3 bytes",
    ),
    "short bytes": ({"SECRET_KEY": b"\x01" * 16}, "SECRET_KEY", "16 bytes"),
}


@pytest.mark.parametrize("case", list(WEAK))
def test_a_weak_secret_is_refused_outside_debug_and_testing(case: str) -> None:
    config, key, why = WEAK[case]
    with pytest.raises(RuntimeError) as caught:
        make_app(**config)
    message = str(caught.value)
    assert message.startswith(key + " ") and why in message
    assert f"app.config[{key!r}]" in message and "secrets.token_hex()" in message
    assert "ACTIONS_ALLOW_WEAK_SECRET" in message
    secret = config[key]
    assert (secret.decode("latin-1") if isinstance(secret, bytes) else secret) not in (
        message.replace(key, "")
    ), "the secret itself is never shown"


@pytest.mark.parametrize("mode", ["TESTING", "DEBUG", "ACTIONS_ALLOW_WEAK_SECRET"])
@pytest.mark.parametrize("case", list(WEAK))
def test_a_weak_secret_is_a_warning_in_debug_testing_or_when_allowed(
    case: str, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    config, key, why = WEAK[case]
    caplog.set_level(logging.WARNING, "flask_actions")
    app = make_app(**config, **{mode: True}, TRUSTED_HOSTS=["localhost"])
    found = [m for m in warnings_of(caplog) if m.startswith(key + " ")]
    assert len(found) == 1 and why in found[0] and "secrets.token_hex()" in found[0]
    # It still works: only the warning says what to change.
    bp = ActionBlueprint("ping", __name__)

    @bp.action
    def ping() -> str:
        return "pong"

    app.register_blueprint(bp)
    assert call(app.test_client(), ping, mode="json").data == "pong"


def test_a_strong_secret_passes_silently(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "flask_actions")
    make_app(SECRET_KEY=STRONG, TRUSTED_HOSTS=["example.com"])
    make_app(SECRET_KEY="x" * 32, ACTIONS_SECRET_KEY=STRONG, TESTING=True)
    assert warnings_of(caplog) == []


def test_a_weak_fallback_is_a_warning_only(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "flask_actions")
    make_app(
        SECRET_KEY=STRONG,
        SECRET_KEY_FALLBACKS=["dev"],
        ACTIONS_SECRET_KEY=STRONG + "!",
        ACTIONS_SECRET_KEY_FALLBACKS="old",
        TRUSTED_HOSTS=["example.com"],
    )
    found = warnings_of(caplog)
    assert len(found) == 2
    assert found[0].startswith("An entry of ACTIONS_SECRET_KEY_FALLBACKS is 3 bytes")
    assert found[1].startswith("An entry of SECRET_KEY_FALLBACKS is 3 bytes")


#: A secret written as a string literal after SECRET_KEY (any form: a keyword,
#: a dict key, an item assignment, wrapped in parentheses), not computed.
_SHOWN = re.compile(
    r"""SECRET_KEY["']?\]?\s*[=:]\s*\(?\s*(["'])((?:(?!\1).)+)\1\s*(?:#[^\n]*)?\s*[,)\n]"""
)


def _secrets_shown() -> dict[str, str]:
    shown: dict[str, str] = {}
    files = [
        ROOT / "README.md",
        *(ROOT / "docs").glob("*.md"),
        *(ROOT / "examples").rglob("*.py"),
        *(ROOT / "examples").rglob("*.md"),
    ]
    for path in files:
        for match in _SHOWN.finditer(path.read_text(encoding="utf-8")):
            shown.setdefault(match[2], str(path.relative_to(ROOT)))
    return shown


def test_every_secret_the_documentation_shows_is_refused() -> None:
    shown = _secrets_shown()
    assert "change me" in shown and "dev" in shown, shown
    assert len(shown) >= 5, shown
    for secret, where in shown.items():
        with pytest.raises(RuntimeError, match="ACTIONS_ALLOW_WEAK_SECRET"):
            make_app(SECRET_KEY=secret)
            pytest.fail(f"{secret!r} from {where} was accepted")


# --- trusted hosts ---------------------------------------------------------------


def test_no_trusted_hosts_outside_debug_and_testing_is_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "flask_actions")
    make_app(SECRET_KEY=STRONG)
    (found,) = warnings_of(caplog)
    assert "TRUSTED_HOSTS" in found and "DNS rebinding" in found


@pytest.mark.parametrize(
    "config",
    [{"TRUSTED_HOSTS": ["example.com"]}, {"TESTING": True}, {"DEBUG": True}],
    ids=["set", "testing", "debug"],
)
def test_trusted_hosts_set_or_debug_or_testing_is_quiet(
    config: dict[str, t.Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "flask_actions")
    make_app(SECRET_KEY=STRONG, **config)
    assert warnings_of(caplog) == []
