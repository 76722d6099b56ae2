"""Step processes die with the process that started them (Linux's parent-death signal).

After ``kill -9`` of ``python flow.py run`` (or of an Airflow worker running local steps), a step
that outlived it would keep writing into the store of a run nobody watches, and any process
holding the caller's output pipes would keep ``communicate()`` waiting. On Linux the kernel can
send a signal to a process when its parent ends (``prctl(PR_SET_PDEATHSIG)``); elsewhere
:func:`die_with_parent` is a no-op that returns False, and steps behave as before.

The kernel's "parent" is the *thread* that forked the child: a step started from a pool thread
dies if that thread ends, which the local runner's threads never do while they wait for it.
For the same reason the warm starter (started by whichever runner thread needs it first) does not
use it: it exits when its control socket reads end of file, which the kernel delivers when the
worker ends in any way. Who covers what (see ``warm_start._monitor``): a warm step's whole process
group, its own children included, goes with the worker; a fresh step (``local_warm_start =
False`` or the fallback) goes itself, but children it started in the background are not tracked.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _load_prctl() -> Any:
    """libc's ``prctl``, resolved once before any fork (the child must not load libraries)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


_PRCTL = _load_prctl()


def die_with_parent(sig: int = signal.SIGKILL, parent_pid: int | None = None) -> bool:
    """Have the kernel send ``sig`` to this process when its parent ends; whether it is in effect.

    ``parent_pid`` is the parent's pid as the parent saw it before forking: if the parent is
    already gone (it died between the fork and this call), ``sig`` is sent to ourselves now.
    """
    if _PRCTL is None or _PRCTL(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        return False
    if parent_pid is not None and os.getppid() != parent_pid:
        os.kill(os.getpid(), sig)
    return True


def preexec_die_with_parent(sig: int = signal.SIGKILL) -> Callable[[], None] | None:
    """A ``subprocess.Popen(preexec_fn=...)`` for a child that dies with this process (None off Linux)."""
    if _PRCTL is None:
        return None
    parent = os.getpid()
    return lambda: _preexec(sig, parent)


def _preexec(sig: int, parent: int) -> None:
    # runs in the forked child before exec: no imports, no allocation beyond the call itself
    if _PRCTL(PR_SET_PDEATHSIG, sig, 0, 0, 0) == 0 and os.getppid() != parent:
        os._exit(128 + sig)
