"""Render time of a page of 1,000 rows with a bound ``fa.button`` each,
against the same page written by hand with hidden inputs.

Every page comes from ``benchmarks/apps/render.py`` through a test client,
interleaved: a round renders each page once, in turn. Two apps serve them:
one as configured by default, one without the direct template calls
(``ACTIONS_DIRECT_TEMPLATE_CALLS = False``), where every call of a template
goes through Jinja's ``Context.call``. The figures are
the median time of each page, and the median over rounds of its time over the
hand-written page's time *in the same round*: the pages of one round ran
milliseconds apart, so drift of the machine (other jobs, a slower phase of a
shared host) cancels out of the ratio.
"""

from __future__ import annotations

import dataclasses
import statistics
import time

from .apps.render import create_app
from .stats import median_ratio

#: Page key → (direct template calls?, path); ``hand_written`` is the
#: baseline of every ratio.
PAGES = {
    "hand_written": (True, "/rows-plain"),
    "fa_button": (True, "/rows"),
    "floor": (True, "/rows-floor"),
    "ready": (True, "/rows-ready"),
    "idiomatic": (True, "/rows-idiomatic"),
    "fa_button_generic": (False, "/rows"),
    "floor_generic": (False, "/rows-floor"),
    "idiomatic_generic": (False, "/rows-idiomatic"),
    "context": (True, "/rows-context"),
    "context_generic": (False, "/rows-context"),
}


@dataclasses.dataclass
class Figures:
    #: Median CPU milliseconds per page, by page key.
    ms: dict[str, float]
    #: Median of the per-round ratios to ``hand_written``, by page key.
    ratio: dict[str, float]
    rounds: int


def measure(rounds: int = 30, csrf: bool = True) -> Figures:
    clients = {
        direct: create_app(csrf, direct_calls=direct).test_client()
        for direct in (True, False)
    }
    for direct, path in PAGES.values():  # warm-up: template compilation, keys
        for _ in range(3):
            response = clients[direct].get(path)
            if response.status_code != 200:
                raise RuntimeError(f"GET {path} answered {response.status_code}.")
    samples: dict[str, list[float]] = {key: [] for key in PAGES}
    for _ in range(rounds):
        for key, (direct, path) in PAGES.items():
            client = clients[direct]
            start = time.process_time()
            client.get(path)
            samples[key].append((time.process_time() - start) * 1000)
    base = samples["hand_written"]
    return Figures(
        ms={key: statistics.median(values) for key, values in samples.items()},
        ratio={key: median_ratio(values, base) for key, values in samples.items()},
        rounds=rounds,
    )
