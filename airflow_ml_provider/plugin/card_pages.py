"""Card sections, the full-size card page and the metric-across-runs page (with its SVG plot).

A card is framed, never inlined: each ``<iframe>`` has ``sandbox`` without ``allow-scripts`` and
points at the card route, which serves the stored HTML under a strict CSP (no script at all, no
network, images only as data: URLs). So a card's markup cannot reach the page around it, the
Airflow UI or the user's token, even if it carries ``<script>``. Every value from the store is
escaped with :func:`.render.esc` where it is put into markup (see :mod:`.render`).
"""

from __future__ import annotations

from typing import Any

from airflow_ml_provider.datastore.records import CardRecord
from airflow_ml_provider.plugin.card_queries import DEFAULT_RUNS, MAX_RUNS, MetricSeries, TaskCards, card_label
from airflow_ml_provider.plugin.render import badge, esc, page, short_time
from airflow_ml_provider.plugin.urls import Urls

REFRESH_S = 5  # the full-size view of a card that is still being refreshed reloads itself this often

CARD_CSS = (
    "<style>.cardframe{display:block;width:100%;height:420px;border:1px solid var(--border);border-radius:6px;"
    "background:#fff;resize:vertical;overflow:auto}.cardfull{height:calc(100vh - 110px)}"
    ".cardhead{display:flex;gap:10px;align-items:center;margin:12px 0 4px}.cardnote{color:var(--warn)}"
    ".metric svg{max-width:100%;height:auto;border:1px solid var(--border);border-radius:6px}"
    ".metric .line{fill:none;stroke:var(--link);stroke-width:2}.metric .point{fill:var(--link)}"
    ".metric .axis{stroke:var(--muted);stroke-width:1}.metric text{fill:var(--muted);font-size:11px}"
    ".metric a:hover .point{fill:var(--ok)}</style>"
)


def _running_note(record: CardRecord, refresh_href: str) -> str:
    if record.get("final"):
        return ""
    return (
        f"<span class=cardnote data-card-running>still running — <a href='{esc(refresh_href)}'>refresh</a> "
        f"<span class=muted>(updated {short_time(record.get('updated_at'))})</span></span>"
    )


def _frame(src: str, title: str, extra_class: str = "") -> str:
    # sandbox="" : no scripts, no forms, no popups, an opaque origin (no cookies, no parent access)
    return (
        f"<iframe class='cardframe {extra_class}' sandbox='' referrerpolicy=no-referrer loading=lazy "
        f"title='{esc(title)}' src='{esc(src)}'></iframe>"
    )


def cards_section(meta: dict[str, Any], step: str, task_id: str, found: TaskCards, urls: Urls) -> str:
    """The task page's cards, each framed, with a full-size link (empty when the task has none)."""
    if found.problem:
        return f"<h2>Cards</h2><p class=integrity>{badge('corrupt')} {esc(found.problem)}</p>"
    if not found.cards:
        return ""
    ids = (meta["dag_id"], meta["run_id"], step, task_id)
    parts = [CARD_CSS, f"<h2>Cards <span class=muted>· attempt {esc(found.attempt)}</span></h2>"]
    for record in found.cards:
        attempt, card_hash = int(record["attempt"]), str(record["hash"])
        src = urls.card(*ids, attempt, card_hash)
        view = urls.card_view(*ids, attempt, card_hash)
        parts.append(
            f"<section class=cardbox data-card='{esc(card_hash)}'><div class=cardhead>"
            f"<b class=mono>{esc(card_label(record))}</b>"
            f"<a href='{esc(view)}'>open full size</a>{_running_note(record, '')}</div>"
            f"{_frame(src, card_label(record))}</section>"
        )
    return "".join(parts)


def run_cards_section(meta: dict[str, Any], cards: list[tuple[str, str, TaskCards]], urls: Urls) -> str:
    """The run page's list of links to every card (``(step, task id, cards)`` per task)."""
    items = []
    for step, task_id, found in cards:
        for record in found.cards:
            href = urls.card_view(meta["dag_id"], meta["run_id"], step, task_id, int(record["attempt"]), record["hash"])
            running = "" if record.get("final") else " <span class=cardnote>(still running)</span>"
            items.append(
                f"<li><a class=cardlink href='{esc(href)}'><span class=mono>{esc(step)}/{esc(task_id)}</span> "
                f"{esc(card_label(record))}</a>{running}</li>"
            )
    if not items:
        return ""
    return f"<h2>Cards</h2><ul class=cards>{''.join(items)}</ul>"


def card_view_page(meta: dict[str, Any], step: str, task_id: str, record: CardRecord, urls: Urls) -> str:
    """One card at full size; while the step is still refreshing it, the page reloads itself (no script)."""
    ids = (meta["dag_id"], meta["run_id"], step, task_id, int(record["attempt"]), str(record["hash"]))
    view, src = urls.card_view(*ids), urls.card(*ids)
    task = urls.task(meta["dag_id"], meta["run_id"], step, task_id)
    crumbs = (
        f"<div class=crumbs><a href='{esc(urls.run(meta['dag_id'], meta['run_id']))}'>{esc(meta['run_id'])}</a>"
        f" / <a href='{esc(task)}'>{esc(step)}/{esc(task_id)}</a></div>"
    )
    body = (
        CARD_CSS
        + crumbs
        + f"<div class=cardhead><h1>{esc(card_label(record))}</h1>"
        + f"<span class=muted>attempt {esc(record.get('attempt'))} · {short_time(record.get('updated_at'))}</span>"
        + f"{_running_note(record, view)}<a href='{esc(src)}' target=_blank rel=noopener>raw</a></div>"
        + _frame(src, card_label(record), "cardfull")
    )
    head = "" if record.get("final") else f"<meta http-equiv=refresh content='{REFRESH_S}'>"
    return page(f"card {card_label(record)} · {step}/{task_id}", body, head)


# -- metric across runs -----------------------------------------------------------------------
W, H, LEFT, RIGHT, TOP, BOTTOM = 760, 280, 70, 20, 20, 40


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def metric_svg(series: MetricSeries, dag_id: str, urls: Urls) -> str:
    """The series as an inline SVG: a line through one linked point per run (oldest left).

    Every attribute value is quoted: in HTML an unquoted value swallows the ``/`` of ``/>``, and an
    SVG element left open hides everything after it.
    """
    points = series.points
    values = [p.value for p in points]
    low, high = min(values), max(values)
    if low == high:
        pad = abs(low) * 0.1 or 1.0
        low, high = low - pad, high + pad
    inner_w, inner_h = W - LEFT - RIGHT, H - TOP - BOTTOM

    def x(i: int) -> float:
        return LEFT + (inner_w / 2 if len(points) == 1 else inner_w * i / (len(points) - 1))

    def y(v: float) -> float:
        return TOP + inner_h * (1 - (v - low) / (high - low))

    coords = [(x(i), y(p.value)) for i, p in enumerate(points)]
    ticks = "".join(
        f"<text x='{LEFT - 6}' y='{y(v) + 4:.1f}' text-anchor='end'>{esc(_fmt(v))}</text>"
        f"<line class='axis' x1='{LEFT - 3}' x2='{LEFT}' y1='{y(v):.1f}' y2='{y(v):.1f}'/>"
        for v in (low, (low + high) / 2, high)
    )
    dots = "".join(
        f"<a class='point-link' href='{esc(urls.run(dag_id, p.run_id))}' target='_self'>"
        f"<circle class='point' cx='{cx:.1f}' cy='{cy:.1f}' r='5' data-run='{esc(p.run_id)}' "
        f"data-value='{esc(repr(p.value))}'><title>{esc(p.run_id)}: {esc(_fmt(p.value))}</title></circle></a>"
        for p, (cx, cy) in zip(points, coords, strict=True)
    )
    line = " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy in coords)
    first, last = (p.created_at[:16].replace("T", " ") for p in (points[0], points[-1]))
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {W} {H}' width='{W}' height='{H}' role='img' "
        f"aria-label='{esc(series.step)}.{esc(series.artifact)} over {len(points)} runs'>"
        f"<line class='axis' x1='{LEFT}' y1='{TOP}' x2='{LEFT}' y2='{H - BOTTOM}'/>"
        f"<line class='axis' x1='{LEFT}' y1='{H - BOTTOM}' x2='{W - RIGHT}' y2='{H - BOTTOM}'/>{ticks}"
        f"<text x='{LEFT}' y='{H - 12}'>{esc(first)}</text>"
        f"<text x='{W - RIGHT}' y='{H - 12}' text-anchor='end'>{esc(last)}</text>"
        f"<text x='{LEFT + inner_w / 2:.0f}' y='{H - 12}' text-anchor='middle'>runs, oldest to newest</text>"
        f"<polyline class='line' points='{line}'/>{dots}</svg>"
    )


def _choices_html(dag_id: str, choices: dict[str, list[str]], n: int, urls: Urls) -> str:
    if not choices:
        return "<p class=muted>No step of the newest runs has an artifact that is a plain number.</p>"
    rows = "".join(
        f"<tr><td class=mono>{esc(step)}</td><td>"
        + ", ".join(
            f"<a class='mono metric-choice' href='{esc(urls.metrics(dag_id, step, name, n))}'>{esc(name)}</a>"
            for name in names
        )
        + "</td></tr>"
        for step, names in choices.items()
    )
    return f"<table class=choices><thead><tr><th>Step</th><th>Numeric artifacts</th></tr></thead>{rows}</table>"


def _n_form(dag_id: str, series: MetricSeries, n: int, urls: Urls) -> str:
    return (
        f"<form method=get action='{esc(urls.metrics(dag_id))}' class=row>"
        f"<input type=hidden name=step value='{esc(series.step)}'>"
        f"<input type=hidden name=artifact value='{esc(series.artifact)}'>"
        f"<label>Last <input type=number name=n min=1 max={MAX_RUNS} value={int(n)}> runs</label>"
        "<button type=submit>Show</button></form>"
    )


def _skipped_html(series: MetricSeries, dag_id: str, urls: Urls) -> str:
    if not series.skipped:
        return ""
    items = "".join(
        f"<li><a class=mono href='{esc(urls.run(dag_id, run_id))}'>{esc(run_id)}</a>: {esc(why)}</li>"
        for run_id, why in series.skipped
    )
    return f"<p class=muted>{len(series.skipped)} run(s) skipped:</p><ul class=skipped>{items}</ul>"


def metric_page(
    flow: str, dag_id: str, series: MetricSeries | None, choices: dict[str, list[str]], n: int, urls: Urls
) -> str:
    """Pick a step's numeric artifact; see it plotted over the newest ``n`` runs, each point a link."""
    crumbs = (
        f"<div class=crumbs><a href='{esc(urls.index())}'>ML flows</a> / "
        f"<a href='{esc(urls.dag(dag_id))}'>{esc(flow)}</a></div>"
    )
    parts = [CARD_CSS, crumbs, f"<h1>{esc(flow)} <span class=muted>· metric across runs</span></h1>"]
    if series is not None:
        parts.append(f"<h2 class=mono>{esc(series.step)}.{esc(series.artifact)}</h2>{_n_form(dag_id, series, n, urls)}")
        if series.points:
            table = "".join(
                f"<tr><td><a class=mono href='{esc(urls.run(dag_id, p.run_id))}'>{esc(p.run_id)}</a></td>"
                f"<td>{short_time(p.created_at)}</td><td>{badge(p.status)}</td>"
                f"<td class=mono>{esc(_fmt(p.value))}</td></tr>"
                for p in reversed(series.points)
            )
            parts.append(
                f"<div class=metric>{metric_svg(series, dag_id, urls)}</div>"
                f"<details><summary>{len(series.points)} values</summary><table class=values><thead><tr>"
                f"<th>Run</th><th>Started</th><th>Status</th><th>Value</th></tr></thead>{table}</table></details>"
            )
        else:
            parts.append("<p class=muted>No run has a plain-number value for this artifact.</p>")
        parts.append(_skipped_html(series, dag_id, urls))
    parts.append(f"<h2>Metrics</h2>{_choices_html(dag_id, choices, n if series else DEFAULT_RUNS, urls)}")
    return page(f"{flow} metrics", "".join(parts))
