"""The contender apps, one module each, all doing the same work.

Every app validates the same payload with the same marshmallow schema and
answers with the same data, under the same CSRF setting. The setting comes
from the environment, so that gunicorn can start each app both ways:
``BENCH_CSRF=1`` (the default) or ``BENCH_CSRF=0``.
"""
