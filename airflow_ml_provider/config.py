"""The ``[ml_provider]`` configuration section, readable with or without Airflow.

Steps, the client and ``python flow.py run`` must not pay ``import airflow`` (seconds) just
to learn where artifacts live, so options resolve in this order:

1. the environment variable ``AIRFLOW__ML_PROVIDER__<KEY>`` (Airflow's own convention);
2. Airflow's ``conf`` when this process has already imported Airflow;
3. the ``[ml_provider]`` section of ``$AIRFLOW_HOME/airflow.cfg`` read with ``configparser``;
4. the documented default in :data:`OPTIONS`.
"""

from __future__ import annotations

import configparser
import functools
import os
import sys
from dataclasses import dataclass
from pathlib import Path

SECTION = "ml_provider"


@dataclass(frozen=True)
class Option:
    default: str
    description: str
    example: str | None = None


OPTIONS: dict[str, Option] = {
    "artifact_root": Option(
        "",
        "Where artifacts and run metadata live: a local folder or ``s3://bucket/prefix``. "
        "Empty means ``$AIRFLOW_HOME/ml_artifacts``.",
        "s3://my-bucket/ml-artifacts",
    ),
    "execution_mode": Option(
        "auto",
        "How steps run. ``local``: the step command runs as a subprocess of the Airflow worker. "
        "``kubernetes``: the step runs in its own pod. ``auto``: ``kubernetes`` when the worker "
        "itself runs inside a Kubernetes cluster (``KUBERNETES_SERVICE_HOST`` is set), else ``local``.",
        "local",
    ),
    "default_image": Option(
        "airflow-ml-provider:0.1.0",
        "Container image for steps that name none with ``@kubernetes(image=...)``. It must have this "
        "package installed: build docker/Dockerfile (tag airflow-ml-provider:0.1.0), push it to your "
        "registry and set its full name here.",
        "registry.example.com/ml/steps:1.4",
    ),
    "aws_conn_id": Option(
        "aws_default",
        "Airflow connection used for ``s3://`` artifact roots (credentials, region, endpoint_url).",
    ),
    "kubernetes_namespace": Option(
        "default",
        "Namespace for step pods that name none with ``@kubernetes(namespace=...)``.",
    ),
    "kubernetes_conn_id": Option(
        "kubernetes_default",
        "Airflow connection for the Kubernetes API; in-cluster config is used when it does not exist.",
    ),
    "kubernetes_secrets": Option(
        "",
        "Comma-separated Kubernetes secrets whose keys become environment variables of every step pod "
        "(e.g. one holding AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY for an s3:// artifact_root). Leave "
        "empty when pods get S3 access from their service account (IRSA / workload identity).",
        "ml-s3-credentials",
    ),
    "local_warm_start": Option(
        "True",
        "Local steps (``execution_mode = local`` and ``python flow.py run``): fork each step from a warm, "
        "Airflow-free Python that has already imported the step runtime (less start-up time per step) "
        "instead of starting ``python -m airflow_ml_provider.runtime step`` fresh. The step still gets "
        "the pod's exact arguments, environment and its own process group. ``False`` starts every step "
        "as a fresh interpreter, as a pod does.",
        "False",
    ),
    "local_warm_imports": Option(
        "True",
        "With ``local_warm_start``: the warm starter imports the flow file's top-level imports (and numpy, "
        "pandas, pyarrow when the flow uses them) once before forking steps, so each step skips them (about "
        "0.7 s for pandas + pyarrow on 2 cores), and on an S3 artifact root the S3 client stack (boto3 and "
        "botocore's S3 model, about 0.5 s). Their module-level state then comes from the starter (see "
        "``runtime/preimport.py``). ``False`` imports only the step runtime.",
        "False",
    ),
    "heartbeat_interval": Option(
        "15",
        "Seconds between heartbeats of a running step (and of ``python flow.py run``'s runner). Each "
        "heartbeat rewrites one small object that only its writer owns.",
        "15",
    ),
    "heartbeat_timeout": Option(
        "120",
        "Seconds without a heartbeat after which readers (client, ``show``, the UI plugin, the results "
        "service) show a running attempt, or a local run, as failed with the reason "
        "``no heartbeat since <time>``. Keep it several times ``heartbeat_interval``.",
        "300",
    ),
    "max_local_workers": Option(
        "",
        "Parallel tasks for ``python flow.py run``. Empty means the number of CPU cores.",
        "4",
    ),
}


def airflow_home() -> Path:
    return Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow").expanduser()


def _from_airflow_cfg(key: str) -> str | None:
    cfg = Path(os.environ.get("AIRFLOW_CONFIG") or airflow_home() / "airflow.cfg")
    try:
        mtime = cfg.stat().st_mtime
    except OSError:
        return None
    return _read_section(str(cfg), mtime).get(key)


@functools.lru_cache(maxsize=8)
def _read_section(path: str, mtime: float) -> dict[str, str]:
    """The [ml_provider] section of one airflow.cfg version (parsed once per file change)."""
    parser = configparser.RawConfigParser()
    try:
        parser.read(path)
    except configparser.Error:
        return {}
    return dict(parser.items(SECTION)) if parser.has_section(SECTION) else {}


def get_option(key: str) -> str:
    """Return the value of ``[ml_provider] key`` (see the module docstring for the order)."""
    if key not in OPTIONS:
        raise KeyError(f"unknown [ml_provider] option {key!r}; known: {', '.join(sorted(OPTIONS))}")
    env = os.environ.get(f"AIRFLOW__{SECTION.upper()}__{key.upper()}")
    if env is not None:
        return env
    if "airflow.configuration" in sys.modules:
        from airflow.configuration import conf

        value = conf.get(SECTION, key, fallback=None)
        if value is not None:
            return value
    value = _from_airflow_cfg(key)
    return OPTIONS[key].default if value is None else value


def artifact_root() -> str:
    """The configured artifact root, with the empty default resolved under the Airflow home."""
    root = get_option("artifact_root").strip()
    return root or str(airflow_home() / "ml_artifacts")


def local_warm_start() -> bool:
    value = get_option("local_warm_start").strip().lower()
    if value not in {"true", "false", "1", "0", "yes", "no", ""}:
        raise ValueError(f"[ml_provider] local_warm_start must be True or False, not {value!r}")
    return value in {"true", "1", "yes", ""}


def max_local_workers() -> int | None:
    """``[ml_provider] max_local_workers`` (None when empty: ``python flow.py run`` uses the cores)."""
    raw = get_option("max_local_workers").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"[ml_provider] max_local_workers must be a whole number of at least 1, not {raw!r}")
    return int(raw)


def execution_mode() -> str:
    mode = get_option("execution_mode").strip().lower() or "auto"
    if mode not in {"auto", "local", "kubernetes"}:
        raise ValueError(
            f"[ml_provider] execution_mode must be auto, local or kubernetes, not {mode!r} "
            "(set it in airflow.cfg or AIRFLOW__ML_PROVIDER__EXECUTION_MODE)"
        )
    if mode == "auto":
        return "kubernetes" if os.environ.get("KUBERNETES_SERVICE_HOST") else "local"
    return mode


# -- IncludeFile confinement (SECURITY.md) -------------------------------------------------------
OPTIONS["include_file_roots"] = Option(
    "",
    "Comma-separated folders from which an IncludeFile path given at trigger time (Airflow conf, the "
    "trigger form, ``--name`` of ``python flow.py run``) may be read, besides the flow file's own folder "
    "(always allowed). Paths outside them, ``..``, symlinks leaving them, ``/proc``, ``/sys``, ``/dev`` "
    "and non-regular files are refused before the step's code runs. The flow's default path is trusted.",
    "/srv/ml-inputs,/mnt/shared/datasets",
)
OPTIONS["include_file_max_mb"] = Option(
    "64",
    "Largest file an IncludeFile may read, in MB (default path included); a larger file fails the "
    "start step with a message naming the size and this option.",
    "256",
)


def include_file_roots() -> list[str]:
    """Extra IncludeFile roots from ``[ml_provider] include_file_roots`` (absolute paths only)."""
    roots = [r.strip() for r in get_option("include_file_roots").split(",") if r.strip()]
    for root in roots:
        if not os.path.isabs(root):
            raise ValueError(f"[ml_provider] include_file_roots must list absolute folders, not {root!r}")
    return roots


def include_file_max_bytes() -> int:
    """The IncludeFile size cap in bytes, from ``[ml_provider] include_file_max_mb``."""
    raw = get_option("include_file_max_mb").strip() or OPTIONS["include_file_max_mb"].default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or value != value:
        raise ValueError(f"[ml_provider] include_file_max_mb must be a positive number of MB, not {raw!r}")
    return int(value * 1024 * 1024)
