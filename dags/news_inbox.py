"""news_inbox: what an operator drops in ``{lake}/inbox/``, ingested at once.

Scheduled on the ``newsflow_inbox`` asset, whose watcher (``plugins/newsflow_inbox.py``)
fires when a file lands in the inbox: a list of article URLs (fetched, into the
partition of the day the file was found) or a WARC file (its records into the partitions
of their own days). Each file the triggering events name is ingested through the same
path as a backfill, then moved to ``inbox/done/`` (or ``inbox/failed/`` with the reason).
The days it committed are emitted on ``newsflow_articles``, an event per day (its
partition key), so ``news_stories``, ``news_quality`` and ``news_digest`` follow.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import Asset, AssetWatcher, dag, get_current_context, task
from newsflow_airflow import ARTICLES, LAKE_POOL, emit, execution_timeouts, lake_from_airflow
from newsflow_alerts import DayNotifier, deliver
from newsflow_inbox import InboxTrigger

TIMEOUTS = execution_timeouts()

INBOX = Asset(
    "newsflow_inbox",
    watchers=[AssetWatcher(name="newsflow_inbox_watcher", trigger=InboxTrigger())],
)


@dag(
    dag_id="news_inbox",
    schedule=[INBOX],
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,  # one commit of a day at a time, as news_ingest
    # An error that may pass (the object store, the network) is retried before a file is
    # declared failed; a file whose worker died is taken again by the watcher.
    default_args={
        "retries": 2,
        "retry_delay": timedelta(minutes=2),
        "on_failure_callback": DayNotifier(),
    },
    tags=["newsflow"],
    doc_md=__doc__,
)
def news_inbox() -> None:
    @task(outlets=[ARTICLES], pool=LAKE_POOL, execution_timeout=TIMEOUTS["inbox"])
    def ingest() -> list[dict[str, Any]]:
        from pipeline.runs.alerts import Alert
        from pipeline.runs.inbox import process
        from pipeline.runs.ingest import START_METHOD_VARIABLE
        from pipeline.settings import load_settings

        os.environ[START_METHOD_VARIABLE] = "fork"  # see pipeline.runs.ingest.extraction_pool
        context = get_current_context()
        claims = [
            (event.extra or {}).get("payload") or {}
            for event in context["triggering_asset_events"].get(INBOX, [])
        ]
        claims = [claim for claim in claims if claim.get("key")]
        if not claims:
            raise ValueError("news_inbox runs on inbox events; none named a file")
        lake, settings = lake_from_airflow(), load_settings()
        ti = context["ti"]
        final = ti.try_number > ti.max_tries  # the last try: a file that fails now, failed
        results = [process(lake, settings, claim, final_attempt=final) for claim in claims]
        days = sorted({day for r in results if r.report for day in r.report.days})
        rows = sum(r.report.articles for r in results if r.report)
        emit(context, ARTICLES, days, {"rows": rows, "source": "inbox"})
        failed = [r for r in results if r.status == "failed" and r.reason]
        if failed:  # each reason lies beside its file in inbox/failed/
            lines = [f"{r.name}: {r.reason}" for r in failed]
            subject = f"newsflow: {len(failed)} inbox file(s) could not be ingested"
            deliver(Alert("failure", subject, lines, "news_inbox", context["run_id"]), context)
        return [{"name": r.name, "status": r.status, "moved_to": r.moved_to} for r in results]

    ingest()


news_inbox()
