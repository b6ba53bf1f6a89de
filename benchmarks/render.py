"""Render time of a page of 1,000 rows with a bound ``fa.button`` each,
against the same page written by hand with hidden inputs.

Every page comes from ``benchmarks/apps/render.py`` through one test client
of an app configured by default (Jinja as it ships: every call of a template
goes through its ``Context.call``), interleaved: a round renders each page
once, in turn. The figures are the median time of each page, and the median
over rounds of its time over the cheapest hand-written page's time *in the
same round*: the pages of one round ran milliseconds apart, so drift of the
machine (other jobs, a slower phase of a shared host) cancels out of the
ratio.

The targets (issue 15): the bound page costs at most the page written as
Flask-WTF documents it (``idiomatic``: one form with ``csrf_token()`` per
row), and at most :data:`TARGET_VS_CHEAPEST` times the cheapest page of plain
hidden inputs (``hand_written``).
"""

from __future__ import annotations

import dataclasses
import statistics
import time

from .apps.render import create_app
from .stats import median_ratio

#: Page key → path; ``hand_written`` is the baseline of every ratio.
PAGES = {
    "hand_written": "/rows-plain",
    "fa_button": "/rows",
    "floor": "/rows-floor",
    "ready": "/rows-ready",
    "idiomatic": "/rows-idiomatic",
}

#: The bound page's ratio to ``hand_written``, at most.
TARGET_VS_CHEAPEST = 2.0


@dataclasses.dataclass
class Figures:
    #: Median CPU milliseconds per page, by page key.
    ms: dict[str, float]
    #: Median of the per-round ratios to ``hand_written``, by page key.
    ratio: dict[str, float]
    #: Median of the per-round ratios of the bound page to ``idiomatic``.
    vs_idiomatic: float
    rounds: int


def measure(rounds: int = 30, csrf: bool = True) -> Figures:
    client = create_app(csrf).test_client()
    for path in PAGES.values():  # warm-up: template compilation, keys
        for _ in range(3):
            response = client.get(path)
            if response.status_code != 200:
                raise RuntimeError(f"GET {path} answered {response.status_code}.")
    samples: dict[str, list[float]] = {key: [] for key in PAGES}
    for _ in range(rounds):
        for key, path in PAGES.items():
            start = time.process_time()
            client.get(path)
            samples[key].append((time.process_time() - start) * 1000)
    base = samples["hand_written"]
    return Figures(
        ms={key: statistics.median(values) for key, values in samples.items()},
        ratio={key: median_ratio(values, base) for key, values in samples.items()},
        vs_idiomatic=median_ratio(samples["fa_button"], samples["idiomatic"]),
        rounds=rounds,
    )


def targets(figures: Figures) -> list[tuple[str, float, float]]:
    """Each render target: (what, the measured ratio, the ratio at most)."""
    return [
        ("bound page vs the Flask-WTF page", figures.vs_idiomatic, 1.0),
        (
            "bound page vs the cheapest page",
            figures.ratio["fa_button"],
            TARGET_VS_CHEAPEST,
        ),
    ]
