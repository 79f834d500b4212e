"""Backfills: newsflow's raw archive re-extracted, and CC-NEWS-style WARC files read from
S3, through the same path as a live run; an interrupted backfill resumed."""

from __future__ import annotations

import subprocess
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from pipeline.lake.store import LocalLake, read_parquet
from pipeline.lake.tables import read_day
from pipeline.records import ARTICLES_SCHEMA, REJECTS_SCHEMA, STORIES_SCHEMA
from pipeline.runs import backfill as backfill_module
from pipeline.runs.backfill import Spec, backfill, backfill_source
from pipeline.settings import Settings
from pipeline.sources.feeds import load_feeds
from pipeline.sources.warc import WarcSource, file_inputs
from sample.s3server import SeaweedS3
from sample.site import SampleWeb
from tests.conftest import BIN, DAY, SAMPLE_SETTINGS
from tests.crawls import any_site_warc, cc_news_warc
from tests.test_ingest import run_day

DT = DAY.isoformat()
# What a re-extraction must give back as it was (fetched_at included: the WARC-Date).
SAME = ["article_id", "url", "canonical_url", "source_name", "feed_url", "title", "authors",
        "published_at", "fetched_at", "language", "text", "summary", "content_hash",
        "raw_ref", "relevance", "topics", "story_id", "duplicate_of", "rights"]  # fmt: skip


def rows(lake: LocalLake, table: str = "articles", dt: str = DT) -> list[dict[str, Any]]:
    schema = STORIES_SCHEMA if table == "stories" else ARTICLES_SCHEMA
    found = read_day(lake, table, dt, schema)
    return sorted(found.to_pylist(), key=lambda r: r.get("article_id") or r.get("story_id"))


def test_raw_backfill_re_extracts_the_same_articles_without_any_request(
    web: SampleWeb, settings: Settings, lake: LocalLake, tmp_path: Path
) -> None:
    run_day(settings, lake)
    before = [{k: r[k] for k in SAME} for r in rows(lake)]
    web.stop()  # no network from here on: a request would fail the backfill's pages
    requests = len(web.requests)
    done = subprocess.run(
        [str(BIN / "newsflow"), "backfill", "--from", DT, "--to", DT, "--source", "raw",
         "--feeds", str(settings.feeds_path), "--lake", str(lake.root), "--no-progress"],
        capture_output=True, text=True, timeout=300,
        env={"NEWSFLOW_SETTINGS": str(SAMPLE_SETTINGS), "PATH": str(BIN)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "days committed   1: 2026-11-23" in done.stdout
    assert len(web.requests) == requests
    after = [{k: r[k] for k in SAME} for r in rows(lake)]
    assert after == before
    assert lake.list_keys("_staging/") == [] and lake.list_keys("_state/backfill/") != []
    assert [
        k for k in lake.list_keys("_state/backfill/") if not k.startswith("_state/backfill/done/")
    ] == []
    assert rows(lake, "stories")


def test_warc_backfill_from_s3_writes_each_day_and_continues_stories(
    web: SampleWeb, settings: Settings, tmp_path: Path, s3: SeaweedS3, bucket: str
) -> None:
    days = [DAY - timedelta(days=2), DAY - timedelta(days=1), DAY]
    key = "crawl-data/CC-NEWS/2026/11/CC-NEWS-20261121000000-00001.warc.gz"
    name, _, prefix = bucket.partition("/")
    s3.client().put_object(Bucket=name, Key=f"{prefix}/{key}", Body=cc_news_warc(web, days))
    web.stop()  # nothing is fetched again: the WARC holds the pages
    lake_uri = f"s3://{bucket}/lake"
    done = subprocess.run(
        [str(BIN / "newsflow"), "backfill", "--from", days[0].isoformat(), "--to", DT,
         "--source", "warc", "--input", f"s3://{bucket}/crawl-data/CC-NEWS/2026/11/*.warc.gz",
         "--feeds", str(settings.feeds_path), "--lake", lake_uri, "--no-progress", "--create"],
        capture_output=True, text=True, timeout=300,
        env={**s3.env(), "NEWSFLOW_SETTINGS": str(SAMPLE_SETTINGS), "PATH": str(BIN)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    fs = s3.filesystem()
    per_day = {}
    for day in days:
        path = f"{bucket}/lake/articles/dt={day}/"
        per_day[day] = pq.read_table(path, filesystem=fs).to_pylist()
        raw = fs.get_file_info(pafs.FileSelector(f"{bucket}/lake/raw/dt={day}"))
        assert raw, f"no raw archive for {day}"
    assert [{r["source_name"] for r in per_day[d]} for d in days] == [
        {"TechBeat"},
        {"Rude Baguette"},
        {"StreamWire"},
    ]  # each crawl day in its own partition, the other site and the 404 left out
    # The Netflix story, told on all three days, keeps one id across the partitions.
    netflix = {r["story_id"] for d in days for r in per_day[d] if "netflix" in r["url"]}
    assert len(netflix) == 1
    assert "days committed   3" in done.stdout


def test_an_interrupted_backfill_resumes_without_duplicates(
    web: SampleWeb, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    days = [DAY - timedelta(days=2), DAY - timedelta(days=1), DAY]
    warc = tmp_path / "CC-NEWS-1.warc.gz"
    warc.write_bytes(cc_news_warc(web, days))
    web.stop()
    feeds = load_feeds(settings.feeds_path)
    monkeypatch.setattr(backfill_module, "CHUNK", 2)  # stage every two pages

    source = WarcSource(file_inputs([str(warc)], _no_s3), feeds)
    straight = LocalLake(tmp_path / "straight")
    whole = backfill_source(source, straight, settings, days[0], DAY)
    assert (whole.kept, whole.batches) == (6, 3)  # two pages a day, staged two at a time

    lake = LocalLake(tmp_path / "interrupted")

    def interrupt(done: int, total: int, read: int, kept: int) -> None:
        if kept == 5:  # the fifth page read, after two batches were staged
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        backfill_source(source, lake, settings, days[0], DAY, progress=interrupt)
    (checkpoint,) = lake.list_keys("_state/backfill/")
    assert lake.list_keys("articles/") == []  # nothing committed before the input is read
    assert len(lake.list_keys("_staging/")) == 2 * 3  # articles, pages, rejects per batch
    staged = [k for k in lake.list_keys("_staging/") if k.endswith(".articles.parquet")]
    tables = [read_parquet(lake, key, ARTICLES_SCHEMA) for key in staged]
    landed = [r for table in tables if table is not None for r in table.to_pylist()]
    assert landed and all(r["relevance"] is not None for r in landed)  # scored by the shard

    resumed = backfill_source(source, lake, settings, days[0], DAY)
    assert resumed.resumed and (resumed.read, resumed.kept) == (whole.read, whole.kept)
    assert lake.get(checkpoint) is None and lake.list_keys("_staging/") == []
    for day in days:
        got, want = rows(lake, dt=day.isoformat()), rows(straight, dt=day.isoformat())
        assert got and [r["url"] for r in got] == [r["url"] for r in want]
        assert [r["text"] for r in got] == [r["text"] for r in want]
        assert [r["story_id"] for r in got] == [r["story_id"] for r in want]


def _no_s3() -> Any:
    raise AssertionError("no S3 here")


def test_sitemap_backfill_fetches_the_days_pages_from_the_outlets_sitemaps(
    web: SampleWeb, settings: Settings, lake: LocalLake
) -> None:
    first, last = date(2026, 11, 21), date(2026, 11, 22)
    done = subprocess.run(
        [str(BIN / "newsflow"), "backfill", "--from", first.isoformat(), "--to", last.isoformat(),
         "--source", "sitemap", "--feeds", str(settings.feeds_path), "--lake", str(lake.root),
         "--allow-private-network", "--no-progress", "--create"],
        capture_output=True, text=True, timeout=300,
        env={"NEWSFLOW_SETTINGS": str(SAMPLE_SETTINGS), "PATH": str(BIN)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # Each outlet's robots.txt names its sitemap index; the index's old page sitemap is
    # skipped by its lastmod, and no page of another day is fetched.
    paths = [r.path for r in web.requests]
    assert sum(p == "/sitemap_index.xml" for p in paths) == len(web.outlets)
    assert "/sitemap-pages.xml.gz" not in paths and "/about/" not in paths
    for day in (first, last):
        got = sorted(r["title"] for r in rows(lake, dt=day.isoformat()))
        got += sorted(r["title"] for r in rows(lake, "offtopic", dt=day.isoformat()))
        want = [
            a for o in web.outlets.values() for a in o["articles"]
            if str(a["published"])[:10] == day.isoformat() and a.get("status", 200) == 200
        ]  # fmt: skip
        assert len(got) == len(want), (day, got)
        assert all(p.count(a["slug"]) for a in want for p in [" ".join(paths)])
    assert not any("2026/11/23" in p for p in paths if "sitemap" not in p)
    rejects = read_day(lake, "rejects", last.isoformat(), REJECTS_SCHEMA).to_pylist()
    assert {r["reason"] for r in rejects} >= {"robots", "http-404"}


def test_a_backfill_of_any_site_extracts_only_what_the_prefilter_lets_through(
    web: SampleWeb, settings: Settings, tmp_path: Path
) -> None:
    crawl = tmp_path / "CC-NEWS-any.warc.gz"
    crawl.write_bytes(any_site_warc(web, DAY))
    web.stop()
    lake = LocalLake(tmp_path / "lake")
    report = backfill(Spec("warc", (str(crawl),), DAY, DAY, "any"), lake, settings)
    left_out = report.left_out
    assert left_out["not an HTML page"] == 2  # the PDF and the redirect: bodies never read
    assert left_out["prefilter: AI not named"] >= 1  # the bakery, at least
    assert report.kept + sum(left_out.values()) == report.read
    articles = rows(lake)
    domains = {r["source_name"] for r in articles}
    assert domains <= {"techbeat-mirror.example", "streamwire-mirror.example"} and domains
    assert all("bakery" not in r["url"] for r in rows(lake, "offtopic"))
    # The same crawl with the feeds file's outlets: none of these sites is one of them.
    only_feeds = backfill(
        Spec("warc", (str(crawl),), DAY, DAY), LocalLake(tmp_path / "f"), settings
    )
    assert only_feeds.kept == 0 and only_feeds.left_out["not an outlet kept"] > 0


def test_shards_landed_by_two_processes_commit_as_one_process_does(
    web: SampleWeb, settings: Settings, tmp_path: Path
) -> None:
    days = [DAY - timedelta(days=2), DAY - timedelta(days=1), DAY]
    outlets = ("techbeat", "rudebaguette", "streamwire")
    for number, (day, outlet) in enumerate(zip(days, outlets, strict=True)):  # a file a day
        (tmp_path / f"CC-NEWS-{number}.warc.gz").write_bytes(cc_news_warc(web, [day], (outlet,)))
    web.stop()
    spec = Spec("warc", (str(tmp_path / "CC-NEWS-*.warc.gz"),), days[0], DAY)
    one = LocalLake(tmp_path / "one")
    two = LocalLake(tmp_path / "two")
    alone = backfill(spec, one, settings)
    together = backfill(spec, two, settings, workers=2)
    assert (alone.shards, together.shards) == (3, 3)
    assert (alone.read, alone.kept, alone.days) == (together.read, together.kept, together.days)
    for day in days:
        want, got = rows(one, dt=day.isoformat()), rows(two, dt=day.isoformat())
        assert [r["article_id"] for r in got] == [r["article_id"] for r in want] != []
        assert [r["story_id"] for r in got] == [r["story_id"] for r in want]
    assert two.list_keys("_staging/") == [] and len(two.list_keys("_state/backfill/done/")) == 1
