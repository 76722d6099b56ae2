"""Run a pod's container command as a local subprocess (``execution_mode = local``).

The process gets the container's command, arguments and environment, with ``python`` resolved
to the worker's interpreter. Its output streams into the task log line by line. If the task is
interrupted (execution timeout, ``on_kill``, any exception), the step process is terminated, then
killed after a grace period, so no orphan keeps running after Airflow gave up on the task.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

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
        self.proc: subprocess.Popen[str] | None = None

    def run(self, emit: Callable[[str], None]) -> int:
        """Run to completion, passing each output line to ``emit``; returns the exit code."""
        self.proc = subprocess.Popen(
            self.argv, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )  # fmt: skip
        try:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                emit(line.rstrip("\n"))
            return self.proc.wait()
        finally:
            self.stop()

    def stop(self) -> None:
        """Terminate the step process group if it still runs (idempotent)."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=GRACE_SECONDS)
        except ProcessLookupError:
            pass
