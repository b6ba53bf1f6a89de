from __future__ import annotations

import pytest
from flask import Flask

from flask_actions import ActionBlueprint
from flask_actions import ActionExtension
from flask_actions.testing import call


def test_init_app_without_a_secret_says_what_to_set() -> None:
    app = Flask(__name__)
    with pytest.raises(RuntimeError, match=r"Set app.config\['SECRET_KEY'\]"):
        ActionExtension(app)


def test_state_and_documented_defaults_are_on_the_app() -> None:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="s", TESTING=True)
    ActionExtension(app)
    assert "actions" in app.extensions
    assert app.config["ACTIONS_MAX_CONTENT_LENGTH"] == 1024 * 1024
    assert app.config["ACTIONS_ALLOWED_ORIGINS"] == []
    assert app.config["ACTIONS_BOUND_MAX_AGE"] is None


def test_config_set_before_init_is_kept() -> None:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="s", TESTING=True, ACTIONS_MAX_CONTENT_LENGTH=10)
    ActionExtension(app)
    assert app.config["ACTIONS_MAX_CONTENT_LENGTH"] == 10


def test_double_init_is_an_error() -> None:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="s", TESTING=True)
    ext = ActionExtension(app)
    with pytest.raises(RuntimeError, match="already set up"):
        ext.init_app(app)


def test_one_extension_serves_many_apps_without_storing_them() -> None:
    ext = ActionExtension()
    seen: list[str] = []

    @ext.action
    def ping() -> str:
        seen.append("ping")
        return "pong"

    apps = []
    for secret in ("one", "two"):
        app = Flask(__name__)
        app.config.update(SECRET_KEY=secret, TESTING=True)
        ext.init_app(app)
        apps.append(app)
    assert not any(isinstance(v, Flask) for v in vars(ext).values())
    for app in apps:
        result = call(app.test_client(), ping, mode="json")
        assert result.ok and result.data == "pong"
    assert seen == ["ping", "ping"]
    ids = []
    for app in apps:
        with app.app_context():
            ids.append(ping.id)
    assert ids[0] != ids[1], "ids depend on each app's secret"


def test_actions_secret_key_overrides_secret_key() -> None:
    bp = ActionBlueprint("x", __name__)

    @bp.action
    def go() -> None:
        return None

    ids = []
    for config in ({"SECRET_KEY": "a"}, {"SECRET_KEY": "b", "ACTIONS_SECRET_KEY": "a"}):
        app = Flask(__name__)
        app.config.update(config, TESTING=True)
        ActionExtension(app)
        app.register_blueprint(bp)
        with app.app_context():
            ids.append(go.id)
    assert ids[0] == ids[1]


def test_script_and_macros_are_served_by_the_extension(app: Flask) -> None:
    assert app.jinja_env.get_template("flask_actions/macros.html") is not None
    assert "action_result" in app.jinja_env.globals
