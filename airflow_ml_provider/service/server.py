"""Run a service file with uvicorn: ``airflow-ml-provider serve FILE [--host --port --workers]``.

One worker: the app object is built here and handed to uvicorn. Several workers: uvicorn's
multiprocess mode starts fresh processes that each import :func:`app_from_env` (an app factory
given as an import string) and read the file path from the environment; each worker has its own
poller and its own copy of the loaded version (so each loads the model once). During a swap two
workers may briefly serve different runs; each response still comes from one run and says which.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_ml_provider.service.limits import KEEP_ALIVE_SECONDS, Limits
from airflow_ml_provider.service.spec import ServiceSpecError, WebServiceSpec

if TYPE_CHECKING:
    from fastapi import FastAPI

ENV_FILE = "ML_PROVIDER_SERVICE_FILE"
ENV_POLL = "ML_PROVIDER_SERVICE_POLL_INTERVAL"
ENV_MAX_BODY = "ML_PROVIDER_SERVICE_MAX_BODY_BYTES"
ENV_MAX_DEPTH = "ML_PROVIDER_SERVICE_MAX_JSON_DEPTH"
APP_FACTORY = "airflow_ml_provider.service.server:app_from_env"


def load_service_class(path: str | os.PathLike[str]) -> type[WebServiceSpec]:
    """Import ``path`` and return its one WebServiceSpec subclass (ServiceSpecError otherwise)."""
    file = Path(path).expanduser().resolve()
    if not file.is_file():
        raise ServiceSpecError(f"service file {file} does not exist")
    module_name = f"ml_service_{file.stem}_{hashlib.sha1(str(file).encode()).hexdigest()[:8]}"
    spec = importlib.util.spec_from_file_location(module_name, file)
    if spec is None or spec.loader is None:
        raise ServiceSpecError(f"{file} is not an importable Python file")
    if str(file.parent) not in sys.path:  # let the service import helpers next to it
        sys.path.insert(0, str(file.parent))
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    found = [
        obj for obj in vars(module).values()
        if isinstance(obj, type) and issubclass(obj, WebServiceSpec) and obj is not WebServiceSpec
        and obj.__module__ == module_name
    ]  # fmt: skip
    if len(found) != 1:
        names = ", ".join(sorted(c.__name__ for c in found)) or "none"
        raise ServiceSpecError(
            f"{file} must define exactly one WebServiceSpec subclass, found {len(found)} ({names}); "
            "put each service in its own file"
        )
    found[0].validate()
    return found[0]


def build_app(
    path: str | os.PathLike[str], poll_interval: float | None = None, limits: Limits | None = None
) -> FastAPI:
    """The ASGI app serving the service defined in ``path``."""
    from airflow_ml_provider.service.app import create_app
    from airflow_ml_provider.service.snapshot import VersionManager

    return create_app(VersionManager(load_service_class(path), poll_interval=poll_interval), limits=limits)


def make_limits(max_body_bytes: int | None = None, max_json_depth: int | None = None) -> Limits:
    """Request limits from the command line (None keeps a default); ServiceSpecError when invalid."""
    given = {"max_body_bytes": max_body_bytes, "max_json_depth": max_json_depth}
    try:
        return Limits(**{k: v for k, v in given.items() if v is not None})
    except ValueError as exc:
        raise ServiceSpecError(f"--{exc}") from None


def app_from_env() -> FastAPI:
    """uvicorn app factory for worker processes (file and options come from the environment)."""
    path = os.environ.get(ENV_FILE)
    if not path:
        raise RuntimeError(f"{ENV_FILE} is not set; start the service with `airflow-ml-provider serve FILE`")
    poll = os.environ.get(ENV_POLL)
    body, depth = os.environ.get(ENV_MAX_BODY), os.environ.get(ENV_MAX_DEPTH)
    limits = make_limits(int(body) if body else None, int(depth) if depth else None)
    return build_app(path, float(poll) if poll else None, limits)


def log_config(level: str = "info") -> dict[str, Any]:
    """uvicorn's logging config plus our loggers (service events and the access log)."""
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = {
        **LOGGING_CONFIG,
        "formatters": {
            **LOGGING_CONFIG["formatters"],
            "service": {"format": "%(asctime)s %(levelname)s [pid %(process)d] %(name)s: %(message)s"},
        },
        "handlers": {
            **LOGGING_CONFIG["handlers"],
            "service": {"formatter": "service", "class": "logging.StreamHandler", "stream": "ext://sys.stderr"},
        },
        "loggers": {
            **LOGGING_CONFIG["loggers"],
            "airflow_ml_provider": {"handlers": ["service"], "level": level.upper(), "propagate": False},
        },
    }
    return config


def serve(
    path: str | os.PathLike[str],
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    poll_interval: float | None = None,
    log_level: str = "info",
    max_body_bytes: int | None = None,
    max_json_depth: int | None = None,
) -> None:
    """Serve ``path`` until interrupted. Raises ServiceSpecError before binding on a bad file.

    ``max_body_bytes`` / ``max_json_depth``: see :mod:`.limits` (defaults 10 MB and 64).
    """
    import uvicorn

    limits = make_limits(max_body_bytes, max_json_depth)
    path = str(Path(path).expanduser().resolve())
    common: dict[str, Any] = {
        "host": host, "port": port, "log_config": log_config(log_level), "log_level": log_level,
        "access_log": False,  # our middleware logs requests with the serving run id
        "timeout_graceful_shutdown": 10, "timeout_keep_alive": KEEP_ALIVE_SECONDS,
    }  # fmt: skip
    if workers <= 1:
        uvicorn.run(build_app(path, poll_interval, limits), **common)
        return
    load_service_class(path)  # fail here, with one clear message, rather than in every worker
    os.environ[ENV_FILE] = path
    os.environ[ENV_MAX_BODY] = str(limits.max_body_bytes)
    os.environ[ENV_MAX_DEPTH] = str(limits.max_json_depth)
    if poll_interval:
        os.environ[ENV_POLL] = str(poll_interval)
    logging.getLogger("airflow_ml_provider.service").info("starting %d workers for %s", workers, path)
    uvicorn.run(APP_FACTORY, factory=True, workers=workers, **common)
