"""Who is running: one answer for run tags, ``current.username``, parameter contexts and branches.

Metaflow's order: ``METAFLOW_USER``, then ``USER`` / ``USERNAME``, then the system account
(``getpass.getuser()``, which reads the password database when the environment names nobody).
An empty variable counts as unset.
"""

from __future__ import annotations

import getpass
import os


def get_username() -> str:
    """The user this process acts for (see the module docstring for the order)."""
    for var in ("METAFLOW_USER", "USER", "USERNAME"):
        value = os.environ.get(var, "").strip()
        if value:
            return value
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user with no passwd entry
        return "unknown"
