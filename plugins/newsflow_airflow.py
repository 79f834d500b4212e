"""What the newsflow DAGs share: the lake's assets, the tasks' time limits, and the lake
reached through Airflow's ``aws_default`` connection. The lake and its credentials are
read when a task runs, never when a DAG file is parsed; the settings file is read at
parse time for the time limits alone (a broken one shows as the DAG's import error).

The assets are partitioned by day: an event's ``partition_key`` is the day it landed
(``2026-11-23``, the table's ``dt``), and its extra holds counts. A DAG scheduled on an
asset (:func:`asset_dag`) has one run per partition key, whose ``partition_key`` is the
day it works on (:func:`partition_day`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from airflow.sdk import Asset

ARTICLES = Asset("newsflow_articles")
REJECTS = Asset("newsflow_rejects")
STORIES = Asset("newsflow_stories")
QUALITY = Asset("newsflow_quality")
DIGEST = Asset("newsflow_digest")

# Every task that writes the lake runs in this pool of one slot, so the writers of all
# DAGs take turns in Airflow's queue instead of holding worker slots while they wait for
# the lake's lease. Airflow does not schedule a task whose pool is missing: make it once,
# ``airflow pools set newsflow_lake 1 "..."`` (docker-compose's airflow-init does).
LAKE_POOL = "newsflow_lake"
LAKE_POOL_DESCRIPTION = "One writer of the newsflow lake at a time"


def asset_dag(
    dag_id: str, asset: Asset, doc: str | None
) -> Callable[[Callable[[], None]], Callable[[], Any]]:
    """The ``@dag`` of a DAG run on the events of ``asset``, a run per day (partition key)
    and one run at a time, each task retried twice and its failure reported (news_stories,
    news_quality, news_digest)."""
    from airflow.sdk import PartitionedAssetTimetable, dag
    from newsflow_alerts import DayNotifier

    return dag(
        dag_id=dag_id,
        schedule=PartitionedAssetTimetable(assets=asset),
        start_date=datetime(2026, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        default_args={"retries": 2, "on_failure_callback": DayNotifier()},
        tags=["newsflow"],
        doc_md=doc,
    )


def execution_timeouts() -> dict[str, timedelta]:
    """Each kind of task's ``execution_timeout``, from the settings (``NEWSFLOW_SETTINGS``
    or ``config/settings.yaml``): see ``pipeline.settings.Settings.task_timeouts``."""
    from pipeline.settings import load_settings

    return load_settings().task_timeouts()


def partition_day(context: Any) -> str:
    """The day a run works on: its partition key (the day an upstream event landed), else
    its logical date (a run started by hand: ``airflow dags test news_stories 2026-11-23``)."""
    key = context.get("partition_key") or getattr(context.get("dag_run"), "partition_key", None)
    if key:
        return str(date.fromisoformat(str(key).removeprefix("dt=")))  # refused if not a day
    if context.get("logical_date") is None:
        raise ValueError("no day to work on: the run has no partition key and no logical date")
    return str(context["logical_date"].strftime("%Y-%m-%d"))


def emit(context: Any, asset: Asset, days: list[str], extra: dict[str, Any]) -> None:
    """An event of ``asset`` for each of ``days`` (its partition key), with ``extra``."""
    accessor = context["outlet_events"][asset]
    accessor.extra = extra
    if days:
        accessor.add_partitions(sorted(set(days)))


def settings_from_airflow() -> Any:
    """The settings, with the S3 credentials and endpoint of the aws_default connection
    when there is one (the lake's), and of the newsflow_crawl connection when there is one
    (where WARC files on S3 are read, Common Crawl's bucket on AWS; else the lake's)."""
    from pipeline.settings import load_settings

    settings = load_settings()
    lake = _s3_of("aws_default", settings.s3)
    return replace(settings, s3=lake or settings.s3, crawl_s3=_s3_of("newsflow_crawl", None))


def _s3_of(conn_id: str, default: Any) -> Any:
    """The S3 settings of an Airflow connection, those not in it from ``default``; None
    when there is no such connection (boto3's own chain then: AWS_* variables, profiles,
    instance roles)."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    from pipeline.settings import S3Settings

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None
    extra, default = conn.extra_dejson, default or S3Settings()
    return S3Settings(
        endpoint_url=extra.get("endpoint_url") or default.endpoint_url,
        access_key_id=conn.login or default.access_key_id,
        secret_access_key=conn.password or default.secret_access_key,
        region=extra.get("region_name") or default.region,
    )


def lake_from_airflow(must_exist: bool = True, settings: Any = None) -> Any:
    """The lake, with S3 credentials from the aws_default connection when there is one;
    refused if there is no lake there (``newsflow init`` makes one), unless told not to."""
    from pipeline.lake.store import open_lake, require_lake

    settings = settings or settings_from_airflow()
    lake = open_lake(settings.lake, settings.s3)
    return require_lake(lake) if must_exist else lake
