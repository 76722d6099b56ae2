"""Step decorators -> KubernetesPodOperator arguments (resources, placement, identity).

Limits policy: memory and GPUs get a limit equal to the request (GPUs must; an equal memory
limit makes OOM behaviour predictable), CPU gets a request only (a CPU limit throttles, it
never protects the node), ephemeral storage gets request = limit so a runaway step is evicted.
``@resources(shared_memory=MB)`` is a memory-backed ``/dev/shm`` of that size (Metaflow's meaning;
it counts against the memory limit).

Names the API server would refuse (label and annotation keys, label values, namespace, service
account, secret names, GPU vendor) and affinity keys the Kubernetes client would silently drop
(``node_affinity`` instead of ``nodeAffinity``) are errors when the DAG is parsed, not when a pod
is created hours into a run. Values holding Jinja (``{{``) are checked after rendering, by the API.
"""

from __future__ import annotations

import re
from typing import Any

from kubernetes.client import ApiClient
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


_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]")  # a label value or key name, <= 63
SHM_VOLUME = "dshm"


def _check(ok: bool, option: str, value: Any, rule: str) -> None:
    if not ok and "{{" not in str(value):
        raise ValueError(f"{option}: {value!r} is not valid in Kubernetes ({rule})")


def _check_key(option: str, key: Any) -> None:
    """A label/annotation key: ``[prefix/]name``, prefix a DNS subdomain, name <= 63 characters."""
    prefix, _, name = str(key).rpartition("/")
    ok = isinstance(key, str) and bool(_NAME.fullmatch(name)) and (not prefix or bool(_DNS_SUBDOMAIN.fullmatch(prefix)))
    _check(ok, option, key, "keys are [dns-prefix/]name, name up to 63 of A-Z a-z 0-9 - _ .")


def _check_labels(option: str, labels: dict[str, Any], *, values: bool) -> None:
    for key, value in labels.items():
        _check_key(option, key)
        if values:
            rule = "values are up to 63 of A-Z a-z 0-9 - _ ., starting and ending alphanumeric"
            _check(
                isinstance(value, str) and (value == "" or bool(_NAME.fullmatch(value))),
                f"{option}[{key!r}]",
                value,
                rule,
            )
        else:
            _check(isinstance(value, str), f"{option}[{key!r}]", value, "values are strings")


def _affinity(spec: dict[str, Any]) -> k8s.V1Affinity:
    """A Kubernetes-YAML-shaped dict (camelCase) -> V1Affinity; a key the client would drop is an error."""
    client = ApiClient()
    model = client._ApiClient__deserialize(spec, "V1Affinity")
    back = client.sanitize_for_serialization(model)

    def lost(given: Any, kept: Any, path: str) -> str | None:
        if isinstance(given, dict):
            for key, value in given.items():
                if not isinstance(kept, dict) or key not in kept:
                    return f"{path}.{key}"
                found = lost(value, kept[key], f"{path}.{key}")
                if found:
                    return found
        elif isinstance(given, list):
            for i, value in enumerate(given):
                found = lost(value, kept[i] if isinstance(kept, list) and i < len(kept) else None, f"{path}[{i}]")
                if found:
                    return found
        return None

    where = lost(spec, back, "affinity")
    if where:
        raise ValueError(
            f"@kubernetes(affinity=...): {where} is not a Kubernetes Affinity field (use camelCase, as in YAML)"
        )
    return model


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
        vendor = resources.get("gpu_vendor") or "nvidia"
        _check(bool(_DNS_LABEL.fullmatch(str(vendor))), "@kubernetes(gpu_vendor=...)", vendor, "e.g. nvidia or amd")
        gpu_key = f"{vendor}.com/gpu"
        requests[gpu_key] = limits[gpu_key] = _quantity(resources["gpu"])
    if resources.get("disk"):
        requests["ephemeral-storage"] = limits["ephemeral-storage"] = f"{int(resources['disk'])}Mi"
    return k8s.V1ResourceRequirements(requests=requests, limits=limits or None, local_vars_configuration=_MODEL_CONFIG)


def _toleration(spec: dict[str, Any]) -> k8s.V1Toleration:
    allowed = {"key", "operator", "value", "effect", "toleration_seconds"}
    unknown = set(spec) - allowed
    if unknown:
        raise ValueError(f"@kubernetes(tolerations=...): unknown keys {sorted(unknown)}; allowed {sorted(allowed)}")
    if spec.get("operator", "Equal") not in ("Equal", "Exists"):
        raise ValueError(f"@kubernetes(tolerations=...): operator must be Equal or Exists, not {spec['operator']!r}")
    if spec.get("operator") == "Exists" and spec.get("value"):
        raise ValueError("@kubernetes(tolerations=...): an Exists toleration takes no value")
    effect = spec.get("effect")
    if effect not in (None, "", "NoSchedule", "PreferNoSchedule", "NoExecute"):
        raise ValueError(
            f"@kubernetes(tolerations=...): effect must be NoSchedule, PreferNoSchedule or NoExecute, not {effect!r}"
        )
    if spec.get("key"):
        _check_key("@kubernetes(tolerations=...) key", spec["key"])
    return k8s.V1Toleration(**spec, local_vars_configuration=_MODEL_CONFIG)


def _shared_memory(megabytes: float | None) -> dict[str, Any]:
    """``/dev/shm`` as a memory-backed emptyDir (containers otherwise get 64 MB: PyTorch loaders fail)."""
    if not megabytes:
        return {}
    source = k8s.V1EmptyDirVolumeSource(
        medium="Memory", size_limit=f"{int(megabytes)}Mi", local_vars_configuration=_MODEL_CONFIG
    )
    return {
        "volumes": [k8s.V1Volume(name=SHM_VOLUME, empty_dir=source, local_vars_configuration=_MODEL_CONFIG)],
        "volume_mounts": [
            k8s.V1VolumeMount(name=SHM_VOLUME, mount_path="/dev/shm", local_vars_configuration=_MODEL_CONFIG)
        ],
    }


def _check_identity(kube: Kubernetes, secrets: list[str]) -> None:
    _check_labels("@kubernetes(labels=...)", kube.labels or {}, values=True)
    _check_labels("@kubernetes(node_selector=...)", kube.node_selector or {}, values=True)
    _check_labels("@kubernetes(annotations=...)", kube.annotations or {}, values=False)
    if kube.namespace:
        _check(bool(_DNS_LABEL.fullmatch(kube.namespace)), "@kubernetes(namespace=...)", kube.namespace, "a DNS label")
    if kube.service_account:
        rule = "a DNS subdomain: lower case, digits, - and ."
        _check(
            bool(_DNS_SUBDOMAIN.fullmatch(kube.service_account)),
            "@kubernetes(service_account=...)",
            kube.service_account,
            rule,
        )
    for name in secrets:
        _check(isinstance(name, str) and bool(_DNS_SUBDOMAIN.fullmatch(name)), "secret name", name, "a DNS subdomain")


def pod_kwargs(
    decorators: dict[str, Any], default_image: str, default_namespace: str, shared_secrets: list[str] | None = None
) -> dict[str, Any]:
    """Keyword arguments for the KubernetesPodOperator from a step's decorators.

    ``shared_secrets`` (``[ml_provider] kubernetes_secrets``) are attached to every pod, before the
    step's own ``@kubernetes(secrets=...)``.
    """
    kube: Kubernetes = decorators.get("kubernetes") or Kubernetes()
    secrets = list(dict.fromkeys([*(shared_secrets or []), *(kube.secrets or [])]))
    _check_identity(kube, secrets)
    env = decorators.get("environment")
    resources = effective_resources(decorators)
    kwargs: dict[str, Any] = {
        "image": kube.image or default_image,
        "namespace": kube.namespace or default_namespace,
        "container_resources": container_resources(resources),
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
    kwargs.update(_shared_memory(resources.get("shared_memory")))
    if kube.affinity:
        kwargs["affinity"] = _affinity(kube.affinity)
    if kube.service_account:
        kwargs["service_account_name"] = kube.service_account
    if kube.image_pull_policy:
        kwargs["image_pull_policy"] = kube.image_pull_policy
    if env is not None:
        kwargs["env_vars"] = {k: str(v) for k, v in env.vars.items()}
    return kwargs
