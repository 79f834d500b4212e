"""The DAGs, run by real Airflow (``airflow dags test``) on SQLite against real S3."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs
import pytest

from pipeline.lake.store import LocalLake, S3Lake, create_lake, open_lake
from pipeline.lake.tables import read_day
from pipeline.records import ARTICLES_SCHEMA, STORIES_SCHEMA
from pipeline.settings import load_settings
from pipeline.stages.quality import QUALITY_SCHEMA
from sample.s3server import SECRET_KEY, SeaweedS3
from sample.site import SampleWeb
from tests.alert_sink import recorded
from tests.conftest import BIN, DAY, LAKE_POOL, ROOT, SAMPLE_SETTINGS, airflow_env
from tests.crawls import cc_news_warc

pytestmark = pytest.mark.airflow


def test_dag_folder_imports_with_zero_errors(airflow_home: Path) -> None:
    script = (
        "import json; from airflow.dag_processing.dagbag import DagBag;"
        f"bag = DagBag(dag_folder={str(ROOT / 'dags')!r});"
        "print(json.dumps({'errors': {k: str(v) for k, v in bag.import_errors.items()},"
        " 'dags': sorted(bag.dag_ids),"
        " 'timeouts': {f'{d.dag_id}.{t.task_id}': t.execution_timeout and"
        " t.execution_timeout.total_seconds() for d in bag.dags.values() for t in d.tasks},"
        " 'pools': {f'{d.dag_id}.{t.task_id}': t.pool"
        " for d in bag.dags.values() for t in d.tasks}}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=airflow_env(airflow_home),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["errors"] == {}
    assert {"news_ingest", "news_stories", "news_quality"} <= set(report["dags"])
    # Nothing holds a worker slot for ever: every task has a time limit from the settings.
    settings = load_settings(env={})  # config/settings.yaml, as the DAGs read it here
    limits = settings.task_timeouts()
    assert all(report["timeouts"].values()), report["timeouts"]
    assert timedelta(seconds=report["timeouts"]["news_ingest.ingest"]) == limits["ingest"]
    assert limits["ingest"] > timedelta(seconds=settings.batch_deadline)
    # Every writer of the lake takes its turn in one pool of one slot, which the
    # deployment makes (the fixture here, airflow-init in docker-compose).
    writers = {"news_ingest.commit", "news_inbox.ingest", "news_stories.build",
               "news_backfill.commit", "news_quality.report",
               "news_maintenance.maintain"}  # fmt: skip
    in_pool = {task for task, pool in report["pools"].items() if pool == LAKE_POOL}
    assert in_pool == writers
    pools = subprocess.run(
        [str(BIN / "airflow"), "pools", "get", LAKE_POOL, "--output", "json"],
        env=airflow_env(airflow_home), capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert json.loads(pools.stdout)[0]["slots"] in (1, "1")


def _env(airflow_home: Path, feeds_file: Path, s3: SeaweedS3, bucket: str) -> dict[str, str]:
    create_lake(open_lake(f"s3://{bucket}/news", s3.settings()))  # as `newsflow init` does
    return airflow_env(
        airflow_home,
        NEWSFLOW_FEEDS=str(feeds_file),
        NEWSFLOW_LAKE=f"s3://{bucket}/news",
        NEWSFLOW_ALLOW_PRIVATE_NETWORK="1",
        NEWSFLOW_SETTINGS=str(SAMPLE_SETTINGS),
        # Credentials and endpoint reach the tasks only through the aws_default connection.
        AIRFLOW_CONN_AWS_DEFAULT=s3.airflow_connection(),
    )


def test_news_ingest_run_by_airflow_lands_the_day_on_s3(
    airflow_home: Path, web: SampleWeb, feeds_file: Path, s3: SeaweedS3, bucket: str
) -> None:
    env = _env(airflow_home, feeds_file, s3, bucket)
    command = [str(BIN / "airflow"), "dags", "test", "news_ingest", DAY.isoformat()]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]

    fs = s3.filesystem()
    lake = S3Lake(f"s3://{bucket}/news", s3.client(), s3.settings())
    table = read_day(lake, "articles", DAY.isoformat(), ARTICLES_SCHEMA)
    assert table.num_rows == 14
    assert len(set(table.column("article_id").to_pylist())) == table.num_rows

    # The articles asset event has the day as its partition key, and its row count.
    events = asset_events(airflow_home)
    assert events["newsflow_articles"] == [(DAY.isoformat(), events["newsflow_articles"][0][1])]
    assert events["newsflow_articles"][0][1]["rows"] == table.num_rows
    assert [key for key, _ in events["newsflow_rejects"]] == [DAY.isoformat()]

    # The stories of the day, built by the DAG the articles asset schedules.
    stories_run = subprocess.run(
        [str(BIN / "airflow"), "dags", "test", "news_stories", DAY.isoformat()],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert stories_run.returncode == 0, stories_run.stdout[-3000:] + stories_run.stderr[-3000:]
    stories = read_day(lake, "stories", DAY.isoformat(), STORIES_SCHEMA)
    assert set(stories.column("story_id").to_pylist()) == set(table.column("story_id").to_pylist())
    netflix = [s for s in stories.to_pylist() if len(s["outlets"]) >= 4]
    assert netflix and "TechBeat" in netflix[0]["outlets"]

    # The same day again: no duplicate rows.
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    again = read_day(lake, "articles", DAY.isoformat(), ARTICLES_SCHEMA)
    assert sorted(again.column("article_id").to_pylist()) == sorted(
        table.column("article_id").to_pylist()
    )

    # The S3 secret of the aws_default connection appears nowhere a run writes: not in what
    # the commands printed, the task logs or Airflow's database, nor in any object of the lake
    # (Parquet, manifests, state, raw archive).
    secret = SECRET_KEY.encode()
    printed = [first.stdout, first.stderr, stories_run.stdout, stories_run.stderr,
               second.stdout, second.stderr]  # fmt: skip
    assert not [text for text in printed if SECRET_KEY in text]
    assert f"committed {DAY}" in first.stdout + first.stderr, "no task log to search"
    written = [path for path in airflow_home.rglob("*") if path.is_file()]
    assert [str(path) for path in written if secret in path.read_bytes()] == []
    objects = fs.get_file_info(pafs.FileSelector(f"{bucket}/news", recursive=True))
    files = [info.path for info in objects if info.type == pafs.FileType.File]
    assert len(files) > 20
    assert [path for path in files if secret in fs.open_input_stream(path).read()] == []


def asset_events(airflow_home: Path) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Each asset's events in Airflow's database: (partition key, extra), in order."""
    with sqlite3.connect(airflow_home / "airflow.db") as db:
        rows = db.execute(
            "select a.name, e.partition_key, e.extra from asset_event e"
            " join asset a on a.id = e.asset_id order by e.id"
        ).fetchall()
    events: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for name, key, extra in rows:
        events.setdefault(name, []).append((key, json.loads(extra)))
    return events


def test_news_backfill_lands_each_shard_and_emits_each_day_as_a_partition(
    airflow_home: Path, web: SampleWeb, feeds_file: Path, tmp_path: Path
) -> None:
    """``news_backfill`` over two WARC files: a mapped landing per file, then the days
    committed in date order, one story across them, and an articles event per day."""
    days = [DAY - timedelta(days=2), DAY - timedelta(days=1), DAY]
    (tmp_path / "CC-NEWS-1.warc.gz").write_bytes(cc_news_warc(web, days[:2]))
    (tmp_path / "CC-NEWS-2.warc.gz").write_bytes(cc_news_warc(web, days[2:], ("streamwire",)))
    web.stop()  # the pages come from the WARC files
    create_lake(LocalLake(tmp_path / "lake"))
    env = airflow_env(
        airflow_home,
        NEWSFLOW_FEEDS=str(feeds_file),
        NEWSFLOW_LAKE=str(tmp_path / "lake"),
        NEWSFLOW_SETTINGS=str(SAMPLE_SETTINGS),
    )
    conf = {"source": "warc", "inputs": [str(tmp_path / "CC-NEWS-*.warc.gz")],
            "from": str(days[0]), "to": str(DAY), "outlets": "feeds"}  # fmt: skip
    done = subprocess.run(
        [str(BIN / "airflow"), "dags", "test", "news_backfill", "--conf", json.dumps(conf)],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lake = LocalLake(tmp_path / "lake")
    articles = {
        day: read_day(lake, "articles", str(day), ARTICLES_SCHEMA).to_pylist() for day in days
    }
    assert all(articles.values())
    netflix = {r["story_id"] for rows in articles.values() for r in rows if "netflix" in r["url"]}
    assert len(netflix) == 1  # one story across the days and the shards
    assert read_day(lake, "stories", str(DAY), STORIES_SCHEMA).num_rows
    with sqlite3.connect(airflow_home / "airflow.db") as db:
        landed = db.execute(
            "select map_index, state from task_instance"
            " where dag_id = 'news_backfill' and task_id = 'land' order by map_index"
        ).fetchall()
    assert landed == [(0, "success"), (1, "success")]
    events = asset_events(airflow_home)
    assert sorted(key for key, _ in events["newsflow_articles"][-3:]) == [str(d) for d in days]
    assert lake.list_keys("_staging/") == []


def test_three_days_in_date_order_continue_one_story_with_its_quality_and_digest(
    airflow_home: Path, web: SampleWeb, feeds_file: Path, s3: SeaweedS3, bucket: str
) -> None:
    """A backfill of news_ingest is one run per day in date order; run here as three
    ``airflow dags test`` runs, then the stories, quality and digest DAGs of the last day."""
    env = _env(airflow_home, feeds_file, s3, bucket)
    days = ["2026-11-21", "2026-11-22", "2026-11-23"]
    runs = [("news_ingest", day) for day in days]
    runs += [("news_stories", days[-1]), ("news_quality", days[-1]), ("news_digest", days[-1])]
    for dag_id, day in runs:
        done = subprocess.run(
            [str(BIN / "airflow"), "dags", "test", dag_id, day],
            env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert done.returncode == 0, (dag_id, day, done.stdout[-3000:], done.stderr[-3000:])
    lake = S3Lake(f"s3://{bucket}/news", s3.client(), s3.settings())
    articles = {day: read_day(lake, "articles", day, ARTICLES_SCHEMA) for day in days}
    assert all(table.num_rows for table in articles.values())
    netflix = {
        day: {r["story_id"] for r in t.to_pylist() if "netflix" in r["url"]}
        for day, t in articles.items()
    }
    # The Netflix story, told on the 22nd and again on the 23rd, keeps its id.
    assert netflix["2026-11-22"] and netflix["2026-11-22"] == netflix["2026-11-23"]
    quality = read_day(lake, "quality", "2026-11-23", QUALITY_SCHEMA).to_pylist()
    assert quality[0]["articles"] == articles["2026-11-23"].num_rows
    assert quality[0]["stories"] >= 1 and quality[0]["with_language"] == 1.0
    page = lake.get("digest/dt=2026-11-23/index.html") or b""
    assert b"<h3>Netflix" in page and lake.get("digest/latest/index.html") == page


def test_a_failed_day_fails_the_run_and_reaches_the_operator(
    airflow_home: Path, tmp_path: Path
) -> None:
    """Every feed down: no article lands, the run fails at ``check``, and the alert
    reaches the callback the environment names (the webhook and email go the same way)."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # a port nothing listens on: connection refused
    port = closed.getsockname()[1]
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(f"feeds:\n  - url: http://127.0.0.1:{port}/a.xml\n"
                     f"  - url: http://127.0.0.1:{port}/b.xml\n")  # fmt: skip
    sink = tmp_path / "alerts.jsonl"
    create_lake(LocalLake(tmp_path / "lake"))
    env = airflow_env(
        airflow_home,
        NEWSFLOW_FEEDS=str(feeds),
        NEWSFLOW_LAKE=str(tmp_path / "lake"),
        NEWSFLOW_ALLOW_PRIVATE_NETWORK="1",
        NEWSFLOW_SETTINGS=str(SAMPLE_SETTINGS),
        NEWSFLOW_ALERT_CALLBACK="tests.alert_sink:record",
        NEWSFLOW_TEST_ALERTS=str(sink),
    )
    done = subprocess.run(
        [str(BIN / "airflow"), "dags", "test", "news_ingest", DAY.isoformat()],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    closed.close()
    output = done.stdout + done.stderr
    assert done.returncode != 0  # the run failed, as it should
    (alert,) = recorded(sink)
    assert alert["level"] == "failure", output[-3000:]
    assert alert["subject"] == f"newsflow: news_ingest.check failed for {DAY}"
    assert "no article landed while 2 feeds could not be polled" in alert["text"]
