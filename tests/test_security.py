from __future__ import annotations

import typing as t

import pytest
from flask import Flask
from flask_wtf.csrf import CSRFProtect
from servers import SAME_ORIGIN

from flask_actions.security import host_matches
from flask_actions.testing import call
from flask_actions.testing import prepare


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        (SAME_ORIGIN, 303),
        ({"Origin": "http://evil.example"}, 403),
        ({"Origin": "http://localhost.evil.example"}, 403),
        ({"Origin": "null"}, 403),
        ({"Origin": "http://localhost:8080"}, 403),
        ({"Origin": ""}, 403),
    ],
)
def test_origin_must_be_this_site(
    client: t.Any, notes: list[str], headers: dict[str, str], status: int
) -> None:
    result = call(client, "notes.add", {"title": "x"}, headers=headers)
    assert result.response is not None and result.response.status_code == status
    assert notes == ([] if status == 403 else ["x"])


def _post(client: t.Any, headers: dict[str, str], csrf: bool = True) -> t.Any:
    ref, token, _ = prepare(client, "notes.add")
    data = {"_action": ref, "title": "x"}
    if csrf and token:
        data["csrf_token"] = token
    return client.post("/", data=data, headers=headers)


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Sec-Fetch-Site": "same-origin"}, 303),
        ({"Sec-Fetch-Site": "cross-site"}, 403),
        ({"Sec-Fetch-Site": "same-site"}, 403),
        ({"Referer": "http://localhost/page"}, 303),
        ({"Referer": "http://evil.example/page"}, 403),
        ({}, 303),
    ],
)
def test_without_origin_other_headers_decide(
    client: t.Any, notes: list[str], headers: dict[str, str], status: int
) -> None:
    assert _post(client, headers).status_code == status
    assert len(notes) == (1 if status == 303 else 0)


@pytest.mark.parametrize(
    ("strict", "headers", "status"),
    [
        (None, {}, 403),
        (True, {}, 403),
        (False, {}, 303),
        (None, {"Referer": "https://localhost/page"}, 303),
        (None, {"Origin": "https://localhost"}, 303),
        (None, {"Sec-Fetch-Site": "same-origin"}, 303),
    ],
)
def test_over_https_a_request_of_unknown_origin_is_refused_as_flask_wtf_does(
    app: Flask,
    client: t.Any,
    notes: list[str],
    strict: bool | None,
    headers: dict[str, str],
    status: int,
) -> None:
    # Flask-WTF's WTF_CSRF_SSL_STRICT (on by default) refuses a POST over
    # HTTPS without a Referer of this host: a valid token alone does not do.
    if strict is not None:
        app.config["WTF_CSRF_SSL_STRICT"] = strict
    ref, token, _ = prepare(client, "notes.add")
    data = {"_action": ref, "title": "x", "csrf_token": token}
    response = client.post(
        "/", data=data, headers=headers, base_url="https://localhost"
    )
    assert response.status_code == status
    assert notes == ([] if status == 403 else ["x"])
    if status == 403:
        assert "does not say which site it comes from" in response.text


@pytest.mark.parametrize("headers", [{}, SAME_ORIGIN])
def test_a_csrf_token_is_required(
    client: t.Any, notes: list[str], headers: dict[str, str]
) -> None:
    response = _post(client, headers, csrf=False)
    assert response.status_code in (403, 422)
    assert "CSRF token is missing" in response.text
    assert notes == []


def test_same_site_form_with_expired_session_keeps_what_was_typed(
    client: t.Any, notes: list[str]
) -> None:
    ref, _, _ = prepare(client, "notes.add")
    response = client.post(
        "/",
        data={"_action": ref, "title": "typed", "csrf_token": "expired"},
        headers=SAME_ORIGIN,
    )
    assert response.status_code == 403
    assert 'value="typed"' in response.text and "reload the page" in response.text
    assert notes == []


def test_allowed_origins_with_wildcards(
    app: Flask, client: t.Any, notes: list[str]
) -> None:
    app.config["ACTIONS_ALLOWED_ORIGINS"] = ["**.example.com", "partner.test:8443"]
    for origin, ok in [
        ("https://a.example.com", True),
        ("https://a.b.example.com", True),
        ("https://example.com.evil", False),
        ("https://partner.test:8443", True),
        ("https://partner.test", False),
    ]:
        result = call(
            client, "notes.add", {"title": origin}, headers={"Origin": origin}
        )
        assert result.response is not None
        assert (result.response.status_code == 303) is ok, origin


@pytest.mark.parametrize(
    ("host", "patterns", "expected"),
    [
        ("a.example.com", ["*.example.com"], True),
        ("a.b.example.com", ["*.example.com"], False),
        ("a.b.example.com", ["**.example.com"], True),
        ("example.com", ["**.example.com"], False),
        ("example.com:8080", ["example.com"], True),
        ("example.com:8080", ["example.com:9090"], False),
        ("example.com", ["https://example.com/"], True),
    ],
)
def test_host_patterns(host: str, patterns: list[str], expected: bool) -> None:
    assert host_matches(host, patterns) is expected


def test_body_over_the_limit_is_413_before_anything_runs(
    app: Flask, client: t.Any, notes: list[str]
) -> None:
    app.config["ACTIONS_MAX_CONTENT_LENGTH"] = 1000
    result = call(client, "notes.add", {"title": "x", "body": "y" * 2000}, mode="form")
    assert result.response is not None and result.response.status_code == 413
    assert "more than the 1000 bytes" in result.response.text
    assert notes == []


def test_csrfprotect_and_actions_check_the_token_once(
    app: Flask, notes: list[str]
) -> None:
    CSRFProtect(app)
    client = app.test_client()
    checks: list[str] = []
    import flask_wtf.csrf as csrf_module

    original = csrf_module.validate_csrf

    def counting(*args: t.Any, **kwargs: t.Any) -> t.Any:
        checks.append("check")
        return original(*args, **kwargs)

    import flask_actions.csrf as own_check

    own_original = own_check.validate

    def counting_own(*args: t.Any, **kwargs: t.Any) -> t.Any:
        checks.append("check")
        return own_original(*args, **kwargs)

    csrf_module.validate_csrf = counting
    own_check.validate = counting_own
    try:
        result = call(client, "notes.add", {"title": "once"})
    finally:
        csrf_module.validate_csrf = original
        own_check.validate = own_original
    assert result.ok and notes == ["once"]
    assert checks == ["check"]
    assert _post(client, SAME_ORIGIN, csrf=False).status_code in (
        400,
        403,
    )


def test_tampered_or_swapped_bound_arguments_are_400(
    app: Flask, notes: list[str]
) -> None:
    notes.extend(["a", "b"])
    client = app.test_client()
    remove_ref, token, origin = prepare(client, app_action(app, "notes.remove").bind(0))
    add_ref, _, _ = prepare(client, "notes.add")
    action_id, _, sealed = remove_ref.partition(".")
    add_id = add_ref.partition(".")[0]
    flipped = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    for ref in (
        f"{action_id}.{flipped}",
        f"{add_id}.{sealed}",
        f"{action_id}.{sealed[:20]}",
    ):
        response = client.post(
            "/", data={"_action": ref, "csrf_token": token}, headers={"Origin": origin}
        )
        assert response.status_code == 400, ref
        assert "hidden data" in response.text
    assert notes == ["a", "b"]


def test_unknown_action_id_is_404_with_a_clear_message(
    client: t.Any, notes: list[str]
) -> None:
    _, token, origin = prepare(client, "notes.add")
    for headers in (
        {"Origin": origin},
        {"Origin": origin, "Accept": "application/json"},
    ):
        response = client.post(
            "/",
            data={"_action": "A" * 22, "csrf_token": token, "title": "x"},
            headers=headers,
        )
        assert response.status_code == 404
        assert "reload the page" in response.text
        assert "Traceback" not in response.text
    assert response.get_json()["reason"] == "unknown_action"
    assert notes == []


def app_action(app: Flask, name: str) -> t.Any:
    with app.app_context():
        return app.jinja_env.globals["action"](name)
