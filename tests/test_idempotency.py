"""Submission keys: one intent, one effect (``docs/idempotency.md``).

The embedded store (SQLite in a temporary file) through the test client;
Redis, outages and real servers are in ``test_idempotency_redis.py`` and
``test_idempotency_servers.py``, browsers in ``test_idempotency_browser.py``.
"""

from __future__ import annotations

import html
import logging
import re
import threading
import time
import typing as t
from pathlib import Path

import pytest
from flask import Flask
from flask import render_template_string
from flask import session
from flask.testing import FlaskClient
from marshmallow import fields
from marshmallow import Schema
from marshmallow import validate

from flask_actions import ActionBlueprint
from flask_actions import ActionError
from flask_actions import ActionExtension
from flask_actions import keep_changes
from flask_actions import redirect
from flask_actions import set_cookie
from flask_actions import wire
from flask_actions.claims import SQLiteStore
from flask_actions.claims import TableStore

ORIGIN = {"Origin": "http://localhost"}
JSON = {**ORIGIN, "Accept": "application/json"}

PAGE = """{% import "flask_actions/macros.html" as fa %}<!doctype html>
<title>Shop</title>{{ fa.message() }}
{% call fa.form(action("shop.create"), id="create") %}
<input name="item" value="{{ fa.value('item') }}">{{ fa.errors('item') }}
<input name="quantity" value="{{ fa.value('quantity', 1) }}">
{{ fa.button(action("shop.fail"), "Inside") }}<button>Create</button>
{% endcall %}
<form method="post" id="hand">{{ fa.hidden(action("shop.fail")) }}<input name="item"></form>
<form id="buttons">{{ fa.button(action("shop.bump").bind(7), "Bump") }}
{{ fa.button(action("shop.bump").bind(7), "Ask", confirm="Sure?") }}</form>
{% call fa.form(action("shop.plain"), id="plain") %}<button>Plain</button>{% endcall %}
{% call fa.form(action("shop.sign_in"), id="sign-in") %}<button>Sign in</button>{% endcall %}
<ul>{% for row in rows %}<li>{{ row }}</li>{% endfor %}</ul>
"""


class OrderSchema(Schema):
    item = fields.Str(required=True, validate=validate.Length(min=1))
    quantity = fields.Int(load_default=1)


@pytest.fixture
def shop(tmp_path: Path) -> Flask:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="idempotency tests secret " * 2,
        TESTING=True,
        ACTIONS_IDEMPOTENCY_PATH=str(tmp_path / "keys.sqlite3"),
        ACTIONS_IDEMPOTENCY_MAX_ENTRIES=1000,  # a small table: 1 MiB written
        ACTIONS_IDEMPOTENCY_WAIT=5,
    )
    ActionExtension(app)
    bp = ActionBlueprint("shop", __name__)
    rows: list[str] = []
    app.extensions["rows"] = rows
    gate = app.extensions["gate"] = threading.Event()
    gate.set()

    @bp.route("/")
    def index() -> str:
        return render_template_string(PAGE, rows=rows)

    @bp.route("/done")
    def done() -> str:
        return render_template_string(
            "{% import 'flask_actions/macros.html' as fa %}{{ fa.message() }}"
        )

    @bp.action(schema=OrderSchema)
    def create(data: dict[str, t.Any]) -> dict[str, int]:
        gate.wait(10)
        if data["item"] == "crash":
            raise RuntimeError("the database went away")
        if data["item"] == "refuse":
            raise ActionError("Out of stock.", status=409)
        if data["item"] == "charged":
            rows.append("charged")
            keep_changes()
            raise ActionError("Charged, but the receipt failed.")
        rows.append(data["item"])
        if data["item"] == "go":
            redirect("/done")
        return {"id": len(rows)}

    @bp.action
    def fail(item: str = "") -> None:
        raise ActionError("Never.")

    @bp.action
    def bump(n: int) -> int:
        rows.append(f"bump {n}")
        return len(rows)

    @bp.action(idempotent=False)
    def plain() -> None:
        rows.append("plain")

    @bp.action
    def sign_in() -> None:
        rows.append("signed in")
        session["user"] = "ada"
        set_cookie("theme", "dark")

    app.register_blueprint(bp)
    return app


@pytest.fixture
def rows(shop: Flask) -> list[str]:
    return t.cast(list[str], shop.extensions["rows"])


def hidden_fields(page: str, form_id: str) -> dict[str, str]:
    """The hidden inputs of the form with ``form_id``."""
    match = re.search(rf'<form[^>]*id="{form_id}".*?</form>', page, re.S)
    assert match, f"no form {form_id}"
    inputs = re.findall(
        r'<input type="hidden" name="([^"]+)" value="([^"]*)">', match.group(0)
    )
    return {name: html.unescape(value) for name, value in inputs}


def button_value(page: str, label: str) -> str:
    match = re.search(rf'<button[^>]*value="([^"]*)"[^>]*>{label}</button>', page)
    assert match, f"no button {label}"
    return html.unescape(match.group(1))


def order_form(client: FlaskClient, **typed: str) -> dict[str, str]:
    page = client.get("/").get_data(as_text=True)
    return {**hidden_fields(page, "create"), "item": "tea", "quantity": "1", **typed}


# --- what the macros render -------------------------------------------------


def test_every_form_and_lone_button_carries_its_own_key(client_: FlaskClient) -> None:
    page = client_.get("/").get_data(as_text=True)
    keys = [
        hidden_fields(page, "create")["_submission"],
        hidden_fields(page, "hand")["_submission"],
        button_value(page, "Bump").split("~")[3],
        button_value(page, "Ask").split("~")[3],
    ]
    assert all(len(key) >= 40 for key in keys)
    assert len(set(keys)) == 4
    # A button inside an fa.form is not a form of its own: REF only.
    assert "~" not in button_value(page, "Inside")
    # An action declared idempotent=False carries none.
    assert "_submission" not in hidden_fields(page, "plain")
    # A new page, new keys.
    again = client_.get("/").get_data(as_text=True)
    assert hidden_fields(again, "create")["_submission"] != keys[0]


@pytest.fixture
def client_(shop: Flask) -> FlaskClient:
    return shop.test_client()


# --- duplicates -------------------------------------------------------------


def test_a_form_sent_twice_runs_once_and_both_get_the_same_303(
    client_: FlaskClient, rows: list[str]
) -> None:
    form = order_form(client_, item="go")
    first = client_.post("/", data=form, headers=ORIGIN)
    second = client_.post("/", data=form, headers=ORIGIN)
    assert rows == ["go"]
    assert first.status_code == second.status_code == 303
    assert first.location == second.location == "/done"
    # The page the second one leads to shows the result, as the first's did.
    assert "flask_actions_result" in second.headers["Set-Cookie"]


def test_a_duplicate_call_gets_the_same_json(
    client_: FlaskClient, rows: list[str]
) -> None:
    form = order_form(client_)
    answers = [client_.post("/", data=form, headers=JSON).get_json() for _ in range(3)]
    assert rows == ["tea"]
    assert answers[0] == answers[1] == answers[2]
    assert answers[0]["data"] == {"id": 1}


def test_the_same_key_with_other_values_is_refused_and_keeps_them(
    client_: FlaskClient, rows: list[str]
) -> None:
    form = order_form(client_)
    client_.post("/", data=form, headers=ORIGIN)
    other = client_.post("/", data={**form, "item": "coffee"}, headers=ORIGIN)
    assert rows == ["tea"]
    assert other.status_code == 422
    page = other.get_data(as_text=True)
    assert "This form was already sent, with other values" in page
    assert 'value="coffee"' in page
    # The page it shows has a new key: sending it again is a new order.
    again = client_.post(
        "/", data={**hidden_fields(page, "create"), "item": "coffee"}, headers=ORIGIN
    )
    assert again.status_code == 303
    assert rows == ["tea", "coffee"]


def test_a_button_outside_a_form_runs_once(
    client_: FlaskClient, rows: list[str]
) -> None:
    page = client_.get("/").get_data(as_text=True)
    pressed = {"_button": button_value(page, "Bump")}
    first = client_.post("/", data=pressed, headers=JSON).get_json()
    second = client_.post("/", data=pressed, headers=JSON).get_json()
    assert rows == ["bump 7"]
    assert first == second


def test_a_confirming_button_asks_without_using_its_key(
    client_: FlaskClient, rows: list[str]
) -> None:
    page = client_.get("/").get_data(as_text=True)
    asking = client_.post(
        "/", data={"_button": button_value(page, "Ask")}, headers=ORIGIN
    )
    assert "Sure?" in asking.get_data(as_text=True) and rows == []
    confirmed = button_value(asking.get_data(as_text=True), "Ask")
    for _ in range(2):
        client_.post("/", data={"_button": confirmed}, headers=ORIGIN)
    assert rows == ["bump 7"]


def test_a_script_call_key_is_reused_by_its_retries(
    shop: Flask, client_: FlaskClient, rows: list[str]
) -> None:
    headers = call_headers(client_, "shop.create", "call-1-abcdef")
    answers = [
        client_.post("/", json={"item": "tea"}, headers=headers).get_json()
        for _ in range(2)
    ]
    assert rows == ["tea"] and answers[0] == answers[1]
    # A new call, a new key: it runs.
    headers["Idempotency-Key"] = "call-2-abcdef"
    client_.post("/", json={"item": "tea"}, headers=headers)
    assert rows == ["tea", "tea"]


def call_headers(client: FlaskClient, name: str, key: str) -> dict[str, str]:
    page = client.get("/").get_data(as_text=True)
    token = hidden_fields(page, "create")["csrf_token"]
    with client.application.test_request_context():
        from flask_actions.templating import action

        ref = action(name).ref
    return {
        **JSON,
        "X-Action": ref,
        "X-Flask-Actions": "call",
        "X-CSRFToken": token,
        "Idempotency-Key": key,
    }


def test_client_keys_of_two_users_never_meet(shop: Flask, rows: list[str]) -> None:
    alice, bob = shop.test_client(), shop.test_client()
    a = alice.post(
        "/",
        json={"item": "a"},
        headers=call_headers(alice, "shop.create", "same-key-123"),
    )
    b = bob.post(
        "/",
        json={"item": "b"},
        headers=call_headers(bob, "shop.create", "same-key-123"),
    )
    assert rows == ["a", "b"]
    assert a.get_json()["data"] == {"id": 1} and b.get_json()["data"] == {"id": 2}


@pytest.mark.parametrize("header", ["", "x" * 256, "caf\u00e9-key", "tab\there"])
def test_an_unusable_idempotency_key_header_is_a_400(
    client_: FlaskClient, rows: list[str], header: str
) -> None:
    headers = call_headers(client_, "shop.create", "k")
    headers["Idempotency-Key"] = header
    response = client_.post("/", json={"item": "tea"}, headers=headers)
    assert response.status_code == 400
    assert "Idempotency-Key header" in response.get_json()["message"]
    assert rows == []


# --- failures release the key, or keep it when they changed something -------


def test_a_validation_failure_releases_the_key(
    client_: FlaskClient, rows: list[str]
) -> None:
    form = order_form(client_, item="")
    assert client_.post("/", data=form, headers=ORIGIN).status_code == 422
    corrected = client_.post("/", data={**form, "item": "tea"}, headers=ORIGIN)
    assert corrected.status_code == 303 and rows == ["tea"]


@pytest.mark.parametrize(("item", "status"), [("refuse", 409), ("crash", 500)])
def test_a_refusal_or_a_crash_releases_the_key(
    client_: FlaskClient, rows: list[str], item: str, status: int
) -> None:
    form = order_form(client_, item=item)
    assert client_.post("/", data=form, headers=JSON).status_code == status
    assert client_.post("/", data=form, headers=JSON).status_code == status
    fixed = client_.post("/", data={**form, "item": "tea"}, headers=JSON)
    assert fixed.status_code == 200 and rows == ["tea"]


def test_a_failure_that_kept_its_changes_is_the_outcome(
    client_: FlaskClient, rows: list[str]
) -> None:
    form = order_form(client_, item="charged")
    first = client_.post("/", data=form, headers=JSON)
    second = client_.post("/", data=form, headers=JSON)
    assert rows == ["charged"]
    assert first.status_code == second.status_code == 400
    assert first.get_json() == second.get_json()


# --- keys that do not count ---------------------------------------------------


def test_a_forged_key_is_refused_with_the_form_back(
    client_: FlaskClient, rows: list[str]
) -> None:
    form = order_form(client_)
    key = form["_submission"]
    form["_submission"] = ("B" if key[0] != "B" else "C") + key[1:]
    response = client_.post("/", data=form, headers=ORIGIN)
    assert response.status_code == 400 and rows == []
    page = response.get_data(as_text=True)
    assert "hidden data was changed or belongs to another form" in page
    assert 'value="tea"' in page
    assert hidden_fields(page, "create")["_submission"] != form["_submission"]


def test_a_key_of_another_action_is_refused(
    client_: FlaskClient, rows: list[str]
) -> None:
    page = client_.get("/").get_data(as_text=True)
    form = order_form(client_)
    form["_submission"] = hidden_fields(page, "hand")["_submission"]
    response = client_.post("/", data=form, headers=JSON)
    assert response.status_code == 400 and rows == []
    assert response.get_json()["reason"] == "bad_submission_key"


@pytest.mark.parametrize("key", ["", "garbage", "a.b.c", "x" * 5000, "AAAA.1"])
def test_malformed_keys_never_500(
    client_: FlaskClient, rows: list[str], key: str
) -> None:
    form = order_form(client_)
    form["_submission"] = key
    response = client_.post("/", data=form, headers=JSON)
    # An empty field is no key (the form runs); anything else is refused.
    assert response.status_code == (200 if key == "" else 400)


def test_an_expired_key_is_refused_as_too_old(
    shop: Flask, client_: FlaskClient, rows: list[str]
) -> None:
    form = order_form(client_)
    shop.config["ACTIONS_IDEMPOTENCY_TTL"] = -1
    response = client_.post("/", data=form, headers=ORIGIN)
    assert response.status_code == 400 and rows == []
    page = response.get_data(as_text=True)
    assert "too old to tell whether this form was already sent" in page
    assert 'value="tea"' in page


def test_a_key_from_another_session_is_its_own(shop: Flask, rows: list[str]) -> None:
    """Another session's copy of a key never sees the first one's outcome:
    keys are scoped by session (with CSRF on, its token fails first anyway)."""
    shop.config["WTF_CSRF_ENABLED"] = False
    alice, mallory = shop.test_client(), shop.test_client()
    form = order_form(alice, item="alice's")
    alice.post("/", data=form, headers=JSON)
    mallory.get("/")
    copied = mallory.post("/", data={**form, "item": "mallory's"}, headers=JSON)
    assert copied.status_code == 200
    assert copied.get_json()["data"] == {"id": 2}
    assert rows == ["alice's", "mallory's"]


def test_idempotent_false_and_the_global_switch(
    shop: Flask, client_: FlaskClient, rows: list[str]
) -> None:
    page = client_.get("/").get_data(as_text=True)
    plain = hidden_fields(page, "plain")
    client_.post("/", data=plain, headers=ORIGIN)
    client_.post("/", data=plain, headers=ORIGIN)
    assert rows == ["plain", "plain"]

    shop.config["ACTIONS_IDEMPOTENCY"] = False
    form = order_form(client_)
    assert "_submission" not in form
    client_.post("/", data=form, headers=ORIGIN)
    client_.post("/", data=form, headers=ORIGIN)
    assert rows[2:] == ["tea", "tea"]


# --- a duplicate that arrives while the first still runs ---------------------


def test_a_duplicate_waits_for_the_first_and_answers_the_same(
    shop: Flask, rows: list[str]
) -> None:
    gate: threading.Event = shop.extensions["gate"]
    client = shop.test_client()
    form = order_form(client)
    gate.clear()
    answers: list[t.Any] = [None, None]

    def send(index: int) -> None:
        answers[index] = twin(client).post("/", data=form, headers=JSON)

    first = threading.Thread(target=send, args=(0,))
    first.start()
    time.sleep(0.3)  # the first has claimed the key and waits at the gate
    second = threading.Thread(target=send, args=(1,))
    second.start()
    time.sleep(0.3)
    assert rows == []  # neither ran yet
    gate.set()
    first.join(10)
    second.join(10)
    assert rows == ["tea"]
    assert answers[0].get_json() == answers[1].get_json()


def test_a_duplicate_that_waits_too_long_is_told_to_check(
    shop: Flask, rows: list[str]
) -> None:
    shop.config["ACTIONS_IDEMPOTENCY_WAIT"] = 0.2
    gate: threading.Event = shop.extensions["gate"]
    client = shop.test_client()
    form = order_form(client)
    gate.clear()
    first = threading.Thread(
        target=lambda: twin(client).post("/", data=form, headers=ORIGIN)
    )
    first.start()
    time.sleep(0.3)
    try:
        late = twin(client).post("/", data=form, headers=ORIGIN)
    finally:
        gate.set()
        first.join(10)
    assert late.status_code == 409
    page = late.get_data(as_text=True)
    assert "still being sent" in page and 'value="tea"' in page
    assert rows == ["tea"]


def test_a_claim_whose_process_died_ends_with_its_lease(
    shop: Flask, client_: FlaskClient, rows: list[str], tmp_path: Path
) -> None:
    """A worker killed mid-action leaves its claim: duplicates wait, then are
    told to check; once the lease is over, the key runs again."""
    shop.config.update(ACTIONS_IDEMPOTENCY_LEASE=0.5, ACTIONS_IDEMPOTENCY_WAIT=0.1)
    form = order_form(client_)
    from flask_actions import idempotency

    with shop.test_request_context(
        "/", method="POST", data=form, headers={"Cookie": _cookie(client_)}
    ):
        # What the dead worker did before dying: claim, never settle.
        from flask_actions.templating import action

        create = action("shop.create")
        req = wire.current_request()
        key = idempotency.read_key(shop, create, req, wire.is_form(req), "csrf_token")
        assert key is not None
        payload, values = wire.read_payload(create.schema, "csrf_token")
        submission = wire.Submission((), payload, values, "form", False)
        fingerprint = idempotency._fingerprint(create, submission)
        store = idempotency._state(shop).keeper.store(shop)
        assert store.claim(key, fingerprint, b"\1" * 16, 0.5) is None
    assert client_.post("/", data=form, headers=ORIGIN).status_code == 409
    time.sleep(0.6)
    assert client_.post("/", data=form, headers=ORIGIN).status_code == 303
    assert rows == ["tea"]


def twin(client: FlaskClient) -> FlaskClient:
    """Another client (for another thread) with the same session."""
    other = client.application.test_client()
    cookie = client.get_cookie("session")
    assert cookie is not None
    other.set_cookie("session", cookie.value)
    return other


def _cookie(client: FlaskClient) -> str:
    return f"session={client.get_cookie('session').value}"  # type: ignore[union-attr]


# --- the store -----------------------------------------------------------------


EmbeddedStore = SQLiteStore | TableStore


@pytest.fixture(params=["table", "sqlite"])
def embedded(request: pytest.FixtureRequest, tmp_path: Path) -> EmbeddedStore:
    """Each embedded store, bound to 10 entries: the table (the default)
    and SQLite (where the table cannot be)."""
    if request.param == "table":
        return TableStore(str(tmp_path / "keys"), max_entries=10, timeout=5)
    return SQLiteStore(str(tmp_path / "s.sqlite3"), max_entries=10, timeout=5)


def _over_the_bound(store: EmbeddedStore) -> int:
    """What the store does with records over its bound (SQLite purges them
    every minute, the table at once); the records it keeps at most."""
    if isinstance(store, SQLiteStore):
        store.purge()
        return store.max_entries
    return store.table.slots


def test_the_embedded_store_is_bounded(embedded: EmbeddedStore) -> None:
    store = embedded
    for n in range(30):
        key = n.to_bytes(4, "big")
        assert store.claim(key, b"f" * 32, b"o" * 16, lease=60) is None
        store.finish(key, b"o" * 16, b"f" * 32, b"outcome", ttl=60 + n)
    store.claim(b"expired", b"f" * 32, b"o" * 16, lease=-1)
    bound = _over_the_bound(store)
    kept = [n for n in range(30) if store.lookup(n.to_bytes(4, "big")) is not None]
    assert set(range(20, 30)) <= set(kept)  # the ones expiring last
    assert len(kept) <= bound < 30
    assert store.lookup(b"expired") is None


def test_a_full_store_keeps_the_claims_of_running_actions(
    embedded: EmbeddedStore,
) -> None:
    # Over the bound, kept outcomes go first: a running action's claim (its
    # lease ends before any outcome's TTL) must stay, or its duplicate runs.
    store = embedded
    for n in range(30):
        key = n.to_bytes(4, "big")
        assert store.claim(key, b"f" * 32, b"o" * 16, lease=60) is None
        store.finish(key, b"o" * 16, b"f" * 32, b"outcome", ttl=3600)
    running = [b"run" + bytes([n]) for n in range(5)]
    for key in running:
        assert store.claim(key, b"f" * 32, b"o" * 16, lease=60) is None
    _over_the_bound(store)
    for key in running:
        record = store.lookup(key)
        assert record is not None and record.outcome is None


def test_only_the_owner_settles_a_claim(embedded: EmbeddedStore) -> None:
    store = embedded
    assert store.claim(b"k", b"f" * 32, b"a" * 16, lease=60) is None
    store.finish(b"k", b"b" * 16, b"f" * 32, b"not mine", ttl=60)
    store.release(b"k", b"b" * 16)
    record = store.lookup(b"k")
    assert record is not None and record.outcome is None


def test_a_large_result_is_kept_as_done(
    shop: Flask, client_: FlaskClient, rows: list[str]
) -> None:
    form = order_form(client_, item="x" * 40_000)
    first = client_.post("/", data=form, headers=JSON).get_json()
    second = client_.post("/", data=form, headers=JSON).get_json()
    assert rows == ["x" * 40_000]
    assert first["ok"] and second["ok"] and second["status"] == 200


def test_an_unwritable_store_fails_open_with_one_warning(
    shop: Flask,
    client_: FlaskClient,
    rows: list[str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    shop.config["ACTIONS_IDEMPOTENCY_PATH"] = str(blocker / "keys.sqlite3")
    form = order_form(client_)
    with caplog.at_level(logging.WARNING, "flask_actions"):
        for _ in range(3):
            assert client_.post("/", data=form, headers=ORIGIN).status_code == 303
    assert rows == ["tea"] * 3  # run without protection, as the log says
    warnings = [r for r in caplog.records if "store of submission keys" in r.message]
    assert len(warnings) == 1
    assert "without protection against double submission" in warnings[0].message


def test_a_damaged_store_file_is_replaced_with_a_warning(
    shop: Flask,
    client_: FlaskClient,
    rows: list[str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """What a power cut or a stray write can leave (docs/idempotency.md): a
    table whose header fails its check is replaced with an empty one (the
    keys it held are forgotten), with a warning, and submissions are
    deduplicated at once: no outage, never a 500."""
    damaged = tmp_path / "keys"
    damaged.write_bytes(b"SQLite format 3\0" + b"\xff" * 8176)
    shop.config["ACTIONS_IDEMPOTENCY_PATH"] = str(damaged)
    form = order_form(client_)
    with caplog.at_level(logging.WARNING, "flask_actions"):
        for _ in range(2):
            assert client_.post("/", data=form, headers=ORIGIN).status_code == 303
    assert rows == ["tea"]
    warnings = [r.message for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert (
        "is damaged" in warnings[0] and "replaced with a new, empty one" in warnings[0]
    )


def test_a_damaged_sqlite_file_is_replaced_and_a_deleted_one_made_again(
    tmp_path: Path,
) -> None:
    """The SQLite store (where the table cannot be, and the table's large
    outcomes): a file SQLite cannot read is replaced with an empty one (it
    was an outage until deleted; tests/test_sqlite_store.py has the rest);
    deleting the file forgets the keys, and it works again."""
    damaged = tmp_path / "keys.sqlite3"
    damaged.write_bytes(b"SQLite format 3\0" + b"\xff" * 4080)
    store = SQLiteStore(str(damaged), max_entries=10, timeout=5)
    store.CHECK_INTERVAL = 0.0  # look at the path at every statement
    assert store.claim(b"k", b"f" * 32, b"o" * 16, lease=60) is None
    damaged.unlink()
    assert store.claim(b"k", b"f" * 32, b"o" * 16, lease=60) is None
    assert store.claim(b"k", b"f" * 32, b"p" * 16, lease=60) is not None


def test_a_duplicate_gets_the_session_and_cookies_the_first_left(
    shop: Flask, client_: FlaskClient, rows: list[str]
) -> None:
    """A double click without JavaScript: the browser drops the first
    answer (and its Set-Cookie) for the second. The duplicate's answer gives
    it what the first one did, so the user is signed in."""
    page = client_.get("/").get_data(as_text=True)
    form = hidden_fields(page, "sign-in")
    second_click = twin(client_)  # still holds the session from before
    client_.post("/", data=form, headers=ORIGIN)
    answer = second_click.post("/", data=form, headers=ORIGIN)
    assert rows == ["signed in"]
    assert answer.status_code == 303
    with second_click.session_transaction() as after:
        assert after["user"] == "ada"
    theme = second_click.get_cookie("theme")
    assert theme is not None and theme.value == "dark"


def test_a_late_duplicate_leaves_the_session_as_it_is(
    shop: Flask, client_: FlaskClient, rows: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Going back and sending again later: the session may have moved on
    (signed out since), so the duplicate does not bring the old one back."""
    from flask_actions import replay

    page = client_.get("/").get_data(as_text=True)
    form = hidden_fields(page, "sign-in")
    later = twin(client_)
    client_.post("/", data=form, headers=ORIGIN)
    monkeypatch.setattr(replay, "CARRY_EFFECTS_FOR", -1)
    assert later.post("/", data=form, headers=ORIGIN).status_code == 303
    assert rows == ["signed in"]
    with later.session_transaction() as after:
        assert "user" not in after


@pytest.mark.parametrize(
    ("switch", "idempotent", "cookie"),
    [(True, True, True), (False, True, False), (True, False, False)],
)
def test_without_csrf_only_a_page_with_keys_gets_a_session(
    tmp_path: Path, switch: bool, idempotent: bool, cookie: bool
) -> None:
    # With CSRF off a key is scoped by a secret of its own in the session;
    # a page whose forms carry no key must not give every visitor a session
    # cookie (a cost on each request after, and a page no longer anonymous).
    bp = ActionBlueprint("quiet", __name__)

    @bp.action(idempotent=idempotent)
    def ping() -> int:
        return 1

    app = Flask(__name__, instance_path=str(tmp_path))
    app.config.update(
        SECRET_KEY="k" * 40,
        TESTING=True,
        WTF_CSRF_ENABLED=False,
        ACTIONS_IDEMPOTENCY=switch,
    )
    ActionExtension(app)
    app.register_blueprint(bp)

    @app.get("/")
    def index() -> str:
        return render_template_string(
            '{% import "flask_actions/macros.html" as fa %}'
            '{% call fa.form(action("quiet.ping")) %}<button>Ping</button>{% endcall %}'
        )

    page = app.test_client().get("/")
    assert ("_submission" in page.text) is cookie
    assert ("Set-Cookie" in page.headers) is cookie


def test_without_csrf_visitors_without_a_session_never_share_an_outcome(
    tmp_path: Path,
) -> None:
    # A page from a cache (or a browser that keeps no cookie) sends a key
    # with nothing in its session to scope it by: two such visitors sending
    # the same key must each run the action, never get the other's outcome
    # (nor, within the minute, the other's session and cookies).
    bp = ActionBlueprint("shared", __name__)
    runs: list[int] = []

    @bp.action
    def like() -> int:
        runs.append(1)
        session["liked_by"] = len(runs)
        return len(runs)

    app = Flask(__name__, instance_path=str(tmp_path))
    app.config.update(SECRET_KEY="k" * 40, TESTING=True, WTF_CSRF_ENABLED=False)
    ActionExtension(app)
    app.register_blueprint(bp)

    @app.get("/")
    def index() -> str:
        return render_template_string(
            '{% import "flask_actions/macros.html" as fa %}'
            '{% call fa.form(action("shared.like")) %}<button>Like</button>{% endcall %}'
        )

    html_ = app.test_client().get("/").text  # rendered once, as a cache would
    fields_ = dict(re.findall(r'name="(_action|_submission)" value="([^"]*)"', html_))
    assert set(fields_) == {"_action", "_submission"}
    answers = []
    for _ in range(2):
        visitor = app.test_client()  # no session cookie
        answer = visitor.post("/", data=fields_, headers={"Origin": "http://localhost"})
        answers.append((answer.status_code, visitor.get_cookie("session")))
    assert len(runs) == 2
    assert answers[0][1] is not None and answers[1][1] is not None
    assert answers[0][1].value != answers[1][1].value


def test_a_hook_that_crashes_after_the_action_lets_the_key_go(tmp_path: Path) -> None:
    # A crash lets the key go: sending the form again runs it, instead of
    # waiting for the first (which will never answer) and getting a 409.
    bp = ActionBlueprint("audited", __name__)
    runs: list[int] = []

    @bp.action
    def save() -> int:
        runs.append(1)
        return len(runs)

    @bp.after_action
    def audit(action: t.Any, result: t.Any) -> None:
        if len(runs) == 1:
            raise RuntimeError("the audit log is down")

    app = Flask(__name__, instance_path=str(tmp_path))
    app.config.update(SECRET_KEY="k" * 40, TESTING=True, ACTIONS_IDEMPOTENCY_WAIT=0.5)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    ActionExtension(app)
    app.register_blueprint(bp)

    @app.get("/")
    def index() -> str:
        return render_template_string(
            '{% import "flask_actions/macros.html" as fa %}'
            '{% call fa.form(action("audited.save")) %}<button>Save</button>{% endcall %}'
        )

    client = app.test_client()
    page = client.get("/").text
    fields_ = dict(re.findall(r'name="(\w+)" value="([^"]*)"', page))
    headers = {"Origin": "http://localhost"}
    assert client.post("/", data=fields_, headers=headers).status_code == 500
    again = client.post("/", data=fields_, headers=headers)
    assert again.status_code == 303
    assert len(runs) == 2


def _key_minted_before_blake2b(secret: str, name: str) -> str:
    """A key as flask-actions minted it before its MAC was keyed BLAKE2b:
    HMAC-SHA256 (key derived by HKDF) over the issue time, nonce and action
    name, cut to 12 bytes."""
    import base64
    import hashlib
    import hmac
    import os
    import struct

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    derived = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"flask-actions",
        info=b"flask-actions/submission-key",
    ).derive(secret.encode())
    issued = struct.pack(">I12s", int(time.time()), os.urandom(12))
    mac = hmac.new(derived, issued + name.encode(), hashlib.sha256).digest()[:12]
    return base64.urlsafe_b64encode(issued + mac).rstrip(b"=").decode() + ".1"


def test_a_key_minted_before_the_mac_changed_still_counts(
    shop: Flask, client_: FlaskClient, rows: list[str]
) -> None:
    # A page rendered by the previous release, sent after the deploy: its
    # key is still checked and still claims (sent twice, it runs once).
    form = order_form(client_)
    secret = shop.config["SECRET_KEY"]
    form["_submission"] = _key_minted_before_blake2b(secret, "shop.create")
    for _ in range(2):
        assert client_.post("/", data=form, headers=ORIGIN).status_code == 303
    assert rows == ["tea"]
    # Of another action, or under another secret: refused as any forged key.
    for forged in (
        _key_minted_before_blake2b(secret, "shop.fail"),
        _key_minted_before_blake2b("another secret", "shop.create"),
    ):
        form["_submission"] = forged
        response = client_.post("/", data=form, headers=JSON)
        assert response.status_code == 400
        assert response.get_json()["reason"] == "bad_submission_key"
    assert rows == ["tea"]


def test_a_bucket_full_of_running_claims_refuses_only_its_own_keys(
    shop: Flask, client_: FlaskClient, rows: list[str]
) -> None:
    """Found in review: eight running claims in one bucket of the table
    (which a visitor who can read the session's CSRF secret can aim at)
    took the whole store down for ACTIONS_IDEMPOTENCY_RETRY_INTERVAL, so
    that every submission ran unprotected. Only that request goes
    unprotected (the outage policy, for it alone)."""
    from flask_actions import idempotency
    from flask_actions import slots

    headers = call_headers(client_, "shop.create", "warm-up")
    client_.post("/", json={"item": "warm-up"}, headers=headers)
    store = idempotency._state(shop).keeper.store(shop)
    buckets = store.table.slots // slots.BUCKET  # type: ignore[attr-defined]
    held = [
        (bucket.to_bytes(8, "little") + n.to_bytes(16, "big"), n.to_bytes(16, "big"))
        for bucket in range(buckets)
        for n in range(slots.BUCKET)
    ]
    for key, holder in held:
        store.claim(key, b"f" * 32, holder, lease=60)
    headers["Idempotency-Key"] = "full-bucket"
    answer = client_.post("/", json={"item": "unprotected"}, headers=headers)
    assert answer.status_code == 200 and "unprotected" in rows
    for key, holder in held:
        store.release(key, holder)
    # The store is still up: the next call's duplicate is caught.
    headers["Idempotency-Key"] = "after-the-full-bucket"
    for _ in range(2):
        client_.post("/", json={"item": "once"}, headers=headers)
    assert rows.count("once") == 1
