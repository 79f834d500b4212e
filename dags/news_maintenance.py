"""news_maintenance: the lake's tables kept fast to read and no larger than they need be.

Once a week it compacts each Delta table's small files (a day's commits leave several) and
vacuums the files that no version younger than ``tables.retention_days`` (settings file,
default 30) needs: time travel reaches back that far, no further. The same as
``newsflow maintain``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import dag, get_current_context, task
from newsflow_airflow import LAKE_POOL, execution_timeouts, lake_from_airflow
from newsflow_alerts import DayNotifier

TIMEOUTS = execution_timeouts()


@dag(
    dag_id="news_maintenance",
    schedule="0 3 * * 0",  # Sundays, 03:00 UTC, when no daily commit runs
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 1, "on_failure_callback": DayNotifier()},
    tags=["newsflow"],
    doc_md=__doc__,
)
def news_maintenance() -> None:
    @task(pool=LAKE_POOL, execution_timeout=TIMEOUTS["commit"])
    def maintain() -> list[dict[str, Any]]:
        from pipeline.lake.tables import maintain_lake
        from pipeline.settings import load_settings

        retention = timedelta(days=load_settings().retention_days)
        return maintain_lake(lake_from_airflow(), retention, get_current_context()["run_id"])

    maintain()


news_maintenance()
