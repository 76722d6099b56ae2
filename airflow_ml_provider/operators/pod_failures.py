"""How a step's pod ended, in one line, for the failed attempt the operator records."""

from __future__ import annotations

from kubernetes.client import models as k8s


def describe_pod_failure(pod: k8s.V1Pod | None, exc: BaseException, container: str = "base") -> str:
    """One line naming how a pod ended: ``pod NAME: phase Failed, reason OOMKilled, exit code 137``.

    The reason is the pod's own (Evicted, DeadlineExceeded) when Kubernetes set one, else the step
    container's terminated reason (OOMKilled, Error) or waiting reason (ErrImagePull,
    ImagePullBackOff); the exit code is the step container's. Without a pod (creation refused) it
    is the operator's error.
    """
    detail = " ".join(str(exc).split())  # an ApiException spreads status, reason and body over lines
    error = f"{type(exc).__name__}: {detail[:500]}" if detail else type(exc).__name__
    status = getattr(pod, "status", None)
    if status is None:
        return error
    statuses = [c for c in status.container_statuses or [] if c.name == container]
    state = statuses[0].state if statuses and statuses[0].state else k8s.V1ContainerState()
    terminated, waiting = state.terminated, state.waiting
    reason = status.reason or (terminated and terminated.reason) or (waiting and waiting.reason) or "unknown"
    message = status.message or (terminated and terminated.message) or (waiting and waiting.message) or ""
    parts = [f"pod {pod.metadata.name}: phase {status.phase}", f"reason {reason}"]
    if terminated is not None and terminated.exit_code is not None:
        parts.append(f"exit code {terminated.exit_code}")
    text = ", ".join(parts)
    text = f"{text}: {message.strip()}" if message.strip() else text
    return text if status.phase in ("Failed", "Succeeded") else f"{text} ({error})"  # e.g. a timeout
