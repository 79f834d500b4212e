"""news_ingest: the daily run, from feeds to the ``articles`` partition of one UTC day.

plan ─► ingest (mapped: one task per batch of feeds) ─► commit ─► check
                                      assets newsflow_articles, newsflow_rejects ◄┘

A batch whose task fails after its retries does not stop the day: ``commit`` runs once
every batch is done (if at least one task succeeded), lands what the others fetched, and
records each feed of the failed batch as a ``batch-failed`` reject. ``check`` then fails
the run, and so tells the operator, when a batch was lost or when no article landed while
feeds failed; an extraction alert is sent without failing it. Every task that fails for
good tells the operator too (``plugins/newsflow_alerts.py``).

Each task is a few lines around ``pipeline.runs.ingest``; the CLI's ``newsflow run`` chains the
same functions in one process. Configuration comes from the environment
(NEWSFLOW_FEEDS, NEWSFLOW_LAKE, NEWSFLOW_ALLOW_PRIVATE_NETWORK, NEWSFLOW_SETTINGS) and,
for an s3:// lake, from the ``aws_default`` connection (login, password, and
``endpoint_url`` / ``region_name`` in its extra), all read when a task runs.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException
from newsflow_airflow import (
    ARTICLES,
    LAKE_POOL,
    REJECTS,
    emit,
    execution_timeouts,
    lake_from_airflow,
)
from newsflow_alerts import DayNotifier, deliver
from newsflow_timetable import UtcDayTimetable

TIMEOUTS = execution_timeouts()


def _interval() -> Any:
    from pipeline.runs.ingest import Interval

    context = get_current_context()
    start, end = context["data_interval_start"], context["data_interval_end"]
    if start is None or end is None:
        raise ValueError("news_ingest needs a data interval; trigger it with a logical date")
    return Interval(
        datetime.fromtimestamp(start.timestamp(), UTC), datetime.fromtimestamp(end.timestamp(), UTC)
    )


@dag(
    dag_id="news_ingest",
    schedule=UtcDayTimetable(),
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,  # days commit in order; stories continue from the previous day
    default_args={
        "retries": 2,
        "retry_delay": timedelta(minutes=5),
        "on_failure_callback": DayNotifier(),
    },
    tags=["newsflow"],
    doc_md=__doc__,
)
def news_ingest() -> None:
    @task(execution_timeout=TIMEOUTS["plan"])
    def plan() -> list[list[dict[str, Any]]]:
        from pipeline.runs.ingest import plan_batches
        from pipeline.settings import load_settings
        from pipeline.sources.feeds import load_feeds

        settings = load_settings()
        batches = plan_batches(load_feeds(settings.feeds_path), settings.batch_size)
        return [[feed.to_dict() for feed in batch] for batch in batches]

    @task(
        max_active_tis_per_dagrun=4,
        retry_delay=timedelta(minutes=2),
        execution_timeout=TIMEOUTS["ingest"],
    )
    def ingest(batch: list[dict[str, Any]]) -> dict[str, Any]:
        from pipeline.runs.ingest import START_METHOD_VARIABLE, ingest_batch
        from pipeline.settings import load_settings
        from pipeline.sources.feeds import Feed

        os.environ[START_METHOD_VARIABLE] = "fork"  # see pipeline.runs.ingest.extraction_pool
        feeds = [Feed.from_dict(f) for f in batch]
        return ingest_batch(feeds, _interval(), lake_from_airflow(), load_settings()).to_dict()

    # One writer of the lake at a time, across runs (a backfill's and the schedule's) and
    # DAGs: each commit reads and writes the lake's state (seen articles, duplicates,
    # stories).
    @task(
        outlets=[ARTICLES, REJECTS],
        pool=LAKE_POOL,
        execution_timeout=TIMEOUTS["commit"],
        trigger_rule="all_done_min_one_success",  # a failed batch does not hold the day
    )
    def commit(planned: list[list[dict[str, Any]]]) -> dict[str, Any]:
        from pipeline.runs.commit import commit as commit_day
        from pipeline.runs.ingest import enricher_for
        from pipeline.settings import load_settings
        from pipeline.sources.feeds import Feed

        context = get_current_context()
        settings = load_settings()
        batches = [[Feed.from_dict(f) for f in batch] for batch in planned]
        lake = lake_from_airflow()
        result = commit_day(_interval(), lake, context["run_id"], enricher_for(settings), batches,
                            window_days=settings.dedup_window_days)  # fmt: skip
        articles: dict[str, Any] = {
            "rows": result.articles,
            "new_rows": result.new_articles,
            "versions": result.versions,
            "offtopic_rows": result.offtopic,
            "extraction_alerts": result.alerts,
        }
        rejects: dict[str, Any] = {
            "rows": result.rejects,
            "by_reason": result.rejects_by_reason,
            "version": result.versions.get("rejects"),
        }
        emit(context, ARTICLES, [result.dt], articles)
        emit(context, REJECTS, [result.dt], rejects)
        return {
            "dt": result.dt,
            "articles": result.articles,
            "offtopic": result.offtopic,
            "rejects": result.rejects,
            "rejects_by_reason": result.rejects_by_reason,
            "extraction_alerts": result.alerts,
            "batches": len(result.batches),
            "missing_batches": result.missing_batches,
            "feeds_failed": result.feeds_failed,
        }

    @task(execution_timeout=TIMEOUTS["report"], retries=0)
    def check(result: dict[str, Any]) -> None:
        """A failed day fails this task, and so the run, saying why; a warning is sent."""
        from pipeline.runs.alerts import Alert, day_problems

        failures, warnings = day_problems(result)
        context = get_current_context()
        if warnings and not failures:
            subject = f"newsflow: news_ingest landed {result['dt']} with warnings"
            alert = Alert(
                "warning", subject, warnings, "news_ingest", context["run_id"], result["dt"]
            )
            deliver(alert, context)
        if failures:
            raise AirflowFailException(f"{result['dt']} failed: " + "; ".join(failures + warnings))

    planned = plan()
    committed = commit(planned)  # type: ignore[arg-type]  # TaskFlow passes XComArgs
    ingest.expand(batch=planned) >> committed
    check(committed)  # type: ignore[arg-type]


news_ingest()
