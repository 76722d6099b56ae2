"""The plugin's FastAPI app: HTML pages for the Airflow UI views plus a JSON API.

Every route is guarded (see :mod:`.security`); ids from the URL are validated by
:mod:`.queries`, whose :class:`NotFound` becomes a 404 here. Handlers are plain ``def`` so FastAPI
runs their (blocking) store reads in its thread pool.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse

from airflow_ml_provider.config import artifact_root
from airflow_ml_provider.datastore import ArtifactIntegrityError
from airflow_ml_provider.datastore.ids import InvalidIdError
from airflow_ml_provider.datastore.task_logs import STREAMS, log_text
from airflow_ml_provider.plugin import card_pages, card_routes, listing, pages
from airflow_ml_provider.plugin.card_queries import task_cards
from airflow_ml_provider.plugin.input_limits import QueryLimitMiddleware
from airflow_ml_provider.plugin.queries import (
    NotFound,
    StoreReader,
    TaskSummary,
    backend_for,
    compare,
    safe_filename,
    valid,
    valid_key,
)
from airflow_ml_provider.plugin.render import CSP, esc, page
from airflow_ml_provider.plugin.security import READ_RUN, READ_TASK, GetUserDep, readable_dag_ids
from airflow_ml_provider.plugin.urls import PREFIX, Urls

PAGE_SIZE = 50
MAX_PAGE = 500
RUNS_PER_FLOW = 10
CHUNK = 1 << 20


def reader() -> StoreReader:
    return StoreReader(backend_for(artifact_root()))


def _urls(request: Request) -> Urls:
    return Urls(str(request.scope.get("root_path") or PREFIX).rstrip("/"))


def _html(body: str) -> HTMLResponse:
    return HTMLResponse(
        body,
        headers={
            "Content-Security-Policy": CSP,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


def _bounds(offset: int, limit: int) -> tuple[int, int]:
    return max(0, offset), min(MAX_PAGE, max(1, limit))


# -- shared data builders (HTML and JSON routes use the same ones) ----------------------------
def visible_flows(user: Any, tag: str | None) -> tuple[list[tuple[str, str, list[dict[str, Any]]]], list[str]]:
    """``[(flow, dag_id, runs newest first)]`` for the DAGs the user may read, plus all their tags."""
    allowed = readable_dag_ids(user)
    store = reader()
    flows, tags = [], set()
    for flow in store.flow_names():
        by_dag: dict[str, list[dict[str, Any]]] = {}
        for run in store.runs(flow):
            by_dag.setdefault(str(run.get("dag_id")), []).append(run)
        for dag_id, runs in by_dag.items():
            if dag_id not in allowed:
                continue
            tags.update(t for r in runs for t in (r.get("tags") or []) if isinstance(t, str))
            shown = [r for r in runs if not tag or tag in (r.get("tags") or [])]
            if shown:
                flows.append((flow, dag_id, shown))
    flows.sort(key=lambda f: str(f[2][0].get("created_at") or ""), reverse=True)
    return flows, sorted(tags)


def skipped_steps(meta: dict[str, Any], steps: list[tuple[str, int, list[TaskSummary]]]) -> list[str]:
    """Steps of a successful run that have no task: a switch chose another case (Airflow shows
    them ``skipped``). Of a failed or running run nothing is claimed: those may just not have run."""
    if meta.get("status") != "success":
        return []
    ran = {s for s, _, _ in steps}
    return [s for s in meta.get("steps") or [] if s not in ran]


def run_steps(
    store: StoreReader, flow: str, run_id: str, meta: dict[str, Any] | None = None
) -> list[tuple[str, int, list[TaskSummary]]]:
    """Each step with its task count and first page of tasks, in the flow's order (the client's)."""
    out = []
    for step in store.steps(flow, run_id, meta):
        try:
            total, tasks = store.step_page(flow, run_id, step, 0, PAGE_SIZE)
        except NotFound:
            continue
        out.append((step, total, tasks))
    return out


def _task(store: StoreReader, dag_id: str, run_id: str, step: str, task_id: str):
    flow, rid, meta = store.run(dag_id, run_id)
    summary = store.task(flow, rid, step, task_id)
    return flow, rid, meta, summary


def create_app() -> FastAPI:
    """Build the app; Airflow mounts it under ``/ml-artifacts`` (see the plugin class)."""
    app = FastAPI(title="ML artifacts", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(QueryLimitMiddleware)  # bounded query input, before auth and store reads

    @app.exception_handler(NotFound)
    @app.exception_handler(InvalidIdError)
    def not_found(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith(f"{request.scope.get('root_path', '')}/api/"):
            return JSONResponse({"detail": str(exc)}, status_code=404)
        body = page("Not found", f"<h1>Not found</h1><p class=muted>{esc(exc)}</p>")
        return HTMLResponse(body, status_code=404, headers={"Content-Security-Policy": CSP})

    # -- HTML ------------------------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse)
    def index(request: Request, user: GetUserDep, tag: str | None = None) -> Response:
        flows, tags = visible_flows(user, tag)
        return _html(listing.index_page(flows, tag, tags, _urls(request), RUNS_PER_FLOW))

    @app.get("/dags/{dag_id}", response_class=HTMLResponse, dependencies=[READ_RUN])
    def dag(request: Request, dag_id: str, tag: str | None = None, offset: int = 0, limit: int = PAGE_SIZE) -> Response:
        store = reader()
        flow = store.flow_for_dag(dag_id)
        runs = store.runs(flow, dag_id=dag_id)
        tags = sorted({t for r in runs for t in (r.get("tags") or []) if isinstance(t, str)})
        shown = [r for r in runs if not tag or tag in (r.get("tags") or [])]
        offset, limit = _bounds(offset, limit)
        return _html(listing.dag_page(flow, dag_id, shown, tag, tags, _urls(request), offset, limit))

    @app.get("/dags/{dag_id}/runs/{run_id}", response_class=HTMLResponse, dependencies=[READ_RUN])
    def run(request: Request, dag_id: str, run_id: str) -> Response:
        store = reader()
        flow, rid, meta = store.run(dag_id, run_id)
        others = store.runs(flow, dag_id=dag_id)[:100]
        steps = run_steps(store, flow, rid, meta)
        urls = _urls(request)
        cards = [c for s, _n, ts in steps for c in card_routes.cards_of_tasks(store, flow, rid, s, ts)]
        cards_html = card_pages.run_cards_section(meta, cards, urls)
        return _html(pages.run_page(meta, steps, others, urls, cards_html, skipped_steps(meta, steps)))

    @app.get("/dags/{dag_id}/runs/{run_id}/steps/{step}", response_class=HTMLResponse, dependencies=[READ_RUN])
    def step(
        request: Request, dag_id: str, run_id: str, step: str, offset: int = 0, limit: int = PAGE_SIZE
    ) -> Response:
        store = reader()
        flow, rid, meta = store.run(dag_id, run_id)
        offset, limit = _bounds(offset, limit)
        total, tasks = store.step_page(flow, rid, valid(step, "step name"), offset, limit)
        if total == 0:
            raise NotFound(f"no step {step!r}")
        return _html(pages.step_page(meta, step, total, tasks, _urls(request), offset, limit))

    @app.get(
        "/dags/{dag_id}/runs/{run_id}/steps/{step}/tasks/{task_id}",
        response_class=HTMLResponse,
        dependencies=[READ_TASK],
    )
    def task(request: Request, dag_id: str, run_id: str, step: str, task_id: str) -> Response:
        store = reader()
        flow, rid, meta, summary = _task(store, dag_id, run_id, step, task_id)
        attempts = store.all_attempts(flow, rid, step, task_id)
        summary = store.with_integrity(flow, summary)
        return _task_page(store, flow, meta, step, summary, attempts, _urls(request))

    @app.get(
        "/dags/{dag_id}/runs/{run_id}/tasks/{airflow_task_id}",
        response_class=HTMLResponse,
        dependencies=[READ_TASK],
    )
    def task_instance(
        request: Request, dag_id: str, run_id: str, airflow_task_id: str, map_index: str = "-1"
    ) -> Response:
        """The task-instance tab: Airflow's task id and map index, resolved to a store task."""
        store = reader()
        flow, rid, meta = store.run(dag_id, run_id)
        step_name = store.step_for_airflow_task(flow, rid, airflow_task_id)
        index = _map_index(map_index)
        task_id = store.task_for_map_index(flow, rid, step_name, index)
        summary = store.with_integrity(flow, store.task(flow, rid, step_name, task_id))
        attempts = store.all_attempts(flow, rid, step_name, task_id)
        return _task_page(store, flow, meta, step_name, summary, attempts, _urls(request))

    @app.get("/dags/{dag_id}/runs/{run_id}/steps/{step}/tasks/{task_id}/blobs/{key}", dependencies=[READ_TASK])
    def blob(dag_id: str, run_id: str, step: str, task_id: str, key: str) -> Response:
        """Raw stored bytes of an artifact of this task, never decoded (octet-stream, attachment)."""
        store = reader()
        valid_key(key)
        flow, rid, _meta, _summary = _task(store, dag_id, run_id, step, task_id)
        record = None
        for att in reversed(store.all_attempts(flow, rid, step, task_id)):
            for name, rec in (att.get("artifacts") or {}).items():
                if isinstance(rec, dict) and rec.get("key") == key:
                    record = (str(name), rec)
                    break
            if record:
                break
        if record is None:
            raise NotFound("no such artifact in this task")
        try:
            data = store.flow(flow).get_blob(key, record[0])  # hashed first: never serve rotten bytes
        except ArtifactIntegrityError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=409)
        view = memoryview(data)

        def chunks() -> Iterator[bytes]:
            for start in range(0, view.nbytes, CHUNK):
                yield bytes(view[start : start + CHUNK])

        filename = safe_filename(record[0], record[1].get("serializer"))
        return StreamingResponse(
            chunks(),
            media_type="application/octet-stream",
            headers={
                "Content-Disposition": f'attachment; filename="{filename}"',
                "Content-Length": str(view.nbytes),
                "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "default-src 'none'; sandbox",
            },
        )

    @app.get(
        "/dags/{dag_id}/runs/{run_id}/steps/{step}/tasks/{task_id}/attempts/{attempt}/{stream}",
        dependencies=[READ_TASK],
    )
    def task_log(dag_id: str, run_id: str, step: str, task_id: str, attempt: str, stream: str) -> Response:
        """An attempt's stored stdout or stderr as plain text (what ``Task.stdout`` returns)."""
        store = reader()
        if stream not in STREAMS:
            raise NotFound(f"no log stream {stream!r}: stdout or stderr")
        flow, rid, _meta, summary = _task(store, dag_id, run_id, step, task_id)
        if not attempt.isdigit() or int(attempt) not in summary.attempts:
            raise NotFound(f"no attempt {attempt!r} of {step}/{task_id}")
        data = store.flow(flow).read_log(rid, step, task_id, int(attempt), stream)
        return Response(
            log_text(data),
            media_type="text/plain; charset=utf-8",
            headers={
                "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "default-src 'none'; sandbox",
                "Cache-Control": "no-store",
            },
        )

    @app.get("/dags/{dag_id}/compare", response_class=HTMLResponse, dependencies=[READ_RUN])
    def compare_runs(request: Request, dag_id: str, a: str, b: str) -> Response:
        ma, mb, rows = _compare(dag_id, a, b)
        return _html(listing.compare_page(dag_id, ma, mb, rows, _urls(request)))

    # -- JSON ------------------------------------------------------------------------------
    @app.get("/api/flows")
    def api_flows(user: GetUserDep, tag: str | None = None) -> dict[str, Any]:
        flows, tags = visible_flows(user, tag)
        return {
            "flows": [
                {"flow_name": f, "dag_id": d, "total_runs": len(r), "runs": r[:RUNS_PER_FLOW]} for f, d, r in flows
            ],
            "tags": tags,
        }

    @app.get("/api/dags/{dag_id}/runs", dependencies=[READ_RUN])
    def api_runs(dag_id: str, tag: str | None = None, offset: int = 0, limit: int = PAGE_SIZE) -> dict[str, Any]:
        store = reader()
        flow = store.flow_for_dag(dag_id)
        runs = store.runs(flow, dag_id=dag_id, tag=tag)
        offset, limit = _bounds(offset, limit)
        return {
            "flow_name": flow,
            "dag_id": dag_id,
            "total": len(runs),
            "runs": runs[offset : offset + limit],
        }

    @app.get("/api/dags/{dag_id}/runs/{run_id}", dependencies=[READ_RUN])
    def api_run(dag_id: str, run_id: str) -> dict[str, Any]:
        store = reader()
        flow, rid, meta = store.run(dag_id, run_id)
        ran = run_steps(store, flow, rid, meta)
        steps = [{"step": s, "total_tasks": n, "tasks": [t.as_json() for t in ts]} for s, n, ts in ran]
        return {"run": meta, "steps": steps, "skipped_steps": skipped_steps(meta, ran)}

    @app.get("/api/dags/{dag_id}/runs/{run_id}/steps/{step}", dependencies=[READ_RUN])
    def api_step(dag_id: str, run_id: str, step: str, offset: int = 0, limit: int = PAGE_SIZE) -> dict[str, Any]:
        store = reader()
        flow, rid, _meta = store.run(dag_id, run_id)
        offset, limit = _bounds(offset, limit)
        total, tasks = store.step_page(flow, rid, valid(step, "step name"), offset, limit)
        if total == 0:
            raise NotFound(f"no step {step!r}")
        return {"step": step, "total": total, "offset": offset, "tasks": [t.as_json() for t in tasks]}

    @app.get("/api/dags/{dag_id}/runs/{run_id}/steps/{step}/tasks/{task_id}", dependencies=[READ_TASK])
    def api_task(dag_id: str, run_id: str, step: str, task_id: str) -> dict[str, Any]:
        store = reader()
        flow, rid, _meta, summary = _task(store, dag_id, run_id, step, task_id)
        return {
            **summary.as_json(),
            "step": step,
            "pathspec": f"{flow}/{rid}/{step}/{task_id}",
            "artifacts": (summary.shown or {}).get("artifacts") or {},
            "attempt_history": [
                {k: a.get(k) for k in ("attempt", "status", "started_at", "finished_at", "duration_s", "exception")}
                for a in store.all_attempts(flow, rid, step, task_id)
            ],
        }

    @app.get("/api/dags/{dag_id}/compare", dependencies=[READ_RUN])
    def api_compare(dag_id: str, a: str, b: str) -> dict[str, Any]:
        ma, mb, rows = _compare(dag_id, a, b)
        return {
            "a": ma["run_id"],
            "b": mb["run_id"],
            "rows": [r for r in rows if r["state"] != "same"],
            "counts": {s: sum(1 for r in rows if r["state"] == s) for s in ("same", "changed", "added", "removed")},
        }

    card_routes.register(app, reader, _urls)
    return app


def _task_page(
    store: StoreReader,
    flow: str,
    meta: dict[str, Any],
    step: str,
    summary: TaskSummary,
    attempts: list[dict[str, Any]],
    urls: Urls,
) -> Response:
    """The task page with its cards first (framed, so the page may frame same-origin card routes)."""
    found = task_cards(store, flow, meta["run_id"], step, summary.task_id)
    cards = card_pages.cards_section(meta, step, summary.task_id, found, urls)
    return card_routes.page_response(pages.task_page(meta, step, summary, attempts, urls, cards), framing=True)


def _compare(dag_id: str, a: str, b: str) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    store = reader()
    flow_a, rid_a, meta_a = store.run(dag_id, a)
    flow_b, rid_b, meta_b = store.run(dag_id, b)
    return meta_a, meta_b, compare(store.artifact_keys(flow_a, rid_a), store.artifact_keys(flow_b, rid_b))


_MAP_INDEX = re.compile(r"-1|0|[1-9][0-9]{0,8}")  # ASCII digits only: int() would also take "²"


def _map_index(raw: str) -> int:
    """Airflow's ``map_index`` query value: -1 (unmapped, or the unfilled ``{MAP_INDEX}``), else >= 0."""
    if raw in ("", "{MAP_INDEX}"):
        return -1
    if not _MAP_INDEX.fullmatch(raw):
        raise NotFound(f"bad map index {raw!r}")
    return int(raw)
