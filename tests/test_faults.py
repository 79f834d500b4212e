"""Faults: the object store going away in the middle of a run, a process killed before its
articles commit, and state files that are corrupt or from another version.
Each test asserts the clear failure and that the rerun lands every article exactly once."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import yaml

from pipeline.lake import state as state_module
from pipeline.lake import tables
from pipeline.lake.state import (
    DEDUP_KEY,
    FEED_STATES_KEY,
    SEEN_KEY,
    STORIES_KEY,
    SeenIndex,
    load_feed_states,
    load_state,
)
from pipeline.lake.store import LEASE_KEY, Lake, LakeError, LocalLake, S3Lake
from pipeline.lake.tables import history, read_day
from pipeline.records import ARTICLES_SCHEMA, OFFTOPIC_SCHEMA, REJECTS_SCHEMA
from pipeline.runs.commit import commit
from pipeline.runs.daily import run
from pipeline.runs.ingest import Interval, ingest_batch, plan_batches
from pipeline.settings import Settings
from pipeline.sources.feeds import load_feeds
from sample.s3server import SECRET_KEY, SeaweedS3
from sample.site import SampleWeb
from tests.conftest import BIN, DAY, ROOT, SAMPLE_SETTINGS

DT = DAY.isoformat()
NEXT_DAY = DAY + timedelta(days=1)
ARTICLES, OFFTOPIC, REJECTS = 14, 5, 5  # what the sample web gives for DAY


def committed(lake: Lake) -> dict[str, pa.Table]:
    return {
        "articles": read_day(lake, "articles", DT, ARTICLES_SCHEMA),
        "offtopic": read_day(lake, "offtopic", DT, OFFTOPIC_SCHEMA),
        "rejects": read_day(lake, "rejects", DT, REJECTS_SCHEMA),
    }


def assert_landed_once(lake: Lake) -> None:
    """The whole sample day, every article once, and no file beside the committed ones."""
    tables = committed(lake)
    ids = tables["articles"].column("article_id").to_pylist()
    ids += tables["offtopic"].column("article_id").to_pylist()
    assert len(ids) == len(set(ids)) == ARTICLES + OFFTOPIC
    assert tables["articles"].num_rows == ARTICLES
    assert tables["rejects"].num_rows == REJECTS
    assert len(SeenIndex.load(lake).entries) == ARTICLES + OFFTOPIC
    assert lake.list_keys("_staging/") == []


# -- the object store stops in the middle of a run ----------------------------------------


@pytest.fixture(scope="module")
def own_s3() -> Iterator[SeaweedS3]:
    """An S3 server of this module's own, to stop and start again."""
    with SeaweedS3(str(BIN / "weed")) as server:
        server.create_bucket("faults")
        yield server


class HaltingLake(S3Lake):
    """An S3 lake whose server stops just before the first write of a key under ``at``
    (``articles``: before the articles table's commit, which delta-rs writes itself)."""

    def __init__(self, uri: str, server: SeaweedS3, at: str) -> None:
        super().__init__(uri, server.client(), server.settings())
        self.server, self.at = server, at

    def halt(self) -> None:
        if self.server.process and self.server.process.poll() is None:
            self.server.halt()

    def put(self, key: str, data: bytes) -> None:
        if key.startswith(self.at):
            self.halt()
        super().put(key, data)


@pytest.mark.parametrize(
    "at",
    ["_staging/", "articles", "_state/"],
    ids=["while-staging", "at-the-articles-commit", "while-saving-state"],
)
def test_s3_stopping_mid_run_fails_clearly_and_the_rerun_lands_every_article_once(
    at: str,
    web: SampleWeb,
    settings: Settings,
    own_s3: SeaweedS3,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uri = f"s3://faults/{request.node.callspec.id}"
    lake = HaltingLake(uri, own_s3, at)
    for write in ("replace_day", "insert_new"):  # the two ways a commit writes a table
        original = getattr(tables, write)

        def halting(into: Lake, name: str, *args: Any, _write: Any = original, **kw: Any) -> Any:
            if name == at:
                lake.halt()
            return _write(into, name, *args, **kw)

        monkeypatch.setattr(f"pipeline.runs.commit.{write}", halting)
    try:
        with pytest.raises(LakeError) as failure:
            run(settings, lake, Interval.day(DAY), "run-1")
        message = str(failure.value)
        assert message.startswith(f"could not write {uri}/{at}")
        assert f"(endpoint {own_s3.endpoint})" in message
        assert SECRET_KEY not in message and SECRET_KEY not in repr(failure.value.__cause__)
    finally:
        own_s3.start()
    monkeypatch.undo()
    plain = S3Lake(uri, own_s3.client(), own_s3.settings())
    # Readers see the day's articles whole or not at all: none when the store stopped before
    # the articles commit; all of them when it stopped after, while the state was saved
    # (the rerun brings the state up to the tables).
    assert committed(plain)["articles"].num_rows == (ARTICLES if at == "_state/" else 0)

    run(settings, plain, Interval.day(DAY), "run-2")
    assert_landed_once(plain)


# -- the process is killed just before its articles commit ----------------------------------

DIE_AT_ARTICLES = """
import os, signal, sys
from datetime import date
from pipeline.lake import state as state_module
from pipeline.lake import tables
from pipeline.lake.store import LocalLake
from pipeline.runs import commit
from pipeline.runs.daily import run
from pipeline.runs.ingest import Interval
from pipeline.settings import load_settings

def dying(write):
    def write_or_die(lake, name, *args, **kwargs):
        if name == "articles":
            os.kill(os.getpid(), signal.SIGKILL)
        return write(lake, name, *args, **kwargs)
    return write_or_die

commit.replace_day, commit.insert_new = dying(tables.replace_day), dying(tables.insert_new)
feeds, lake, settings, day = sys.argv[1:]
settings = load_settings(feeds=feeds, lake=lake, allow_private_network=True,
                         env={"NEWSFLOW_SETTINGS": settings})
run(settings, LocalLake(lake), Interval.day(date.fromisoformat(day)), "killed")
"""


def test_a_commit_killed_before_its_articles_commit_leaves_the_days_articles_whole(
    web: SampleWeb, settings: Settings, lake: LocalLake, tmp_path: Path
) -> None:
    # The day as first committed, from half of the feeds.
    everything = yaml.safe_load(settings.feeds_path.read_text())
    half = tmp_path / "half.yaml"
    half.write_text(yaml.safe_dump({"feeds": everything["feeds"][:6]}))
    run(Settings(**{**vars(settings), "feeds_path": half}), lake, Interval.day(DAY), "first")
    before = committed(lake)
    assert 0 < before["articles"].num_rows < ARTICLES

    # A rerun with every feed is killed (SIGKILL) as it is about to commit the articles.
    killed = subprocess.run(
        [sys.executable, "-c", DIE_AT_ARTICLES, str(settings.feeds_path), settings.lake,
         str(SAMPLE_SETTINGS), DT],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert history(lake, "articles")[0].run_id == "first"
    assert committed(lake)["articles"].equals(before["articles"])  # the day as it was

    run(settings, lake, Interval.day(DAY), "rerun")
    assert_landed_once(lake)


# -- state files: corrupt, or from another version ------------------------------------------


def _old_seen_index() -> bytes:
    import io

    import pyarrow.parquet as pq

    table = pa.table({"url_key": ["k"], "article_id": ["a"], "dt": [DT]})
    sink = io.BytesIO()
    pq.write_table(table.replace_schema_metadata({"newsflow.state_version": "0"}), sink)
    return sink.getvalue()


@pytest.mark.parametrize(
    ("key", "data", "problem"),
    [
        (SEEN_KEY, b"{not json", "unreadable seen index"),
        (f"_state/seen/dt={DT}.parquet", b"PAR1 not really parquet", "unreadable seen index"),
        (
            f"_state/seen/dt={DT}.parquet",
            _old_seen_index(),
            "a seen index of version 0, this version reads 1",
        ),
        (DEDUP_KEY, b"\x00" * 64, "unreadable dedup index"),
        (f"_state/dedup/dt={DT}.parquet", b"PAR1 not really parquet", "unreadable dedup index"),
        (STORIES_KEY, b"\x1f\x8b not gzip", "unreadable story index"),
    ],
    ids=[
        "seen-stamp-corrupt",
        "seen-day-corrupt",
        "seen-old-version",
        "dedup-corrupt",
        "dedup-day-corrupt",
        "stories-corrupt",
    ],
)
def test_an_unusable_state_file_is_rebuilt_from_the_tables(
    key: str,
    data: bytes,
    problem: str,
    web: SampleWeb,
    settings: Settings,
    lake: LocalLake,
    caplog: pytest.LogCaptureFixture,
) -> None:
    run(settings, lake, Interval.day(DAY), "first")
    before = committed(lake)
    lake.put(key, data)
    requests = len(web.requests)
    with caplog.at_level(logging.WARNING, logger="pipeline.lake.state"):
        run(settings, lake, Interval.day(DAY), "second")
    assert f"rebuilding the state of {lake.uri} from its tables: {lake.url(key)}: {problem}" in (
        caplog.text
    )
    after = committed(lake)
    for name in ("articles", "offtopic"):  # rejects say when each failure was seen again
        assert after[name].sort_by("url").equals(before[name].sort_by("url")), name
    assert_landed_once(lake)
    assert len(web.requests) > requests  # the feeds were polled as usual; nothing re-extracted


def test_a_state_lost_or_behind_its_tables_is_rebuilt_and_the_stories_go_on(
    web: SampleWeb, settings: Settings, lake: LocalLake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The state is a cache of the tables: lost whole, or older than the tables (a commit
    that died between its tables and its state), it is rebuilt from them, and the next
    day's articles join the stories they would have joined."""
    from pipeline.runs import commit as committing

    days = [DAY - timedelta(days=2), DAY - timedelta(days=1)]
    for day in days:
        run(settings, lake, Interval.day(day), f"run-{day}")
    for key in lake.list_keys("_state/"):
        if key != FEED_STATES_KEY:
            lake.delete(key)  # the indexes are gone; the feeds' validators stay

    def dies(*args: object) -> None:
        raise LakeError("could not write _state/seen.json: the object store went away")

    monkeypatch.setattr(committing, "save_state", dies)
    with pytest.raises(LakeError):
        run(settings, lake, Interval.day(DAY), "dies-before-its-state")
    monkeypatch.undo()
    landed = committed(lake)["articles"]
    assert landed.num_rows > 0  # the tables were committed; the state is behind them
    run(settings, lake, Interval.day(DAY), "after")
    assert committed(lake)["articles"].num_rows == landed.num_rows  # nothing landed twice
    ids = [a for day in [*days, DAY] for a in committed_ids(lake, day.isoformat())]
    assert len(ids) == len(set(ids))
    netflix = {
        day: {r["story_id"] for r in read_day(lake, "articles", day.isoformat(), ARTICLES_SCHEMA)
              .to_pylist() if "netflix" in r["url"]}
        for day in days
    }  # fmt: skip
    assert netflix[days[1]] and netflix[days[1]] == {
        r["story_id"] for r in landed.to_pylist() if "netflix" in r["url"]
    }


class CountingLake(LocalLake):
    """A local lake that records the keys it reads and writes."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.writes: list[str] = []
        self.reads: list[str] = []

    def put(self, key: str, data: bytes) -> None:
        self.writes.append(key)
        super().put(key, data)

    def get(self, key: str) -> bytes | None:
        self.reads.append(key)
        return super().get(key)


def test_a_run_reads_the_seen_index_of_the_days_its_items_need(
    web: SampleWeb, settings: Settings, tmp_path: Path
) -> None:
    """The seen index is a file a landing day: a day's batches and commit read the days
    their items may have landed on (the dedup window, for the undated), never the
    whole history, and the commit writes back its own day."""
    lake = CountingLake(tmp_path / "lake")
    run(settings, lake, Interval.day(DAY), "first")
    index = SeenIndex.open(lake)
    old_days = [(DAY - timedelta(days=n)).isoformat() for n in range(60, 400)]
    for day in old_days:  # a year of earlier landings, long before the window
        index.set_day(day, [(f"u-{day}-{i}", f"a-{day}-{i}") for i in range(20)])
    index.save(lake)
    lake.reads.clear()
    lake.writes.clear()
    summary = run(settings, lake, Interval.day(NEXT_DAY), "next")
    read = {key for key in lake.reads if key.startswith("_state/seen/")}
    assert read == {f"_state/seen/dt={DT}.parquet"}  # the one landing day near these items
    assert [key for key in lake.writes if key.startswith("_state/seen")] == [
        f"_state/seen/dt={NEXT_DAY.isoformat()}.parquet",
        SEEN_KEY,
    ]
    assert summary.commit.new_articles == 0  # every item landed on DT
    assert len(SeenIndex.load(lake).entries) == len(old_days) * 20 + ARTICLES + OFFTOPIC


def test_a_commit_writes_the_dedup_rows_of_its_own_day_alone(
    web: SampleWeb, settings: Settings, tmp_path: Path
) -> None:
    """The dedup index is kept a file a day: a commit reads the window's signatures and
    the other days' exact hashes, and writes back its day alone, whatever the history."""
    lake = CountingLake(tmp_path / "lake")
    writes = lake.writes
    days = [DAY - timedelta(days=2), DAY - timedelta(days=1), DAY]
    for day in days:
        writes.clear()
        run(settings, lake, Interval.day(day), f"run-{day}")
    assert [k for k in writes if k.startswith("_state/dedup")] == [
        f"_state/dedup/dt={DT}.parquet",
        f"_state/dedup/signatures/dt={DT}.parquet",
        DEDUP_KEY,
    ]
    assert len(lake.list_keys("_state/dedup/dt=")) == len(days)
    near = load_state(lake, window_days=1, around=DT).dedup  # the window: DT and the day before
    signed = {near.days[i] for i, digest in enumerate(near.digests) if digest is not None}
    assert signed == {days[1].isoformat(), DT} and len(set(near.days)) == len(days)
    lake.delete(f"_state/dedup/dt={days[0].isoformat()}.parquet")
    state = load_state(lake, around=DT)
    assert state.rebuilt and "a file of the dedup index went missing" in state.rebuilt


def test_an_unreadable_feed_state_is_reported_and_replaced(
    web: SampleWeb, settings: Settings, lake: LocalLake, caplog: pytest.LogCaptureFixture
) -> None:
    run(settings, lake, Interval.day(DAY), "first")
    feed = yaml.safe_load(settings.feeds_path.read_text())["feeds"][0]["url"]
    lake.put(FEED_STATES_KEY, b"{ not json")
    with caplog.at_level(logging.WARNING, logger="pipeline.lake.state"):
        run(settings, lake, Interval.day(DAY), "second")
    assert f"{lake.url(FEED_STATES_KEY)} is not a feed state file" in caplog.text
    assert load_feed_states(lake, [feed])[feed].validators.content_hash  # written afresh
    assert_landed_once(lake)


def test_feed_states_are_one_file_written_once_a_commit(
    web: SampleWeb, settings: Settings, tmp_path: Path
) -> None:
    """Every feed's state lives in ``_state/feeds.json``, written once by each commit
    however many feeds it polled; a feed's state kept by an earlier lake in a file of its
    own is still read, and folded into the one file."""
    lake = CountingLake(tmp_path / "lake")
    writes = lake.writes
    feeds = [f["url"] for f in yaml.safe_load(settings.feeds_path.read_text())["feeds"]]
    legacy = state_module._legacy_feed_state_key(feeds[0])
    lake.put(legacy, json.dumps({"feed_url": feeds[0], "etag": '"from-before"'}).encode())
    assert load_feed_states(lake, feeds[:1])[feeds[0]].validators.etag == '"from-before"'
    writes.clear()
    run(settings, lake, Interval.day(DAY), "first")
    assert len(feeds) > 10 and writes.count(FEED_STATES_KEY) == 1
    assert not [key for key in writes if key.startswith("_state/feeds/")]
    document = json.loads(lake.get(FEED_STATES_KEY) or b"")
    assert set(document["feeds"]) == set(feeds)


# -- two runs at once -----------------------------------------------------------------------


class SlowState(LocalLake):
    """A lake whose seen index takes half a second to read: slow storage, so that two
    commits started together overlap between reading the state and writing it back."""

    def get(self, key: str) -> bytes | None:
        data = super().get(key)
        if key == SEEN_KEY:
            time.sleep(0.5)
        return data


def test_two_commits_at_once_both_keep_their_state(
    web: SampleWeb, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two days committed at the same moment (a backfill beside the schedule, an inbox file
    beside both): each reads and writes the same state, so they take turns. The lease
    lasts a second here, far less than a commit on this slow storage: its holder renews
    it, so the waiting commit never takes it over mid-way."""
    monkeypatch.setattr("pipeline.lake.store.LEASE_TTL", 1.0)
    lake = SlowState(tmp_path / "slow-lake")
    everything = yaml.safe_load(settings.feeds_path.read_text())["feeds"]
    for number, (part, day) in enumerate([(everything[:6], DAY), (everything[6:], NEXT_DAY)]):
        feeds = tmp_path / f"feeds-{number}.yaml"
        feeds.write_text(yaml.safe_dump({"feeds": part}))
        own = Settings(**{**vars(settings), "feeds_path": feeds})
        for batch in plan_batches(load_feeds(feeds), own.batch_size):
            ingest_batch(batch, Interval.day(day), lake, own)
    start, errors = threading.Barrier(2), []

    def commit_day(day: date) -> None:
        start.wait()
        try:
            commit(Interval.day(day), lake, f"at-once-{day}")
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=commit_day, args=(day,)) for day in (DAY, NEXT_DAY)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert errors == []
    landed = {day: committed_ids(lake, day.isoformat()) for day in (DAY, NEXT_DAY)}
    assert landed[DAY] and landed[NEXT_DAY]
    seen = SeenIndex.load(lake).entries
    assert {a for a, (_, dt) in seen.items() if dt == DT} == landed[DAY]
    assert {a for a, (_, dt) in seen.items() if dt != DT} == landed[NEXT_DAY]
    assert lake.get(LEASE_KEY) is None


def committed_ids(lake: Lake, dt: str) -> set[str]:
    ids = read_day(lake, "articles", dt, ARTICLES_SCHEMA).column("article_id").to_pylist()
    ids += read_day(lake, "offtopic", dt, OFFTOPIC_SCHEMA).column("article_id").to_pylist()
    return set(ids)
