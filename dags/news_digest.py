"""news_digest: the daily digest page of each day whose stories landed.

Scheduled on the ``newsflow_stories`` asset, a run per day whose stories were written
(the event's partition key): it writes the day's digest page (``digest/dt=…/index.html``,
and ``digest/latest/index.html`` unless a later day has a page: the day's stories,
coverage over 30 days, the week's outlets, stakeholders, concerns and rights, the day's
rejects and extraction alerts), then emits ``newsflow_digest`` for the day. Run by hand
(``airflow dags test news_digest 2026-11-23``), it builds the page of its logical date.
Building a page again gives the stories as they stand then.
"""

from __future__ import annotations

from airflow.sdk import get_current_context, task
from newsflow_airflow import (
    DIGEST,
    STORIES,
    asset_dag,
    emit,
    execution_timeouts,
    lake_from_airflow,
    partition_day,
)

TIMEOUTS = execution_timeouts()


@asset_dag("news_digest", STORIES, __doc__)
def news_digest() -> None:
    @task(outlets=[DIGEST], execution_timeout=TIMEOUTS["digest"])
    def build() -> str:
        from pipeline.digest import write_digest

        context = get_current_context()
        day = partition_day(context)
        page = write_digest(lake_from_airflow(), day)
        emit(context, DIGEST, [day], {"page": page})
        return page

    build()


news_digest()
