"""news_backfill: past days from WARC files, sitemaps or the raw archive, spread over workers.

plan ─► land (mapped: one task per shard, on any worker) ─► commit ─► asset newsflow_articles

Triggered with parameters (see the README's Backfilling section)::

    airflow dags trigger news_backfill --conf '{"source": "warc",
        "inputs": ["s3://commoncrawl/crawl-data/CC-NEWS/2026/10/*.warc.gz"],
        "from": "2026-10-01", "to": "2026-10-31", "outlets": "any"}'

``plan`` expands the inputs into shards (one per WARC file, sitemap or raw archive file);
each ``land`` task stages one shard's pages (archive, extraction, relevance prefilter
with outlets ``any``) and can run on any worker at once with the others, resuming where
it stopped when retried; ``commit`` then commits the days in date order, the lake's one
writer (its pool), and builds each day's stories. Each day committed is an event of
``newsflow_articles`` with the day as its partition key, so ``news_stories``,
``news_quality`` and ``news_digest`` follow day by day. It is the same code as
``newsflow backfill`` (``pipeline.runs.backfill``), which stays the one-machine way.
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import Param, dag, get_current_context, task
from newsflow_airflow import (
    ARTICLES,
    LAKE_POOL,
    REJECTS,
    emit,
    execution_timeouts,
    lake_from_airflow,
    settings_from_airflow,
)
from newsflow_alerts import DayNotifier

TIMEOUTS = execution_timeouts()


@dag(
    dag_id="news_backfill",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,  # one backfill's commits at a time (each takes the lake's pool)
    default_args={
        "retries": 2,
        "retry_delay": timedelta(minutes=2),
        "on_failure_callback": DayNotifier(),
    },
    params={
        "source": Param("warc", enum=["warc", "sitemap", "raw"], description="what to read"),
        "inputs": Param(
            [],
            type="array",
            description="WARC files (paths or s3:// URIs, * wildcards) or sitemap URLs",
        ),
        "from": Param(type="string", format="date", description="first day, YYYY-MM-DD"),
        "to": Param(type="string", format="date", description="last day, YYYY-MM-DD"),
        "outlets": Param(
            "feeds", enum=["feeds", "any"], description="the feeds file's outlets, or any site"
        ),
    },
    tags=["newsflow"],
    doc_md=__doc__,
)
def news_backfill() -> None:
    @task(execution_timeout=TIMEOUTS["shard"])  # sitemaps are read politely, one by one
    def plan() -> list[dict[str, Any]]:
        from pipeline.runs.backfill import Spec
        from pipeline.runs.backfill import plan as plan_shards

        spec = Spec.from_dict(dict(get_current_context()["params"])).check()
        settings = settings_from_airflow()  # S3 inputs are read with the lake's credentials
        planned = plan_shards(spec, settings, lake_from_airflow(settings=settings))
        return [
            {"job": planned.job, "shard": index, "spec": planned.shard(spec, index).to_dict()}
            for index in range(len(planned.shards))
        ]

    @task(execution_timeout=TIMEOUTS["shard"], max_active_tis_per_dagrun=16)
    def land(shard: dict[str, Any]) -> dict[str, Any]:
        from pipeline.runs.backfill import Spec
        from pipeline.runs.backfill import land as land_shard
        from pipeline.runs.ingest import START_METHOD_VARIABLE

        os.environ[START_METHOD_VARIABLE] = "fork"  # see pipeline.runs.ingest.extraction_pool
        spec, settings = Spec.from_dict(shard["spec"]), settings_from_airflow()
        lake = lake_from_airflow(settings=settings)
        # A shard is one process: the workers' slots are what spreads the work.
        one = replace(settings, extract_workers=1)
        report = land_shard(spec, shard["job"], shard["shard"], lake, one)
        return report.to_dict()

    @task(
        outlets=[ARTICLES, REJECTS], pool=LAKE_POOL, execution_timeout=TIMEOUTS["backfill_commit"]
    )
    def commit(planned: list[dict[str, Any]], landed: list[dict[str, Any]]) -> dict[str, Any]:
        from pipeline.runs.backfill import ShardReport, Spec, commit_days
        from pipeline.runs.commit import build_stories

        context = get_current_context()
        if not planned:
            return {}
        spec = Spec.from_dict(dict(context["params"]))
        reports = [ShardReport(**report) for report in landed]
        settings = settings_from_airflow()
        done = commit_days(spec, planned[0]["job"], reports, lake_from_airflow(settings=settings),
                           settings, build=build_stories)  # fmt: skip
        articles = {"rows_by_day": done.articles_by_day, "source": f"backfill {spec.source}"}
        emit(context, ARTICLES, done.days, articles)
        emit(
            context, REJECTS, done.days, {"rows": done.rejects, "by_reason": done.rejects_by_reason}
        )
        return done.to_dict()

    planned = plan()
    landed = land.expand(shard=planned)
    commit(planned, landed)  # type: ignore[arg-type]  # TaskFlow passes XComArgs


news_backfill()
