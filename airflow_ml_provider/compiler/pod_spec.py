"""Step decorators -> KubernetesPodOperator arguments (resources, placement, identity).

Limits policy: memory and GPUs get a limit equal to the request (GPUs must; an equal memory
limit makes OOM behaviour predictable), CPU gets a request only (a CPU limit throttles, it
never protects the node), ephemeral storage gets request = limit so a runaway step is evicted.
"""

from __future__ import annotations

from typing import Any

from kubernetes.client import models as k8s

from airflow_ml_provider.dsl.decorators import Kubernetes, Resources

# One client configuration shared by the models we build: each model otherwise constructs its
# own kubernetes Configuration, which dominated DAG parse time for flows with many steps.
_MODEL_CONFIG = k8s.V1ObjectMeta().local_vars_configuration


def effective_resources(decorators: dict[str, Any]) -> dict[str, Any]:
    """cpu/memory/gpu/disk after ``@kubernetes`` overrides ``@resources`` (Metaflow's rule: max)."""
    res = decorators.get("resources") or Resources()
    kube = decorators.get("kubernetes") or Kubernetes()
    out: dict[str, Any] = {}
    for key in ("cpu", "memory", "gpu", "disk"):
        values = [v for v in (getattr(res, key), getattr(kube, key)) if v is not None]
        out[key] = max(values) if values else None
    out["gpu_vendor"] = kube.gpu_vendor
    out["shared_memory"] = res.shared_memory
    return out


def _quantity(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def container_resources(resources: dict[str, Any]) -> k8s.V1ResourceRequirements:
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    if resources.get("cpu"):
        requests["cpu"] = _quantity(resources["cpu"])
    if resources.get("memory"):
        requests["memory"] = limits["memory"] = f"{int(resources['memory'])}Mi"
    if resources.get("gpu"):
        gpu_key = f"{resources.get('gpu_vendor') or 'nvidia'}.com/gpu"
        requests[gpu_key] = limits[gpu_key] = _quantity(resources["gpu"])
    if resources.get("disk"):
        requests["ephemeral-storage"] = limits["ephemeral-storage"] = f"{int(resources['disk'])}Mi"
    return k8s.V1ResourceRequirements(
        requests=requests, limits=limits or None, local_vars_configuration=_MODEL_CONFIG
    )


def _toleration(spec: dict[str, Any]) -> k8s.V1Toleration:
    allowed = {"key", "operator", "value", "effect", "toleration_seconds"}
    unknown = set(spec) - allowed
    if unknown:
        raise ValueError(f"@kubernetes(tolerations=...): unknown keys {sorted(unknown)}; allowed {sorted(allowed)}")
    return k8s.V1Toleration(**spec, local_vars_configuration=_MODEL_CONFIG)


def pod_kwargs(
    decorators: dict[str, Any], default_image: str, default_namespace: str, shared_secrets: list[str] | None = None
) -> dict[str, Any]:
    """Keyword arguments for the KubernetesPodOperator from a step's decorators.

    ``shared_secrets`` (``[ml_provider] kubernetes_secrets``) are attached to every pod, before the
    step's own ``@kubernetes(secrets=...)``.
    """
    kube: Kubernetes = decorators.get("kubernetes") or Kubernetes()
    secrets = list(dict.fromkeys([*(shared_secrets or []), *(kube.secrets or [])]))
    env = decorators.get("environment")
    kwargs: dict[str, Any] = {
        "image": kube.image or default_image,
        "namespace": kube.namespace or default_namespace,
        "container_resources": container_resources(effective_resources(decorators)),
        "node_selector": dict(kube.node_selector or {}),
        "tolerations": [_toleration(t) for t in kube.tolerations or []],
        "labels": dict(kube.labels or {}),
        "annotations": dict(kube.annotations or {}),
        "env_from": [
            k8s.V1EnvFromSource(
                secret_ref=k8s.V1SecretEnvSource(name=s, local_vars_configuration=_MODEL_CONFIG),
                local_vars_configuration=_MODEL_CONFIG,
            )
            for s in secrets
        ],
    }
    if kube.affinity:
        kwargs["affinity"] = kube.affinity
    if kube.service_account:
        kwargs["service_account_name"] = kube.service_account
    if kube.image_pull_policy:
        kwargs["image_pull_policy"] = kube.image_pull_policy
    if env is not None:
        kwargs["env_vars"] = {k: str(v) for k, v in env.vars.items()}
    return kwargs
