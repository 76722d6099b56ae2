"""Path-only links inside the plugin and into the Airflow UI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_ml_provider.plugin.render import q

PREFIX = "/ml-artifacts"


@dataclass(frozen=True)
class Urls:
    """Links inside the plugin (``root``) and into the Airflow UI (``airflow``), both path-only.

    ``root`` is the ASGI root path of the mounted app, so links keep working when Airflow itself is
    served below a sub-path.
    """

    root: str

    @property
    def airflow(self) -> str:
        return self.root[: -len(PREFIX)] if self.root.endswith(PREFIX) else ""

    def index(self, tag: str | None = None) -> str:
        return f"{self.root}/" + (f"?tag={q(tag)}" if tag else "")

    def dag(self, dag_id: str, tag: str | None = None) -> str:
        return f"{self.root}/dags/{q(dag_id)}" + (f"?tag={q(tag)}" if tag else "")

    def run(self, dag_id: str, run_id: str) -> str:
        return f"{self.root}/dags/{q(dag_id)}/runs/{q(run_id)}"

    def step(self, dag_id: str, run_id: str, step: str, offset: int = 0) -> str:
        return f"{self.run(dag_id, run_id)}/steps/{q(step)}" + (f"?offset={offset}" if offset else "")

    def task(self, dag_id: str, run_id: str, step: str, task_id: str) -> str:
        return f"{self.step(dag_id, run_id, step)}/tasks/{q(task_id)}"

    def blob(self, dag_id: str, run_id: str, step: str, task_id: str, key: str) -> str:
        return f"{self.task(dag_id, run_id, step, task_id)}/blobs/{q(key)}"

    def task_log(self, dag_id: str, run_id: str, step: str, task_id: str, attempt: Any, stream: str) -> str:
        return f"{self.task(dag_id, run_id, step, task_id)}/attempts/{q(str(attempt))}/{q(stream)}"

    def card(self, dag_id: str, run_id: str, step: str, task_id: str, attempt: int, card_hash: str) -> str:
        """The card's own HTML (framed by the pages, strict CSP)."""
        return f"{self.task(dag_id, run_id, step, task_id)}/cards/{int(attempt)}/{q(card_hash)}"

    def card_view(self, dag_id: str, run_id: str, step: str, task_id: str, attempt: int, card_hash: str) -> str:
        """The full-size page around one card."""
        return self.card(dag_id, run_id, step, task_id, attempt, card_hash) + "/view"

    def metrics(self, dag_id: str, step: str | None = None, artifact: str | None = None, n: int | None = None) -> str:
        params = [(k, v) for k, v in (("step", step), ("artifact", artifact), ("n", n)) if v is not None]
        query = "&".join(f"{k}={q(str(v))}" for k, v in params)
        return f"{self.root}/dags/{q(dag_id)}/metrics" + (f"?{query}" if query else "")

    def compare(self, dag_id: str) -> str:
        return f"{self.root}/dags/{q(dag_id)}/compare"

    def airflow_run(self, dag_id: str, airflow_run_id: str) -> str:
        return f"{self.airflow}/dags/{q(dag_id)}/runs/{q(airflow_run_id)}"

    def airflow_task(self, dag_id: str, airflow_run_id: str, task_id: str, map_index: int, try_number: Any) -> str:
        url = f"{self.airflow_run(dag_id, airflow_run_id)}/tasks/{q(task_id)}"
        url += f"/mapped/{int(map_index)}" if map_index >= 0 else ""
        return url + (f"?try_number={int(try_number)}" if isinstance(try_number, int) else "")
