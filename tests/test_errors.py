"""One error base: every error the package raises on purpose is an MLProviderError."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import airflow_ml_provider
from airflow_ml_provider import MLProviderError
from airflow_ml_provider.client import Run, namespace

# Control flow inside one process, never seen by a user, or a stored value rather than an error.
INTERNAL = {"StepFailed", "StepProcessFailed", "WarmStartUnavailable", "NotFound", "StepException", "StoredException"}
SKIP_MODULES = ("airflow_ml_provider.plugin", "airflow_ml_provider.compiler", "airflow_ml_provider.xcom")


def _package_exceptions() -> dict[str, type]:
    found = {}
    for info in pkgutil.walk_packages(airflow_ml_provider.__path__, "airflow_ml_provider."):
        if info.name.startswith(SKIP_MODULES) or info.name.endswith("__main__"):
            continue  # the Airflow-side modules import Airflow (2.5 s); their errors are internal
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == info.name:
                found[f"{info.name}.{name}"] = obj
    return found


def test_every_public_error_is_an_ml_provider_error() -> None:
    errors = _package_exceptions()
    assert len(errors) > 15
    public = {p: cls for p, cls in errors.items() if cls.__name__ not in INTERNAL and not cls.__name__.startswith("_")}
    strays = sorted(p for p, cls in public.items() if not issubclass(cls, MLProviderError))
    assert strays == []


def test_not_found_is_both_ml_provider_error_and_key_error(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT", str(tmp_path))
    namespace(None)
    try:
        Run("NoSuchFlow/r1")
    except MLProviderError as exc:
        assert isinstance(exc, KeyError) and str(exc) == "no run NoSuchFlow/r1"
    else:  # pragma: no cover - the assertion below explains
        raise AssertionError("Run of an unknown flow did not raise")
