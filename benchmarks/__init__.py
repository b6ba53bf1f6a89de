"""Benchmarks for flask-actions: ``make bench`` (``python -m benchmarks``).

See ``docs/performance.md`` for the method, the machine and the latest figures.
Nothing here runs in ``make test`` except a smoke test that the contender apps
do the same work (``tests/test_benchmarks.py``).
"""
