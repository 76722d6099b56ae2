"""Routes for cards and the metric-across-runs view, added to the plugin's app by :func:`register`.

Guarded like every plugin route (:mod:`.security`): card routes need read access to the DAG's task
instances, the metric view to its runs; the ``{dag_id}`` in the path decides, and a run is only
served when it belongs to that DAG (:meth:`StoreReader.run`). Ids from the URL are validated by
:mod:`.queries` and :mod:`.card_queries` (a bad or unknown one is a 404).

The card route serves stored HTML under :data:`CARD_CSP`: no script can run in it whatever it
contains, it loads nothing from the network, and it is itself sandboxed (the CSP ``sandbox``
directive) even when opened on its own, outside its sandboxed iframe.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from airflow_ml_provider.datastore import ArtifactIntegrityError
from airflow_ml_provider.plugin import card_pages
from airflow_ml_provider.plugin.card_queries import (
    DEFAULT_RUNS,
    TaskCards,
    card_html,
    find_card,
    metric_choices,
    metric_series,
    run_count,
    task_cards,
    valid_attempt,
    valid_card_hash,
)
from airflow_ml_provider.plugin.queries import StoreReader, TaskSummary
from airflow_ml_provider.plugin.render import CSP, FRAMING_CSP
from airflow_ml_provider.plugin.security import READ_RUN, READ_TASK
from airflow_ml_provider.plugin.urls import Urls

#: What the brief of issue #20 asks for, then: only same-origin pages may frame a card, no base
#: URL, no form target, and the document is sandboxed even when opened directly.
CARD_CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'; sandbox"
)
CARD_HEADERS = {
    "Content-Security-Policy": CARD_CSP,
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",  # a refreshing card changes under the same URL
    "Referrer-Policy": "no-referrer",
}
CARD_ROUTE = "/dags/{dag_id}/runs/{run_id}/steps/{step}/tasks/{task_id}/cards/{attempt}/{card_hash}"


def page_response(body: str, framing: bool = False) -> HTMLResponse:
    """A plugin page; ``framing`` lets it frame same-origin card routes (``frame-src 'self'``)."""
    return HTMLResponse(
        body,
        headers={
            "Content-Security-Policy": FRAMING_CSP if framing else CSP,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


def cards_of_tasks(store: StoreReader, flow: str, run_id: str, step: str, tasks: list[TaskSummary]) -> list:
    """``(step, task id, TaskCards)`` for each listed task of a step (what the run page links)."""
    return [(step, t.task_id, task_cards(store, flow, run_id, step, t.task_id)) for t in tasks]


def register(app: FastAPI, reader: Callable[[], StoreReader], urls_of: Callable[[Request], Urls]) -> None:
    """Add the card and metric routes to ``app`` (``reader`` and ``urls_of`` are the app's own)."""

    def _card(dag_id: str, run_id: str, step: str, task_id: str, attempt: str, card_hash: str) -> tuple:
        store = reader()
        card_hash = valid_card_hash(card_hash)
        flow, rid, meta = store.run(dag_id, run_id)
        summary = store.task(flow, rid, step, task_id)  # validates step and task id
        record = find_card(store, flow, rid, step, task_id, valid_attempt(attempt, summary.attempts), card_hash)
        return store, flow, meta, record

    @app.get(CARD_ROUTE, dependencies=[READ_TASK])
    def card(dag_id: str, run_id: str, step: str, task_id: str, attempt: str, card_hash: str) -> Response:
        """The card's stored HTML as is, under CARD_CSP (framed by the task page and the full-size view)."""
        store, flow, _meta, record = _card(dag_id, run_id, step, task_id, attempt, card_hash)
        try:
            html = card_html(store, flow, record)
        except ArtifactIntegrityError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=409, headers=CARD_HEADERS)
        return HTMLResponse(html, headers=CARD_HEADERS)

    @app.get(CARD_ROUTE + "/view", response_class=HTMLResponse, dependencies=[READ_TASK])
    def card_view(
        request: Request, dag_id: str, run_id: str, step: str, task_id: str, attempt: str, card_hash: str
    ) -> Response:
        """One card at full size, framed the same way as on the task page."""
        _store, _flow, meta, record = _card(dag_id, run_id, step, task_id, attempt, card_hash)
        return page_response(card_pages.card_view_page(meta, step, task_id, record, urls_of(request)), framing=True)

    @app.get("/dags/{dag_id}/metrics", response_class=HTMLResponse, dependencies=[READ_RUN])
    def metrics(
        request: Request, dag_id: str, step: str | None = None, artifact: str | None = None, n: int = DEFAULT_RUNS
    ) -> Response:
        """Pick a step and a numeric artifact; see it over the newest ``n`` runs as a server-side SVG."""
        store = reader()
        flow = store.flow_for_dag(dag_id)
        n = run_count(n)
        series = metric_series(store, dag_id, step, artifact, n) if step and artifact else None
        choices = metric_choices(store, dag_id)
        return page_response(card_pages.metric_page(flow, dag_id, series, choices, n, urls_of(request)))

    @app.get("/api/dags/{dag_id}/metrics", dependencies=[READ_RUN])
    def api_metrics(dag_id: str, step: str, artifact: str, n: int = DEFAULT_RUNS) -> dict[str, Any]:
        return metric_series(reader(), dag_id, step, artifact, run_count(n)).as_json()

    @app.get("/api/dags/{dag_id}/runs/{run_id}/steps/{step}/tasks/{task_id}/cards", dependencies=[READ_TASK])
    def api_cards(request: Request, dag_id: str, run_id: str, step: str, task_id: str) -> dict[str, Any]:
        """The task's cards (newest attempt that has any) with the URLs of their HTML and full-size view."""
        store = reader()
        flow, rid, _meta = store.run(dag_id, run_id)
        store.task(flow, rid, step, task_id)
        found: TaskCards = task_cards(store, flow, rid, step, task_id)
        urls = urls_of(request)
        ids = (dag_id, rid, step, task_id)
        return {
            "problem": found.problem,
            "cards": [
                {
                    **{k: r.get(k) for k in ("type", "id", "hash", "attempt", "index", "updated_at", "final", "size")},
                    "url": urls.card(*ids, int(r["attempt"]), str(r["hash"])),
                    "view_url": urls.card_view(*ids, int(r["attempt"]), str(r["hash"])),
                }
                for r in found.cards
            ],
        }
