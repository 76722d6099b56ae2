"""What a data scientist writes: a ``WebServiceSpec`` subclass with ``@endpoint`` methods.

This module imports neither FastAPI nor uvicorn nor Airflow, so a service file can be imported
(and its class checked) anywhere the flow code can.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_ml_provider.errors import MLProviderError

if TYPE_CHECKING:
    from airflow_ml_provider.service.snapshot import ServiceArtifacts

F = TypeVar("F", bound=Callable[..., Any])

_ENDPOINT_MARK = "__ml_endpoint__"
# Routes the service itself owns; an endpoint with one of these names would shadow them.
RESERVED_ROUTES = frozenset({"health", "ready", "docs", "redoc", "openapi.json", "openapi"})


class ServiceSpecError(MLProviderError, ValueError):
    """A WebServiceSpec subclass is declared wrongly (raised before the server starts)."""


class BadRequest(MLProviderError):
    """Raise from an endpoint to answer 4xx ``{"error": message}`` instead of a 500.

    User code knows when the *input* is at fault (a missing field, a value out of range); this
    lets it say so without the response looking like a server bug.
    """

    def __init__(self, message: str, status: int = 400) -> None:
        if not 400 <= status < 500:
            raise ValueError(f"BadRequest status must be 4xx, not {status}")
        super().__init__(message)
        self.message = message
        self.status = status


def endpoint(func: F) -> F:
    """Expose ``func(self, request_dict)`` as ``/<func name>`` (GET query parameters or POST JSON).

    The return value is sent as JSON. ``async def`` endpoints run on the event loop; plain ones
    run in a thread pool so a slow model does not block other requests.
    """
    if not callable(func):
        raise ServiceSpecError("@endpoint decorates a method: def name(self, request_dict)")
    params = list(inspect.signature(func).parameters)
    if len(params) != 2:
        raise ServiceSpecError(
            f"@endpoint {func.__qualname__} must take (self, request_dict), not ({', '.join(params)})"
        )
    setattr(func, _ENDPOINT_MARK, True)
    return func


class WebServiceSpec:
    """Serve the artifacts of one flow's run over HTTP.

    Class attributes:

    - ``flow``: the flow name (required).
    - ``run_id``: serve this run only (pinned), or
    - ``tag``: serve the latest successful run carrying this tag;
      neither: the latest successful run.
    - ``poll_interval``: seconds between looks at the store for a newer run (default 30).
    - ``preload``: artifact names loaded before a version goes live (``True``: all of them);
      others load lazily on first use. Preloading turns a broken blob into "keep the old
      version" instead of a 500 later, and keeps serving from memory if the store goes away.

    One instance is built per run version: ``setup(self)`` runs once on it before the version
    takes traffic, so whatever it stores on ``self`` (a model) belongs to that version only.
    """

    flow: str = ""
    run_id: str | None = None
    tag: str | None = None
    poll_interval: float = 30.0
    preload: bool | tuple[str, ...] | list[str] = ()

    artifacts: ServiceArtifacts

    def setup(self) -> None:
        """Build expensive per-version objects (load a model); runs before the version goes live."""

    @classmethod
    def endpoints(cls) -> dict[str, Callable[..., Any]]:
        """``{route name: function}`` of every ``@endpoint`` method, inherited ones included."""
        found: dict[str, Callable[..., Any]] = {}
        for klass in reversed(cls.__mro__):
            for name, value in vars(klass).items():
                if getattr(value, _ENDPOINT_MARK, False):
                    found[name] = value
                elif name in found:  # overridden without @endpoint: no longer a route
                    del found[name]
        return found

    @classmethod
    def validate(cls) -> None:
        """Fail early with a readable message on a misdeclared service."""
        name = cls.__name__
        if not isinstance(cls.flow, str) or not cls.flow:
            raise ServiceSpecError(f'{name} must name its flow: flow = "MyFlow"')
        if cls.run_id and cls.tag:
            raise ServiceSpecError(f"{name} sets both run_id and tag; pin a run or follow a tag, not both")
        try:
            interval = float(cls.poll_interval)
        except (TypeError, ValueError):
            raise ServiceSpecError(f"{name}.poll_interval must be a number of seconds") from None
        if interval <= 0:
            raise ServiceSpecError(f"{name}.poll_interval must be > 0, not {cls.poll_interval}")
        if not (isinstance(cls.preload, bool) or all(isinstance(p, str) for p in cls.preload)):
            raise ServiceSpecError(f"{name}.preload must be True/False or a list of artifact names")
        endpoints = cls.endpoints()
        if not endpoints:
            raise ServiceSpecError(f"{name} has no @endpoint methods")
        clash = sorted(set(endpoints) & RESERVED_ROUTES)
        if clash:
            raise ServiceSpecError(f"{name}: endpoint names {clash} are reserved for the service's own routes")
