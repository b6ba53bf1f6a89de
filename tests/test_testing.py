from __future__ import annotations

import typing as t

from flask_actions.testing import call


def test_call_in_form_mode_returns_the_result_and_the_303(
    client: t.Any, notes: list[str]
) -> None:
    result = call(client, "notes.add", {"title": "a"})
    assert (result.ok, result.status, result.data) == (True, 200, {"count": 1})
    assert result.response is not None and result.response.status_code == 303
    assert result.values == {"title": "a"}


def test_call_in_json_mode(client: t.Any, notes: list[str]) -> None:
    result = call(client, "notes.add", {"title": ""}, mode="json")
    assert (result.ok, result.status) == (False, 422)
    assert result.errors == {"title": ["Length must be between 1 and 50."]}
    assert result.response is not None and result.response.is_json
    assert notes == []


def test_call_reports_rejections_before_any_action(
    client: t.Any, notes: list[str]
) -> None:
    for mode in ("form", "json"):
        result = call(
            client,
            "notes.add",
            {"title": "x"},
            mode=t.cast(t.Any, mode),
            headers={"Origin": "https://evil.example"},
        )
        assert (result.ok, result.status) == (False, 403)
        assert "another site" in (result.message or "")
    assert notes == []


def test_call_keeps_the_clients_session_token(client: t.Any, notes: list[str]) -> None:
    first = call(client, "notes.add", {"title": "one"})
    second = call(client, "notes.add", {"title": "two"})
    assert first.ok and second.ok and notes == ["one", "two"]
