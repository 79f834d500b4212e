"""``newsflow status``, ``stories`` and ``quality``: the lake at a glance, and the DAGs'
day builds by hand."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from pipeline.cli import main
from pipeline.lake.state import FEED_STATES_KEY, STATE_VERSION
from pipeline.lake.store import LocalLake, create_lake, put_json
from pipeline.lake.tables import history
from pipeline.sources.feeds import load_feeds
from pipeline.status import gaps
from sample.site import SampleWeb
from tests.conftest import DAY, SAMPLE_SETTINGS

DT = DAY.isoformat()


def test_gaps_are_the_days_between_the_first_and_last_without_a_commit() -> None:
    assert gaps([]) == [] and gaps([DT]) == []
    assert gaps(["2026-02-27", "2026-03-02", "2026-03-03"]) == ["2026-02-28", "2026-03-01"]


def test_status_tells_days_tables_state_stories_and_failing_feeds(
    landed_day: LocalLake, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "--lake", landed_day.uri]) == 0
    out = capsys.readouterr().out
    assert f"days committed   1 ({DT} .. {DT})" in out and "gaps             0" in out
    for table in ("articles", "offtopic", "rejects", "extraction", "stories", "story_days",
                  "quality"):  # fmt: skip
        assert f"    {table:<14}version 0, 1 day" in out
    assert "open stories     10" in out
    assert "failing feeds    2 on the last day" in out and "http-500: server answered 500" in out
    assert "retired feeds    0" in out and " files" in out


def test_status_names_retired_feeds_and_a_lake_with_nothing_yet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = LocalLake(tmp_path / "lake")
    create_lake(lake)
    entry = {"gone": 3, "retired_at": "2026-11-20T06:00:00+00:00"}
    put_json(lake, FEED_STATES_KEY, {"version": STATE_VERSION,
                                     "feeds": {"https://gone.example/rss": entry}})  # fmt: skip
    assert main(["status", "--lake", lake.uri]) == 0
    out = capsys.readouterr().out
    assert "days committed   0 (none yet)" in out and "articles      not written yet" in out
    assert "retired feeds    1\n    https://gone.example/rss  since 2026-11-20" in out


def test_stories_and_quality_build_a_committed_day_again_and_refuse_another(
    landed_day: LocalLake, capsys: pytest.CaptureFixture[str]
) -> None:
    stories = len(history(landed_day, "stories"))
    assert main(["stories", "--lake", landed_day.uri, "--date", DT]) == 0
    assert "stories          10 gained articles" in capsys.readouterr().out
    assert len(history(landed_day, "stories")) == stories + 1
    assert main(["quality", "--lake", landed_day.uri, "--date", DT]) == 0
    out = capsys.readouterr().out
    assert "articles         14 from 11 outlets (1 duplicate, 5 off-topic)" in out
    assert "rejects          5 (http-404 1, http-500 1, malformed-feed 1, robots 1" in out
    assert main(["quality", "--lake", landed_day.uri, "--date", "2026-11-20"]) == 2
    assert "2026-11-20 has not been committed" in capsys.readouterr().err


def test_feeds_check_polls_each_feed_once_and_lands_nothing(
    web: SampleWeb,
    feeds_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("NEWSFLOW_SETTINGS", str(SAMPLE_SETTINGS))
    monkeypatch.chdir(tmp_path)  # where a lake would be made by default
    args = ["feeds", "check", "--feeds", str(feeds_file), "--allow-private-network"]
    assert main(args) == 1  # one feed answers 500
    out = capsys.readouterr().out
    assert out.count("\nok     ") + out.startswith("ok     ") == 11
    assert "failed " in out and "http-500: server answered 500" in out
    assert "turns away GPTBot, CCBot, Google-Extended" in out  # Screen Trade Daily's robots.txt
    assert "1 entries without a usable link" in out  # the truncated feed, still read
    assert "newsflow feeds check: 11 of 12 feeds answered" in out
    assert [p.name for p in tmp_path.iterdir()] == ["feeds.yaml"]  # no lake made
    feed_paths = {urlsplit(f.url).path for f in load_feeds(feeds_file)}
    assert {r.path for r in web.requests} <= feed_paths | {"/robots.txt"}  # no article read
