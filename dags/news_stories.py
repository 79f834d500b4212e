"""news_stories: the day's stories, built when ingestion lands an articles partition.

Scheduled on the ``newsflow_articles`` asset, a run per day landed (the event's partition
key): it updates the current rows of the stories that day's articles joined (``stories``)
and writes the day's ``story_days``, then emits ``newsflow_stories`` for the day. Run by
hand (``airflow dags test news_stories 2026-11-23``), it builds the day of its logical
date. Building a day again changes nothing.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import get_current_context, task
from newsflow_airflow import (
    ARTICLES,
    LAKE_POOL,
    STORIES,
    asset_dag,
    emit,
    execution_timeouts,
    lake_from_airflow,
    partition_day,
)

TIMEOUTS = execution_timeouts()


@asset_dag("news_stories", ARTICLES, __doc__)
def news_stories() -> None:
    @task(outlets=[STORIES], pool=LAKE_POOL, execution_timeout=TIMEOUTS["stories"])
    def build() -> dict[str, Any]:
        from pipeline.runs.commit import build_stories

        context = get_current_context()
        day = partition_day(context)
        report = build_stories(lake_from_airflow(), day, context["run_id"])
        emit(context, STORIES, [day], {"rows": report.stories})
        return report.to_dict()

    build()


news_stories()
