"""Print the figures as tables, with the targets they are held against."""

from __future__ import annotations

import typing as t

from .inprocess import best
from .render import Figures
from .render import targets as render_targets
from .stats import median_ratio
from .throughput import Outcome

#: Figures from the issue for the same machine class (req/s), for reference.
NEXTJS_ACTION = 630.0
NEXTJS_FORM = 260.0
#: The hand-written view on the machine those figures come from.
HANDWRITTEN_THERE = 4000.0

#: (description, contender, baseline, minimum ratio)
THROUGHPUT_TARGETS = (
    ("action ≥ 0.9× hand-written view", "action", "view", 0.9),
    ("action ≥ 1× flask-smorest", "action", "smorest", 1.0),
    # The call as FlaskActions.call sends it, with its Idempotency-Key (#16).
    ("call with its key ≥ 1× hand-written view", "action_keyed", "view", 1.0),
)
SCRIPT_TARGET = 6 * 1024
#: The core and every extra, minified and gzipped as one file (issue 19).
WHOLE_SCRIPT_TARGET = 8 * 1024


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def throughput(outcomes: t.Sequence[Outcome], title: str) -> list[str]:
    by_key = {o.contender.key: o for o in outcomes}
    base = by_key.get("view")
    lines = [title, ""]
    lines.append(
        f"  {'contender':32} {'median':>10} {'vs view':>8} {'spread':>7} {'errors':>7}"
    )
    for o in outcomes:
        unit = "cycles/s" if "form" in o.contender.key else "req/s"
        versus = f"{o.median / base.median:.2f}×" if base and base.median else "-"
        lines.append(
            f"  {o.contender.label:32} {o.median:>6,.0f} {unit:<8}"[:52].ljust(52)
            + f"{versus:>6} {o.spread:>6.0%} {o.errors:>7}"
        )
    lines.append("")
    lines.append("  (ratios below: median of the per-round ratios)")
    lines += targets(
        paired_ratio(by_key), nextjs={k: o.median for k, o in by_key.items()}
    )
    return lines


Ratio = t.Callable[[str, str], "float | None"]


def targets(
    ratio: Ratio,
    *,
    nextjs: t.Mapping[str, float] | None = None,
    verdicts: bool = True,
) -> list[str]:
    """The targets; ``ratio(a, b)`` is how much more ``a`` does than ``b``.
    Without ``verdicts``, the same ratios with no PASS or MISS: the targets
    are held against HTTP throughput, other figures only explain it."""
    lines = []
    for text, key, against, minimum in THROUGHPUT_TARGETS:
        found = ratio(key, against)
        if found is not None:
            verdict = _verdict(found >= minimum) if verdicts else "(see HTTP)"
            lines.append(f"  {text:46} {found:6.3f}× {verdict}")
    found = ratio("action_form", "view_form")
    if found is not None:
        lines.append(
            f"  {'form cycle vs hand-written form cycle':46} {found:5.2f}×  (no target)"
        )
    if nextjs and nextjs.get("view"):
        # The figures come from another machine, where the hand-written
        # view did HANDWRITTEN_THERE req/s: scale ours to it before comparing.
        scale = HANDWRITTEN_THERE / nextjs["view"]
        for key, label, reference in (
            ("action", "action vs Next.js server action (630/s)", NEXTJS_ACTION),
            ("action_form", "form cycle vs Next.js no-JS post (260/s)", NEXTJS_FORM),
        ):
            if nextjs.get(key):
                lines.append(
                    f"  {label:46} {nextjs[key] / reference:5.1f}× here,"
                    f" {nextjs[key] * scale / reference:.1f}× scaled (reference)"
                )
    return lines


def paired_ratio(outcomes: t.Mapping[str, Outcome]) -> Ratio:
    """The median over rounds of ``a``'s rate over ``b``'s in the same round:
    the two ran seconds apart, so drift of the machine cancels out."""

    def ratio(a: str, b: str) -> float | None:
        if a not in outcomes or b not in outcomes:
            return None
        return median_ratio(
            [x.rate for x in outcomes[a].rounds], [y.rate for y in outcomes[b].rounds]
        )

    return ratio


def inprocess(samples: t.Mapping[str, t.Sequence[float]], title: str) -> list[str]:
    lines = [title, ""]
    base = samples.get("view")
    for key, values in samples.items():
        # Time, not throughput: the view's time over the contender's.
        versus = (
            f"{median_ratio(base, values):.2f}×" if base and "form" not in key else ""
        )
        lines.append(f"  {key:14} {best(values):8.0f} µs   {versus}")
    lines.append("")
    lines.append(
        "  (ratios: median of the per-round ratios; CPU time only, the targets"
        " are held against HTTP throughput)"
    )
    page, nopage, cycle = (
        samples.get(k) for k in ("action_page", "action_nopage", "action_form")
    )
    if page and nopage and cycle:
        lines.append(
            "  parity default (an enhanced form's answer carries the page):"
            f" {best(page) - best(nopage):.0f} µs more than asking for none;"
            f" the whole enhanced submit is {median_ratio(page, cycle):.2f}× the"
            " time of the no-JS POST + GET"
        )
    live = samples.get("action_validate")
    if page and nopage and live:
        # Throughput is the inverse of CPU time: a submission's over a check's.
        lines.append(
            "  live check (validate-only, 204) of the same form:"
            f" {best(live):.0f} µs, {median_ratio(page, live):.2f}× the throughput"
            " of the enhanced submission it spares (target ≥ 2×),"
            f" {median_ratio(nopage, live):.2f}× of one that asks for no page"
        )
    lines += targets(
        lambda a, b: (
            median_ratio(samples[b], samples[a])
            if a in samples and b in samples
            else None
        ),
        verdicts=False,
    )
    return lines


def render(figures: Figures) -> list[str]:
    ms, ratio = figures.ms, figures.ratio
    rows = [
        ("hand-written hidden inputs", "hand_written", "the cheapest page"),
        ("bound fa.button in every row", "fa_button", ""),
        ("hand-written, as documented", "idiomatic", "csrf_token(), url_for() per row"),
        ("two no-op calls in every row", "floor", "what Jinja charges the two calls"),
        ("real bind, a no-work fa.button", "ready", "the floor under any fa.button"),
    ]
    lines = [
        f"Render: a page of 1,000 rows (median ms per page; × = median of"
        f" {figures.rounds} per-round ratios to the first line)",
        "",
    ]
    for label, key, note in rows:
        line = f"  {label:32} {ms[key]:8.1f} ms {ratio[key]:6.2f}×  {note}"
        lines.append(line.rstrip())
    lines.append("")
    for what, found, most in render_targets(figures):
        verdict = _verdict(found <= most)
        lines.append(f"  {what:32} {found:6.2f}×  target ≤ {most}×  {verdict}")
    return lines


def script(sizes: t.Mapping[str, int] | None) -> list[str]:
    if sizes is None:
        return ["Browser script: flask-actions.min.js not yet available."]
    ok = sizes["gzipped"] < SCRIPT_TARGET
    lines = ["Browser script (flask_actions/static/flask-actions.min.js)", ""]
    if "source" in sizes:
        lines.append(f"  {'source':32} {sizes['source']:>8,} B")
    lines += [
        f"  {'minified':32} {sizes['minified']:>8,} B",
        f"  {'minified + gzip -9':32} {sizes['gzipped']:>8,} B"
        f"   target < {SCRIPT_TARGET:,} B  {_verdict(ok)}",
    ]
    if "whole gzipped" in sizes:
        whole = sizes["whole gzipped"]
        lines.append(
            f"  {'with every extra, as one file':32} {whole:>8,} B"
            f"   target <= {WHOLE_SCRIPT_TARGET:,} B"
            f"  {_verdict(whole <= WHOLE_SCRIPT_TARGET)}"
        )
    return lines
