"""Flow parameters: ``Parameter``, ``IncludeFile`` and the ``JSONType`` marker.

A parameter is a read-only artifact of the run: the start step stores its value, every later
step inherits it. On Airflow each parameter becomes a DAG param (a typed field in the trigger
form); with ``python flow.py run`` it becomes a ``--name`` option.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from airflow_ml_provider.dsl.include_file import IncludePathError, read_include_file, resolve_include_path
from airflow_ml_provider.errors import MLProviderError


class JSONType:
    """Marker type: the parameter's value is JSON (a dict, list, number...)."""


_TYPES: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}


# Trigger-conf keys with a meaning of their own (operators.step_operator reads them); no Parameter may
# take these names, or the Airflow trigger would refuse a value that `python flow.py run` accepts.
RESERVED_CONF_KEYS = frozenset({"resume_from", "resume_step", "tags"})


class ParameterError(MLProviderError, ValueError):
    """A parameter value that does not fit its declaration."""


class ParameterContext(NamedTuple):
    """What a function default receives (``default=lambda ctx: ...``), as Metaflow's ParameterContext."""

    flow_name: str
    user_name: str
    parameter_name: str
    logger: Callable[..., None]
    ds_type: str
    configs: Any = None


class Parameter:
    """``alpha = Parameter("alpha", default=0.5, type=float, help="learning rate")``.

    ``type`` is inferred from ``default`` when omitted (str when there is no default). The class
    attribute name is the artifact name; ``name`` is the trigger-form / command-line name.
    ``separator=","`` (str parameters only) makes the value a list of the text's pieces.
    ``default`` may be a function of a :class:`ParameterContext`: it runs once per
    ``python flow.py run`` (before any step) and, on Airflow, when the DAG file is parsed (its
    value is the trigger form's default, as Metaflow evaluates it at deploy time): keep it cheap.
    """

    def __init__(
        self,
        name: str,
        default: Any = None,
        type: Any = None,
        help: str | None = None,
        required: bool = False,
        show_default: bool = True,
        separator: str | None = None,
    ) -> None:
        if not isinstance(name, str) or not name.replace("-", "_").isidentifier():
            raise ParameterError(f"Parameter name must be an identifier-like string, not {name!r}")
        if name in RESERVED_CONF_KEYS:
            raise ParameterError(
                f"Parameter name {name!r} is reserved: the trigger conf uses {sorted(RESERVED_CONF_KEYS)} "
                "for run tags and resume. Choose another name."
            )
        self.default_fn: Callable[[ParameterContext], Any] | None = None
        if callable(default):
            self.default_fn, default = default, None
        if type is str and isinstance(default, dict | list):
            raise ParameterError(f"Parameter {name!r}: default {default!r} is not a str; use type=JSONType")
        self.name = name
        self.default = default
        if type is None:
            type = JSONType if isinstance(default, dict | list) else (builtin_type(default) or str)
        if type not in _TYPES and type is not JSONType:
            raise ParameterError(f"Parameter {name!r}: type must be str, int, float, bool or JSONType")
        self.type = type
        self.help = help
        self.required = required
        self.show_default = show_default
        self.attr_name = name.replace("-", "_")
        if separator is not None and (not isinstance(separator, str) or not separator or self.type is not str):
            raise ParameterError(f"Parameter {name!r}: separator is only allowed for string parameters")
        self.separator = separator
        if default is not None:
            self.default = self._coerce(default)

    def __set_name__(self, owner: type, attr_name: str) -> None:
        self.attr_name = attr_name

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return instance._ml_get_artifact(self.attr_name)

    def __set__(self, instance: Any, value: Any) -> None:
        raise AttributeError(f"parameter {self.attr_name!r} is read-only inside steps")

    @property
    def json_schema_type(self) -> str | list[str]:
        base = "object" if self.type is JSONType else _TYPES[self.type]
        if self.type is JSONType:
            return ["object", "array", "string", "number", "integer", "boolean"]
        return base if self.required else [base, "null"]

    def convert(self, value: Any) -> Any:
        """Coerce ``value`` (from conf, the trigger form or the command line) to the declared type.

        With a ``separator`` the result is the list of pieces (a list given again stays a list).
        """
        if self.separator and isinstance(value, list | tuple):
            return [str(v) for v in value]
        value = self._coerce(value)
        return value.split(self.separator) if self.separator and value else value

    def resolve_default(self, flow_name: str) -> Any:
        """The default as the run sees it: a function default is called here, with a context."""
        if self.default_fn is None:
            return self.default
        from airflow_ml_provider.user import get_username

        ctx = ParameterContext(flow_name, get_username(), self.name, print, _ds_type())
        try:
            value = self.default_fn(ctx)
        except Exception as exc:
            raise ParameterError(f"Parameter {self.name!r}: the default function raised {exc!r}") from exc
        return self._coerce(value)

    def _coerce(self, value: Any) -> Any:
        if value is None:
            if self.required:
                raise ParameterError(f"parameter {self.name!r} is required")
            return None
        try:
            if self.type is JSONType:
                return json.loads(value) if isinstance(value, str) else value
            if self.type is bool:
                if isinstance(value, str):
                    lowered = value.strip().lower()
                    if lowered not in {"true", "false", "1", "0", "yes", "no"}:
                        raise ValueError(value)
                    return lowered in {"true", "1", "yes"}
                if not isinstance(value, bool | int):
                    raise ValueError(value)
                return bool(value)
            if self.type is int and isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            if self.type in (int, float) and isinstance(value, bool):
                raise ValueError(value)
            return self.type(value)
        except (TypeError, ValueError) as exc:
            expected = "JSON" if self.type is JSONType else self.type.__name__
            raise ParameterError(f"parameter {self.name!r} expects {expected}, got {value!r}") from exc

    def resolve(self, flow_file: str | None) -> Any:
        """The default value as the run will see it (IncludeFile reads its file here)."""
        return self.default

    def __repr__(self) -> str:
        return f"Parameter({self.name!r}, default={self.default!r}, type={self.type.__name__})"


def _ds_type() -> str:
    """``"s3"`` or ``"local"``: the kind of artifact store runs write to (ParameterContext.ds_type)."""
    from airflow_ml_provider import config

    return "s3" if config.artifact_root().startswith("s3://") else "local"


def builtin_type(value: Any) -> type | None:
    for candidate in (bool, int, float, str):
        if type(value) is candidate:
            return candidate
    return None


class IncludeFile(Parameter):
    """A parameter whose value is the content of a file, versioned into the store at run start.

    The value given (default or trigger conf) is a path; relative paths are resolved against the
    flow file's folder (shipped with the flow's code), so the same run reads the same bytes in a
    pod as on a laptop. The artifact holds the content (str, or bytes with ``is_text=False``).
    A path given at trigger time (conf, trigger form, ``--name``) is confined to the flow's folder
    and ``[ml_provider] include_file_roots``; the default is trusted (see ``include_file.py``).
    """

    def __init__(
        self,
        name: str,
        default: str | None = None,
        help: str | None = None,
        required: bool = False,
        is_text: bool = True,
        encoding: str = "utf-8",
    ) -> None:
        super().__init__(name, default=default, type=str, help=help, required=required)
        self.is_text = is_text
        self.encoding = encoding

    def resolve_path(self, path: str, flow_file: str | None) -> Path:
        """The checked file behind ``path``: confined unless it is the flow author's default.

        Rules and reasons in :mod:`airflow_ml_provider.dsl.include_file` and SECURITY.md.
        """
        try:
            return resolve_include_path(path, flow_file, self.name, trusted=path == self.default)
        except IncludePathError as exc:
            raise ParameterError(str(exc)) from None

    def read(self, path: str | None, flow_file: str | None) -> str | bytes | None:
        """The file's content; refused paths raise ParameterError before any user code runs."""
        if path is None:
            return None
        try:
            data = read_include_file(path, flow_file, self.name, trusted=path == self.default)
        except IncludePathError as exc:
            raise ParameterError(str(exc)) from None
        if not self.is_text:
            return data
        try:
            return data.decode(self.encoding)
        except UnicodeDecodeError as exc:
            raise ParameterError(
                f"IncludeFile {self.name!r}: {path!r} is not {self.encoding} text ({exc.reason} at byte "
                f"{exc.start}); declare it with is_text=False to get bytes"
            ) from None


def flow_parameters(flow_cls: type) -> dict[str, Parameter]:
    """Parameters declared on ``flow_cls`` and its bases, by artifact name."""
    found: dict[str, Parameter] = {}
    for klass in reversed(flow_cls.__mro__):
        for attr, value in vars(klass).items():
            if isinstance(value, Parameter):
                found[attr] = value
    return found
