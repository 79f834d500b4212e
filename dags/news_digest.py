"""news_digest: the daily digest page of each day whose stories landed.

Scheduled on the ``newsflow_stories`` asset: each event's metadata names the partitions
(``dt=…``) whose stories were written, and this DAG writes the digest page of each
(``digest/dt=…/index.html``, and ``digest/latest/index.html`` for the newest day: the
day's stories, coverage over 30 days, the week's outlets, stakeholders, concerns and
rights, the day's rejects and extraction alerts), then emits ``newsflow_digest``. Run by
hand (``airflow dags test news_digest 2026-11-23``), it builds the page of its logical
date. Building a page again gives the stories as they stand then.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import get_current_context, task
from newsflow_airflow import (
    DIGEST,
    STORIES,
    asset_dag,
    execution_timeouts,
    lake_from_airflow,
    partitions_from_events,
)

TIMEOUTS = execution_timeouts()


@asset_dag("news_digest", STORIES, __doc__)
def news_digest() -> None:
    @task(outlets=[DIGEST], execution_timeout=TIMEOUTS["digest"])
    def build() -> list[str]:
        from pipeline.digest import write_digest

        context = get_current_context()
        days = partitions_from_events(context, STORIES)
        if not days:
            return []  # the event named no day
        lake = lake_from_airflow()
        pages = [write_digest(lake, day) for day in days]
        extra: dict[str, Any] = {
            "partition": f"dt={days[-1]}",
            "partitions": [f"dt={day}" for day in days],
            "pages": pages,
        }
        context["outlet_events"][DIGEST].extra = extra
        return pages

    build()


news_digest()
