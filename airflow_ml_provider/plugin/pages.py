"""The run, step and task pages (the DAG-run and task-instance tabs), built from store metadata.

See :mod:`.render` for the escaping rule every value here follows.
"""

from __future__ import annotations

from typing import Any

from airflow_ml_provider.datastore.records import SUCCESS
from airflow_ml_provider.plugin.listing import pager
from airflow_ml_provider.plugin.queries import TaskSummary
from airflow_ml_provider.plugin.render import (
    badge,
    copy_line,
    esc,
    human_duration,
    human_size,
    json_pre,
    kv,
    page,
    preview_html,
    short_time,
    tags_html,
)
from airflow_ml_provider.plugin.urls import Urls


def _crumbs(meta: dict[str, Any], urls: Urls, *extra: tuple[str, str]) -> str:
    links = [
        (urls.index(), "ML flows"),
        (urls.dag(meta["dag_id"]), meta["flow_name"]),
        (urls.run(meta["dag_id"], meta["run_id"]), meta["run_id"]),
        *extra,
    ]
    return "<div class=crumbs>" + " / ".join(f"<a href='{esc(u)}'>{esc(t)}</a>" for u, t in links) + "</div>"


def _log_link(meta: dict[str, Any], step: str, task: TaskSummary | dict[str, Any], urls: Urls) -> str:
    att = (task.latest if isinstance(task, TaskSummary) else task) or {}
    info = att.get("airflow") if isinstance(att.get("airflow"), dict) else {}
    airflow_run = meta.get("airflow_run_id")
    if not airflow_run:
        return ""
    map_index = info.get("map_index") if isinstance(info.get("map_index"), int) else -1
    href = urls.airflow_task(
        meta["dag_id"], airflow_run, str(info.get("task_id") or step), map_index, info.get("try_number")
    )
    return f"<a target=_top href='{esc(href)}'>log</a>"


def _stored_log_links(meta: dict[str, Any], step: str, task_id: str, attempt: dict[str, Any], urls: Urls) -> str:
    """The attempt's stdout / stderr as the step stored them (``runtime/logcapture.py``), as plain text."""
    number = attempt.get("attempt")
    if not isinstance(number, int):
        return ""
    links = " / ".join(
        f"<a href='{esc(urls.task_log(meta['dag_id'], meta['run_id'], step, task_id, number, s))}'>{s}</a>"
        for s in ("stdout", "stderr")
    )
    return f" <span class=mono>{links}</span>"


def _where(execution: Any) -> str:
    if not isinstance(execution, dict):
        return ""
    where = execution.get("pod_name") or execution.get("host") or ""
    res = execution.get("resources") if isinstance(execution.get("resources"), dict) else {}
    spec = ", ".join(f"{k}={v}" for k, v in res.items() if v not in (None, 0, ""))
    return f"{esc(execution.get('mode'))} <span class=mono>{esc(where)}</span>" + (
        f" <span class=muted>({esc(spec)})</span>" if spec else ""
    )


def _input(att: dict[str, Any] | None) -> str:
    stack = (att or {}).get("foreach_stack")
    if not isinstance(stack, list) or not stack or not isinstance(stack[-1], dict):
        return ""
    top = stack[-1]
    return f"<span class=mono>{esc(top.get('var'))}[{esc(top.get('index'))}] = {esc(top.get('value'))}</span>"


def tasks_table(meta: dict[str, Any], step: str, tasks: list[TaskSummary], urls: Urls) -> str:
    """One row per task of a (foreach) step: the input value, status and where it ran."""
    rows = []
    for t in tasks:
        att = t.latest or {}
        new = (t.shown or att).get("new_artifacts") or []
        rows.append(
            f"<tr><td><a class=mono href='{esc(urls.task(meta['dag_id'], meta['run_id'], step, t.task_id))}'>"
            f"{esc(t.task_id)}</a></td><td>{_input(att)}</td><td>{badge(t.status)}</td>"
            f"<td>{esc(att.get('attempt'))}{'' if len(t.attempts) < 2 else f' of {len(t.attempts)}'}</td>"
            f"<td>{esc(human_duration(att.get('duration_s')))}</td><td>{_where(att.get('execution'))}</td>"
            f"<td class=mono>{esc(', '.join(map(str, new)))}</td>"
            f"<td>{_log_link(meta, step, t, urls)}</td></tr>"
        )
    return (
        "<div class=scroll><table class=tasks><thead><tr><th>Task</th><th>Input</th><th>Status</th>"
        "<th>Attempt</th><th>Duration</th><th>Ran on</th><th>New artifacts</th><th></th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def artifact_card(
    meta: dict[str, Any], step: str, task_id: str, name: str, rec: dict[str, Any], urls: Urls, is_new: bool
) -> str:
    """Name, type, size, content key, preview, download link and the client-API line."""
    key = str(rec.get("key") or "")
    pathspec = f"{meta['flow_name']}/{meta['run_id']}/{step}/{task_id}"
    # _namespace_check=False (Metaflow's argument): this exact task, whoever's namespace the reader is in
    line = f"from airflow_ml_provider import Task; Task({pathspec!r}, _namespace_check=False)[{name!r}].data"
    download = urls.blob(meta["dag_id"], meta["run_id"], step, task_id, key)
    new = " <span class='badge s-success'>new</span>" if is_new else ""
    return (
        f"<details class=card {'open' if is_new else ''}><summary><b class=mono>{esc(name)}</b>{new} "
        f"<span class=muted>{esc(rec.get('type'))} · {esc(human_size(rec.get('size')))} · "
        f"{esc(rec.get('serializer'))}</span></summary>"
        f"<div class=row><span class=muted>content key</span><code title='{esc(key)}'>{esc(key[:16])}…</code>"
        f"<a href='{esc(download)}' download>download bytes</a></div>"
        f"{copy_line(line)}<div class=pv>{preview_html(rec.get('preview'))}</div></details>"
    )


def artifacts_section(meta: dict[str, Any], step: str, task_id: str, att: dict[str, Any] | None, urls: Urls) -> str:
    arts = (att or {}).get("artifacts")
    if not isinstance(arts, dict) or not arts:
        return "<p class=muted>No artifacts.</p>"
    new = {str(n) for n in ((att or {}).get("new_artifacts") or [])}
    names = sorted(arts, key=lambda n: (str(n) not in new, str(n)))
    note = ""
    if (att or {}).get("status") != SUCCESS:
        note = (
            f"<p class=muted>From attempt {esc((att or {}).get('attempt'))}, which did not succeed: "
            "the values it had stored when it stopped.</p>"
        )
    return note + "".join(
        _integrity_note(str(n), arts[n]) + artifact_card(meta, step, task_id, str(n), arts[n], urls, str(n) in new)
        for n in names
        if isinstance(arts[n], dict)
    )


def _integrity_note(name: str, rec: dict[str, Any]) -> str:
    """A missing or corrupt blob is said next to its artifact (the stored preview may look fine)."""
    problem = rec.get("integrity")
    if not problem:
        return ""
    return f"<p class='integrity'>{badge('corrupt')} artifact <b>{esc(name)}</b> is {esc(problem)}</p>"


def _run_header(meta: dict[str, Any], urls: Urls) -> str:
    airflow_run = meta.get("airflow_run_id")
    link = (
        f" <a target=_top href='{esc(urls.airflow_run(meta['dag_id'], airflow_run))}'>open in Airflow</a>"
        if airflow_run
        else ""
    )
    return (
        f"<h1>{esc(meta['flow_name'])} <span class=mono>{esc(meta['run_id'])}</span> "
        f"{badge(meta.get('status'))}</h1>"
        + kv(
            [
                ("DAG", esc(meta.get("dag_id"))),
                ("Airflow run", f"<span class=mono>{esc(airflow_run)}</span>{link}"),
                ("Run type", esc(meta.get("run_type"))),
                ("Started", short_time(meta.get("created_at"))),
                ("Finished", short_time(meta.get("finished_at"))),
                ("Duration", esc(human_duration(meta.get("duration_s")))),
                ("Code hash", f"<code>{esc(meta.get('code_hash'))}</code>"),
                ("Flow file", esc(meta.get("flow_file"))),
                ("Tags", tags_html(meta.get("tags"))),
                ("Parameters", json_pre(meta.get("parameters")) if meta.get("parameters") else ""),
            ]
        )
    )


def _compare_form(meta: dict[str, Any], others: list[dict[str, Any]], urls: Urls) -> str:
    others = [r for r in others if r["run_id"] != meta["run_id"]]
    if not others:
        return ""
    options = "".join(
        f"<option value='{esc(r['run_id'])}'>{esc(r['run_id'])} ({esc(r.get('status'))})</option>" for r in others
    )
    return (
        f"<form method=get action='{esc(urls.compare(meta['dag_id']))}' class=row>"
        f"<input type=hidden name=a value='{esc(meta['run_id'])}'><label>Compare artifacts with "
        f"<select name=b>{options}</select></label><button type=submit>Compare</button></form>"
    )


def run_page(
    meta: dict[str, Any],
    steps: list[tuple[str, int, list[TaskSummary]]],
    others: list[dict[str, Any]],
    urls: Urls,
    cards: str = "",
    skipped: list[str] | None = None,
) -> str:
    """The DAG-run tab: run facts, links to the run's cards, then each step (one task inline, many
    tasks as a paged table), then the steps a switch skipped."""
    metrics = f"<p><a href='{esc(urls.metrics(meta['dag_id']))}'>metrics across runs</a></p>"
    parts = [_crumbs(meta, urls), _run_header(meta, urls), _compare_form(meta, others, urls), metrics, cards]
    for step, total, tasks in steps:
        counts: dict[str, int] = {}
        for t in tasks:
            counts[t.status] = counts.get(t.status, 0) + 1
        summary = " ".join(f"{badge(s)} {n}" for s, n in sorted(counts.items()))
        foreach = total > 1 or any(_input(t.latest) for t in tasks)
        state = summary if foreach else badge(tasks[0].status) if tasks else ""
        head = (
            f"<details class=step open><summary>{esc(step)} <span class=muted>· {total} "
            f"task{'s' if total != 1 else ''}</span> {state}</summary>"
        )
        if foreach:
            more = (
                f"<div class=pager><span class=muted>first {len(tasks)} of {total}</span>"
                f"<a href='{esc(urls.step(meta['dag_id'], meta['run_id'], step))}'>all tasks →</a></div>"
                if total > len(tasks)
                else ""
            )
            parts.append(head + tasks_table(meta, step, tasks, urls) + more + "</details>")
        elif tasks:
            t = tasks[0]
            parts.append(
                head
                + task_facts(meta, step, t, urls)
                + artifacts_section(meta, step, t.task_id, t.shown, urls)
                + "</details>"
            )
        else:
            parts.append(head + "<p class=muted>No tasks yet.</p></details>")
    for step in skipped or []:
        parts.append(
            f"<details class=step><summary>{esc(step)} {badge('skipped')} <span class=muted>· a switch "
            "chose another case</span></summary></details>"
        )
    return page(f"{meta['flow_name']} {meta['run_id']}", "".join(parts))


def task_facts(meta: dict[str, Any], step: str, t: TaskSummary, urls: Urls) -> str:
    att = t.latest or {}
    href = urls.task(meta["dag_id"], meta["run_id"], step, t.task_id)
    return kv(
        [
            (
                "Task",
                f"<a class=mono href='{esc(href)}'>{esc(step)}/{esc(t.task_id)}</a> {_log_link(meta, step, t, urls)}",
            ),
            ("Status", badge(t.status)),
            ("Attempt", f"{esc(att.get('attempt'))} <span class=muted>({len(t.attempts)} total)</span>"),
            ("Input", _input(att)),
            ("Switch", _switch(att.get("switch"))),
            ("Duration", esc(human_duration(att.get("duration_s")))),
            ("Ran on", _where(att.get("execution"))),
        ]
    )


def _switch(choice: dict[str, Any] | None) -> str:
    """A switch task's decision: ``self.<condition> = <value> → <case step>``."""
    if not choice:
        return ""
    condition, value, case = choice.get("condition"), repr(choice.get("value")), choice.get("step")
    return f"<span class=mono>self.{esc(condition)} = {esc(value)} → {esc(case)}</span>"


def step_page(
    meta: dict[str, Any], step: str, total: int, tasks: list[TaskSummary], urls: Urls, offset: int, limit: int
) -> str:
    body = (
        _crumbs(meta, urls, (urls.step(meta["dag_id"], meta["run_id"], step), step))
        + f"<h1>{esc(step)} <span class=muted>· {total} tasks</span></h1>"
        + pager(urls.step(meta["dag_id"], meta["run_id"], step), offset, limit, total)
        + tasks_table(meta, step, tasks, urls)
        + pager(urls.step(meta["dag_id"], meta["run_id"], step), offset, limit, total)
    )
    return page(f"{step} · {meta['run_id']}", body)


def task_page(
    meta: dict[str, Any], step: str, t: TaskSummary, attempts: list[dict[str, Any]], urls: Urls, cards: str = ""
) -> str:
    """The task-instance tab: the task's cards first (``cards``, already rendered), then facts,
    attempts and artifacts."""
    rows = []
    for a in attempts:
        exc = a.get("exception") if isinstance(a.get("exception"), dict) else None
        err = (
            (
                f"<details><summary class=mono>{esc(exc.get('type'))}: {esc(exc.get('message'))}</summary>"
                f"<pre>{esc(exc.get('traceback'))}</pre></details>"
            )
            if exc
            else ""
        )
        rows.append(
            f"<tr><td>{esc(a.get('attempt'))}</td><td>{badge(a.get('status'))}</td>"
            f"<td>{short_time(a.get('started_at'))}</td><td>{esc(human_duration(a.get('duration_s')))}</td>"
            f"<td>{_where(a.get('execution'))}</td><td>{_log_link(meta, step, a, urls)}"
            f"{_stored_log_links(meta, step, t.task_id, a, urls)}</td>"
            f"<td>{err}</td></tr>"
        )
    parents = [p for p in (t.latest or {}).get("parents") or [] if isinstance(p, str) and p.count("/") == 1]
    parent_links = ", ".join(
        f"<a class=mono href='{esc(urls.task(meta['dag_id'], meta['run_id'], *p.split('/')))}'>{esc(p)}</a>"
        for p in parents
    )
    body = (
        _crumbs(
            meta,
            urls,
            (urls.step(meta["dag_id"], meta["run_id"], step), step),
            (urls.task(meta["dag_id"], meta["run_id"], step, t.task_id), t.task_id),
        )
        + f"<h1>{esc(step)}/{esc(t.task_id)} {badge(t.status)}</h1>"
        + cards
        + task_facts(meta, step, t, urls)
        + kv([("Parents", parent_links)])
        + "<h2>Attempts</h2><div class=scroll><table><thead><tr><th>#</th><th>Status</th><th>Started</th>"
        + "<th>Duration</th><th>Ran on</th><th>Logs</th><th>Error</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></div>"
        + "<h2>Artifacts</h2>"
        + artifacts_section(meta, step, t.task_id, t.shown, urls)
    )
    return page(f"{step}/{t.task_id} · {meta['run_id']}", body)
