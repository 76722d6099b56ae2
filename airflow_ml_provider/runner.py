"""The ``Runner`` API: launch ``python flow.py run|resume`` from a script or notebook (Metaflow's Runner).

::

    from airflow_ml_provider import Runner

    with Runner("flow.py").run(alpha=0.5) as running:
        print(running.status, running.run.data.model)   # a client Run

    executing = await Runner("flow.py").async_run(alpha=0.5)   # returns once the run id is known
    await executing.wait()

``Runner(flow_file, show_output=True, env=None, cwd=None, **top_level)``: ``top_level`` are the
flow's top-level options (``branch="x"``, ``production=True``, ``quiet=True``...). ``run(**kw)`` /
``resume(**kw)`` take parameters by name (``alpha=0.5``; a dashed name as ``**{"learning-rate": 1}``)
and the command's options (``tags=[...]``, ``max_workers=4``; resume: ``origin_run_id=``,
``step_to_rerun=``). For options ``True`` is a bare flag and ``False``/``None`` leave it out;
``tags`` may be a list; a parameter's list or dict goes as JSON, ``None`` leaves it unset.

Each command runs in a subprocess, as Metaflow's does, so the flow's module never loads here.
Its output goes to this process's stdout/stderr as it comes (``show_output=True``) and is kept
for ``.stdout`` / ``.stderr``. The run is read through this process's client settings: give the
artifact root with ``AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT`` in this process, not only in ``env``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

_COMMAND_OPTIONS = {
    "max_workers", "run_id_file", "origin_run_id", "quiet", "no_pylint", "pylint", "metadata", "datastore",
    "environment", "branch", "production",
}  # fmt: skip


def _options(kwargs: dict[str, Any]) -> list[str]:
    """``key=value`` -> command-line words (see the module docstring for the rules)."""
    words: list[str] = []
    for key, value in kwargs.items():
        if key in ("tags", "tag"):
            for item in [value] if isinstance(value, str) else value or ():
                words += ["--tag", str(item)]
        elif key in _COMMAND_OPTIONS:
            if value is True:
                words.append(f"--{key.replace('_', '-')}")
            elif value is not None and value is not False:
                words += [f"--{key.replace('_', '-')}", str(value)]
        elif value is not None:  # a parameter: always a value, JSON for containers
            words += [f"--{key}", json.dumps(value) if isinstance(value, dict | list | tuple) else str(value)]
    return words


class ExecutingRun:
    """A launched ``run``/``resume``: ``.run`` (client Run), ``.status``, ``.returncode``, output."""

    def __init__(self, runner: Runner, proc: subprocess.Popen[bytes], workdir: Path, pumps: list[threading.Thread]):
        self._runner = runner
        self._proc = proc
        self._workdir = workdir
        self._pumps = pumps
        self._timed_out = False

    def __enter__(self) -> ExecutingRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()

    @property
    def pathspec(self) -> str | None:
        """``Flow/run_id`` once the command has written it (before its first step starts)."""
        path = self._workdir / "attributes"
        text = path.read_text().strip() if path.exists() else ""
        return text or None

    @property
    def run(self) -> Any:
        """The client ``Run`` of this execution (None if the command failed before starting one)."""
        from airflow_ml_provider.client import Run

        pathspec = self.pathspec
        return Run(pathspec) if pathspec else None

    @property
    def returncode(self) -> int | None:
        return self._proc.poll()

    @property
    def status(self) -> str:
        """``running``, ``successful``, ``failed`` or ``timeout`` (Metaflow's values)."""
        if self._timed_out:
            return "timeout"
        code = self._proc.poll()
        return "running" if code is None else ("successful" if code == 0 else "failed")

    @property
    def stdout(self) -> str:
        return self._read("stdout")

    @property
    def stderr(self) -> str:
        return self._read("stderr")

    def _read(self, name: str) -> str:
        path = self._workdir / name
        return path.read_text(errors="replace") if path.exists() else ""

    def _wait_blocking(self, timeout: float | None) -> None:
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._timed_out = True
            self.kill()
        for pump in self._pumps:
            pump.join()

    async def wait(self, timeout: float | None = None, stream: str | None = None) -> ExecutingRun:
        """Wait for the command to end; after ``timeout`` seconds it is stopped (status ``timeout``).

        ``stream`` is accepted for Metaflow compatibility; output is shown as it comes when the
        Runner has ``show_output=True``.
        """
        await asyncio.to_thread(self._wait_blocking, timeout)
        return self

    def kill(self) -> None:
        """Stop the command if it still runs (SIGTERM: the run records its steps as interrupted)."""
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()


class Runner:
    """Launch a flow file's commands from Python (see the module docstring)."""

    def __init__(
        self,
        flow_file: str | os.PathLike[str],
        show_output: bool = True,
        env: dict[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        **top_level: Any,
    ) -> None:
        self.flow_file = os.path.abspath(flow_file)
        if not os.path.isfile(self.flow_file):
            raise FileNotFoundError(f"Runner: no flow file at {self.flow_file}")
        self.show_output = show_output
        self.env = {**os.environ, **(env or {})}
        self.cwd = str(cwd) if cwd is not None else None
        self.top_level = top_level
        self._workdirs: list[Path] = []

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def cleanup(self) -> None:
        """Remove the temporary files that hold the commands' output."""
        for workdir in self._workdirs:
            shutil.rmtree(workdir, ignore_errors=True)
        self._workdirs.clear()

    def _command(self, command: str, kwargs: dict[str, Any], workdir: Path) -> list[str]:
        kwargs = dict(kwargs)
        positional = []
        if command == "resume" and kwargs.get("step_to_rerun"):
            positional.append(str(kwargs.pop("step_to_rerun")))
        kwargs.pop("step_to_rerun", None)
        return [
            sys.executable, self.flow_file, *_options(self.top_level), command, *positional,
            "--runner-attribute-file", str(workdir / "attributes"), *_options(kwargs),
        ]  # fmt: skip

    def _start(self, command: str, kwargs: dict[str, Any]) -> ExecutingRun:
        workdir = Path(tempfile.mkdtemp(prefix="ml-provider-runner-"))
        self._workdirs.append(workdir)
        proc = subprocess.Popen(
            self._command(command, kwargs, workdir), env=self.env, cwd=self.cwd,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        )  # fmt: skip
        pumps = [
            _pump(proc.stdout, workdir / "stdout", sys.stdout if self.show_output else None),
            _pump(proc.stderr, workdir / "stderr", sys.stderr if self.show_output else None),
        ]
        return ExecutingRun(self, proc, workdir, pumps)

    def run(self, **kwargs: Any) -> ExecutingRun:
        """``python flow.py run ...``; blocks until the run ends (check ``.status``)."""
        executing = self._start("run", kwargs)
        executing._wait_blocking(None)
        return executing

    def resume(self, **kwargs: Any) -> ExecutingRun:
        """``python flow.py resume ...``; blocks until the resumed run ends."""
        executing = self._start("resume", kwargs)
        executing._wait_blocking(None)
        return executing

    async def async_run(self, **kwargs: Any) -> ExecutingRun:
        """Start ``run`` and return once its run id is known (or the command ended)."""
        return await self._async_start("run", kwargs)

    async def async_resume(self, **kwargs: Any) -> ExecutingRun:
        """Start ``resume`` and return once its run id is known (or the command ended)."""
        return await self._async_start("resume", kwargs)

    async def _async_start(self, command: str, kwargs: dict[str, Any]) -> ExecutingRun:
        executing = self._start(command, kwargs)
        while executing.pathspec is None and executing.returncode is None:
            await asyncio.sleep(0.05)
        return executing


def _pump(source: IO[bytes] | None, path: Path, echo: Any) -> threading.Thread:
    """Copy a child's pipe into ``path`` (and ``echo``, if given) line by line, in a thread."""

    def copy() -> None:
        assert source is not None
        with open(path, "wb") as out:
            for line in iter(source.readline, b""):
                out.write(line)
                out.flush()
                if echo is not None:
                    echo.write(line.decode(errors="replace"))
                    echo.flush()
        source.close()

    thread = threading.Thread(target=copy, daemon=True)
    thread.start()
    time.sleep(0)  # let the pump start before the caller blocks
    return thread
