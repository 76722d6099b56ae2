"""A task's stdout and stderr through the client, as Metaflow's ``Task.stdout`` / ``loglines`` give them.

The step process stores them itself (``runtime/logcapture.py``) for every way a step runs, so a
notebook reads the same text that Airflow's task log or the local runner's console showed (minus
the runner's ``[step/task]`` prefix). A running attempt's log is the part uploaded so far (every
few seconds).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow_ml_provider.datastore.task_logs import check_stream, log_text, parse_log

if TYPE_CHECKING:
    from airflow_ml_provider.datastore import FlowDatastore


class TaskLogs:
    """Mixed into ``Task``: the logs of the attempt the task object shows (``Task.attempt``)."""

    _store: FlowDatastore
    run_id: str
    step_name: str
    id: str
    attempt: int

    def _log_bytes(self, stream: str) -> bytes:
        return self._store.read_log(self.run_id, self.step_name, self.id, self.attempt, check_stream(stream))

    def loglines(
        self, stream: str, as_unicode: bool = True, meta_dict: dict[str, Any] | None = None
    ) -> Iterator[tuple[datetime, str | bytes]]:
        """``(UTC datetime, line)`` per line of ``stream`` ('stdout' or 'stderr'), in order.

        Times are timezone-aware UTC (Metaflow's are naive UTC): when the step's line was read.
        ``as_unicode=False`` gives each line as bytes; ``meta_dict`` is accepted for Metaflow's
        signature and ignored.
        """
        for at, line in parse_log(self._log_bytes(stream)):
            yield at, (line.decode("utf-8", errors="replace") if as_unicode else line)

    def _log_text(self, stream: str) -> str:
        return log_text(self._log_bytes(stream))

    @property
    def stdout(self) -> str:
        """Everything the attempt wrote to stdout (fd 1: prints, subprocesses, C extensions)."""
        return self._log_text("stdout")

    @property
    def stderr(self) -> str:
        """Everything the attempt wrote to stderr, tracebacks of failed attempts included."""
        return self._log_text("stderr")

    @property
    def stdout_size(self) -> int:
        """Bytes of :attr:`stdout` as UTF-8."""
        return len(self.stdout.encode())

    @property
    def stderr_size(self) -> int:
        """Bytes of :attr:`stderr` as UTF-8."""
        return len(self.stderr.encode())
