"""A background heartbeat: proof, visible in the store, that a step or a runner is still alive.

Readers show a running attempt (or a local run) whose heartbeat is older than ``[ml_provider]
heartbeat_timeout`` as failed (``datastore/records.py``), so a process killed with SIGKILL, an
out-of-memory kill or a lost node never leaves a record ``running`` forever. A failed beat (the
store is briefly unreachable) is logged once per streak and retried at the next interval: the step
itself goes on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType

from airflow_ml_provider.datastore.records import heartbeat_interval


class Heartbeat:
    """``with Heartbeat(beat, log):`` calls ``beat()`` now and then every interval until the block ends."""

    def __init__(self, beat: Callable[[], None], log: Callable[[str], None], interval: float | None = None) -> None:
        self.beat = beat
        self.log = log
        self.interval = heartbeat_interval() if interval is None else interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ml-provider-heartbeat", daemon=True)
        self.failures = 0

    def _loop(self) -> None:
        while True:
            try:
                self.beat()
                if self.failures:
                    self.log(f"heartbeat written again after {self.failures} failed attempt(s)")
                self.failures = 0
            except Exception as exc:  # the store may be unreachable for a while: keep going
                self.failures += 1
                if self.failures == 1:
                    self.log(f"heartbeat could not be written ({type(exc).__name__}: {exc}); retrying")
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
