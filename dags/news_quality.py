"""news_quality: the quality report of each day whose stories landed.

Scheduled on the ``newsflow_stories`` asset, a run per day whose stories were written
(the event's partition key): it writes ``quality/dt=…`` (articles, outlets, off-topic,
duplicates, rejects by reason, stories told by several outlets, completeness of the
records, extraction alerts), then emits ``newsflow_quality`` for the day. The day comes
from the triggering event, never from the clock; run by hand (``airflow dags test
news_quality 2026-11-23``), it reports on the day of its logical date.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import get_current_context, task
from newsflow_airflow import (
    LAKE_POOL,
    QUALITY,
    STORIES,
    asset_dag,
    emit,
    execution_timeouts,
    lake_from_airflow,
    partition_day,
)

TIMEOUTS = execution_timeouts()


@asset_dag("news_quality", STORIES, __doc__)
def news_quality() -> None:
    @task(outlets=[QUALITY], pool=LAKE_POOL, execution_timeout=TIMEOUTS["quality"])
    def report() -> dict[str, Any]:
        from pipeline.stages.quality import write_quality

        context = get_current_context()
        day = partition_day(context)
        row = write_quality(lake_from_airflow(), day, context["run_id"])
        emit(context, QUALITY, [day], {"articles": row["articles"], "stories": row["stories"]})
        return {k: v for k, v in row.items() if k != "built_at"}

    report()


news_quality()
