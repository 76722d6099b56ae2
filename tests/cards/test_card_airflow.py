"""Cards of a flow run under ``airflow dags test`` (real Airflow, SQLite), read with ``get_cards``
and with ``airflow-ml-provider card view|list`` addressed by DAG id and Airflow run id.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from airflow_ml_provider.cards import get_cards
from airflow_ml_provider.client import Flow, namespace, set_artifact_root
from tests.fixtures.airflow_local import airflow_env, dags_test

CARD_FLOW = Path(__file__).resolve().parents[1] / "flows" / "card_flow.py"


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "airflow_ml_provider.cli", *args], env=airflow_env(),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def _dag_file(dags_folder: Path) -> None:
    # a DAG id other than the flow name, as `airflow-ml-provider card` must resolve it
    source = CARD_FLOW.read_text().replace('@flow(dag_id="CardFlow")', '@flow(dag_id="cards_demo")')
    (dags_folder / "card_flow_dag.py").write_text(source)


def test_cards_under_airflow_dags_test(dags_folder: Path, tmp_path: Path) -> None:
    _dag_file(dags_folder)
    result = dags_test("cards_demo", conf={"alpha": 0.25})
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    namespace(None)
    run = Flow("CardFlow").latest_run
    airflow_run_id = run.metadata["airflow_run_id"]
    assert run.metadata["dag_id"] == "cards_demo"
    assert airflow_run_id and ":" in airflow_run_id  # an Airflow run id, as the UI names it

    (start,) = get_cards(run["start"].task)
    assert "<code>alpha</code>" in start.html and "0.25" in start.html
    summary, report = get_cards(run["report"].task)
    assert (summary.id, report.id) == ("summary", "report") and summary.final and report.final
    assert "data:image/png;base64," in report.html and "data:image/svg+xml;base64," in report.html

    task_id = run["report"].task.id
    listing = _cli("card", "list", f"cards_demo/{airflow_run_id}/report/{task_id}")
    assert listing.returncode == 0, listing.stderr
    assert "id=summary" in listing.stdout and "id=report" in listing.stdout
    out = tmp_path / "card.html"
    view = _cli("card", "view", f"cards_demo/{airflow_run_id}/report", "--id", "report", "--file", str(out))
    assert view.returncode == 0, view.stderr
    assert view.stdout.strip() == str(out) and out.read_text() == report.html
    missing = _cli("card", "view", f"CardFlow/{airflow_run_id}/nope/1")
    assert missing.returncode == 1 and missing.stderr.startswith("error: ")


def test_cards_under_airflow_on_an_s3_root(dags_folder: Path, moto_server: str, bucket: str, raw_s3) -> None:
    """The step writes its cards to S3 through the Airflow connection; the client reads them back."""
    _dag_file(dags_folder)
    root = f"s3://{bucket}/ml"
    result = dags_test("cards_demo", env=airflow_env(AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT=root))
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    set_artifact_root(root)
    try:
        namespace(None)
        run = Flow("CardFlow").latest_run
        _summary, report = get_cards(run["report"].task)
        assert report.final and "<h1>Report</h1>" in report.html and "data:image/svg+xml" in report.html
        keys = raw_s3.list_objects_v2(Bucket=bucket, Prefix=f"ml/CardFlow/runs/{run.id}/steps/report/")
        assert sum(k["Key"].endswith(f".{report.hash}.json") for k in keys["Contents"]) == 1
    finally:
        set_artifact_root(None)
