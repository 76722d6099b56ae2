"""docker/service-deployment.yaml: the Deployment runs the serve command with probes and no inline secrets."""

from __future__ import annotations

from pathlib import Path

import yaml

MANIFEST = Path(__file__).resolve().parents[2] / "docker" / "service-deployment.yaml"


def test_deployment_manifest() -> None:
    docs = {d["kind"]: d for d in yaml.safe_load_all(MANIFEST.read_text())}
    assert set(docs) == {"ServiceAccount", "Deployment", "Service"}
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["airflow-ml-provider", "serve", "/app/service.py"]
    assert "0.0.0.0" in container["args"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    env = {e["name"]: e for e in container["env"]}
    assert "AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT" in env
    assert not any(name.startswith("AWS_SECRET") or name.startswith("AWS_ACCESS") for name in env)
    assert pod["serviceAccountName"] == docs["ServiceAccount"]["metadata"]["name"]
    port = docs["Service"]["spec"]["ports"][0]
    assert port["targetPort"] == container["ports"][0]["name"]
    assert docs["Service"]["spec"]["selector"] == docs["Deployment"]["spec"]["selector"]["matchLabels"]
