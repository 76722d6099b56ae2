"""What the warm starter imports before it forks steps, so each step does not import it again.

``import pandas, pyarrow`` takes seconds on a small machine (far more with a cold page cache): a
3-step flow paid it three times before doing any work (``benchmarks/bench_import_tax.py``). The starter (see
:mod:`.warm_start`) is told the run's flow file and imports, once, before the first fork:

1. every module the flow file imports at **top level** (``import x`` / ``from x import y`` in the
   module body, also inside top-level ``if``/``try``/``with``), absolute imports only;
2. ``numpy``, ``pandas`` and ``pyarrow`` (those installed) when an import statement **anywhere**
   in the file (step bodies included) names one of them, or when step 1 loaded ``pandas`` or
   ``numpy``: the store's DataFrame and array codecs need them to load such artifacts.
   Decision: not unconditionally, since a flow that never touches them would pay that import once per
   run for nothing (``benchmarks/bench_step_overhead.py`` runs no-op flows);
3. when the run's artifact root is on S3, the store's S3 client stack: boto3 imported and one
   client built and dropped (:func:`airflow_ml_provider.s3.client.warm_up`), which each step
   otherwise paid (~0.5 s: the import, then botocore's service model). No request is made and no
   client, connection or credential is kept: each step builds its own client from its own
   environment, as before.

Never imported: ``airflow`` (blocked for the whole pre-import: a module that needs it fails and is
skipped), the flow module itself (nor a module of the same name as the flow file), relative
imports. A module that raises while importing is skipped silently: the step imports it again and
reports the error where the user looks. Anything printed while importing is discarded.

What changes for the step: pre-imported modules are
shared from the starter, so their module-level state is computed once per run, in the starter,
with the environment and working directory of ``python flow.py run`` (a step's environment less
the run's context variable: the starter comes up before the run exists, see
``local_runner.prestart_steps``), not each step's: a module reading ``os.environ`` or the
working directory at import time sees those values.
Import-time output does not appear in step logs.
Random state stays per process: CPython reseeds ``random`` in every forked child, and numpy's
global ``RandomState`` is reseeded in each step unless a pre-imported module seeded it explicitly
(then each step starts from that seed, as a fresh process would). A module that starts threads at
import time makes forking unsafe: pre-importing stops there (later modules are left to the step).

Turn it off with ``[ml_provider] local_warm_imports = False`` (the starter then imports only the
step runtime, as before).
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.util
import io
import os
import random
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DATA_LIBS = ("numpy", "pandas", "pyarrow")
# lazily imported by the first DataFrame (de)serialization; cheap next to pandas itself
_CODEC_EXTRAS = ("pyarrow.pandas_compat", "pyarrow.ipc", "pandas.api.types")
_BLOCKED = "airflow"


class _BlockAirflow:
    """A meta-path finder that makes ``import airflow`` fail while the starter pre-imports."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == _BLOCKED or name.startswith(_BLOCKED + "."):
            raise ImportError(f"{name} is not pre-imported by the warm starter")
        return None


@contextlib.contextmanager
def _airflow_blocked() -> Iterator[None]:
    """``import airflow`` fails inside (a module that needs it is skipped, never half-imported)."""
    blocker = _BlockAirflow()
    sys.meta_path.insert(0, blocker)
    try:
        yield
    finally:
        sys.meta_path.remove(blocker)


def flow_imports(flow_file: str) -> tuple[list[str], set[str]]:
    """``(top-level module names in order, top-level package names imported anywhere)``."""
    tree = ast.parse(Path(flow_file).read_bytes(), filename=flow_file)
    top: list[str] = []

    def names(node: ast.AST) -> list[str]:
        if isinstance(node, ast.Import):
            return [alias.name for alias in node.names]
        if isinstance(node, ast.ImportFrom) and not node.level and node.module:
            return [node.module]
        return []

    def visit_top(body: list[ast.stmt]) -> None:
        for node in body:
            top.extend(n for n in names(node) if n not in top)
            if isinstance(node, ast.If):
                visit_top(node.body)
                visit_top(node.orelse)
            elif isinstance(node, ast.Try):
                visit_top(node.body)
                for handler in node.handlers:
                    visit_top(handler.body)
                visit_top(node.orelse)
                visit_top(node.finalbody)
            elif isinstance(node, ast.With):
                visit_top(node.body)

    visit_top(tree.body)
    anywhere = {n.split(".")[0] for node in ast.walk(tree) for n in names(node)}
    return top, anywhere


def preimport(flow_file: str) -> dict[str, Any]:
    """Import what :func:`flow_imports` finds (see the module docstring); never raises.

    Returns what happened (``imported``, ``skipped``, and ``reseed_numpy`` for :func:`after_fork`).
    """
    report: dict[str, Any] = {"imported": [], "skipped": [], "reseed_numpy": False, "random_state": None}
    try:
        path = Path(flow_file).resolve()
        top, anywhere = flow_imports(str(path))
    except (OSError, SyntaxError, ValueError):
        return report
    own = path.stem
    wanted = [n for n in top if n.split(".")[0] not in (own, _BLOCKED) and n not in sys.modules]
    data = bool(anywhere & set(DATA_LIBS))
    third_party = [n for n in wanted if n.split(".")[0] not in sys.stdlib_module_names]
    # numpy first (when anything might import it), so a seed set by a user module can be seen
    numpy_state = _numpy_state_probe() if data or third_party else None
    random_before = random.getstate()
    if str(path.parent) not in sys.path:  # where the step's loader will look too
        sys.path.insert(1, str(path.parent))
    sink = io.StringIO()
    with _airflow_blocked(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        for name in wanted:
            if not _import_quietly(name, report):
                break
        if data or "pandas" in sys.modules:
            for name in (*DATA_LIBS, *_CODEC_EXTRAS):
                installed = importlib.util.find_spec(name.split(".")[0]) is not None
                if installed and not _import_quietly(name, report):
                    break
    if numpy_state is not None:
        report["reseed_numpy"] = numpy_state == _numpy_state_probe()
    elif "numpy" in sys.modules:
        report["reseed_numpy"] = True  # imported above, after the probe: nobody could have seeded it
    if random.getstate() != random_before:
        report["random_state"] = random.getstate()  # a module seeded it: the fork's reseed would undo that
    return report


def preimport_store() -> None:
    """Step 3 of the module docstring. Never raises."""
    from airflow_ml_provider import config

    try:
        if config.artifact_root().startswith("s3://"):
            from airflow_ml_provider.s3.client import warm_up

            with _airflow_blocked():
                warm_up()
    except Exception:  # the step builds its client again and reports what is wrong where users look
        pass


def _import_quietly(name: str, report: dict[str, Any]) -> bool:
    """Import one module; False when it started a thread (stop pre-importing: forks get unsafe)."""
    if name in sys.modules:
        return True
    try:
        importlib.import_module(name)
        report["imported"].append(name)
    except BaseException:  # a user module may raise anything, SystemExit included
        report["skipped"].append(name)
    return threading.active_count() == 1


def _numpy_state_probe() -> Any:
    """A fingerprint of numpy's global RandomState, importing numpy if installed (None if not)."""
    if "numpy" not in sys.modules and importlib.util.find_spec("numpy") is None:
        return None
    try:
        import numpy as np

        kind, keys, pos, *_ = np.random.get_state()
        return (kind, keys.tobytes(), pos)
    except Exception:
        return None


def after_fork(report: dict[str, Any]) -> None:
    """In the forked step: give it the random state a fresh interpreter would have."""
    if report.get("random_state") is not None:
        random.setstate(report["random_state"])
    if report.get("reseed_numpy") and "numpy" in sys.modules:
        with contextlib.suppress(Exception):
            sys.modules["numpy"].random.seed()  # from OS entropy, as ``import numpy`` does


def enabled() -> bool:
    """``[ml_provider] local_warm_imports`` (default True), read in the worker."""
    from airflow_ml_provider import config

    value = config.get_option("local_warm_imports").strip().lower()
    if value not in {"true", "false", "1", "0", "yes", "no", ""}:
        raise ValueError(f"[ml_provider] local_warm_imports must be True or False, not {value!r}")
    return value in {"true", "1", "yes", ""}


def flow_file_of(argv: list[str]) -> str | None:
    """The step command's flow file as an absolute path; None when it comes in a code package."""
    if "--code-package" in argv or "--flow-file" not in argv:
        return None
    i = argv.index("--flow-file") + 1
    return os.path.abspath(argv[i]) if i < len(argv) else None
