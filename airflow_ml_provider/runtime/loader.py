"""Load a flow class from its file without Airflow (the step process's first job)."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path

from airflow_ml_provider.datastore.serializers import FLOW_MODULE_PREFIX
from airflow_ml_provider.dsl.flowspec import FlowSpec
from airflow_ml_provider.errors import MLProviderError


class FlowLoadError(MLProviderError, RuntimeError):
    pass


def load_flow_class(flow_file: str, class_name: str) -> type[FlowSpec]:
    path = Path(flow_file).resolve()
    if not path.is_file():
        raise FlowLoadError(f"flow file {str(path)!r} does not exist")
    module_name = FLOW_MODULE_PREFIX + hashlib.sha1(str(path).encode()).hexdigest()[:10]
    if module_name in sys.modules:
        module = sys.modules[module_name]
    else:
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise FlowLoadError(f"cannot import {str(path)!r}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        sys.path.insert(0, str(path.parent))
        spec.loader.exec_module(module)
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, FlowSpec)):
        raise FlowLoadError(f"{str(path)!r} defines no FlowSpec subclass named {class_name!r}")
    return cls


def file_hash(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
