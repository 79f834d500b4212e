"""news_quality: the quality report of each day whose stories landed.

Scheduled on the ``newsflow_stories`` asset: each event's metadata names the partitions
(``dt=…``) whose stories were written, and this DAG writes ``quality/dt=…`` for each
(articles, outlets, off-topic, duplicates, rejects by reason, stories told by several
outlets, completeness of the records, extraction alerts), then emits
``newsflow_quality``. The partition comes from the triggering event, never from the
clock; run by hand (``airflow dags test news_quality 2026-11-23``), it reports on the
day of its logical date.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import get_current_context, task
from newsflow_airflow import (
    LAKE_POOL,
    QUALITY,
    STORIES,
    asset_dag,
    execution_timeouts,
    lake_from_airflow,
    partitions_from_events,
)

TIMEOUTS = execution_timeouts()


@asset_dag("news_quality", STORIES, __doc__)
def news_quality() -> None:
    @task(outlets=[QUALITY], pool=LAKE_POOL, execution_timeout=TIMEOUTS["quality"])
    def report() -> list[dict[str, Any]]:
        from pipeline.stages.quality import write_quality

        context = get_current_context()
        days = partitions_from_events(context, STORIES)
        if not days:
            return []  # the event named no day
        lake = lake_from_airflow()
        rows = [write_quality(lake, day, context["run_id"]) for day in days]
        context["outlet_events"][QUALITY].extra = {
            "partition": f"dt={days[-1]}",
            "partitions": [f"dt={day}" for day in days],
            "rows": len(rows),
        }
        return [{k: v for k, v in row.items() if k != "built_at"} for row in rows]

    report()


news_quality()
