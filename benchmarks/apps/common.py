"""What every contender shares: the secret, the schema and the payloads."""

from __future__ import annotations

import os
import typing as t

from marshmallow import fields
from marshmallow import Schema
from marshmallow import validate

SECRET_KEY = "benchmark-secret-key-not-for-production-0123456789"

#: A valid payload, as JSON and as the fields of a form.
VALID: dict[str, t.Any] = {"title": "Buy milk", "priority": 3, "done": False}
VALID_FORM = {"title": "Buy milk", "priority": "3", "done": "false"}
#: An invalid payload: an empty title and a priority out of range.
INVALID: dict[str, t.Any] = {"title": "", "priority": 9, "done": False}
INVALID_FORM = {"title": "", "priority": "9", "done": "false"}


class TodoSchema(Schema):
    title = fields.Str(required=True, validate=validate.Length(min=1, max=200))
    priority = fields.Int(load_default=2, validate=validate.Range(min=1, max=5))
    done = fields.Bool(load_default=False)


def csrf_enabled(csrf: bool | None = None) -> bool:
    """The CSRF setting: the argument, else ``BENCH_CSRF`` (default on)."""
    if csrf is not None:
        return csrf
    return os.environ.get("BENCH_CSRF", "1") != "0"


#: The hosts the contenders answer to: gunicorn on 127.0.0.1 and the test
#: client's ``localhost``. Set for all of them alike, as a deployment would.
TRUSTED_HOSTS = ["127.0.0.1", "localhost"]


def config(csrf: bool | None = None) -> dict[str, t.Any]:
    """The settings every contender gets; ``BENCH_IDEMPOTENCY=0`` turns
    submission keys off, ``BENCH_IDEMPOTENCY_PATH`` and
    ``BENCH_IDEMPOTENCY_REDIS_URL`` say where they live (the benchmark of
    keys over HTTP, :mod:`benchmarks.bench_idempotency`)."""
    env = os.environ
    return {
        "SECRET_KEY": SECRET_KEY,
        "WTF_CSRF_ENABLED": csrf_enabled(csrf),
        "TRUSTED_HOSTS": TRUSTED_HOSTS,
        "ACTIONS_IDEMPOTENCY": env.get("BENCH_IDEMPOTENCY", "1") != "0",
        "ACTIONS_IDEMPOTENCY_PATH": env.get("BENCH_IDEMPOTENCY_PATH") or None,
        "ACTIONS_IDEMPOTENCY_REDIS_URL": env.get("BENCH_IDEMPOTENCY_REDIS_URL") or None,
    }
