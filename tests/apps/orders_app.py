"""A shop that creates orders slowly, in SQLite: the app the idempotency
tests (``tests/test_idempotency*.py``) and their browser runs use, written
from ``docs/idempotency.md`` as a user would.

``create_app()`` reads its settings from the environment, so that gunicorn
workers of the same test share them:

``ORDERS_DB``
    The SQLite file of the orders (default: a new temporary file).
``ORDERS_DELAY``
    Seconds ``create`` takes (default ``0``): the window a double click or a
    retry lands in.
``ORDERS_REDIS_URL``
    Keep submission keys in this Redis (default: the embedded store).
``ORDERS_KEYS``
    The SQLite file of the embedded store (default: the instance folder).
``ORDERS_ON_OUTAGE``
    ``open`` or ``closed``.
``ORDERS_LEASE``, ``ORDERS_WAIT``
    ``ACTIONS_IDEMPOTENCY_LEASE`` and ``ACTIONS_IDEMPOTENCY_WAIT``.

``python tests/apps/orders_app.py`` serves it on http://127.0.0.1:5060.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
import typing as t

from flask import Flask
from flask import g
from flask import render_template_string
from marshmallow import fields
from marshmallow import Schema
from marshmallow import validate

from flask_actions import ActionBlueprint
from flask_actions import ActionExtension
from flask_actions import redirect

PAGE = """{% import "flask_actions/macros.html" as fa %}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Orders ({{ orders|length }})</title>
{{ fa.script() }}</head><body>
<h1>Orders</h1>
{% call fa.form(action('shop.create'), id='order') %}
  {{ fa.message() }}
  <label for="item">Item</label>
  <input id="item" name="item" value="{{ fa.value('item') }}">{{ fa.errors('item') }}
  <label for="quantity">Quantity</label>
  <input id="quantity" name="quantity" value="{{ fa.value('quantity', 1) }}">
  {{ fa.errors('quantity') }}
  <button id="send">Create order</button>
{% endcall %}
<ul id="orders">{% for order in orders %}
  <li id="order-{{ order.id }}">{{ order.item }} × {{ order.quantity }}
  <form>{{ fa.button(action('shop.cancel').bind(order.id), 'Cancel', id='cancel-' ~ order.id) }}</form></li>
{% endfor %}</ul>
</body></html>
"""

ORDER = """{% import "flask_actions/macros.html" as fa %}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Order {{ order.id }}</title>
{{ fa.script() }}</head><body>
{{ fa.message(action('shop.create')) }}
<p id="order">Order {{ order.id }}: {{ order.item }} × {{ order.quantity }}</p>
<p><a href="/">All orders</a></p>
</body></html>
"""


class OrderSchema(Schema):
    item = fields.Str(required=True, validate=validate.Length(min=1, max=80))
    quantity = fields.Int(required=True, validate=validate.Range(min=1, max=99))


def create_app(config: dict[str, t.Any] | None = None) -> Flask:
    app = Flask(__name__)
    database = os.environ.get("ORDERS_DB") or tempfile.mktemp(suffix=".sqlite3")
    app.config.update(
        SECRET_KEY=os.environ.get("ORDERS_SECRET", "orders app secret " * 3),
        TESTING=True,
        ORDERS_DB=database,
        ORDERS_DELAY=float(os.environ.get("ORDERS_DELAY", "0")),
        ACTIONS_IDEMPOTENCY_REDIS_URL=os.environ.get("ORDERS_REDIS_URL") or None,
        ACTIONS_IDEMPOTENCY_PATH=os.environ.get("ORDERS_KEYS") or None,
        ACTIONS_IDEMPOTENCY_ON_OUTAGE=os.environ.get("ORDERS_ON_OUTAGE", "open"),
        ACTIONS_IDEMPOTENCY_LEASE=float(os.environ.get("ORDERS_LEASE", "120")),
        ACTIONS_IDEMPOTENCY_WAIT=float(os.environ.get("ORDERS_WAIT", "10")),
    )
    app.config.update(config or {})
    with sqlite3.connect(app.config["ORDERS_DB"]) as db:
        db.execute(
            "CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY,"
            " item TEXT NOT NULL, quantity INTEGER NOT NULL)"
        )
    ActionExtension(app)
    app.register_blueprint(_shop())
    return app


def _db() -> sqlite3.Connection:
    from flask import current_app

    if "orders_db" not in g:
        g.orders_db = sqlite3.connect(current_app.config["ORDERS_DB"], timeout=30)
        g.orders_db.row_factory = sqlite3.Row
    return t.cast(sqlite3.Connection, g.orders_db)


def _shop() -> ActionBlueprint:
    from flask import current_app

    shop = ActionBlueprint("shop", __name__)

    @shop.teardown_app_request
    def close(_error: BaseException | None) -> None:
        db = g.pop("orders_db", None)
        if db is not None:
            db.close()

    @shop.route("/")
    def index() -> str:
        orders = _db().execute("SELECT * FROM orders ORDER BY id").fetchall()
        return render_template_string(PAGE, orders=orders)

    @shop.route("/orders/<int:order_id>")
    def order(order_id: int) -> str:
        row = _db().execute("SELECT * FROM orders WHERE id = ?", (order_id,))
        return render_template_string(ORDER, order=row.fetchone())

    @shop.action(schema=OrderSchema)
    def create(data: dict[str, t.Any]) -> dict[str, int]:
        time.sleep(current_app.config["ORDERS_DELAY"])
        with _db() as db:
            cursor = db.execute(
                "INSERT INTO orders (item, quantity) VALUES (?, ?)",
                (data["item"], data["quantity"]),
            )
        order_id = t.cast(int, cursor.lastrowid)
        if data["item"] != "stay":
            redirect(f"/orders/{order_id}")
        return {"id": order_id}

    @shop.action
    def cancel(order_id: int) -> None:
        with _db() as db:
            db.execute("DELETE FROM orders WHERE id = ?", (order_id,))

    return shop


def order_count(database: str) -> int:
    with sqlite3.connect(database) as db:
        return int(db.execute("SELECT count(*) FROM orders").fetchone()[0])


if __name__ == "__main__":
    create_app({"ORDERS_DELAY": 2.0}).run(port=5060, debug=True)
