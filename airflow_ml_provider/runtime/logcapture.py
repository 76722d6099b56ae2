"""Capture a step attempt's stdout and stderr into the store, while still echoing them unchanged.

Why at the file-descriptor level, inside the step process: Python's ``print``, ``subprocess``
children and C extensions all write to fds 1 and 2, and the same step command runs under
``python flow.py run`` (fresh or forked from a warm starter), ``airflow dags test``, Airflow
workers and Kubernetes pods. So the capture lives here, once, not in each launcher.

How: fds 1 and 2 are replaced by pipes read by a small *tee process* forked from the step. It
writes every byte unchanged to the original fds (the console, Airflow's task log, the local
runner's ``[step/task]`` prefixer) and appends each line, with the time it was read, to a spool
file per stream (``datastore/task_logs.py`` has the line shape). A separate process, not a
thread, because a C extension that writes a lot while holding the GIL would otherwise block on a
full pipe that only a Python thread could drain: a deadlock.

The step process uploads the spools to ``<n>.stdout.log`` / ``<n>.stderr.log`` every
``min(heartbeat_interval, 5 s)`` when they grew (the wait stretches to 20x the last upload's
duration, so a big log on a slow store costs at most ~5% of the time), and once more when the
attempt ends, after the tee has spooled everything the step wrote (a console that reads slowly
holds the step as its own writes would have; a child process left running with the pipes does
not). Each stream keeps at most ``MAX_LOG_BYTES`` (64 MB) per attempt, then a note line;
the rest is still echoed. A step that crashes (a segmentation fault: ``faulthandler`` is on
during the attempt, so its Python traceback is in stderr) or dies of SIGTERM leaves the tee
alive, which then stores the whole log with a note line; a kill of the whole process group
(``@timeout``, a stopped run) keeps what was uploaded last. Lines of stdout and
stderr that arrive within the same instant may reach a shared console in another order than
they were written (each stream keeps its own order). Anything that goes wrong here prints one
warning and leaves the step running without capture: logs never fail a step.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import select
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from types import TracebackType

from airflow_ml_provider.datastore.flow_store import FlowDatastore
from airflow_ml_provider.datastore.records import heartbeat_interval
from airflow_ml_provider.datastore.redact import mask_log_line
from airflow_ml_provider.datastore.task_logs import MAX_LOG_BYTES, STREAMS, cut_note, format_lines
from airflow_ml_provider.runtime.command import StepInvocation

FLUSH_INTERVAL_S = 5.0
MAX_LINE = 1 << 20  # a longer line without a newline is stored in pieces
_DRAIN_TIMEOUT_S = 120.0
_SPOOL_BUFFER = 256 << 10  # the tee process writes its spool in chunks of this, or when idle
_F_SETPIPE_SZ = 1031  # Linux: a 1 MB pipe lets a chatty step run ahead of the tee


class LogCapture:
    """``with LogCapture(sink):`` tees fds 1 and 2; ``sink(stream, data)`` stores a whole log."""

    def __init__(
        self,
        sink: Callable[[str, bytes], None],
        *,
        interval: float = FLUSH_INTERVAL_S,
        limit: int = MAX_LOG_BYTES,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.sink = sink
        self.interval = interval
        self.limit = limit
        self.warn = warn or (lambda m: print(f"[ml-provider] {m}", file=sys.stderr, flush=True))
        self._spools: dict[str, int] = {}  # unnamed files: nothing to clean up, even after a kill
        self._fds: list[int] = []  # the parent's ends of the control pipes
        self._pid = 0
        self._saved: dict[int, int] = {}
        self._uploaded = dict.fromkeys(STREAMS, -1)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False
        self._faulthandler = True

    # -- start -------------------------------------------------------------------------------
    def __enter__(self) -> LogCapture:
        try:
            self._start()
        except Exception as exc:  # no /tmp, no fork, a closed fd 1: run the step without capture
            self._undo()
            self._pid = 0
            self.warn(f"task logs are not stored for this attempt: {type(exc).__name__}: {exc}")
        return self

    def _start(self) -> None:
        for stream in (sys.stdout, sys.stderr):
            _flush(stream)
        self._spools = {s: _unnamed_file() for s in STREAMS}
        pipes = [os.pipe() for _ in STREAMS]
        closed_r, closed_w = os.pipe()  # the step closes the capture: one byte; it died: EOF
        done_r, done_w = os.pipe()  # EOF when the tee has exited
        synced_r, synced_w = os.pipe()  # one byte when the tee has spooled all the step wrote
        for _, write_end in pipes:
            with contextlib.suppress(OSError):
                import fcntl

                fcntl.fcntl(write_end, _F_SETPIPE_SZ, 1 << 20)
        pid = os.fork()
        if pid == 0:  # the tee process: plain os calls only, never returns
            code = 0
            try:
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # it must echo the step's KeyboardInterrupt
                signal.signal(signal.SIGTERM, signal.SIG_IGN)  # it ends at EOF, when every writer is gone
                for fd in (*(w for _, w in pipes), closed_w, done_r, synced_r):
                    os.close(fd)
                ends = zip(pipes, (1, 2), STREAMS, strict=True)
                streams = [(read_end, fd, self._spools[name], name) for (read_end, _), fd, name in ends]
                if not _tee(streams, self.limit, closed_r, synced_w):
                    self._orphaned()  # the step died without closing the capture
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        self._pid = pid
        for fd in (*(r for r, _ in pipes), closed_r, done_w, synced_w):
            os.close(fd)
        self._fds = [closed_w, done_r, synced_r]
        for target, (_, write_end) in zip((1, 2), pipes, strict=True):
            self._saved[target] = os.dup(target)
            os.dup2(write_end, target)
            os.close(write_end)
        self._faulthandler = faulthandler.is_enabled()
        faulthandler.enable(file=2)  # a segmentation fault leaves its Python traceback in stderr
        self._thread = threading.Thread(target=self._loop, name="ml-provider-logs", daemon=True)
        self._thread.start()

    def _orphaned(self) -> None:
        """In the tee, after EOF: if the step died before closing the capture, store the log for it.

        A crash (segmentation fault, ``os._exit`` in a C library) or a SIGTERM ends the step without
        its final upload; the tee outlives it and has every line. A kill of the whole process group
        (``@timeout``, the runner stopping) takes the tee too: then the last periodic upload stays.
        """
        signal.alarm(60)  # never linger on an unreachable store
        note = b"[ml-provider] the step process ended without closing its log (crashed or killed)"
        _write_all(self._spools["stderr"], format_lines([note], time.time()))
        self._upload(final=True)

    def _read_spool(self, stream: str) -> bytes:
        fd = self._spools[stream]
        return os.pread(fd, os.fstat(fd).st_size, 0)

    # -- periodic upload ---------------------------------------------------------------------
    def _loop(self) -> None:
        wait = self.interval
        while not self._stop.wait(wait):
            started = time.monotonic()
            self._upload(final=False)
            wait = max(self.interval, 20 * (time.monotonic() - started))

    def _upload(self, final: bool) -> None:
        for stream in STREAMS:
            try:
                data = self._read_spool(stream)
            except OSError:
                continue
            if not final:
                data = data[: data.rfind(b"\n") + 1]  # the tee may be mid-write: whole lines only
            if len(data) == self._uploaded[stream] or (not data and self._uploaded[stream] < 0):
                continue  # unchanged, or nothing written to this stream yet
            try:
                self.sink(stream, data)
            except Exception as exc:  # the store may be away for a while: say it once per streak
                if not self._failing or final:
                    self.warn(f"{stream} log could not be stored ({type(exc).__name__}: {exc}); will retry")
                self._failing = True
                continue
            self._failing = False
            self._uploaded[stream] = len(data)

    # -- end ---------------------------------------------------------------------------------
    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._pid:
            return
        for stream in (sys.stdout, sys.stderr):
            _flush(stream)
        self._stop.set()
        closed_w, done_r, synced_r = self._fds
        with contextlib.suppress(OSError):
            os.write(closed_w, b"x")  # the tee must not upload too
        self._undo()
        if not self._faulthandler:
            faulthandler.disable()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._wait_tee(done_r, synced_r)
        self._upload(final=True)
        for fd in (*self._fds, *self._spools.values()):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _undo(self) -> None:
        """Give fds 1 and 2 back: the pipes' last writers close (unless a child process holds them)."""
        for target, saved in self._saved.items():
            with contextlib.suppress(OSError):
                os.dup2(saved, target)
                os.close(saved)
        self._saved.clear()

    def _wait_tee(self, done: int, synced: int) -> None:
        """Wait until the tee has spooled all the step wrote: it exited, or a child process still holds
        the pipes (then the tee goes on echoing it). A console that reads slowly holds the step here,
        as it would have held its writes without capture; after ``_DRAIN_TIMEOUT_S`` the log is
        stored as far as it got."""
        with contextlib.suppress(OSError, ValueError):
            if not select.select([done, synced], [], [], _DRAIN_TIMEOUT_S)[0]:
                self.warn(f"the log was still being echoed after {_DRAIN_TIMEOUT_S:g}s; storing what it has")
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self._pid, os.WNOHANG)


def _unnamed_file() -> int:
    """A read-write temporary file without a name (Linux ``O_TMPFILE``, else created and unlinked)."""
    try:
        return os.open(tempfile.gettempdir(), os.O_TMPFILE | os.O_RDWR, 0o600)
    except (AttributeError, OSError):
        fd, path = tempfile.mkstemp(prefix="ml-provider-log-")
        os.unlink(path)
        return fd


def _flush(stream: object) -> None:
    with contextlib.suppress(Exception):
        stream.flush()  # type: ignore[attr-defined]


def _tee(streams: list[tuple[int, int, int, str]], limit: int, closed: int, synced: int) -> bool:
    """The tee process's loop: echo each read end to its fd, spool stamped lines; until every EOF.

    When the step closes the capture (one byte on ``closed``) the tee notes how many bytes the
    step left in each pipe; once it has read and spooled them it writes one byte on ``synced``,
    so the step uploads a complete log even while a child process it started still holds the
    pipes (and keeps being echoed). Returns whether the step closed the capture (False: it died).
    """
    poller = select.poll()
    state: dict[int, dict] = {}
    for read_end, echo, spool, name in streams:
        poller.register(read_end, select.POLLIN)
        state[read_end] = {"echo": echo, "spool": spool, "name": name, "pending": b"", "size": 0,
                           "cut": False, "buffer": bytearray()}  # fmt: skip
    poller.register(closed, select.POLLIN)
    step_closed: bool | None = None
    left: dict[int, int] = {}  # bytes the step wrote before closing, not read yet
    last_write = time.monotonic()
    while state:
        events = poller.poll(100)
        now = time.time()
        for read_end, _ in events:
            if read_end == closed:
                step_closed = bool(os.read(closed, 1))
                poller.unregister(closed)
                left = {fd: _unread(fd) for fd in state}
                continue
            st = state[read_end]
            data = os.read(read_end, 1 << 16)
            left[read_end] = left.get(read_end, 0) - len(data)
            if data:
                if st["echo"] is not None and not _write_all(st["echo"], data):
                    st["echo"] = None  # the console went away: keep storing
                _stamp(st, data, now, limit)
                continue
            if st["pending"]:  # EOF: a last line without its newline
                _stamp(st, b"\n", now, limit)
            _write_all(st["spool"], st["buffer"])
            poller.unregister(read_end)
            del state[read_end]
        drained = step_closed is not None and all(n <= 0 for n in left.values())
        if not events or drained or time.monotonic() - last_write > 0.5:
            for st in state.values():
                if st["buffer"]:
                    _write_all(st["spool"], st["buffer"])
                    st["buffer"].clear()
            last_write = time.monotonic()
        if drained and step_closed is False:  # the step died: what it wrote is spooled; its
            return False  # children, if any still hold the pipes, are left to themselves
        if drained and synced >= 0:
            _write_all(synced, b"s")
            os.close(synced)
            synced = -1
    if step_closed is None:  # every writer closed fds 1 and 2 first: wait for the step to close or die
        step_closed = bool(os.read(closed, 1))
    return step_closed


def _unread(fd: int) -> int:
    """Bytes waiting in a pipe (FIONREAD); 0 where that cannot be asked."""
    try:
        import fcntl
        import struct
        import termios

        return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]
    except (ImportError, OSError):
        return 0


def _stamp(st: dict, data: bytes, now: float, limit: int) -> None:
    lines = (st["pending"] + data).split(b"\n")
    st["pending"] = lines.pop()
    if len(st["pending"]) > MAX_LINE:
        lines.append(st["pending"])
        st["pending"] = b""
    if not lines or st["cut"]:
        return
    lines = [mask_log_line(line) for line in lines]  # the stored copy is shown to DAG readers
    records = format_lines(lines, now)
    if st["size"] + len(records) > limit:
        kept, size = [], st["size"]
        for line in lines:
            size += len(line) + 29  # stamp, space, newline
            if size > limit:
                break
            kept.append(line)
        records = format_lines([*kept, cut_note(st["name"], limit)], now)
        st["cut"] = True
    st["size"] += len(records)
    st["buffer"] += records
    if len(st["buffer"]) >= _SPOOL_BUFFER:
        _write_all(st["spool"], st["buffer"])
        st["buffer"].clear()


def _write_all(fd: int, data: bytes | bytearray) -> bool:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except OSError:
            return False
    return True


def attempt_logs(store: FlowDatastore, inv: StepInvocation) -> LogCapture:
    """The capture of one attempt's logs into ``<n>.stdout.log`` / ``<n>.stderr.log`` of its task."""

    def sink(stream: str, data: bytes) -> None:
        store.write_log(inv.run_id, inv.step, inv.task_id, inv.attempt, stream, data)

    return LogCapture(sink, interval=min(heartbeat_interval(), FLUSH_INTERVAL_S))
