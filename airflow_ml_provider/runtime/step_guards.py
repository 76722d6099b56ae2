"""``@timeout`` and ``@catch`` around a step's user code, inside the step process.

Metaflow semantics: ``@timeout`` raises :class:`TimeoutException` *inside* the step (a timer
signal), so ``@retry`` retries it, ``@catch`` catches it and the artifacts set before it are kept.
The runner (local runner, Airflow's ``execution_timeout``) still kills a step that ignores the
signal (stuck in C code), after :func:`backstop_seconds`.

``@catch`` on a step whose process died in every attempt (SIGKILL, OOM, a lost pod) runs one
*fallback* attempt, numbered ``max_retries + 1``: it does not run the step's code, stores
:class:`FailureHandledByCatch` in ``var`` and continues to the step's successors.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

from airflow_ml_provider.dsl.exceptions import TimeoutException

FALLBACK_ATTEMPTS = 1  # Metaflow allows up to 3; a fallback runs no user code, so one suffices


def backstop_seconds(timeout_s: float) -> float:
    """When the runner kills a step whose in-process ``@timeout`` did not stop it."""
    return timeout_s + max(10.0, min(60.0, timeout_s * 0.1))


def has_fallback(decorators: dict[str, Any], step_type: str) -> bool:
    """Whether a step gets ``@catch``'s fallback attempt (not on foreach splits, as Metaflow)."""
    return "catch" in decorators and step_type != "foreach"


def is_fallback(attempt: int, max_retries: int) -> bool:
    return attempt > max_retries


@contextlib.contextmanager
def step_timeout(seconds: float | None, where: str) -> Iterator[None]:
    """Raise :class:`TimeoutException` in this (main) thread after ``seconds``."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        minutes, secs = divmod(int(seconds), 60)
        hours, minutes = divmod(minutes, 60)
        raise TimeoutException(
            f"Step {where} timed out after {hours} hours, {minutes} minutes, {secs} seconds (@timeout)"
        )

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
