"""Step and flow decorators with Metaflow's names and meanings.

A step decorator only records intent on the function (``func._ml_decorators``); the compiler turns
it into operator arguments (resources, retries, timeout, pod spec) and the runtime applies the
parts that act inside the step (``@catch``, ``@environment``). Every option is validated when the
flow file is parsed, so a typo is an import error with the file and line, not a silent no-op.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from airflow_ml_provider.errors import MLProviderError

F = TypeVar("F", bound=Callable[..., Any])


class DecoratorError(MLProviderError, TypeError):
    """A step or flow decorator used with a wrong value."""


def _where(func: Callable[..., Any]) -> str:
    code = getattr(func, "__code__", None)
    return f"{code.co_filename}:{code.co_firstlineno}: " if code else ""


@dataclass(frozen=True)
class StepDecorator:
    name = "decorator"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _number(value: Any, what: str, *, allow_none: bool = True) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise DecoratorError(f"{what} must be a non-negative number, not {value!r}")
    return value


def _whole_gpus(value: float | None, where: str) -> None:
    """Kubernetes refuses fractional extended resources when the pod is created; say so at import."""
    if value is not None and float(value) != int(value):
        raise DecoratorError(f"{where}(gpu={value}) must be a whole number of GPUs: Kubernetes cannot share one")


@dataclass(frozen=True)
class Resources(StepDecorator):
    """``@resources(cpu=1, memory=4096, gpu=0, disk=None)``: memory and disk in MB (as Metaflow)."""

    name = "resources"
    cpu: float = 1
    memory: float = 4096
    gpu: float = 0
    disk: float | None = None
    shared_memory: float | None = None

    def __post_init__(self) -> None:
        for key in ("cpu", "memory", "gpu", "disk", "shared_memory"):
            _number(getattr(self, key), f"@resources({key}=...)")
        _whole_gpus(self.gpu, "@resources")


@dataclass(frozen=True)
class Kubernetes(StepDecorator):
    """``@kubernetes(...)``: pod placement and identity. Resource options override ``@resources``."""

    name = "kubernetes"
    image: str | None = None
    namespace: str | None = None
    service_account: str | None = None
    node_selector: dict[str, str] | None = None
    tolerations: list[dict[str, Any]] | None = None
    affinity: dict[str, Any] | None = None
    secrets: list[str] | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    image_pull_policy: str | None = None
    cpu: float | None = None
    memory: float | None = None
    gpu: float | None = None
    gpu_vendor: str = "nvidia"
    disk: float | None = None

    def __post_init__(self) -> None:
        for key in ("node_selector", "labels", "annotations", "affinity"):
            value = getattr(self, key)
            if value is not None and not isinstance(value, dict):
                raise DecoratorError(f"@kubernetes({key}=...) must be a dict, not {type(value).__name__}")
        for key in ("tolerations", "secrets"):
            value = getattr(self, key)
            if value is not None and not isinstance(value, list | tuple):
                raise DecoratorError(f"@kubernetes({key}=...) must be a list, not {type(value).__name__}")
        for key in ("cpu", "memory", "gpu", "disk"):
            _number(getattr(self, key), f"@kubernetes({key}=...)")
        _whole_gpus(self.gpu, "@kubernetes")
        if self.image_pull_policy not in (None, "Always", "IfNotPresent", "Never"):
            raise DecoratorError("@kubernetes(image_pull_policy=...) must be Always, IfNotPresent or Never")


@dataclass(frozen=True)
class Retry(StepDecorator):
    """``@retry(times=3, minutes_between_retries=2)``: Airflow retries; each try is an attempt."""

    name = "retry"
    times: int = 3
    minutes_between_retries: float = 2

    def __post_init__(self) -> None:
        if isinstance(self.times, bool) or not isinstance(self.times, int) or self.times < 0:
            raise DecoratorError(f"@retry(times=...) must be a non-negative int, not {self.times!r}")
        _number(self.minutes_between_retries, "@retry(minutes_between_retries=...)", allow_none=False)


@dataclass(frozen=True)
class Timeout(StepDecorator):
    """``@timeout(seconds=, minutes=, hours=)``: the task's execution timeout (summed)."""

    name = "timeout"
    seconds: float = 0
    minutes: float = 0
    hours: float = 0

    def __post_init__(self) -> None:
        for key in ("seconds", "minutes", "hours"):
            _number(getattr(self, key), f"@timeout({key}=...)", allow_none=False)
        if self.total_seconds <= 0:
            raise DecoratorError("@timeout needs a positive seconds=, minutes= or hours=")

    @property
    def total_seconds(self) -> float:
        return self.seconds + 60 * self.minutes + 3600 * self.hours


@dataclass(frozen=True)
class Catch(StepDecorator):
    """``@catch(var="error")``: a failing step stores its exception in ``var`` and the flow goes on."""

    name = "catch"
    var: str | None = None
    print_exception: bool = True

    def __post_init__(self) -> None:
        if self.var is not None and (not isinstance(self.var, str) or not self.var.isidentifier()):
            raise DecoratorError(f"@catch(var=...) must be an identifier, not {self.var!r}")


@dataclass(frozen=True)
class Environment(StepDecorator):
    """``@environment(vars={...})``: environment variables set for the step process (and pod)."""

    name = "environment"
    vars: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.vars, dict) or not all(isinstance(k, str) for k in self.vars):
            raise DecoratorError("@environment(vars=...) must be a dict of str -> str")


CARD_TYPES = ("default", "blank")


@dataclass(frozen=True)
class CardOptions(StepDecorator):
    """One ``@card(type="default", id=None, options={}, timeout=45, refresh_interval=5, ...)``."""

    name = "card"
    type: str = "default"
    id: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    scope: str = "task"
    timeout: float = 45  # accepted; the card renders in the step's process, bounded by @timeout
    save_errors: bool = True
    customize: bool = False
    refresh_interval: float = 5
    rank: str | None = None

    def __post_init__(self) -> None:
        from airflow_ml_provider.datastore.card_store import check_card_name

        if self.type not in CARD_TYPES:
            raise DecoratorError(f"@card(type={self.type!r}): known card types are {', '.join(CARD_TYPES)}")
        if self.id is not None:
            try:
                check_card_name(self.id, "@card(id=...)")
            except ValueError as exc:
                raise DecoratorError(str(exc)) from None
        if not isinstance(self.options, dict):
            raise DecoratorError(f"@card(options=...) must be a dict, not {type(self.options).__name__}")
        if self.scope != "task":
            raise DecoratorError(f"@card(scope={self.scope!r}): only scope='task' exists")
        _number(self.timeout, "@card(timeout=...)", allow_none=False)
        _number(self.refresh_interval, "@card(refresh_interval=...)", allow_none=False)


@dataclass(frozen=True)
class Cards(StepDecorator):
    """Every ``@card`` of a step, top to bottom (a step may carry several)."""

    name = "card"
    cards: tuple[CardOptions, ...] = ()


def card(func: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """``@card`` / ``@card(type="blank", id="report")``: the step renders an HTML card (repeatable)."""

    def apply(f: F) -> F:
        try:
            instance = CardOptions(**options)
        except TypeError as exc:
            known = ", ".join(inspect.signature(CardOptions).parameters)
            raise DecoratorError(f"{_where(f)}@card: {exc} (options: {known})") from None
        except DecoratorError as exc:
            raise DecoratorError(f"{_where(f)}{exc}") from None
        decorators = dict(getattr(f, "_ml_decorators", {}))
        existing: tuple[CardOptions, ...] = decorators["card"].cards if "card" in decorators else ()
        if instance.id is not None and any(c.id == instance.id for c in existing):
            raise DecoratorError(f"{_where(f)}@card(id={instance.id!r}) is used twice on {f.__name__}")
        decorators["card"] = Cards(cards=(instance, *existing))  # applied bottom-up: keep source order
        f._ml_decorators = decorators  # type: ignore[attr-defined]
        return f

    if func is not None:
        if options or not callable(func):
            raise DecoratorError("@card takes keyword options only")
        return apply(func)
    return apply


def _step_decorator(cls: type[StepDecorator]) -> Callable[..., Any]:
    @functools.wraps(cls, updated=())
    def decorator(func: Callable[..., Any] | None = None, /, **options: Any) -> Any:
        def apply(f: F) -> F:
            try:
                instance = cls(**options)
            except TypeError as exc:
                known = ", ".join(inspect.signature(cls).parameters)
                raise DecoratorError(f"{_where(f)}@{cls.name}: {exc} (options: {known})") from None
            decorators = dict(getattr(f, "_ml_decorators", {}))
            if cls.name in decorators:
                raise DecoratorError(f"{_where(f)}@{cls.name} is applied twice to {f.__name__}")
            decorators[cls.name] = instance
            f._ml_decorators = decorators  # type: ignore[attr-defined]
            return f

        if func is not None:
            if options or not callable(func):
                raise DecoratorError(f"@{cls.name} takes keyword options only")
            return apply(func)
        return apply

    decorator.__doc__ = cls.__doc__
    return decorator


resources = _step_decorator(Resources)
kubernetes = _step_decorator(Kubernetes)
retry = _step_decorator(Retry)
timeout = _step_decorator(Timeout)
catch = _step_decorator(Catch)
environment = _step_decorator(Environment)


def step(func: F) -> F:
    """Mark a method of a FlowSpec as a step."""
    func._ml_step = True  # type: ignore[attr-defined]
    func.name = func.__name__  # type: ignore[attr-defined]  # as Metaflow's: `for step in flow: step.name`
    if not hasattr(func, "_ml_decorators"):
        func._ml_decorators = {}  # type: ignore[attr-defined]
    return func


def step_decorators(func: Callable[..., Any]) -> dict[str, StepDecorator]:
    return dict(getattr(func, "_ml_decorators", {}))
