"""Destructive buttons ask first: ``confirm=`` on ``fa.button`` and
``fa.form``. Without JavaScript the first press answers with the page asking,
and the same button pressed again runs the action (``docs/templates.md``)."""

from __future__ import annotations

import pytest
from flask import Flask
from flask import render_template_string
from servers import SAME_ORIGIN

from flask_actions import ActionBlueprint
from flask_actions import ActionExtension
from flask_actions.signals import action_failed
from flask_actions.signals import action_succeeded
from flask_actions.testing import read_forms
from flask_actions.testing import submit

PAGE = """{% import "flask_actions/macros.html" as fa %}<!doctype html>
<ul>{% for card in cards %}<li id="card-{{ card }}">{{ card }}
<form method="post">
{{ fa.button(action("cards.delete").bind(card), "Delete", id="delete-%d" % card,
             confirm="Delete card %d?" % card) }}
{{ fa.button(action("cards.touch").bind(card), "Touch", id="touch-%d" % card) }}
</form></li>{% endfor %}</ul>
{% call fa.form(action("cards.clear"), id="clear", confirm="Delete every card?") %}
  {{ fa.message() }}<button id="clear-button">Clear</button>
{% endcall %}"""


def make_app() -> tuple[Flask, list[int], list[str]]:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="confirm secret " * 3, TESTING=True)
    ActionExtension(app)
    bp = ActionBlueprint("cards", __name__)
    cards = [1, 2, 3]
    signals: list[str] = []

    @bp.route("/")
    def index() -> str:
        return render_template_string(PAGE, cards=cards)

    @bp.action
    def delete(card: int) -> None:
        cards.remove(card)

    @bp.action
    def touch(card: int) -> None: ...

    @bp.action
    def clear() -> None:
        cards.clear()

    app.register_blueprint(bp)
    action_succeeded.connect(lambda s, **kw: signals.append("ok"), app, weak=False)
    action_failed.connect(lambda s, **kw: signals.append("failed"), app, weak=False)
    return app, cards, signals


def test_confirm_renders_the_question_for_the_script() -> None:
    app, _, _ = make_app()
    html = app.test_client().get("/").text
    assert 'data-fa-confirm="Delete card 2?"' in html
    assert 'data-fa-confirm="Delete every card?"' in html
    assert 'id="touch-1"' in html and html.count("data-fa-confirm") == 4


def test_the_first_press_asks_and_the_same_button_pressed_again_runs_it() -> None:
    app, cards, signals = make_app()
    client = app.test_client()
    page = client.get("/").text
    asked = submit(client, page, button="#delete-2")
    assert asked.response is not None and asked.response.status_code == 200
    assert cards == [1, 2, 3], "nothing runs on the first press"
    assert signals == [], "nothing happened: no signal"
    assert asked.page is not None
    assert "Delete card 2?" in asked.page
    assert 'role="alert"' in asked.page
    again = submit(client, asked.page, button="#delete-2")
    assert again.ok
    assert cards == [1, 3] and signals == ["ok"]


def test_confirming_one_button_does_not_confirm_another() -> None:
    app, cards, _ = make_app()
    client = app.test_client()
    asked = submit(client, client.get("/").text, button="#delete-2")
    assert asked.page is not None
    other = submit(client, asked.page, button="#delete-3")
    assert other.page is not None and "Delete card 3?" in other.page
    assert cards == [1, 2, 3]


def test_a_button_without_confirm_runs_at_once() -> None:
    app, _, signals = make_app()
    client = app.test_client()
    touched = submit(client, client.get("/").text, button="#touch-1")
    assert touched.ok and signals == ["ok"]


def test_a_form_with_confirm_asks_with_its_question_first() -> None:
    app, cards, _ = make_app()
    client = app.test_client()
    asked = submit(client, client.get("/").text, form="#clear")
    assert asked.page is not None and "Delete every card?" in asked.page
    assert cards == [1, 2, 3]
    forms = read_forms(asked.page)
    clear = next(f for f in forms if f.id == "clear")
    assert clear.value("_confirmed") == "1"
    done = submit(client, asked.page, form="#clear")
    assert done.ok and cards == []


@pytest.mark.parametrize("how", ["field", "button"])
def test_the_script_confirms_with_a_field(how: str) -> None:
    """What the script sends after its dialog: the form as it is, and
    ``_confirmed=1``."""
    app, cards, _ = make_app()
    client = app.test_client()
    forms = read_forms(client.get("/"))
    if how == "field":
        form = next(f for f in forms if f.id == "clear")
        sent = {c.name: c.value for c in form.controls if c.name}
    else:
        form = next(
            f for f in forms if any(b.attrs.get("id") == "delete-2" for b in f.buttons)
        )
        button = next(b for b in form.buttons if b.attrs.get("id") == "delete-2")
        sent = {c.name: c.value for c in form.controls if c.name}
        sent[button.name] = button.value
    response = client.post("/", data={**sent, "_confirmed": "1"}, headers=SAME_ORIGIN)
    assert response.status_code == 303
    assert cards == ([] if how == "field" else [1, 3])


def test_an_enhanced_submission_not_yet_confirmed_says_so_in_json() -> None:
    app, cards, _ = make_app()
    client = app.test_client()
    form = next(f for f in read_forms(client.get("/")) if f.id == "clear")
    sent = {c.name: c.value for c in form.controls if c.name}
    response = client.post(
        "/",
        data=sent,
        headers={
            **SAME_ORIGIN,
            "X-Flask-Actions": "form",
            "Accept": "application/json",
        },
    )
    body = response.get_json()
    assert body["awaiting_confirmation"] is True and body["ok"] is False
    assert body["message"] == "Delete every card?"
    assert 'name="_confirmed" value="1"' in body["html"]
    assert cards == [1, 2, 3]
