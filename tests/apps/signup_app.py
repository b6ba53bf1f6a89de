"""A sign-up form written with ``fa.field`` the way a new user would: nested
address, tags, pets by index, a password repeated (checked by a
``@validates_schema`` with ``field_name``), an invite code whose check is
expensive (left out of live checks), live validation on the form, and an
admin blueprint whose actions need a signed-in user.

Not the example app: ``tests/test_live_browser.py`` drives it in Chromium
with JavaScript on and off, ``tests/test_live.py`` and ``tests/test_fields.py``
through the test client. ``python tests/apps/signup_app.py`` serves it on
http://127.0.0.1:5051.
"""

from __future__ import annotations

import typing as t

from flask import abort
from flask import Flask
from flask import render_template_string
from flask import session
from marshmallow import fields
from marshmallow import Schema
from marshmallow import validate
from marshmallow import validates
from marshmallow import validates_schema
from marshmallow import ValidationError

from flask_actions import ActionBlueprint
from flask_actions import ActionExtension
from flask_actions import set_message

PAGE = """{% import "flask_actions/macros.html" as fa %}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign up</title>
{{ fa.script() }}</head><body>
<p id="calls">{{ calls.signup }} sign-ups, {{ calls.invite_checks }} invite checks</p>
{% call fa.form(action("signup.join"), id="join", live=True) %}
  {{ fa.message() }}
  {{ fa.field("username", label="User name", autocomplete="username") }}
  {{ fa.field("email", label="Email") }}
  {{ fa.field("password", label="Password") }}
  {{ fa.field("repeat", label="Repeat the password") }}
  {{ fa.field("age", label="Age") }}
  {{ fa.field("plan", label="Plan", placeholder_option="Choose a plan") }}
  {{ fa.field("tags", label="Interests") }}
  <fieldset><legend>Address</legend>
  {{ fa.field("address.street", label="Street") }}
  {{ fa.field("address.zip", label="Zip code") }}
  </fieldset>
  {{ fa.field("pets.0.name", label="First pet") }}
  {{ fa.field("pets.1.name", label="Second pet") }}
  {{ fa.field("invite", label="Invite code") }}
  {{ fa.field("about", label="About you", textarea=True, rows=3) }}
  {{ fa.field("terms", label="I accept the terms") }}
  <button id="join-button">Sign up</button>
{% endcall %}
{% call fa.form(action("admin.rename_site"), id="rename", live=True) %}
  {{ fa.message() }}
  {{ fa.field("title", label="Site title") }}
  <button id="rename-button">Rename</button>
{% endcall %}
</body></html>
"""

TAKEN = {"ada"}


class AddressSchema(Schema):
    street = fields.Str(required=True, validate=validate.Length(min=1, max=80))
    zip = fields.Str(required=True, validate=validate.Regexp(r"\d{5}$"))


class PetSchema(Schema):
    name = fields.Str(validate=validate.Length(min=2, max=20))


class SignupSchema(Schema):
    username = fields.Str(
        required=True,
        validate=[validate.Length(min=3, max=20), validate.Regexp(r"[a-z0-9_]+$")],
    )
    email = fields.Email(required=True)
    password = fields.Str(required=True, validate=validate.Length(min=8))
    repeat = fields.Str(required=True, metadata={"sensitive": True})
    age = fields.Int(validate=validate.Range(min=18, max=130))
    plan = fields.Str(
        required=True,
        validate=validate.OneOf(["free", "pro"], labels=["Free", "Pro"]),
    )
    tags = fields.List(
        fields.Str(validate=validate.OneOf(["music", "sport", "books"])),
        load_default=list,
    )
    address = fields.Nested(AddressSchema, required=True)
    pets = fields.List(fields.Nested(PetSchema), load_default=list)
    invite = fields.Str(load_default="", metadata={"live": False})
    about = fields.Str(load_default="", validate=validate.Length(max=200))
    terms = fields.Bool(required=True, validate=validate.Equal(True))

    @validates("invite")
    def check_invite(self, value: str, **kwargs: t.Any) -> None:
        CALLS["invite_checks"] += 1  # costly: a database or a remote service
        if value and value != "WELCOME":
            raise ValidationError("This invite code is unknown.")

    # skip_on_field_errors=False: checked while other fields are still wrong
    # (a live check sends a form that is not filled in yet).
    @validates_schema(skip_on_field_errors=False)
    def passwords_match(self, data: dict[str, t.Any], **kwargs: t.Any) -> None:
        if data.get("password") != data.get("repeat"):
            raise ValidationError("The passwords do not match.", field_name="repeat")


CALLS = {"signup": 0, "rename": 0, "invite_checks": 0}

signup = ActionBlueprint("signup", __name__)
admin = ActionBlueprint("admin", __name__, url_prefix="/admin")


@signup.route("/")
def index() -> str:
    return render_template_string(PAGE, calls=CALLS)


@signup.route("/login")
def login() -> str:
    session["user"] = "root"
    return "signed in"


@signup.action(schema=SignupSchema)
def join(data: dict[str, t.Any]) -> dict[str, t.Any]:
    CALLS["signup"] += 1
    if data["username"] in TAKEN:
        raise ValidationError({"username": ["This name is taken."]})
    set_message(f"Welcome, {data['username']}!")
    return {"username": data["username"], "pets": [p["name"] for p in data["pets"]]}


@admin.before_request
def signed_in_only() -> None:
    if "user" not in session:
        abort(401)


@admin.action(schema={"title": fields.Str(validate=validate.Length(min=3, max=40))})
def rename_site(data: dict[str, t.Any]) -> None:
    CALLS["rename"] += 1


def create_app(config: t.Mapping[str, t.Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="a secret of the sign-up test app, 32+ bytes long",
        TESTING=True,
        **(config or {}),
    )
    ActionExtension(app)
    app.register_blueprint(signup)
    app.register_blueprint(admin)
    for key in CALLS:
        CALLS[key] = 0
    return app


if __name__ == "__main__":
    create_app().run(port=5051)
