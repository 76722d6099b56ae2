"""The one command line that runs a step, in a pod or as a local subprocess.

Everything a task needs travels in argv (identity) and in ``ML_PROVIDER_*`` environment
variables (context), so the Airflow operator, ``python flow.py run`` and a Kubernetes pod all
run exactly the same thing: ``python -m airflow_ml_provider.runtime step ...``.
"""

from __future__ import annotations

import argparse
import functools
import json
import signal
from dataclasses import asdict, dataclass, field
from typing import Any

ENV_CONTEXT = "ML_PROVIDER_CONTEXT"
ENV_ARTIFACT_ROOT = "AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT"
# Every step process (pod or local) hashes str the same way, so a set or frozenset artifact pickles
# to the same bytes in every step: a step that only reads an inherited set re-stores it under the
# same content key, and merge_artifacts sees no conflict. (A random seed per process made two
# branches "disagree" on an untouched set.) A value the user sets in the environment wins.
STEP_ENV_DEFAULTS = {"PYTHONHASHSEED": "0"}
# what a signal that ends a step usually means, for the one line the user reads
_SIGNAL_MEANING = {"SIGSEGV": "segmentation fault", "SIGBUS": "bus error", "SIGABRT": "aborted"}


def exit_reason(code: int) -> str:
    """Why a step process that did not record its attempt ended, from its exit code."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            return f"was killed by signal {-code}"
        meaning = _SIGNAL_MEANING.get(name)
        return f"was killed by {name}" + (f" ({meaning})" if meaning else "")
    return f"exited with code {code} without recording its attempt"


@dataclass
class StepInvocation:
    """Identity of one task attempt."""

    flow_file: str
    flow_class: str
    step: str
    run_id: str
    task_id: str  # runtime/topology.py: <step ordinal>[-<foreach path>]
    attempt: int = 0
    max_retries: int = 0
    code_package: str | None = None

    def argv(self, python: str = "python") -> list[str]:
        extra = ["--code-package", self.code_package] if self.code_package else []
        return [
            python, "-m", "airflow_ml_provider.runtime", "step",
            "--flow-file", self.flow_file, "--flow-class", self.flow_class, "--step", self.step,
            "--run-id", self.run_id, "--task-id", self.task_id,
            "--attempt", str(self.attempt), "--max-retries", str(self.max_retries), *extra,
        ]  # fmt: skip

    @staticmethod
    @functools.cache
    def parser() -> argparse.ArgumentParser:
        """Built once per process (argparse looks up translations on disk for every new parser)."""
        parser = argparse.ArgumentParser(prog="python -m airflow_ml_provider.runtime step")
        parser.add_argument("--flow-file", required=True)
        parser.add_argument("--flow-class", required=True)
        parser.add_argument("--step", required=True)
        parser.add_argument("--run-id", required=True)
        parser.add_argument("--task-id", required=True)
        parser.add_argument("--attempt", type=int, default=0)
        parser.add_argument("--max-retries", type=int, default=0)
        parser.add_argument(
            "--code-package", default=None, help="content key of the run's code; --flow-file is relative to it"
        )
        return parser

    @classmethod
    def from_argv(cls, argv: list[str]) -> StepInvocation:
        ns = cls.parser().parse_args(argv)
        return cls(**{k: getattr(ns, k) for k in cls.__dataclass_fields__})


@dataclass
class RunContext:
    """What the orchestrator knows about the run and the task (``ML_PROVIDER_CONTEXT`` JSON)."""

    parameters: dict[str, Any] = field(default_factory=dict)
    dag_id: str | None = None
    airflow_run_id: str | None = None
    airflow_task_id: str | None = None
    map_index: int = -1
    try_number: int | None = None
    run_type: str = "local"
    logical_date: str | None = None
    data_interval_start: str | None = None
    data_interval_end: str | None = None
    tags: list[str] = field(default_factory=list)
    username: str | None = None
    origin_run_id: str | None = None
    resume_step: str | None = None
    max_map_length: int | None = None
    execution: dict[str, Any] = field(default_factory=dict)
    trigger: list[dict[str, Any]] | None = None  # asset events that started the run (dsl/triggers.py)

    def to_env(self) -> str:
        return json.dumps(asdict(self), default=str)

    @classmethod
    def from_env(cls, raw: str | None) -> RunContext:
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
