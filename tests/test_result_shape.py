"""The JSON an action answers has the keys the TypeScript ``ActionResult``
declares (``flask actions schema --format typescript``), for every kind of
answer: success, validation failure, ActionError, rejection, the enhanced
form's page and its renewable rejection; and every key it declares is sent."""

from __future__ import annotations

import re
import typing as t

from flask import Flask
from marshmallow import fields
from servers import SAME_ORIGIN

from flask_actions import ActionBlueprint
from flask_actions import ActionError
from flask_actions import ActionExtension
from flask_actions.schema_export import typescript
from flask_actions.testing import call
from flask_actions.testing import prepare


def _declared() -> tuple[set[str], set[str]]:
    """The required and the optional keys of the TypeScript ActionResult."""
    text = typescript([])
    body = re.search(r"export interface ActionResult<[^{]*\{(.*?)\n\}", text, re.S)
    assert body is not None
    required, optional = set(), set()
    for name, mark in re.findall(r"^\s+(\w+)(\??):", body.group(1), re.M):
        (optional if mark else required).add(name)
    return required, optional


def _app() -> tuple[Flask, t.Any, t.Any]:
    bp = ActionBlueprint("shape", __name__)

    @bp.action(schema={"n": fields.Int(required=True)})
    def add(data: dict[str, int]) -> int:
        return data["n"]

    @bp.action
    def refuse() -> None:
        raise ActionError("No.", status=403)

    @bp.route("/", methods=["GET"])
    def index() -> str:
        return "<p>page</p>"

    app = Flask(__name__)
    app.config.update(SECRET_KEY="the result shape tests " * 2, TESTING=True)
    ActionExtension(app)
    app.register_blueprint(bp)
    return app, add, refuse


def _answers() -> list[dict[str, object]]:
    app, add, refuse = _app()
    client = app.test_client()
    answers = [
        call(client, add, {"n": "1"}, mode="json").response.json,
        call(client, add, {"n": "x"}, mode="json").response.json,
        call(client, refuse, mode="json").response.json,
    ]
    # A rejection (an unknown action) answers in JSON too.
    rejected = client.post(
        "/",
        data={"_action": "nonsense"},
        headers={**SAME_ORIGIN, "Accept": "application/json"},
    )
    answers.append(rejected.get_json())
    # The script's enhanced form: the page in the answer, and a renewable
    # rejection (an expired CSRF token) with its reason and a fresh token.
    ref, csrf, origin = prepare(client, add)
    enhanced = {
        "Origin": origin,
        "X-Flask-Actions": "form",
        "Accept": "application/json",
    }
    for token in (csrf, "expired"):
        answer = client.post(
            "/", data={"_action": ref, "csrf_token": token, "n": "2"}, headers=enhanced
        )
        answers.append(answer.get_json())
    return [a for a in answers if a is not None]


def test_every_json_answer_has_the_keys_typescript_declares() -> None:
    required, optional = _declared()
    answers = _answers()
    assert len(answers) == 6
    for answer in answers:
        keys = set(answer)
        assert required <= keys, (required - keys, answer)
        assert keys <= required | optional, (keys - required - optional, answer)
    # Every key declared is one that some answer sends.
    sent = set().union(*map(set, answers))
    assert required | optional == sent, (required | optional) - sent
    assert answers[-1]["reason"] == "csrf" and "code" not in answers[-1]
