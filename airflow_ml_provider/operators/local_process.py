"""Run a pod's container command as a local subprocess (``execution_mode = local``).

The process gets the container's command, arguments and environment, with ``python`` resolved
to the worker's interpreter; with ``[ml_provider] local_warm_start`` (the default) the process is
forked from a warm starter rather than started fresh (see ``runtime/warm_start.py``). Its output
streams into the task log line by line. If the task is interrupted (execution timeout,
``on_kill``, any exception), the step process is terminated, then killed after a grace period, so
no orphan keeps running after Airflow gave up on the task.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from airflow_ml_provider import config
from airflow_ml_provider.runtime.warm_start import start_step, terminate

GRACE_SECONDS = 10


class LocalStepProcess:
    def __init__(self, container: Any, extra_env: dict[str, str] | None = None) -> None:
        env = dict(os.environ)
        for var in container.env or []:
            if var.value is not None:
                env[var.name] = var.value
        env.update(extra_env or {})
        env["PYTHONUNBUFFERED"] = "1"
        command = list(container.command or [])
        if command and command[0] == "python":
            command[0] = sys.executable
        self.argv = command + list(container.args or [])
        self.env = env
        self.proc: Any = None  # subprocess.Popen or WarmProcess

    def run(self, emit: Callable[[str], None]) -> int:
        """Run to completion, passing each output line to ``emit``; returns the exit code."""
        self.proc = start_step(self.argv, self.env, warm=config.local_warm_start(), log=emit)
        try:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                emit(line.rstrip("\n"))
            return self.proc.wait()
        finally:
            self.stop()

    def stop(self) -> None:
        """Terminate the step process group if it still runs (idempotent)."""
        if self.proc is not None:
            terminate(self.proc, GRACE_SECONDS)
