from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from pipeline.lake.store import Lake, open_lake, put_json, table_to_parquet
from pipeline.lake.tables import read_day
from pipeline.records import ARTICLES_SCHEMA, REJECTS_SCHEMA, STORIES_SCHEMA, to_table
from pipeline.runs.commit import build_stories, commit
from pipeline.runs.ingest import Interval, _staging
from pipeline.stages.dedup import DedupIndex
from pipeline.stages.stories import StoryDoc, StoryIndex, dominant, group
from sample.s3server import SeaweedS3

NETFLIX_TECHBEAT = (
    "Netflix goes all in on generative AI",
    "Netflix told investors that generative AI is now used across its productions. Co-CEO Ted "
    "Sarandos pointed to the Argentine series El Eternauta, where a building collapse in Buenos "
    "Aires was made with generative video ten times faster than with traditional effects. "
    "Netflix also uses the tools for pre-visualisation and is testing AI-generated ads.",
)
NETFLIX_SCREENTRADE = (
    "Netflix expands generative AI use, citing El Eternauta VFX savings",
    "Ted Sarandos said the El Eternauta sequence showing a Buenos Aires building collapse was "
    "finished ten times faster with generative video. Netflix will use generative AI in "
    "pre-visualisation and shot planning across its films and series, the streamer said on its "
    "earnings call, and is developing AI search and ad formats.",
)
NETFLIX_FOLLOW_UP = (
    "Netflix's generative AI push after El Eternauta worries VFX artists",
    "A day after Netflix said generative video finished an El Eternauta sequence ten times "
    "faster, visual effects artists warned that Sarandos's plans for generative AI in every "
    "production could cut jobs, and asked Netflix to commit to retraining programmes.",
)
LIONSGATE_DEAL = (
    "Lionsgate signs deal with Runway to train an AI model on its film library",
    "Lionsgate has signed a partnership with the video-generation company Runway, which will "
    "train a custom model on the studio's catalogue of more than 20,000 film and television "
    "titles. Lionsgate filmmakers will use the model for storyboarding and pre-production.",
)
DISNEY_DEAL = (
    "Disney strikes licensing deal with OpenAI to bring its characters to Sora",
    "Disney will license more than 200 characters from Marvel, Pixar and Star Wars to OpenAI's "
    "Sora video app under a three-year agreement, and will invest one billion dollars in the AI "
    "company. Fans will be able to make short videos featuring the characters.",
)


def doc(doc_id: str, story: tuple[str, str], day: int, hour: int, source: str) -> StoryDoc:
    when = datetime(2026, 11, day, hour, tzinfo=UTC)
    return StoryDoc(id=doc_id, title=story[0], text=story[1], published_at=when, source=source)


def assign(docs: list[StoryDoc], dedup: DedupIndex | None = None, index: StoryIndex | None = None):  # type: ignore[no-untyped-def]
    index = index or StoryIndex()
    results = {d.id: (s, dup) for d, s, dup in group(docs, dedup or DedupIndex(), index)}
    return results, index


def test_two_outlets_on_one_event_share_a_story_but_are_not_duplicates() -> None:
    results, _ = assign(
        [
            doc("tb", NETFLIX_TECHBEAT, 22, 15, "TechBeat"),
            doc("st", NETFLIX_SCREENTRADE, 22, 21, "Screen Trade Daily"),
        ]
    )
    assert results["tb"][0] == results["st"][0]
    assert results["tb"][1] is None and results["st"][1] is None


def test_look_alike_events_get_different_stories() -> None:
    results, _ = assign(
        [
            doc("lionsgate", LIONSGATE_DEAL, 22, 9, "TechBeat"),
            doc("disney", DISNEY_DEAL, 22, 12, "Screen Trade Daily"),
            doc("netflix", NETFLIX_TECHBEAT, 22, 15, "TechBeat"),
        ]
    )
    assert len({story for story, _ in results.values()}) == 3


def test_a_repost_is_a_duplicate_in_its_originals_story() -> None:
    results, _ = assign(
        [
            doc("original", NETFLIX_TECHBEAT, 22, 15, "TechBeat"),
            doc("repost", NETFLIX_TECHBEAT, 22, 19, "The Reel Post"),
        ]
    )
    assert results["repost"] == (results["original"][0], "original")


def test_story_ids_are_stable_and_named_after_the_first_article() -> None:
    first, _ = assign([doc("tb", NETFLIX_TECHBEAT, 22, 15, "TechBeat")])
    again, _ = assign([doc("tb", NETFLIX_TECHBEAT, 22, 15, "TechBeat")])
    assert first["tb"][0] == again["tb"][0]


def test_index_round_trip_keeps_stories_open() -> None:
    _, index = assign([doc("tb", NETFLIX_TECHBEAT, 22, 15, "TechBeat")])
    reloaded = StoryIndex.from_bytes(index.to_bytes(), "test")
    results, _ = assign([doc("fu", NETFLIX_FOLLOW_UP, 23, 9, "StreamWire")], index=reloaded)
    assert results["fu"][0] == index.story_of["tb"]


def test_closed_stories_take_no_new_articles() -> None:
    first, index = assign([doc("tb", NETFLIX_TECHBEAT, 1, 15, "TechBeat")])
    late = doc("late", NETFLIX_FOLLOW_UP, 20, 9, "StreamWire")  # 19 days later
    results, _ = assign([late], index=index)
    assert results["late"][0] != first["tb"][0]


# -- across runs, through the lake ----------------------------------------------------


def _article(
    article_id: str, story: tuple[str, str], day: int, hour: int, source: str
) -> dict[str, Any]:
    when = datetime(2026, 11, day, hour, tzinfo=UTC)
    return {
        "article_id": article_id, "url": f"https://{source}.example/{article_id}",
        "canonical_url": f"https://{source}.example/{article_id}",
        "source_domain": f"{source}.example",
        "source_name": source, "feed_url": None, "title": story[0], "authors": [],
        "published_at": when, "fetched_at": when, "language": "en", "text": story[1],
        "summary": None, "image": None, "word_count": len(story[1].split()), "content_hash": "x",
        "raw_ref": None, "extractor": "test", "pipeline_version": "test",
    }  # fmt: skip


def _commit_day(lake: Lake, day: date, rows: list[dict[str, Any]]) -> None:
    dt = day.isoformat()
    lake.put(
        _staging(dt, "batch", "articles.parquet"), table_to_parquet(to_table(rows, ARTICLES_SCHEMA))
    )
    lake.put(
        _staging(dt, "batch", "rejects.parquet"), table_to_parquet(to_table([], REJECTS_SCHEMA))
    )
    put_json(
        lake,
        _staging(dt, "batch", "feeds.json"),
        {"polled_at": f"{dt}T00:00:00+00:00", "feeds": {}, "report": {}},
    )
    commit(Interval.day(day), lake, f"test__{dt}")
    build_stories(lake, dt, f"test__{dt}")


def test_follow_up_on_day_two_joins_day_ones_story_across_runs_on_s3(
    s3: SeaweedS3, bucket: str
) -> None:
    day1, day2 = date(2026, 11, 22), date(2026, 11, 23)
    _commit_day(
        open_lake(f"s3://{bucket}/news", s3.settings()),
        day1,
        [
            _article("tb", NETFLIX_TECHBEAT, 22, 15, "TechBeat"),
            _article("st", NETFLIX_SCREENTRADE, 22, 21, "Screen Trade Daily"),
            _article("copy", NETFLIX_TECHBEAT, 22, 19, "The Reel Post"),
            _article("lionsgate", LIONSGATE_DEAL, 22, 9, "GamesDesk"),
        ],
    )
    lake = open_lake(f"s3://{bucket}/news", s3.settings())  # a new run: state from S3
    _commit_day(lake, day2, [_article("fu", NETFLIX_FOLLOW_UP, 23, 9, "StreamWire")])

    first = {
        r["article_id"]: r
        for r in read_day(lake, "articles", "2026-11-22", ARTICLES_SCHEMA).to_pylist()
    }
    second = read_day(lake, "articles", "2026-11-23", ARTICLES_SCHEMA).to_pylist()
    netflix_story = first["tb"]["story_id"]
    assert first["st"]["story_id"] == netflix_story and first["st"]["duplicate_of"] is None
    assert first["copy"]["story_id"] == netflix_story and first["copy"]["duplicate_of"] == "tb"
    assert first["lionsgate"]["story_id"] != netflix_story
    assert second[0]["story_id"] == netflix_story

    [story] = [
        s
        for s in read_day(lake, "stories", "2026-11-23", STORIES_SCHEMA).to_pylist()
        if s["story_id"] == netflix_story
    ]
    assert story["article_count"] == 4 and story["articles_today"] == 1
    assert story["first_reported_by"]["article_id"] == "tb"
    assert story["first_reported_by"]["source_name"] == "TechBeat"
    assert story["outlets"][0] == "TechBeat" or set(story["outlets"]) == {
        "TechBeat",
        "Screen Trade Daily",
        "The Reel Post",
        "StreamWire",
    }
    assert story["headline"] == NETFLIX_TECHBEAT[0]
    assert {"sector/tv-streaming", "stakeholder/studios-streamers"} <= set(story["topics"])
    assert story["stakeholders"][0] == "Netflix"

    # Rerunning day 2 changes nothing.
    before_articles = read_day(lake, "articles", "2026-11-23", ARTICLES_SCHEMA)
    before_stories = read_day(lake, "stories", "2026-11-23", STORIES_SCHEMA)
    _commit_day(lake, day2, [_article("fu", NETFLIX_FOLLOW_UP, 23, 9, "StreamWire")])
    after_articles = read_day(lake, "articles", "2026-11-23", ARTICLES_SCHEMA)
    assert after_articles.drop_columns(["fetched_at"]).equals(
        before_articles.drop_columns(["fetched_at"])
    )
    assert read_day(lake, "stories", "2026-11-23", STORIES_SCHEMA).equals(before_stories)


def headline(doc_id: str, title: str, day: int, hour: int, source: str) -> StoryDoc:
    return StoryDoc(
        id=doc_id,
        title=title,
        text=None,
        published_at=datetime(2026, 11, day, hour, tzinfo=UTC),
        source=source,
    )


def test_a_quiet_story_needs_more_than_shared_words_from_a_headline() -> None:
    results, _ = assign(
        [
            headline("mon1", "Stocks close lower as streaming shares slide", 23, 21, "Wire"),
            headline("mon2", "Streaming shares drag stocks lower at the close", 23, 21, "Desk"),
            headline("tue", "Stocks close lower as chip shares slide", 24, 21, "Wire"),
        ]
    )
    assert results["mon1"][0] == results["mon2"][0]  # the same evening: one story
    assert results["tue"][0] != results["mon1"][0]  # the next evening's report is its own


def test_a_storys_topics_and_stakeholders_are_what_most_of_its_articles_have() -> None:
    per_article = [["film", "jobs", "music"], ["jobs", "film"], ["jobs"], ["games"]]
    assert dominant(per_article, 5) == ["jobs", "film"]
    assert dominant(per_article, 1) == ["jobs"]
    assert dominant([["Netflix", "SAG-AFTRA", "Netflix"]], 5) == ["Netflix", "SAG-AFTRA"]


def test_the_vocabulary_stops_growing_with_the_history() -> None:
    from pipeline.stages.stories import StoryParams

    index = StoryIndex(StoryParams(max_terms=60))
    for n in range(40):  # every article brings words no other has
        words = " ".join(f"word{n}x{k}" for k in range(12))
        index.assign(StoryDoc(f"a{n}", f"Headline {n}", words,
                              datetime(2026, 11, 1, n % 24, tzinfo=UTC)))  # fmt: skip
    assert len(index.df) > 60
    index.close_stale(datetime(2026, 11, 2, tzinfo=UTC))
    assert len(index.df) <= 60
