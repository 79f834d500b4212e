"""Downstream readers: the README's examples for DuckDB, Polars and pyarrow, run as written
(with this test's endpoint, keys and bucket) against a lake on a real S3 server."""

from __future__ import annotations

import re
from typing import Any

import pytest

from pipeline.lake.store import S3Lake
from pipeline.runs.daily import run
from pipeline.runs.ingest import Interval
from pipeline.settings import load_settings
from sample.s3server import ACCESS_KEY, SECRET_KEY, SeaweedS3
from sample.site import SampleWeb
from tests.conftest import DAY, ROOT, SAMPLE_SETTINGS

pytestmark = pytest.mark.s3


def readme_example(name: str) -> str:
    readme = (ROOT / "README.md").read_text()
    block = re.search(rf"<!-- reader: {name} -->\n```python\n(.*?)```", readme, re.S)
    assert block, f"README has no reader example {name}"
    return block.group(1)


@pytest.fixture(scope="module")
def lake_on_s3(s3: SeaweedS3, session_bucket: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """``bucket/prefix`` of a lake holding the sample day, written once for the module."""
    prefix = f"{session_bucket}/readers"
    folder = tmp_path_factory.mktemp("readers")
    with SampleWeb() as web:
        feeds = web.write_feeds_file(folder / "feeds.yaml")
        env = {"NEWSFLOW_SETTINGS": str(SAMPLE_SETTINGS)}
        settings = load_settings(
            feeds=str(feeds), lake=f"s3://{prefix}", allow_private_network=True, env=env
        )
        lake = S3Lake(f"s3://{prefix}", s3.client(), s3.settings())
        run(settings, lake, Interval.day(DAY), "readers")
    return prefix


@pytest.mark.parametrize("reader", ["duckdb", "polars", "pyarrow"])
def test_the_readme_readers_read_the_day(reader: str, s3: SeaweedS3, lake_on_s3: str) -> None:
    host = s3.endpoint.removeprefix("http://")
    code = (
        readme_example(reader)
        .replace("my-bucket/news", lake_on_s3)
        .replace("localhost:8333", host)
        .replace("my-key", ACCESS_KEY)
        .replace("my-secret", SECRET_KEY)
    )
    scope: dict[str, Any] = {}
    exec(compile(code, f"README reader {reader}", "exec"), scope)
    articles = scope["articles"]
    assert len(articles) == 14  # the sample day's relevant articles
    if reader == "pyarrow":
        assert scope["lineage"][0][1] == "readers"  # the table's history names the run
        assert scope["before"].version() == 0
