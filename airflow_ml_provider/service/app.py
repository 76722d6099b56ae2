"""The ASGI app: one FastAPI route pair (GET + POST) per ``@endpoint``, plus health and docs.

Request handling, in order: take the live snapshot once (503 when there is none yet), build
``request_dict`` (GET: query parameters; POST: the JSON object body, 400 otherwise), call the
endpoint on that snapshot's spec instance, encode the result as JSON. Every response of an
endpoint names the version that produced it (``X-ML-Run-Id``, ``X-ML-Flow``). Errors are JSON
``{"error": reason}``; tracebacks go to the log, never into the body.
"""

from __future__ import annotations

import inspect
import json
import logging
import math
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import date, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from airflow_ml_provider.service.limits import Limits, RequestLimitMiddleware, parse_json_body
from airflow_ml_provider.service.snapshot import VersionManager
from airflow_ml_provider.service.spec import BadRequest

log = logging.getLogger("airflow_ml_provider.service")
access_log = logging.getLogger("airflow_ml_provider.service.access")

RUN_HEADER = "X-ML-Run-Id"
FLOW_HEADER = "X-ML-Flow"


def _jsonable(value: Any) -> Any:
    """Plain JSON types from what models return (numpy, pandas, sets, dates); NaN/inf -> null."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (datetime, date)):
        return None if value != value else value.isoformat()  # pandas NaT is a datetime unequal to itself
    if hasattr(value, "columns") and hasattr(value, "to_dict"):  # pandas DataFrame
        return _jsonable(value.to_dict(orient="records"))
    if hasattr(value, "index") and hasattr(value, "to_dict") and not _default_index(value):  # labelled Series
        return _jsonable(value.to_dict())
    if hasattr(value, "tolist"):  # numpy arrays and scalars, pandas Series
        return _jsonable(value.tolist())
    raise TypeError(f"endpoint returned a {type(value).__name__}, which is not JSON serializable")


def _default_index(series: Any) -> bool:
    """A Series indexed 0..n-1 (no labels worth keeping): it becomes a JSON list, else an object."""
    index = series.index
    return type(index).__name__ == "RangeIndex" and index.start == 0 and index.step == 1


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class AccessLogMiddleware:
    """One log line per request: method, path, status, duration, serving run id.

    Pure ASGI (not BaseHTTPMiddleware) so it adds microseconds, not a task per request.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        seen: dict[str, Any] = {"status": 500, "run_id": "-"}

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
                for key, value in message.get("headers", []):
                    if key.lower() == b"x-ml-run-id":
                        seen["run_id"] = value.decode()
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            access_log.info(
                "%s %s %s %.1fms run=%s",
                scope["method"], scope["path"], seen["status"], (time.perf_counter() - started) * 1000, seen["run_id"],
            )  # fmt: skip


async def _request_dict(request: Request, max_json_depth: int) -> dict[str, Any]:
    if request.method == "GET":
        out: dict[str, Any] = {}
        for key in request.query_params:
            values = request.query_params.getlist(key)
            out[key] = values[0] if len(values) == 1 else values
        return out
    body = await request.body()
    if not body.strip():
        return {}
    try:
        payload = parse_json_body(body, max_json_depth)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    if not isinstance(payload, dict):
        raise BadRequest(f"the JSON body must be an object, not {type(payload).__name__}")
    return payload


def _make_handler(manager: VersionManager, name: str, func: Callable[..., Any], limits: Limits) -> Callable[..., Any]:
    is_async = inspect.iscoroutinefunction(func)

    async def handler(request: Request) -> Response:
        snap = manager.current  # the one version this request will use, start to finish
        if snap is None:
            return error_response(503, f"no version of {manager.flow_name} is loaded yet; see /health")
        headers = {RUN_HEADER: snap.run_id, FLOW_HEADER: snap.flow_name}
        try:
            payload = await _request_dict(request, limits.max_json_depth)
            method = getattr(snap.instance, name)
            result = await method(payload) if is_async else await run_in_threadpool(method, payload)
            if isinstance(result, Response):
                result.headers.update(headers)
                return result
            body = json.dumps(_jsonable(result)).encode()
        except BadRequest as exc:
            return error_response(exc.status, exc.message, headers)
        except Exception as exc:
            log.exception("endpoint /%s failed on run %s/%s", name, snap.flow_name, snap.run_id)
            return error_response(
                500, f"endpoint /{name} failed: {type(exc).__name__} (details in the server log)", headers
            )
        return Response(body, media_type="application/json", headers=headers)

    handler.__name__ = name
    return handler


def create_app(manager: VersionManager, *, start_poller: bool = True, limits: Limits | None = None) -> FastAPI:
    """The service's FastAPI app; its lifespan starts and stops ``manager``'s poller.

    ``limits`` bound every request before user code sees it (see :mod:`.limits`).
    """
    spec_cls = manager.spec_cls
    limits = limits or Limits()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if start_poller:
            manager.start()
        yield
        manager.stop()

    doc = inspect.getdoc(spec_cls) or ""
    if doc == inspect.getdoc(spec_cls.__mro__[1]):
        doc = ""
    app = FastAPI(
        title=spec_cls.__name__,
        description=f"{doc}\n\nServes artifacts of flow `{spec_cls.flow}`; the `{RUN_HEADER}` response "
        "header names the run that answered.".strip(),
        lifespan=lifespan,
    )
    endpoints = spec_cls.endpoints()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = str(exc.detail)
        if exc.status_code == 404:
            routes = ", ".join(f"/{n}" for n in sorted(endpoints))
            message = f"no route {request.url.path}; endpoints: {routes}"
        elif exc.status_code == 405:
            message = f"method {request.method} not allowed on {request.url.path} (use GET or POST)"
        return error_response(exc.status_code, message)

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, f"internal error: {type(exc).__name__} (details in the server log)")

    @app.get("/health", tags=["service"], summary="Liveness: the process answers")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "pid": os.getpid(), **manager.status()}

    @app.get("/ready", tags=["service"], summary="Readiness: a run version is loaded", responses={503: {}})
    async def ready() -> JSONResponse:
        snap = manager.current
        if snap is None:
            return JSONResponse(
                {"status": "not ready", "error": manager.state.last_error or "first load in progress"},
                status_code=503,
            )
        return JSONResponse({"status": "ready", "flow": snap.flow_name, "run_id": snap.run_id})

    query_doc = {
        "parameters": [
            {
                "name": "request_dict", "in": "query", "required": False, "style": "form", "explode": True,
                "description": "any query parameters; values arrive as strings (repeated keys: lists)",
                "schema": {"type": "object", "additionalProperties": {"type": "string"}},
            }
        ]
    }  # fmt: skip
    body_doc = {
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": {"type": "object", "additionalProperties": True}}},
        }
    }
    for name, func in endpoints.items():
        handler = _make_handler(manager, name, func, limits)
        summary = (inspect.getdoc(func) or name).splitlines()[0]
        common: dict[str, Any] = {"summary": summary, "tags": ["endpoints"], "response_model": None}
        app.add_api_route(f"/{name}", handler, methods=["GET"], operation_id=f"{name}_get",
                          openapi_extra=query_doc, **common)  # fmt: skip
        app.add_api_route(f"/{name}", handler, methods=["POST"], operation_id=f"{name}_post",
                          openapi_extra=body_doc, **common)  # fmt: skip
    app.add_middleware(RequestLimitMiddleware, limits=limits)
    app.add_middleware(AccessLogMiddleware)  # outermost: refused requests are logged too
    return app
