from __future__ import annotations

import time

import pytest

from flask_actions.crypto import b64decode
from flask_actions.crypto import b64encode
from flask_actions.crypto import BadToken
from flask_actions.crypto import KeyRing
from flask_actions.crypto import TokenExpired


def test_ids_are_stable_across_key_rings_and_differ_by_secret() -> None:
    a1, a2, b = KeyRing(["secret-a"]), KeyRing(["secret-a"]), KeyRing(["secret-b"])
    assert a1.action_id("todos.add") == a2.action_id("todos.add")
    assert a1.action_id("todos.add") != b.action_id("todos.add")
    assert a1.action_id("todos.add") != a1.action_id("todos.toggle")


def test_ids_reveal_nothing_of_the_name() -> None:
    action_id = KeyRing(["s"]).action_id("todos.add")
    assert len(action_id) == 22
    assert "todos" not in action_id and "add" not in action_id.lower()


def test_seal_and_unseal_round_trip() -> None:
    ring = KeyRing(["s"])
    token = ring.seal("bound", b"[1,2]", b"todos.toggle")
    assert ring.unseal("bound", token, b"todos.toggle") == b"[1,2]"
    assert token != ring.seal("bound", b"[1,2]", b"todos.toggle"), (
        "fresh nonce each time"
    )


@pytest.mark.parametrize(
    ("purpose", "context"), [("bound", b"todos.delete"), ("result", b"todos.toggle")]
)
def test_tokens_only_open_for_their_purpose_and_context(
    purpose: str, context: bytes
) -> None:
    ring = KeyRing(["s"])
    token = ring.seal("bound", b"[1]", b"todos.toggle")
    with pytest.raises(BadToken) as info:
        ring.unseal(purpose, token, context)
    assert info.value.reason == "invalid"


def test_every_tampered_byte_is_detected() -> None:
    ring = KeyRing(["s"])
    raw = bytearray(b64decode(ring.seal("bound", b"[42]", b"a")))
    for i in range(len(raw)):
        changed = bytearray(raw)
        changed[i] ^= 0x01
        with pytest.raises(BadToken):
            ring.unseal("bound", b64encode(bytes(changed)), b"a")


@pytest.mark.parametrize("token", ["", "%%%", "AAAA", "A" * 40, "é"])
def test_malformed_tokens(token: str) -> None:
    with pytest.raises(BadToken) as info:
        KeyRing(["s"]).unseal("bound", token, b"a")
    assert info.value.reason in ("malformed", "invalid")


def test_rotation_opens_old_tokens_only_while_the_old_key_is_listed() -> None:
    old = KeyRing(["old"])
    token = old.seal("bound", b"[1]", b"a")
    assert KeyRing(["new", "old"]).unseal("bound", token, b"a") == b"[1]"
    with pytest.raises(BadToken):
        KeyRing(["new"]).unseal("bound", token, b"a")
    rotated = KeyRing(["new", "old"])
    assert rotated.action_id("x", 1) == old.action_id("x")


def test_max_age_expires_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    ring = KeyRing(["s"])
    token = ring.seal("bound", b"[1]", b"a")
    assert ring.unseal("bound", token, b"a", max_age=60) == b"[1]"
    later = time.time() + 61
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(TokenExpired) as info:
        ring.unseal("bound", token, b"a", max_age=60)
    # An expired token is a bad token that says when it was sealed.
    assert isinstance(info.value, BadToken)
    assert 61 <= later - info.value.issued < 63
    assert info.value.max_age == 60


def test_a_forged_token_is_not_an_expired_one() -> None:
    token = KeyRing(["s"]).seal("bound", b"[1]", b"a")
    with pytest.raises(BadToken) as info:
        KeyRing(["other"]).unseal("bound", token, b"a", max_age=60)
    assert not isinstance(info.value, TokenExpired)


def test_a_key_ring_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="non-empty secret"):
        KeyRing([""])
