"""A step's exception as a value: what ``@catch(var=...)`` stores and what a failed task reports.

Shaped like Metaflow's ``MetaflowExceptionWrapper`` so code written for Metaflow reads it the
same way: ``.type`` is the qualified class name (``"builtins.ValueError"``), ``.exception`` is
``str()`` of the exception, ``.stacktrace`` the formatted traceback, and ``str(obj)`` shows the
three together. Only strings are kept, never the exception object itself, so the value pickles
and unpickles anywhere (a notebook without the flow's module, the client) and two stores of it
compare equal.
"""

from __future__ import annotations

import traceback
from typing import Any

from airflow_ml_provider.errors import MLProviderError


class MetaflowException(MLProviderError):
    """Base of the errors Metaflow code catches as ``MetaflowException`` (e.g. merge_artifacts misuse).

    Decision: a class that stands for one of Metaflow's sets ``metaflow_name``, and a stored
    exception's ``.type`` reports that name (``metaflow.plugins.timeout_decorator.TimeoutException``),
    so code written against Metaflow's names reads it unchanged; ``except TimeoutException`` still
    catches this package's class. Subclasses without their own ``metaflow_name`` report their own
    ``module.Name``.
    """

    metaflow_name = "metaflow.exception.MetaflowException"


class ExternalCommandFailed(MetaflowException):
    """Metaflow's name for a failed external command; kept so code that catches it imports cleanly."""

    metaflow_name = "metaflow.exception.ExternalCommandFailed"


class TimeoutException(MetaflowException):
    """``@timeout``: raised inside the step when it runs too long, so ``@retry``/``@catch`` see it
    like any exception and the artifacts set before it are kept (Metaflow's behaviour)."""

    metaflow_name = "metaflow.plugins.timeout_decorator.TimeoutException"


class FailureHandledByCatch(MetaflowException):
    """What ``@catch`` stores when the step's process died in every attempt (killed, OOM, pod lost).

    No exception of the user's code exists then: ``@catch`` runs one fallback attempt that does not
    run the step's code, stores this in ``var`` and lets the flow go on (as Metaflow does).
    """

    metaflow_name = "metaflow.plugins.catch_decorator.FailureHandledByCatch"

    def __init__(self, attempts: int) -> None:
        super().__init__(
            f"Task execution kept failing over {attempts} attempts. Your code did not raise an exception. "
            "Something in the execution environment caused the failure."
        )


def qualified_name(exc_type: type) -> str:
    """``module.Name`` of an exception class, e.g. ``builtins.ValueError`` (Metaflow's form); for a
    class standing for one of Metaflow's, Metaflow's name (see :class:`MetaflowException`)."""
    own = exc_type.__dict__.get("metaflow_name")
    return own if isinstance(own, str) else f"{exc_type.__module__}.{exc_type.__name__}"


class StepException(Exception):
    """A stored exception (Metaflow's ``MetaflowExceptionWrapper``): strings only, picklable."""

    def __init__(self, exc: BaseException | None = None) -> None:
        super().__init__()
        self.type, self.exception, self.stacktrace = "", "", ""
        if exc is not None:
            self.type = qualified_name(type(exc))
            self.exception = str(exc)
            self.stacktrace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> StepException:
        """Rebuild from a stored attempt's ``exception`` dict (``type``, ``message``, ``traceback``)."""
        return _rebuild(str(record.get("type", "")), str(record.get("message", "")), str(record.get("traceback", "")))

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception's own reduce would re-call __init__ with args; rebuild from the strings instead.
        return (_rebuild, (self.type, self.exception, self.stacktrace))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StepException):
            return NotImplemented
        return (self.type, self.exception, self.stacktrace) == (other.type, other.exception, other.stacktrace)

    def __hash__(self) -> int:
        return hash((self.type, self.exception, self.stacktrace))

    def __str__(self) -> str:
        # As Metaflow: the traceback (which ends with "Type: message"), or the type and message.
        return self.stacktrace or f"[no stacktrace]\n{self.type}: {self.exception}"

    def __repr__(self) -> str:
        return f"StepException(type={self.type!r}, exception={self.exception!r})"


def _rebuild(type_: str, exception: str, stacktrace: str) -> StepException:
    obj = StepException()
    obj.type, obj.exception, obj.stacktrace = type_, exception, stacktrace
    return obj
