"""Messages in the user's language (``flask_actions/messages.py``): with a
real Flask-Babel and a French catalogue compiled here with Babel, marshmallow's
messages and the extension's own come out in French, per-field messages too;
without Flask-Babel, English, and flask_babel is never imported."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import typing as t
from pathlib import Path

import pytest
from flask import Flask
from flask import request
from marshmallow import fields
from marshmallow import validate

from flask_actions import ActionBlueprint
from flask_actions import ActionExtension
from flask_actions.message_catalog import message_ids
from flask_actions.messages import CRASHED
from flask_actions.testing import call
from flask_actions.testing import prepare

flask_babel = pytest.importorskip("flask_babel")
babel_messages = pytest.importorskip("babel.messages")

TOO_LARGE = (
    "The submission is {size}, more than the {limit} an action accepts. Send"
    " less data (smaller files)."
)
NO_ORIGIN = (
    "This request comes from a page without an origin (Origin: null, for"
    " example a sandboxed frame), so it cannot run an action."
)
FRENCH = {
    "Missing data for required field.": "Donnée obligatoire manquante.",
    "Length must be between {min} and {max}.": "La longueur doit être entre {min} et {max}.",
    "Not a valid email address.": "Adresse e-mail invalide.",
    "Not a valid integer.": "Nombre entier invalide.",
    "Tell us your name.": "Dites-nous votre nom.",
    TOO_LARGE: "L'envoi fait {size}, plus que les {limit} acceptés.",
    NO_ORIGIN: "Cette requête vient d'une page sans origine.",
    CRASHED: "Une erreur est survenue de notre côté (référence {reference}).",
}


def compile_catalogue(folder: Path, language: str, texts: dict[str, str]) -> None:
    """Write ``flask_actions.mo`` for ``language`` under ``folder``, from a
    catalogue made with Babel as ``pybabel compile`` would."""
    from babel.messages.catalog import Catalog
    from babel.messages.mofile import write_mo

    catalogue = Catalog(locale=language, domain="flask_actions")
    for message_id, text in texts.items():
        catalogue.add(message_id, text)
    target = folder / language / "LC_MESSAGES"
    target.mkdir(parents=True)
    with (target / "flask_actions.mo").open("wb") as out:
        write_mo(out, catalogue)


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    compile_catalogue(tmp_path, "fr", FRENCH)
    bp = ActionBlueprint("people", __name__)

    @bp.route("/")
    def index() -> str:
        return "people"

    schema = {
        "name": fields.Str(
            required=True,
            validate=validate.Length(min=3, max=30),
            error_messages={"required": "Tell us your name."},
        ),
        "email": fields.Email(required=True),
        "age": fields.Int(),
        # Left out of live checks: the live schema is a copy without it,
        # which must keep the translations.
        "referral": fields.Str(metadata={"live": False}),
    }

    @bp.action(schema=schema)
    def add(data: dict[str, t.Any]) -> None:
        return None

    @bp.action
    def crash() -> None:
        raise RuntimeError("boom")

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="a secret of the i18n tests, 32 bytes+",
        BABEL_TRANSLATION_DIRECTORIES=str(tmp_path),
        ACTIONS_MAX_CONTENT_LENGTH=2000,
    )
    ActionExtension(app)
    flask_babel.Babel(app, locale_selector=lambda: request.args.get("lang", "fr"))
    app.register_blueprint(bp)
    return app


def test_marshmallow_messages_come_out_in_the_users_language(app: Flask) -> None:
    client = app.test_client()
    result = call(client, "people.add", {"name": "Al", "email": "x", "age": "old"})
    assert result.status == 422
    assert result.errors == {
        "name": ["La longueur doit être entre 3 et 30."],
        "email": ["Adresse e-mail invalide."],
        "age": ["Nombre entier invalide."],
    }
    result = call(client, "people.add", {}, mode="json")
    assert result.errors == {
        "name": ["Dites-nous votre nom."],  # a message given for the field
        "email": ["Donnée obligatoire manquante."],
    }


def test_another_locale_without_a_catalogue_stays_in_english(app: Flask) -> None:
    result = call(app.test_client(), "people.add", {"name": "Al"}, page="/?lang=de")
    assert result.errors == {
        "name": ["Length must be between 3 and 30."],
        "email": ["Missing data for required field."],
    }


def test_live_checks_answer_in_the_users_language(app: Flask) -> None:
    client = app.test_client()
    ref, token, origin = prepare(client, "people.add", "/")
    response = client.post(
        "/",
        data={"_action": ref, "csrf_token": token, "name": "Al", "email": "a@b.co"},
        headers={"Origin": origin, "X-Flask-Actions": "validate"},
    )
    assert response.status_code == 422
    assert response.json["errors"] == {"name": ["La longueur doit être entre 3 et 30."]}


def test_the_extensions_own_messages_come_out_translated(app: Flask) -> None:
    client = app.test_client()
    ref, token, _origin = prepare(client, "people.add", "/")
    # Refused: a page without an origin (a sandboxed frame).
    headers = {"Origin": "null", "Accept": "application/json"}
    json = client.post("/", data={"_action": ref}, headers=headers).json
    assert json["message"] == FRENCH[NO_ORIGIN]
    page = client.post("/", data={"_action": ref}, headers={"Origin": "null"}).text
    assert "<p>Cette requête vient d&#39;une page sans origine.</p>" in page
    # 413, from a script (JSON) and from a page of this site (the form again).
    big = {"_action": ref, "csrf_token": token, "name": "x" * 3000}
    headers = {"Origin": "http://localhost", "X-Flask-Actions": "form"}
    response = client.post("/", data=big, headers=headers)
    assert response.status_code == 413
    assert (
        response.json["message"] == "L'envoi fait 3.1 KiB, plus que les 2 KiB acceptés."
    )
    # A crash outside debug mode.
    app.testing = False
    result = call(client, "people.crash")
    assert result.status == 500
    assert result.message == (
        f"Une erreur est survenue de notre côté (référence {result.reference})."
    )


def test_message_ids_list_what_a_catalogue_translates() -> None:
    ids = message_ids()
    for message_id in FRENCH:
        if message_id != "Tell us your name.":  # the app's own
            assert message_id in ids
    assert "The file is too large: the limit is {limit}." in ids
    assert len(ids) == len(set(ids))


def test_without_flask_babel_messages_are_english_and_it_is_never_imported() -> None:
    code = textwrap.dedent(
        """
        import sys
        sys.modules["flask_babel"] = None  # any import of it fails
        from flask import Flask
        from marshmallow import fields
        from flask_actions import ActionExtension
        from flask_actions.testing import call

        actions = ActionExtension()

        @actions.action(schema={"name": fields.Str(required=True)})
        def add(data):
            return None

        app = Flask(__name__)
        app.config.update(SECRET_KEY="a secret of the no-babel test, 32+", TESTING=True)
        actions.init_app(app)
        result = call(app.test_client(), add, {})
        assert result.errors == {"name": ["Missing data for required field."]}, result
        print("english")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == "english", done.stderr


def test_two_apps_keep_their_own_catalogues(app: Flask, tmp_path: Path) -> None:
    other_folder = tmp_path / "other"
    compile_catalogue(
        other_folder, "fr", {"Not a valid email address.": "Ce n'est pas une adresse."}
    )
    other = Flask(__name__)
    other.config.update(
        SECRET_KEY="a secret of the second i18n app, 32+",
        TESTING=True,
        BABEL_TRANSLATION_DIRECTORIES=str(other_folder),
    )
    actions = ActionExtension(other)

    @actions.action(schema={"email": fields.Email(required=True)})
    def subscribe(data: dict[str, t.Any]) -> None:
        return None

    flask_babel.Babel(other, locale_selector=lambda: "fr")
    first, second = app.test_client(), other.test_client()
    for _ in range(2):
        result = call(first, "people.add", {"name": "Ada", "email": "x"})
        assert result.errors == {"email": ["Adresse e-mail invalide."]}
        result = call(second, subscribe, {"email": "x"})
        assert result.errors == {"email": ["Ce n'est pas une adresse."]}
