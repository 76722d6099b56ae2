"""Pages that list runs: the navigation page, one DAG's runs, and the two-run comparison."""

from __future__ import annotations

from typing import Any

from airflow_ml_provider.plugin.render import badge, esc, human_duration, page, short_time, tags_html
from airflow_ml_provider.plugin.urls import Urls


def _params(params: Any, limit: int = 120) -> str:
    if not isinstance(params, dict) or not params:
        return ""
    text = ", ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in params.items())
    short = text if len(text) <= limit else text[: limit - 1] + "…"
    return f"<span class=mono title='{esc(text)}'>{esc(short)}</span>"


def runs_table(runs: list[dict[str, Any]], urls: Urls) -> str:
    """Runs newest first: status, start, duration, tags, parameters."""
    if not runs:
        return "<p class=muted>No runs.</p>"
    rows = "".join(
        f"<tr><td><a href='{esc(urls.run(r['dag_id'], r['run_id']))}' class=mono>"
        f"{esc(r.get('airflow_run_id') or r['run_id'])}</a></td><td>{badge(r.get('status'))}</td>"
        f"<td>{short_time(r.get('created_at'))}</td><td>{esc(human_duration(r.get('duration_s')))}</td>"
        f"<td>{tags_html(r.get('tags'))}</td><td>{_params(r.get('parameters'))}</td></tr>"
        for r in runs
    )
    return (
        "<div class=scroll><table class=runs><thead><tr><th>Run</th><th>Status</th><th>Started</th>"
        f"<th>Duration</th><th>Tags</th><th>Parameters</th></tr></thead><tbody>{rows}</tbody></table></div>"
    )


def _count(n: int) -> str:
    return f"{n} run" if n == 1 else f"{n} runs"


def _tag_form(action: str, tag: str | None, tags: list[str]) -> str:
    options = "".join(f"<option value='{esc(t)}'>" for t in tags)
    return (
        f"<form method=get action='{esc(action)}' class=row><label>Tag "
        f"<input name=tag list=ml-tags value='{esc(tag or '')}' placeholder='e.g. run_type:manual'></label>"
        f"<datalist id=ml-tags>{options}</datalist><button type=submit>Filter</button>"
        + (f"<a href='{esc(action)}'>clear</a>" if tag else "")
        + "</form>"
    )


def index_page(
    flows: list[tuple[str, str, list[dict[str, Any]]]],
    tag: str | None,
    tags: list[str],
    urls: Urls,
    per_flow: int,
) -> str:
    """Navigation page: every readable flow with its newest runs."""
    parts = [
        "<h1>ML flows</h1><p class=muted>Runs of every flow you can read, newest first.</p>",
        _tag_form(urls.index(), tag, tags),
    ]
    if not flows:
        parts.append("<p class=muted>No flow runs found.</p>")
    for flow, dag_id, runs in flows:
        more = f" <a href='{esc(urls.dag(dag_id, tag))}'>all {len(runs)} runs</a>" if len(runs) > per_flow else ""
        alias = f" <span class=muted>(DAG {esc(dag_id)})</span>" if dag_id != flow else ""
        parts.append(
            f"<h2><a href='{esc(urls.dag(dag_id))}'>{esc(flow)}</a>{alias}</h2>"
            f"<div class=muted>{_count(len(runs))}{more}</div>{runs_table(runs[:per_flow], urls)}"
        )
    return page("ML flows", "".join(parts))


def dag_page(
    flow: str,
    dag_id: str,
    runs: list[dict[str, Any]],
    tag: str | None,
    tags: list[str],
    urls: Urls,
    offset: int,
    limit: int,
) -> str:
    body = (
        f"<div class=crumbs><a href='{esc(urls.index())}'>ML flows</a></div><h1>{esc(flow)}</h1>"
        f"<div class=muted>DAG {esc(dag_id)} · {_count(len(runs))} · "
        f"<a href='{esc(urls.metrics(dag_id))}'>metrics across runs</a></div>"
        f"{_tag_form(urls.dag(dag_id), tag, tags)}"
        f"{runs_table(runs[offset : offset + limit], urls)}"
        f"{pager(urls.dag(dag_id, tag), offset, limit, len(runs))}"
    )
    return page(f"{flow} runs", body)


def pager(base: str, offset: int, limit: int, total: int) -> str:
    if total <= limit:
        return ""
    sep = "&" if "?" in base else "?"
    prev_link = (
        f"<a href='{esc(base)}{sep}offset={max(0, offset - limit)}'>← previous</a>"
        if offset > 0
        else "<span class=muted>← previous</span>"
    )
    next_link = (
        f"<a href='{esc(base)}{sep}offset={offset + limit}'>next →</a>"
        if offset + limit < total
        else "<span class=muted>next →</span>"
    )
    return (
        f"<div class=pager>{prev_link}<span>{offset + 1}-{min(total, offset + limit)} of {total}</span>"
        f"{next_link}</div>"
    )


def compare_page(
    dag_id: str,
    a: dict[str, Any],
    b: dict[str, Any],
    rows: list[dict[str, Any]],
    urls: Urls,
    limit: int = 1000,
) -> str:
    """Two runs side by side: which artifacts changed (by content key), appeared or vanished."""
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    diff = [r for r in rows if r["state"] != "same"]

    def table(items: list[dict[str, Any]]) -> str:
        body = "".join(
            f"<tr><td>{esc(r['step'])}/{esc(r['task_id'])}</td><td class=mono>{esc(r['name'])}</td>"
            f"<td class=mono title='{esc(r['a'])}'>{esc((r['a'] or '—')[:12])}</td>"
            f"<td class=mono title='{esc(r['b'])}'>{esc((r['b'] or '—')[:12])}</td>"
            f"<td>{badge(r['state'])}</td></tr>"
            for r in items[:limit]
        )
        cut = f"<p class=muted>{len(items) - limit} more rows not shown.</p>" if len(items) > limit else ""
        return (
            "<div class=scroll><table><thead><tr><th>Task</th><th>Artifact</th>"
            f"<th>A: <a href='{esc(urls.run(dag_id, a['run_id']))}'>{esc(a['run_id'])}</a></th>"
            f"<th>B: <a href='{esc(urls.run(dag_id, b['run_id']))}'>{esc(b['run_id'])}</a></th>"
            f"<th></th></tr></thead><tbody>{body}</tbody></table></div>{cut}"
        )

    summary = " ".join(f"{badge(s)} {n}" for s, n in sorted(counts.items()))
    body = (
        f"<div class=crumbs><a href='{esc(urls.index())}'>ML flows</a> / "
        f"<a href='{esc(urls.dag(dag_id))}'>{esc(a['flow_name'])}</a></div>"
        f"<h1>Compare runs</h1><div class=row>{summary}</div>"
        + ("<h2>Changed</h2>" + table(diff) if diff else "<p>No artifact changed.</p>")
        + (
            f"<details><summary>{counts.get('same', 0)} unchanged</summary>"
            f"{table([r for r in rows if r['state'] == 'same'])}</details>"
            if counts.get("same")
            else ""
        )
    )
    return page("Compare runs", body)
