"""news_stories: the day's stories, built when ingestion lands an articles partition.

Scheduled on the ``newsflow_articles`` asset: each event's metadata names the partition
(``dt=…``) that landed, and this DAG updates the current rows of the stories that day's
articles joined (``stories``) and writes the day's ``story_days``, then emits
``newsflow_stories``. Run by hand (``airflow dags test news_stories 2026-11-23``), it
builds the day of its logical date. Building a day again changes nothing.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import get_current_context, task
from newsflow_airflow import (
    ARTICLES,
    LAKE_POOL,
    STORIES,
    asset_dag,
    execution_timeouts,
    lake_from_airflow,
    partitions_from_events,
)

TIMEOUTS = execution_timeouts()


@asset_dag("news_stories", ARTICLES, __doc__)
def news_stories() -> None:
    @task(outlets=[STORIES], pool=LAKE_POOL, execution_timeout=TIMEOUTS["stories"])
    def build() -> list[dict[str, Any]]:
        from pipeline.runs.commit import build_stories

        context = get_current_context()
        days = partitions_from_events(context, ARTICLES)
        if not days:
            return []  # the event named no landed day
        reports = [build_stories(lake_from_airflow(), day, context["run_id"]) for day in days]
        extra: dict[str, Any] = {
            "partition": f"dt={reports[-1].dt}",
            "partitions": [f"dt={r.dt}" for r in reports],
            "rows": sum(r.stories for r in reports),
        }
        context["outlet_events"][STORIES].extra = extra
        return [report.to_dict() for report in reports]

    build()


news_stories()
