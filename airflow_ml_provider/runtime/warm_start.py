"""Start step processes fast: fork them from a warm, Airflow-free Python instead of a fresh one.

A fresh ``python -m airflow_ml_provider.runtime step ...`` spends longer starting the
interpreter and importing the step runtime than TaskFlow's whole per-task cost under ``airflow
dags test`` (``benchmarks/bench_step_overhead.py`` measures both). So a worker process that runs many steps
(``airflow dags test``, ``python flow.py run``) keeps one *warm starter*: a process started with
the very same command line (``python -m airflow_ml_provider.runtime warm-start``) that has
imported the runtime once and then forks one child per step. The child becomes exactly what the
fresh command would have been: its own session (process group), stdout and stderr on a pipe to
the worker, the pod's environment (``os.environ`` replaced wholesale), the working directory and
``sys.argv``; then it runs the same ``main``. It never imports Airflow (the starter is not a fork
of the worker).

Differences from a fresh interpreter, accepted and documented: the runtime's own modules are
already imported, and so are the flow file's top-level imports and numpy/pandas/pyarrow when the
flow uses them (``[ml_provider] local_warm_imports``; what that shares from the starter is in
:mod:`.preimport`), and variables read only at interpreter start-up (``PYTHON*``, locale) come from
the starter; the worker keeps one starter per distinct set of those. The step ends with the
visible parts of interpreter shutdown (non-daemon threads joined, ``atexit`` handlers run, open
files flushed, an uncaught exception printed and exit code 1) but skips tearing down the starter's
modules, which took 7 of a no-op step's 19 ms: objects still referenced from module globals are
not finalized, which Python does not promise either. Anything that goes wrong
with the starter falls back to a fresh process (with a warning), never fails a step. Turn it off
with ``[ml_provider] local_warm_start = False``.

Protocol: the worker and the starter share a Unix socket pair. Per step the worker sends one
byte carrying two file descriptors (SCM_RIGHTS): its end of a fresh socket pair and the write end
of the output pipe. The starter forks a *monitor*, which reads the request (one JSON line: argv,
env, cwd), forks the step, answers ``{"pid": n}``, waits, and answers ``{"exit": code}``.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import io
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import traceback
from typing import Any

from airflow_ml_provider.runtime import preimport
from airflow_ml_provider.runtime.lifeline import die_with_parent, preexec_die_with_parent

ENTRY = ["-m", "airflow_ml_provider.runtime"]
READY_TIMEOUT = 60.0
# what only interpreter start-up reads: a starter serves requests that agree on these
_STARTUP_VARS = ("LANG", "LC_ALL", "LC_CTYPE")


class WarmStartUnavailable(RuntimeError):
    """The starter could not take this step; the caller starts a fresh process instead."""


def is_step_command(argv: list[str]) -> bool:
    """``python -m airflow_ml_provider.runtime step ...``: the only command a starter runs."""
    return argv[1:4] == [*ENTRY, "step"]


def startup_key(python: str, env: dict[str, str], flow_file: str | None = None) -> tuple[Any, ...]:
    """Requests with equal keys share a starter (one per flow file when it pre-imports for one)."""
    key = (python, *sorted((k, v) for k, v in env.items() if k.startswith("PYTHON") or k in _STARTUP_VARS))
    return (*key, flow_file) if flow_file else key


class WarmProcess:
    """A forked step, with the parts of ``subprocess.Popen`` the callers use."""

    def __init__(self, pid: int, stdout: io.TextIOWrapper, conn: socket.socket, reader: io.BufferedReader) -> None:
        self.pid = pid
        self.stdout = stdout
        self.returncode: int | None = None
        self._conn = conn
        self._reader = reader
        self._exit_lock = threading.Lock()  # the runner's thread and a Ctrl-C handler both wait

    def poll(self) -> int | None:
        if self.returncode is None and select.select([self._conn], [], [], 0)[0]:
            self._read_exit()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            if not select.select([self._conn], [], [], timeout)[0]:
                raise subprocess.TimeoutExpired(["warm-start step", str(self.pid)], timeout or 0)
            self._read_exit()
        assert self.returncode is not None
        return self.returncode

    def _read_exit(self) -> None:
        with self._exit_lock:
            if self.returncode is not None:  # another thread read it
                return
            line = self._reader.readline()
            # no answer means the monitor died with the step; report it like a kill
            self.returncode = int(json.loads(line)["exit"]) if line else -signal.SIGKILL
            self._reader.close()
            self._conn.close()


class WarmStarter:
    """The worker's handle on one starter process."""

    def __init__(self, python: str, env: dict[str, str], flow_file: str | None = None) -> None:
        ours, theirs = socket.socketpair()
        extra = [flow_file] if flow_file else []  # the starter pre-imports for it (see preimport.py)
        try:
            self._proc = subprocess.Popen(
                [python, *ENTRY, "warm-start", str(theirs.fileno()), *extra], env=env, pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        finally:
            theirs.close()
        self._control = ours
        self._lock = threading.Lock()
        self._ready: bytes | None = None  # the starter's first answer, read by the first start()

    def _wait_ready(self) -> None:
        """Wait (once) for the starter's ``ok``: it comes up while the caller does other work."""
        if self._ready is None:
            self._control.settimeout(READY_TIMEOUT)
            try:
                self._ready = self._control.recv(2)
            except OSError as exc:
                self._ready = f"{exc}".encode()
            self._control.settimeout(None)
        if self._ready != b"ok":
            raise WarmStartUnavailable(f"the warm starter did not come up ({self._ready!r})")

    def start(self, argv: list[str], env: dict[str, str], cwd: str | None = None) -> WarmProcess:
        """Fork a step command (see :func:`is_step_command`) with this argv, env and cwd."""
        conn, theirs = socket.socketpair()
        read_fd, write_fd = os.pipe()
        try:
            try:
                with self._lock:
                    self._wait_ready()
                    socket.send_fds(self._control, [b"R"], [theirs.fileno(), write_fd])
            finally:  # the starter holds its own copies now (or never will)
                theirs.close()
                os.close(write_fd)
            conn.sendall(json.dumps({"argv": argv, "env": env, "cwd": cwd or os.getcwd()}).encode() + b"\n")
            reader = conn.makefile("rb")
            line = reader.readline()
            if not line:
                raise WarmStartUnavailable("the warm starter closed the request")
        except BaseException:
            conn.close()
            os.close(read_fd)
            raise
        stdout = io.TextIOWrapper(io.FileIO(read_fd, "r"), encoding="utf-8", errors="replace")
        return WarmProcess(int(json.loads(line)["pid"]), stdout, conn, reader)

    def close(self) -> None:
        self._control.close()  # the starter exits when its end reads EOF
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()


_starters: dict[tuple[Any, ...], WarmStarter | None] = {}
_starters_lock = threading.Lock()


_CAN_FORK = hasattr(os, "fork") and hasattr(socket, "send_fds")


def _starter_for(python: str, env: dict[str, str], flow_file: str | None, log: Any) -> WarmStarter | None:
    """The starter for these start-up settings, started now if there is none (None: it failed)."""
    key = startup_key(python, env, flow_file)
    with _starters_lock:
        if key not in _starters:
            try:
                _starters[key] = WarmStarter(python, env, flow_file)
            except OSError as exc:
                _starters[key] = None  # do not retry a starter that failed to come up
                if log is not None:
                    log(f"warm start unavailable, starting steps as fresh processes: {exc}")
        return _starters[key]


def prestart(python: str, env: dict[str, str], flow_file: str, log: Any = None) -> None:
    """Start the starter for steps of ``flow_file`` now, so its imports (pandas, boto3 for an S3
    root) overlap the caller's own set-up; :func:`start_step` then finds it. Never raises."""
    if not _CAN_FORK:
        return
    try:
        flow = os.path.abspath(flow_file) if preimport.enabled() else None
    except ValueError:  # a bad setting: start_step reports it where the step's failure is seen
        return
    _starter_for(python, env, flow, log)


def start_step(argv: list[str], env: dict[str, str], *, warm: bool = True, log: Any = None) -> Any:
    """Start a step command: forked from a warm starter when possible, else a fresh process.

    Returns a ``subprocess.Popen`` or a :class:`WarmProcess`: both have ``pid`` (also the process
    group), ``stdout`` (text lines), ``poll()`` and ``wait(timeout)``.
    """
    if warm and is_step_command(argv) and _CAN_FORK:
        flow_file = preimport.flow_file_of(argv) if preimport.enabled() else None
        try:
            starter = _starter_for(argv[0], env, flow_file, log)
            if starter is not None:
                return starter.start(argv, env)
        except (OSError, ValueError, WarmStartUnavailable) as exc:
            with _starters_lock:
                _starters[startup_key(argv[0], env, flow_file)] = None  # not closed: its steps die with it
            if log is not None:
                log(f"warm start failed ({exc}); starting this step as a fresh process")
    return subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        preexec_fn=preexec_die_with_parent(),  # the step dies with this worker (see lifeline.py)
    )  # fmt: skip


def terminate(proc: Any, grace: float = 10.0) -> None:
    """SIGTERM the step's process group, SIGKILL it after ``grace`` seconds (idempotent)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=grace)
    except ProcessLookupError:
        pass


# -- the starter's side -----------------------------------------------------------------------
_preimported: dict[str, Any] = {}  # the starter's preimport report, inherited by every step


def serve(control_fd: int, flow_file: str | None = None) -> int:
    """The starter's loop (``python -m airflow_ml_provider.runtime warm-start FD [FLOW_FILE]``).

    With a flow file it pre-imports for it (:mod:`.preimport`) after answering ``ok``: the
    worker's first request waits in the socket meanwhile, so a slow import (23 s for pandas with
    a cold page cache) delays the first step as it would have anyway, never the starter's health.
    """
    # the imports this process exists to keep warm, and the lazy ones every step makes
    import airflow_ml_provider.config
    import airflow_ml_provider.runtime.task_runner  # noqa: F401
    from airflow_ml_provider.runtime.command import StepInvocation

    StepInvocation.parser()  # built once per process; argparse's first use imports gettext/locale
    # Everything imported so far is immortal for the collector: children neither scan it (nor
    # dirty its copy-on-write pages doing so), and a step's exit walks only its own objects.
    gc.freeze()

    control = socket.socket(fileno=control_fd)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # monitors are reaped by the kernel
    try:
        control.sendall(b"ok")
    except OSError:  # the runner is gone already (it refused its options and exited): end quietly
        return 0
    if flow_file:
        _preimported.update(preimport.preimport(flow_file))
        if threading.active_count() == 1:  # else a pre-imported module started a thread: stop there
            preimport.preimport_store()
        gc.freeze()  # the pre-imported modules too
    starter = os.getpid()
    while True:
        try:
            _msg, fds, _flags, _addr = socket.recv_fds(control, 1, 2)
        except OSError:
            return 0
        if len(fds) != 2:
            return 0  # EOF: the worker is gone
        if os.fork() == 0:
            control.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            request = _monitor(socket.socket(fileno=fds[0]), fds[1], starter)  # returns only in the step
            _exit_step(_run_step, request)
        for fd in fds:
            os.close(fd)


def _monitor(conn: socket.socket, out_fd: int, starter: int) -> dict[str, Any]:
    """Fork the step and report on it; returns (the request) only in the step process.

    Nothing outlives the worker: the starter exits when the worker's end of the control socket
    closes (the worker ended, even by SIGKILL); the monitor gets SIGTERM when the starter ends and
    then kills the step's whole process group; the step gets SIGKILL if its monitor is gone.
    So no step keeps writing to the store, and nothing keeps the caller's output pipes open.
    """
    step = [0]

    def starter_gone(signum: int, frame: object) -> None:
        if step[0]:
            with contextlib.suppress(OSError):
                os.killpg(step[0], signal.SIGKILL)
        os._exit(1)

    signal.signal(signal.SIGTERM, starter_gone)
    die_with_parent(signal.SIGTERM, starter)
    monitor = os.getpid()
    try:
        with conn.makefile("rb") as reader:  # closed, so the step does not hold the socket open
            request = json.loads(reader.readline())
        pid = os.fork()
    except BaseException:
        os._exit(1)
    if pid == 0:
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            die_with_parent(signal.SIGKILL, monitor)
            conn.close()
            os.setsid()
            for target in (1, 2):
                os.dup2(out_fd, target)
            os.close(out_fd)
        except BaseException:
            os._exit(1)
        return request
    step[0] = pid
    try:
        os.close(out_fd)
        conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
        _, status = os.waitpid(pid, 0)
        conn.sendall(json.dumps({"exit": os.waitstatus_to_exitcode(status)}).encode() + b"\n")
    finally:
        os._exit(0)


def _run_step(request: dict[str, Any]) -> int:
    """In the forked step: become the fresh command's process, then run the runtime's main."""
    from airflow_ml_provider.runtime.task_runner import main

    preimport.after_fork(_preimported)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    argv = request["argv"]
    sys.argv = [getattr(sys.modules["__main__"], "__file__", None) or "-m", *argv[3:]]
    sys.path[0] = os.getcwd()  # what ``python -m`` puts first
    return main(argv[4:])


def _exit_step(run: Any, request: dict[str, Any]) -> None:
    """Run the step, then end its process as interpreter shutdown would, minus module teardown."""
    try:
        code = run(request)
    except SystemExit as exc:
        code = _exit_code(exc)
    except BaseException:
        traceback.print_exc()
        code = 1
    try:
        _join_threads_as_at_shutdown()
        atexit._run_exitfuncs()  # what Py_Finalize runs first (logging.shutdown, weakref.finalize, ...)
        _flush_open_files()
    except BaseException:
        traceback.print_exc()
        code = code or 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            _flush_quietly(stream)
        os._exit(code)


def _join_threads_as_at_shutdown() -> None:
    """What ``threading._shutdown`` does at interpreter exit: first the callbacks registered with
    ``threading._register_atexit`` (``concurrent.futures`` stops the idle workers of executors
    nobody shut down there), then join every non-daemon thread. Joining without the callbacks
    waited forever on such workers, e.g. the S3 store's shared transfer pool."""
    for callback in reversed(list(getattr(threading, "_threading_atexits", []))):
        callback()
    current = threading.current_thread()
    for thread in threading.enumerate():
        if thread is not current and not thread.daemon:
            thread.join()


def _flush_open_files() -> None:
    """Flush the files the step left open, text layers before the buffers beneath them.

    gc.freeze() hid the starter's objects, so this walks only what the step created. Any object
    may be hostile: a dead ``weakref.proxy`` (boto3 leaves them behind) raises ReferenceError on
    ``isinstance``, user classes may raise on attribute access. So the test reads ``type(obj)``,
    which never consults the object, and a failing check skips that object, never the exit.
    """
    text: list[Any] = []
    buffered: list[Any] = []
    for obj in gc.get_objects():
        try:
            kind = type(obj)
            if issubclass(kind, io.TextIOBase):
                text.append(obj)
            elif issubclass(kind, io.BufferedIOBase):
                buffered.append(obj)
        except Exception:
            continue
    for stream in (*text, *buffered):
        _flush_quietly(stream)


def _flush_quietly(stream: Any) -> None:
    """Flush a still-open writable file as its finalizer would have; never raise."""
    try:
        if not stream.closed and stream.writable():
            stream.flush()
    except Exception:
        pass


def _exit_code(exc: SystemExit) -> int:
    """``sys.exit(x)`` semantics: None is 0, an int is itself, anything else is printed and 1."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1
