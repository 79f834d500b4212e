"""news_backfill on a real CeleryExecutor: PostgreSQL and Redis started here (from PyPI
wheels), Airflow's API server, scheduler and DAG processor, and two Celery workers, all on
127.0.0.1, reading four WARC shards from S3 into a lake on S3."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from pipeline.lake.store import S3Lake, create_lake
from pipeline.lake.tables import read_day
from pipeline.records import ARTICLES_SCHEMA
from sample.s3server import SeaweedS3
from sample.services import Postgres, Redis, free_port
from sample.site import SampleWeb
from tests.conftest import BIN, DAY, LAKE_POOL, SAMPLE_SETTINGS, airflow_env
from tests.crawls import cc_news_warc

pytestmark = pytest.mark.airflow

WORKERS = ("worker-1", "worker-2")
DEADLINE = 420  # seconds for the backfill and the stories of its days


class Deployment:
    """Airflow with the CeleryExecutor, its services as processes of this machine."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home, self.env = home, env
        self.processes: list[tuple[str, subprocess.Popen[bytes]]] = []

    def airflow(self, *args: str, timeout: float = 300) -> str:
        done = subprocess.run([str(BIN / "airflow"), *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout)  # fmt: skip
        assert done.returncode == 0, (args, done.stdout[-3000:], done.stderr[-3000:])
        return done.stdout

    def start(self, name: str, *args: str, **env: str) -> None:
        with (self.home / f"{name}.log").open("ab") as log:
            process = subprocess.Popen([str(BIN / "airflow"), *args], env={**self.env, **env},
                                       stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        self.processes.append((name, process))

    def logs(self) -> str:
        return "\n".join(f"--- {name}\n{(self.home / f'{name}.log').read_text()[-2500:]}"
                         for name, _ in self.processes)  # fmt: skip

    def stop(self) -> None:
        for _, process in reversed(self.processes):
            process.terminate()
        for _, process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def deployment(
    tmp_path: Path, s3: SeaweedS3, bucket: str, feeds_file: Path
) -> Iterator[Deployment]:
    with ExitStack() as stack:
        postgres = stack.enter_context(Postgres().start())
        redis = stack.enter_context(Redis().start())
        home = tmp_path / "airflow"
        home.mkdir()
        lake = f"s3://{bucket}/lake"
        create_lake(S3Lake(lake, s3.client(), s3.settings()))
        api_port = free_port()
        env = airflow_env(
            home,
            AIRFLOW__CORE__EXECUTOR="CeleryExecutor",
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=postgres.url,
            AIRFLOW__CELERY__BROKER_URL=redis.url,
            AIRFLOW__CELERY__RESULT_BACKEND="db+" + postgres.url,
            AIRFLOW__CELERY__WORKER_CONCURRENCY="1",
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{api_port}/execution/",
            AIRFLOW__API__PORT=str(api_port),
            AIRFLOW__API__HOST="127.0.0.1",
            AIRFLOW__API_AUTH__JWT_SECRET="newsflow-test-jwt-secret",
            AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="True",
            AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME="0.5",
            AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
            NEWSFLOW_LAKE=lake,
            NEWSFLOW_FEEDS=str(feeds_file),
            NEWSFLOW_SETTINGS=str(SAMPLE_SETTINGS),
            AIRFLOW_CONN_AWS_DEFAULT=s3.airflow_connection(),
        )
        deployment = Deployment(home, env)
        stack.callback(deployment.stop)
        deployment.airflow("db", "migrate")
        deployment.airflow("pools", "set", LAKE_POOL, "1", "One writer of the newsflow lake")
        deployment.airflow("dags", "reserialize")
        # The backfill and the stories it triggers; the daily run and the rest stay paused.
        deployment.airflow("dags", "unpause", "--treat-dag-id-as-regex", "--yes",
                           "^news_(backfill|stories)$")  # fmt: skip
        deployment.start("api-server", "api-server", "--port", str(api_port))
        deployment.start("scheduler", "scheduler")
        deployment.start("dag-processor", "dag-processor")
        for name in WORKERS:  # each names the task instances it runs after itself
            deployment.start(name, "celery", "worker", "--celery-hostname", f"{name}@%h",
                             AIRFLOW__CORE__HOSTNAME_CALLABLE="tests.worker_name.worker_name",
                             NEWSFLOW_TEST_WORKER=name)  # fmt: skip
        deployment.postgres = postgres  # type: ignore[attr-defined]
        yield deployment


def _rows(url: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg2.connect(url.replace("postgresql+psycopg2", "postgresql")) as db, db.cursor() as c:
        c.execute(query)
        return list(c.fetchall())


def test_news_backfill_spreads_four_shards_over_two_celery_workers(
    deployment: Deployment, web: SampleWeb, s3: SeaweedS3, bucket: str
) -> None:
    days = [DAY - timedelta(days=2), DAY - timedelta(days=1), DAY]
    shards = [cc_news_warc(web, [days[0]], ("techbeat",)),
              cc_news_warc(web, [days[1]], ("rudebaguette",)),
              cc_news_warc(web, [days[2]], ("streamwire",)),
              cc_news_warc(web, [days[2]], ("techbeat",))]  # fmt: skip
    name, _, prefix = bucket.partition("/")
    for number, body in enumerate(shards):
        key = f"{prefix}/crawl/CC-NEWS-{number}.warc.gz"
        s3.client().put_object(Bucket=name, Key=key, Body=body)
    web.stop()  # the pages come from the crawl
    conf = {"source": "warc", "inputs": [f"s3://{bucket}/crawl/CC-NEWS-*.warc.gz"],
            "from": str(days[0]), "to": str(DAY), "outlets": "feeds"}  # fmt: skip
    deployment.airflow("dags", "trigger", "news_backfill", "--conf", json.dumps(conf))

    url = deployment.postgres.url  # type: ignore[attr-defined]
    deadline = time.monotonic() + DEADLINE
    state = None
    while time.monotonic() < deadline:
        runs = _rows(url, "select state from dag_run where dag_id = 'news_backfill'")
        state = runs[0][0] if runs else None
        if state in ("success", "failed"):
            break
        time.sleep(2)
    assert state == "success", deployment.logs()

    landed = _rows(url, "select map_index, hostname, state from task_instance where dag_id = "
                        "'news_backfill' and task_id = 'land' order by map_index")  # fmt: skip
    assert [(i, s) for i, _, s in landed] == [(i, "success") for i in range(4)]
    assert {host for _, host, _ in landed} == set(WORKERS), landed  # both workers landed shards

    lake = S3Lake(f"s3://{bucket}/lake", s3.client(), s3.settings())
    articles = [r for day in days for r in read_day(lake, "articles", str(day),
                                                    ARTICLES_SCHEMA).to_pylist()]  # fmt: skip
    assert {r["source_name"] for r in articles} == {"TechBeat", "Rude Baguette", "StreamWire"}
    netflix = {r["story_id"] for r in articles if "netflix" in r["url"]}
    assert len(netflix) == 1  # one story across the days, landed by different workers

    # Each committed day is an event with its partition key: a news_stories run per day.
    events = _rows(url, "select e.partition_key from asset_event e join asset a on "
                        "a.id = e.asset_id where a.name = 'newsflow_articles'")  # fmt: skip
    assert sorted(key for (key,) in events) == [str(d) for d in days]
    while time.monotonic() < deadline:
        stories = _rows(url, "select partition_key, state from dag_run "
                             "where dag_id = 'news_stories' order by partition_key")  # fmt: skip
        if len(stories) == 3 and all(s in ("success", "failed") for _, s in stories):
            break
        time.sleep(2)
    assert stories == [(str(d), "success") for d in days], deployment.logs()
