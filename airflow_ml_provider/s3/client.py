"""The boto3 S3 client: where credentials and the endpoint come from, in one place.

Inside an Airflow process (``"airflow" in sys.modules``) the client comes from the Airflow AWS
connection ``[ml_provider] aws_conn_id`` through the amazon provider's hook, so the connection's
``endpoint_url``/``region_name``/``config_kwargs`` (MinIO, moto) apply. A step subprocess or pod
never imports Airflow (2.5 s): it builds a plain boto3 client from the standard chain (``AWS_*``
env vars, IRSA web identity, shared config), and boto3 itself honours ``AWS_ENDPOINT_URL_S3`` /
``AWS_ENDPOINT_URL``. For a local step subprocess the worker passes the connection on with
:func:`s3_env_for_subprocess`; for pods use IRSA (service account) or a Kubernetes secret exposed
as env vars, never clear text in the pod spec. Credentials are never logged.

Retries: botocore's ``standard`` mode retries each request (``MAX_ATTEMPTS``) on connection
errors, 5xx and throttling with exponential backoff and jitter; what it cannot see (a body that
breaks mid-stream) is retried by :mod:`airflow_ml_provider.s3.transfer`.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

MAX_ATTEMPTS = 6  # botocore attempts per request


def botocore_config(max_pool_connections: int) -> Any:
    """Our retry, pool and timeout defaults (a connection's ``config_kwargs`` go on top)."""
    from botocore.config import Config

    return Config(
        retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS},
        max_pool_connections=max_pool_connections,
        connect_timeout=10,
        read_timeout=120,
        tcp_keepalive=True,
    )


def make_s3_client(aws_conn_id: str | None = None, max_pool_connections: int = 12) -> Any:
    """A boto3 S3 client: from the Airflow connection inside Airflow, else from the environment."""
    defaults = botocore_config(max_pool_connections)
    if "airflow" in sys.modules:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        hook = S3Hook(aws_conn_id=aws_conn_id or conn_id())
        # Same client S3Hook.get_conn() builds, with our retry/pool defaults under whatever the
        # connection's ``config_kwargs`` set (a hook-level config would replace those entirely).
        own = hook.conn_config.botocore_config
        config = defaults.merge(own) if own is not None else defaults
        return hook.get_client_type(region_name=hook.region_name, config=config)
    return boto3_client(defaults)


def boto3_client(config: Any) -> Any:
    """A plain boto3 client from the standard chain (what steps and pods use), with ``config``."""
    import boto3
    import botocore.session

    core = botocore.session.Session()
    loader = _shared_loader(core.get_config_variable("data_path"))
    core.register_component("data_loader", loader)
    session = boto3.session.Session(botocore_session=core)
    with _loaders_lock:  # every boto3 session appends its data folder to the loader's search path
        loader.search_paths[:] = list(dict.fromkeys(loader.search_paths))
    return session.client("s3", config=config)


_loaders: dict[Any, Any] = {}
_loaders_lock = threading.Lock()


def _shared_loader(data_path: str | None) -> Any:
    """One botocore data loader per process (per ``AWS_DATA_PATH``): a new session otherwise reads
    and parses the S3 service model and endpoint rules again (~0.1 s for every client after the
    first). The loader only caches the read-only JSON files botocore ships; sessions, credentials
    and clients stay separate."""
    with _loaders_lock:
        if data_path not in _loaders:
            from botocore.loaders import create_loader

            _loaders[data_path] = create_loader(data_path)
        return _loaders[data_path]


warmed_in: int | None = None  # the pid that ran warm_up(): the warm starter, for its forked steps


def warm_up() -> None:
    """Import the client stack and build one client (then drop it), so processes forked after this
    (the local warm starter's steps) skip ~0.5 s of imports and model parsing. No I/O, no threads."""
    global warmed_in
    make_s3_client()
    warmed_in = os.getpid()


def conn_id(aws_conn_id: str | None = None) -> str:
    """The Airflow AWS connection in use: the one given, else ``[ml_provider] aws_conn_id``."""
    if aws_conn_id:
        return aws_conn_id
    from airflow_ml_provider.config import get_option

    return get_option("aws_conn_id") or "aws_default"


def credential_source(aws_conn_id: str | None = None) -> str:
    """Where this process's S3 credentials come from, for error messages (never the secrets)."""
    if "airflow" in sys.modules:
        return f"AWS connection {conn_id(aws_conn_id)!r}"
    return (
        "outside Airflow: credentials from AWS_* env / IRSA / shared config, "
        f"not from the Airflow connection {conn_id(aws_conn_id)!r}"
    )


def s3_env_for_subprocess(aws_conn_id: str | None = None) -> dict[str, str]:
    """Env vars that give a local step subprocess the Airflow connection's S3 access.

    Call inside an Airflow process only. The subprocess then needs no Airflow import. Session
    tokens expire with the credentials they came from. Pods must not get these values in clear
    text: mount them from a Kubernetes secret or use IRSA instead.
    """
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
    from botocore.exceptions import NoCredentialsError

    hook = AwsBaseHook(aws_conn_id=conn_id(aws_conn_id), client_type="s3")
    env: dict[str, str] = {}
    try:
        creds = hook.get_credentials()  # also masks the secret and token in task logs
    except NoCredentialsError:
        creds = None  # the subprocess falls back on its own default chain (e.g. instance role)
    if creds is not None:
        env["AWS_ACCESS_KEY_ID"] = creds.access_key
        env["AWS_SECRET_ACCESS_KEY"] = creds.secret_key
        if creds.token:
            env["AWS_SESSION_TOKEN"] = creds.token
    if hook.conn_config.region_name:
        env["AWS_DEFAULT_REGION"] = hook.conn_config.region_name
    endpoint = hook.conn_config.get_service_endpoint_url("s3")
    if endpoint:
        env["AWS_ENDPOINT_URL_S3"] = endpoint
    return env


class ClientHolder:
    """One client per process, built on first use: creating a holder costs no I/O, and a client
    (with its sockets) never crosses a fork or a pickle."""

    def __init__(self, aws_conn_id: str | None = None, max_pool_connections: int = 12, client: Any = None) -> None:
        self.aws_conn_id = aws_conn_id
        self.max_pool_connections = max_pool_connections
        self._client = client  # a given client is used until the process forks
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def get(self) -> Any:
        """The client of this process (built now if there is none yet)."""
        if self._client is None or self._pid != os.getpid():
            with self._lock:
                if self._client is None or self._pid != os.getpid():
                    self._client = make_s3_client(self.aws_conn_id, self.max_pool_connections)
                    self._pid = os.getpid()
        return self._client

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_client"] = None  # clients and locks do not pickle; rebuilt on first use
        state.pop("_lock")
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
