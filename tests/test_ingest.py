from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from pipeline.lake.archive import read_raw
from pipeline.lake.state import FEED_STATES_KEY, load_feed_states
from pipeline.lake.store import LocalLake
from pipeline.lake.tables import read_day
from pipeline.records import ARTICLES_SCHEMA, OFFTOPIC_SCHEMA, REJECTS_SCHEMA
from pipeline.runs.daily import RunSummary, run
from pipeline.runs.ingest import Interval, plan_batches
from pipeline.settings import Settings
from pipeline.sources.feeds import Feed, Validators, load_feeds
from pipeline.stages.monitor import EXTRACTION_SCHEMA
from sample.site import SampleWeb
from tests.conftest import DAY
from tests.httpserver import Reply, ScriptedServer
from tests.test_hazards import article

HAZARD_PAGE = article("Studios sign an AI dubbing deal with the actors' union")

DT = DAY.isoformat()


def run_day(settings: Settings, lake: LocalLake, day: date = DAY) -> RunSummary:
    return run(settings, lake, Interval.day(day), f"test__{day}")


def articles(lake: LocalLake, dt: str = DT) -> pa.Table:
    return read_day(lake, "articles", dt, ARTICLES_SCHEMA)


def expected_articles(web: SampleWeb, on_topic: bool = True) -> list[tuple[str, str]]:
    """(outlet name, title) of every sample article a reader should find: served, allowed,
    long enough, in a readable feed (a truncated feed loses its cut-off, oldest, item), and
    about AI in entertainment (or, with ``on_topic`` false, not about it)."""
    expected = []
    for outlet in web.outlets.values():
        listed = sorted(outlet["articles"], key=lambda a: str(a["published"]), reverse=True)
        if outlet["feed"]["format"] == "truncated":
            listed = listed[:-1]
        expected += [
            (outlet["name"], a["title"])
            for a in listed
            if a.get("status", 200) == 200 and a.get("on_topic", True) == on_topic
        ]
    return sorted(expected)


def titles(table: pa.Table) -> list[tuple[str, str]]:
    names, headlines = table.column("source_name").to_pylist(), table.column("title").to_pylist()
    return sorted(zip(names, headlines, strict=True))


def test_run_lands_every_good_article_and_records_every_failure(
    web: SampleWeb, settings: Settings, lake: LocalLake
) -> None:
    summary = run_day(settings, lake)
    table = articles(lake)
    assert titles(table) == expected_articles(web)
    assert len(set(table.column("article_id").to_pylist())) == table.num_rows
    # The rest is kept beside them, scored, with its text, for a later replay.
    offtopic = read_day(lake, "offtopic", DT, OFFTOPIC_SCHEMA)
    assert titles(offtopic) == expected_articles(web, on_topic=False)
    assert all(r["relevance"] < 0.5 and r["text"] for r in offtopic.to_pylist())
    assert summary.commit.offtopic == offtopic.num_rows

    rejects = read_day(lake, "rejects", DT, REJECTS_SCHEMA).to_pylist()
    found = {(r["stage"], r["reason"], r["url"]) for r in rejects}
    reel = web.base("reelpost")
    games = web.base("gamesdesk")
    assert ("feed", "http-500", web.feed_url("deadlinebeat")) in found
    assert ("feed", "malformed-feed", web.feed_url("pixelpress")) in found
    assert ("fetch", "http-404", f"{reel}/tv/2026/11/removed-story/") in found
    assert ("fetch", "robots", f"{games}/private/subscriber-briefing-ai-tools/") in found
    assert ("extract", "too-short", f"{reel}/tv/2026/11/video-interview-showrunner/") in found
    assert len(rejects) == 5
    assert all(r["detail"] and r["rejected_at"] for r in rejects)
    assert summary.total("feeds_failed") == 1 and summary.commit.articles == table.num_rows


def test_article_rows_carry_identity_lineage_and_story(
    web: SampleWeb, settings: Settings, lake: LocalLake
) -> None:
    run_day(settings, lake)
    original = next(
        r
        for r in articles(lake).to_pylist()
        if r["source_name"] == "TechBeat" and "Netflix" in r["title"]
    )
    assert "utm_source" in original["url"]
    assert original["canonical_url"] == web.article_url(
        "techbeat", "2026/11/22/netflix-goes-all-in-on-generative-ai"
    )
    assert original["feed_url"] == web.feed_url("techbeat")
    assert original["extractor"].startswith("trafilatura/")
    assert original["pipeline_version"]
    assert original["word_count"] > 200 and original["language"] == "en"
    assert original["story_id"] and original["duplicate_of"] is None
    assert original["relevance"] >= 0.5
    assert {"sector/tv-streaming", "use/vfx-de-aging"} <= set(original["topics"])
    named = {(e["name"], e["kind"]) for e in original["entities"]}
    assert {("Netflix", "organisation"), ("Ted Sarandos", "person")} <= named
    assert original["rights"] == {
        "ai_crawlers_disallowed": [],  # its robots.txt names no AI crawler
        "tdm_reserved": None,
        "tdm_policy": None,
        "tdm_source": None,
        "noai": False,
    }


def test_syndicated_copy_is_kept_as_its_own_outlets_article(
    web: SampleWeb, settings: Settings, lake: LocalLake
) -> None:
    run_day(settings, lake)
    copies = [r for r in articles(lake).to_pylist() if r["title"].startswith("Netflix goes all in")]
    assert {c["source_name"] for c in copies} == {"TechBeat", "The Reel Post"}
    assert len({c["article_id"] for c in copies}) == 2
    assert len({c["content_hash"] for c in copies}) == 1  # the same text: a duplicate to flag


def test_raw_ref_points_at_the_page_as_fetched(settings: Settings, lake: LocalLake) -> None:
    run_day(settings, lake)
    for row in articles(lake).to_pylist():
        record = read_raw(lake, row["raw_ref"])
        assert record.status == 200
        assert record.url.split("?")[0] == row["url"].split("?")[0]
        assert row["text"].split()[0].encode() in record.body


def test_rerun_of_the_same_day_lands_no_duplicate(settings: Settings, lake: LocalLake) -> None:
    run_day(settings, lake)
    first = articles(lake)
    run_day(settings, lake)
    second = articles(lake)
    assert second.num_rows == first.num_rows
    assert sorted(second.column("article_id").to_pylist()) == sorted(
        first.column("article_id").to_pylist()
    )
    assert not [k for k in lake.list_keys("_staging/")]


def test_second_poll_of_unchanged_feeds_gets_304_and_fetches_no_pages(
    web: SampleWeb, settings: Settings, lake: LocalLake
) -> None:
    run_day(settings, lake)
    web.requests.clear()
    summary = run_day(settings, lake)
    feed_paths = {o: web.outlets[o]["feed"]["path"] for o in web.outlets}
    for request in web.requests:
        assert request.path in (feed_paths[request.outlet], "/robots.txt"), request
    conditional = [r for r in web.requests if r.path == feed_paths[r.outlet] and r.status == 304]
    assert {r.outlet for r in conditional} >= {"techbeat", "screentrade", "soundbiz", "streamwire"}
    for request in conditional:
        assert "If-None-Match" in request.headers or "If-Modified-Since" in request.headers
    assert summary.total("pages_fetched") == 0 and summary.total("items_new") == 0


def test_articles_landed_on_an_earlier_day_are_not_fetched_or_landed_again(
    web: SampleWeb, settings: Settings, lake: LocalLake
) -> None:
    run_day(settings, lake)
    offtopic = read_day(lake, "offtopic", DT, OFFTOPIC_SCHEMA).cast(ARTICLES_SCHEMA)
    landed = pa.concat_tables([articles(lake), offtopic])  # off-topic pages count as seen
    lake.delete(FEED_STATES_KEY)  # as if every feed had changed overnight
    web.requests.clear()
    summary = run_day(settings, lake, date(2026, 11, 24))
    assert summary.total("items_already_landed") == landed.num_rows
    landed_paths = {"/" + u.split("/", 3)[3] for u in landed.column("canonical_url").to_pylist()}
    assert not [r for r in web.requests if r.path.split("?")[0] in landed_paths]
    # The three that failed on the earlier day (404, robots, too short) are tried again.
    assert summary.total("pages_fetched") + summary.total("pages_failed") == 3
    assert articles(lake, "2026-11-24").num_rows == 0
    assert articles(lake).num_rows > 0


def test_items_published_after_the_interval_wait_for_their_own_day(
    settings: Settings, lake: LocalLake
) -> None:
    summary = run_day(settings, lake, date(2026, 11, 22))
    published = articles(lake, "2026-11-22").column("published_at").to_pylist()
    assert published and all(p.date() <= date(2026, 11, 22) for p in published)
    assert summary.total("items_deferred") > 0
    # Feeds with deferred items keep no validators, so the next day sees the items again.
    later = run_day(settings, lake, DAY)
    later_dates = {p.date() for p in articles(lake).column("published_at").to_pylist()}
    assert date(2026, 11, 23) in later_dates
    assert later.total("items_already_landed") > 0


def test_batches_keep_each_host_together() -> None:
    feeds = [Feed(f"https://{host}.example/feed{n}", host) for host in "abcde" for n in range(3)]
    batches = plan_batches(feeds, batch_size=4)
    for batch in batches:
        hosts = {f.url.split("/")[2] for f in batch}
        for other in batches:
            if other is not batch:
                assert not hosts & {f.url.split("/")[2] for f in other}
    assert sorted(f.url for b in batches for f in b) == sorted(f.url for f in feeds)


def test_rights_signals_come_from_each_outlets_robots_and_tdm_declarations(
    web: SampleWeb, settings: Settings, lake: LocalLake
) -> None:
    run_day(settings, lake)
    offtopic = read_day(lake, "offtopic", DT, OFFTOPIC_SCHEMA).cast(ARTICLES_SCHEMA)
    rights: dict[str, set[str]] = {}
    for row in pa.concat_tables([articles(lake), offtopic]).to_pylist():
        r = row["rights"]
        crawlers = ",".join(r["ai_crawlers_disallowed"])
        tdm = f"{r['tdm_reserved']}/{r['tdm_source']}/{r['tdm_policy']}"
        rights.setdefault(row["source_name"], set()).add(f"{crawlers} {tdm} noai={r['noai']}")
    assert rights["Screen Trade Daily"] == {  # robots.txt and a tdm-reservation header
        "GPTBot,CCBot,Google-Extended True/header/https://screentrade.example/tdm/policy.json "
        "noai=False"
    }
    assert rights["Sound Business Weekly"] == {  # /.well-known/tdmrep.json
        " True/tdmrep/https://soundbiz.example/licensing/tdm.json noai=False"
    }
    assert rights["Rude Baguette"] == {" True/meta/None noai=True"}  # meta tags
    assert rights["CineDigital"] == {"GPTBot None/None/None noai=False"}
    assert rights["TechBeat"] == {" None/None/None noai=False"}
    # tdmrep.json is asked for once per outlet, like robots.txt.
    asked = [r.outlet for r in web.requests if r.path == "/.well-known/tdmrep.json"]
    assert sorted(asked) == sorted(set(asked))


def test_extraction_statistics_per_outlet_land_beside_the_articles(
    web: SampleWeb, settings: Settings, lake: LocalLake
) -> None:
    summary = run_day(settings, lake)
    rows = read_day(lake, "extraction", DT, EXTRACTION_SCHEMA).to_pylist()
    [row] = rows  # the sample outlets all live on 127.0.0.1, one domain
    assert row["source_domain"] == "127.0.0.1"
    assert row["pages"] == summary.total("pages_fetched")
    extract_rejects = [
        r for r in read_day(lake, "rejects", DT, REJECTS_SCHEMA).to_pylist()
        if r["stage"] == "extract"
    ]  # fmt: skip
    assert row["pages"] - row["articles"] == len(extract_rejects) == 1  # the video page
    assert row["median_words"] > 150 and row["title_share"] == 1 and row["language_share"] == 1
    assert row["alerts"] == []  # no history yet
    assert summary.commit.alerts == []


def test_a_pool_of_extracting_processes_lands_the_same_day(
    web: SampleWeb, settings: Settings, lake: LocalLake, tmp_path: Path, monkeypatch: Any
) -> None:
    import pipeline.runs.ingest

    inline = run_day(settings, lake)
    monkeypatch.setattr(pipeline.runs.ingest, "POOL_MIN_PAGES", 1)  # pool even for a few pages
    pooled_lake = LocalLake(tmp_path / "pooled")
    pooled = run_day(replace(settings, extract_workers=2), pooled_lake)
    assert titles(articles(pooled_lake)) == titles(articles(lake))
    assert pooled.commit.rejects == inline.commit.rejects


def test_a_page_that_failed_for_a_passing_reason_is_asked_for_again_next_run(
    server: ScriptedServer, settings: Settings, tmp_path: Path
) -> None:
    """The feed's validators are kept only when none of its pages failed for a reason that
    may pass (a 5xx, a timeout): otherwise the next poll would get a 304 and the page
    would never be asked for again."""
    when = "Mon, 23 Nov 2026 12:00:00 +0000"
    feed = (f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item>'
            f"<title>AI dubbing deal</title><link>{server.url('/a')}</link>"
            f"<pubDate>{when}</pubDate></item></channel></rss>").encode()  # fmt: skip

    def conditional(handler: Any) -> Reply:
        if handler.headers.get("If-None-Match") == '"v1"':
            return Reply(304)
        return Reply(200, feed, {"Content-Type": "application/rss+xml", "ETag": '"v1"'})

    server.routes["/feed.xml"] = conditional
    server.route(
        "/a", Reply(503), Reply(503), Reply(200, HAZARD_PAGE, {"Content-Type": "text/html"})
    )
    feeds = tmp_path / "one.yaml"
    feeds.write_text(f"feeds:\n  - url: {server.url('/feed.xml')}\n")
    settings = replace(settings, feeds_path=feeds)
    lake = LocalLake(settings.lake)
    first = run_day(settings, lake)
    assert first.commit.rejects_by_reason == {"http-503": 1} and first.commit.articles == 0
    second = run_day(settings, lake)
    assert second.total("feeds_ok") == 1 and second.commit.articles == 1
    third = run_day(settings, lake)  # now the validators are kept
    assert third.total("feeds_not_modified") == 1


def test_an_unexpected_error_on_one_page_is_its_reject_and_the_day_commits(
    web: SampleWeb, settings: Settings, lake: LocalLake, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.runs import ingest

    victim = web.outlets["techbeat"]["articles"][0]

    def extract(page: bytes, url: str, *args: Any) -> Any:
        if victim["slug"] in url:
            raise RuntimeError("a parser crashed")
        return real_extract(page, url, *args)

    real_extract = ingest.extract  # type: ignore[attr-defined]
    monkeypatch.setattr(ingest, "extract", extract)
    summary = run_day(settings, lake)
    rejects = read_day(lake, "rejects", DT, REJECTS_SCHEMA).to_pylist()
    (crashed,) = [r for r in rejects if r["reason"] == "internal-error"]
    assert victim["slug"] in crashed["url"] and crashed["stage"] == "extract"
    assert crashed["detail"] == "RuntimeError: a parser crashed"
    others = [a for a in expected_articles(web) if a != ("TechBeat", victim["title"])]
    assert titles(articles(lake)) == others and summary.commit.articles == len(others)


def test_a_batch_that_fails_is_recorded_and_the_rest_of_the_day_commits(
    web: SampleWeb, settings: Settings, lake: LocalLake, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.runs import daily

    real_batch = daily.ingest_batch  # type: ignore[attr-defined]
    feeds = load_feeds(settings.feeds_path)
    failing = {f.url for f in plan_batches(feeds, settings.batch_size)[0]}

    def ingest_batch(batch: list[Feed], *args: Any, **kwargs: Any) -> Any:
        if {f.url for f in batch} == failing:
            raise OSError("the worker lost its disk")
        return real_batch(batch, *args, **kwargs)

    monkeypatch.setattr(daily, "ingest_batch", ingest_batch)
    summary = run_day(settings, lake)
    assert len(summary.commit.missing_batches) == 1 and summary.commit.articles > 0
    rejects = read_day(lake, "rejects", DT, REJECTS_SCHEMA).to_pylist()
    assert {r["url"] for r in rejects if r["reason"] == "batch-failed"} == failing
    monkeypatch.setattr(daily, "ingest_batch", real_batch)  # the task, cleared and run again
    again = run_day(settings, lake)
    assert again.commit.missing_batches == []
    rejects = read_day(lake, "rejects", DT, REJECTS_SCHEMA).to_pylist()
    assert not [r for r in rejects if r["reason"] == "batch-failed"]
    assert titles(articles(lake)) == expected_articles(web)


def test_feed_validators_are_kept_only_from_polls_made_after_the_day_was_over(
    settings: Settings, lake: LocalLake
) -> None:
    today = datetime.now(UTC).date()
    run(settings, lake, Interval.day(today), "test__today")
    feeds = load_feeds(settings.feeds_path)
    urls = [f.url for f in feeds]
    assert all(s.validators == Validators() for s in load_feed_states(lake, urls).values())
    run_day(settings, lake)  # a past day: its feeds' validators are kept
    assert any(s.validators.etag for s in load_feed_states(lake, urls).values())


def test_a_same_day_rerun_never_overwrites_a_page_a_row_points_at(
    server: ScriptedServer, settings: Settings, tmp_path: Path
) -> None:
    """The second run of a day fetches changed pages and fails on one: every committed
    row's raw_ref still opens that row's own page, checked against its digest."""

    def feed(version: int) -> bytes:
        items = "".join(
            f"<item><title>Story {n} v{version}</title><link>{server.url(f'/{n}')}</link>"
            "<pubDate>Mon, 23 Nov 2026 12:00:00 +0000</pubDate></item>"
            for n in (1, 2)
        )
        return f'<rss version="2.0"><channel><title>t</title>{items}</channel></rss>'.encode()

    def page(n: int, version: int) -> bytes:
        return HAZARD_PAGE.replace(b"AI dubbing deal", f"AI deal {n}, take {version}".encode())

    xml, html = {"Content-Type": "application/rss+xml"}, {"Content-Type": "text/html"}
    server.route("/feed.xml", Reply(200, feed(1), xml), Reply(200, feed(2), xml))
    server.route("/1", Reply(200, page(1, 1), html), Reply(404))  # gone on the rerun
    server.route("/2", Reply(200, page(2, 1), html), Reply(200, page(2, 2), html))
    feeds = tmp_path / "one.yaml"
    feeds.write_text(f"feeds:\n  - url: {server.url('/feed.xml')}\n")
    settings = replace(settings, feeds_path=feeds)
    lake = LocalLake(settings.lake)
    run_day(settings, lake)
    run_day(settings, lake)
    rows = articles(lake).to_pylist()
    assert {row["url"] for row in rows} == {server.url("/1"), server.url("/2")}
    for row in rows:
        record = read_raw(lake, row["raw_ref"])  # raises if the digest does not match
        assert record.url == row["url"] and row["title"].encode() in record.body
    # A rerun adds only what is new: /2's row stays as it first landed, its page where it was.
    assert "take 1" in next(r["title"] for r in rows if r["url"].endswith("/2"))
    assert len(lake.list_keys(f"raw/dt={DT}/")) == 2  # one file per run, neither rewritten
    forged = rows[0]["raw_ref"].rsplit(":", 1)[0] + ":0123456789abcdef"
    with pytest.raises(ValueError, match="not the page this row was made from"):
        read_raw(lake, forged)
