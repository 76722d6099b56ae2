"""``python -m airflow_ml_provider.xcom gc [--min-age-hours 24] [--dry-run]``.

Run it where the Airflow database is reachable (the scheduler's image, a cron job, or an Airflow
maintenance task with DB access), after ``airflow db clean`` has dropped old XCom rows.
"""

from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str] | None = None) -> int:
    """Entry point of the XCom blob GC; prints a JSON report."""
    parser = argparse.ArgumentParser(prog="python -m airflow_ml_provider.xcom")
    sub = parser.add_subparsers(dest="command", required=True)
    gc = sub.add_parser("gc", help="delete _xcom blobs that no XCom row references")
    gc.add_argument("--min-age-hours", type=float, default=24.0, help="keep blobs used more recently (default 24)")
    gc.add_argument("--dry-run", action="store_true", help="report, delete nothing")
    args = parser.parse_args(argv)

    from airflow_ml_provider.datastore.backend import get_backend
    from airflow_ml_provider.xcom.gc import sweep

    backend = get_backend()
    report = sweep(backend, min_age_s=args.min_age_hours * 3600, dry_run=args.dry_run)
    print(json.dumps({"artifact_root": backend.describe(), **report.as_dict()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
