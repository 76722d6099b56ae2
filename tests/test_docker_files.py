"""Static checks of docker/ (no Docker engine runs on these machines).

The Dockerfile must build two targets on python:3.11-slim, each pinned by constraints.txt:
``airflow`` (the project with all its dependencies) and the default ``step`` (the runtime's
packages from docker/requirements-step.txt and the project with ``--no-deps``: no Airflow);
the compose stack must have its services, an S3 artifact root in the bucket its init container
creates, a MinIO connection, and only documented ``[ml_provider]`` options; versions must match
constraints.txt. tests/test_pod_schemas.py validates compose.yaml against the Compose spec.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from airflow_ml_provider.config import OPTIONS, SECTION

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
SERVICES = {"airflow-api-server", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"}
SUBCOMMANDS = {
    "airflow-api-server": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
}


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.strip().split("==", 1)
            pins[re.sub(r"[-_.]+", "-", name.lower())] = version
    return pins


def _dockerfile() -> tuple[str, list[str]]:
    text = (DOCKER / "Dockerfile").read_text()
    joined = re.sub(r"\\\n", " ", text)
    return text, [line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _interpolate(value: str) -> str:
    """Compose's ``${VAR:-default}`` with an empty environment, ``$$`` as a literal ``$``."""
    value = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: m.group(2), value)
    assert not re.search(r"\$\{\w+\}", value.replace("$$", "")), f"variable without default in {value!r}"
    return value.replace("$$", "$")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def _env(compose: dict, service: str) -> dict[str, str]:
    env = compose["services"][service].get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: _interpolate(str(v)) for k, v in env.items()}


def _stages(lines: list[str]) -> dict[str, list[str]]:
    """Dockerfile stage name -> its lines (the FROM line first)."""
    stages: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in lines:
        if line.startswith("FROM "):
            current = stages.setdefault(line.split()[-1], [])
        if current is not None:
            current.append(line)
    return stages


def _pip_installs(stage: list[str]) -> list[list[str]]:
    runs = " && ".join(line for line in stage if line.startswith("RUN "))
    return [shlex.split(part.split("pip install", 1)[1]) for part in runs.split("&&") if "pip install" in part]


def test_dockerfile_targets_and_pinned_installs() -> None:
    _text, lines = _dockerfile()
    args = {m.group(1): m.group(2) for line in lines if (m := re.match(r"ARG (\w+)=(\S+)", line))}
    stages = _stages(lines)
    assert list(stages) == ["base", "airflow", "step"]  # step is the last stage: the default target
    assert stages["base"][0].split()[1] == "${PYTHON_IMAGE}" and args["PYTHON_IMAGE"] == "python:3.11-slim"
    assert all(stages[name][0].split()[1] == "base" for name in ("airflow", "step"))
    assert args["AIRFLOW_VERSION"] == _pins()["apache-airflow"]
    copied = " ".join(line for line in stages["base"] if line.startswith("COPY "))
    for needed in ("constraints.txt", "pyproject.toml", "airflow_ml_provider", "docker/requirements-step.txt"):
        assert needed in copied
    assert _pip_installs(stages["airflow"]) == [["-c", "constraints.txt", "."]]  # everything, pinned
    assert _pip_installs(stages["step"]) == [
        ["-c", "constraints.txt", "-r", "docker/requirements-step.txt"],  # the runtime's packages, pinned
        ["--no-deps", "."],  # the project without Airflow
    ]
    assert any("find_spec('airflow')" in line for line in stages["step"])  # the build refuses Airflow


def test_everything_pyproject_declares_is_pinned() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = _pins()
    for spec in project["dependencies"]:
        req = Requirement(spec)
        name = re.sub(r"[-_.]+", "-", req.name.lower())
        assert name in pins, f"{name} is declared in pyproject but not pinned in constraints.txt"
        assert req.specifier.contains(pins[name]), f"{name}=={pins[name]} violates {req.specifier}"
    assert project["requires-python"] and Requirement(f"python{project['requires-python']}").specifier.contains("3.11")


def test_dockerignore_sends_only_what_the_image_needs() -> None:
    rules = (DOCKER / "Dockerfile.dockerignore").read_text().split()
    assert "**" in rules and "!constraints.txt" in rules and "!airflow_ml_provider/**" in rules
    assert "!docker/requirements-step.txt" in rules


def test_compose_services_and_commands(compose: dict) -> None:
    services = compose["services"]
    assert SERVICES | {"minio", "minio-init", "airflow-init"} <= set(services)
    for name, sub in SUBCOMMANDS.items():
        assert services[name]["command"][:2] == ["airflow", sub]
    assert services["airflow-init"]["command"] == ["airflow", "db", "migrate"]
    for name in SERVICES:
        deps = services[name]["depends_on"]
        assert deps["airflow-init"]["condition"] == "service_completed_successfully"
        assert deps["minio-init"]["condition"] == "service_completed_successfully"
    assert services["minio-init"]["depends_on"]["minio"]["condition"] == "service_healthy"


def test_compose_images_match_the_pins(compose: dict) -> None:
    airflow_version = _pins()["apache-airflow"]
    for name, service in compose["services"].items():
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin the image tag ({image})"
        if image.startswith("apache/airflow"):
            assert image.split(":")[1].startswith(airflow_version), image
        if "build" in service:
            assert service["build"]["dockerfile"] == "docker/Dockerfile"
            assert service["build"]["target"] == "airflow"  # the services need Airflow; steps do not
            assert (DOCKER / service["build"]["context"] / "constraints.txt").resolve() == ROOT / "constraints.txt"
            assert str(service["build"]["args"]["AIRFLOW_VERSION"]) == airflow_version
    assert all("build" in compose["services"][s] for s in SERVICES | {"airflow-init"})


def test_compose_provider_config_is_documented_and_s3(compose: dict) -> None:
    prefix = f"AIRFLOW__{SECTION.upper()}__"
    bucket = _env(compose, "minio-init")["MINIO_BUCKET"]
    assert "local/$MINIO_BUCKET" in _interpolate(" ".join(compose["services"]["minio-init"]["command"]))
    for name in SERVICES | {"airflow-init"}:
        env = _env(compose, name)
        provider = {k[len(prefix) :].lower(): v for k, v in env.items() if k.startswith(prefix)}
        assert set(provider) <= set(OPTIONS), f"undocumented [ml_provider] options: {set(provider) - set(OPTIONS)}"
        assert provider["artifact_root"].startswith(f"s3://{bucket}/")
        assert provider["execution_mode"] == "local"
        conn_id = provider.get("aws_conn_id", OPTIONS["aws_conn_id"].default)
        conn = json.loads(env[f"AIRFLOW_CONN_{conn_id.upper()}"])
        assert conn["conn_type"] == "aws"
        assert conn["extra"]["endpoint_url"] == "http://minio:9000"
        assert conn["login"] == _env(compose, "minio")["MINIO_ROOT_USER"]
        assert conn["password"] == _env(compose, "minio")["MINIO_ROOT_PASSWORD"]
        assert env["AIRFLOW__CORE__XCOM_BACKEND"] == "airflow_ml_provider.xcom.ArtifactXComBackend"
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith("http://airflow-api-server:8080/")
        mounts = [_interpolate(v).split(":") for v in compose["services"][name]["volumes"]]
        assert any(target == env["AIRFLOW__CORE__DAGS_FOLDER"] for _src, target, *_ in mounts)
    image = compose["services"]["airflow-scheduler"]["image"]
    assert _env(compose, "airflow-scheduler")[f"{prefix}DEFAULT_IMAGE"] == image  # steps use the built image


def test_xcom_backend_named_in_compose_imports(compose: dict) -> None:
    import importlib

    module, _, cls = _env(compose, "airflow-scheduler")["AIRFLOW__CORE__XCOM_BACKEND"].rpartition(".")
    backend = getattr(importlib.import_module(module), cls)
    assert {"serialize_value", "deserialize_value", "purge"} <= set(vars(backend))


def test_readme_says_not_run_here() -> None:
    text = (DOCKER / "README.md").read_text()
    assert "not run" in text.lower() and "docker compose -f docker/compose.yaml" in text
