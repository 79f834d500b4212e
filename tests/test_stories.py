from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.lake.store import Lake, LocalLake, open_lake, put_json, table_to_parquet
from pipeline.lake.tables import read_day, read_where, replace_day
from pipeline.records import (
    ARTICLES_SCHEMA,
    REJECTS_SCHEMA,
    STORIES_SCHEMA,
    STORY_DAYS_SCHEMA,
    to_table,
)
from pipeline.runs.commit import STORY_LOOKBACK_DAYS, build_stories, commit
from pipeline.runs.ingest import Interval, _staging
from pipeline.stages.dedup import DedupIndex
from pipeline.stages.stories import StoryDoc, StoryIndex, advance_story, dominant, group
from pipeline.stages.text import Term, weighted_terms
from sample.s3server import SeaweedS3

DT = pa.field("dt", pa.string())

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


def weights_of(terms: list[Term]) -> dict[str, float]:
    return {t.stem: t.weight for t in terms}


def test_a_curly_apostrophe_is_an_apostrophe_and_days_are_not_names() -> None:
    sentence = "The deal was signed on Tuesday in Europe’s capital."
    curly = weights_of(weighted_terms(sentence, "en", 3.0))
    straight = weights_of(weighted_terms(sentence.replace("’", "'"), "en", 3.0))
    assert curly == straight
    assert curly["tuesday"] == 1.0 and curly["europ"] == 3.0


def test_a_sentences_first_word_opens_as_a_name_if_the_text_never_writes_it_small() -> None:
    terms = {
        t.stem: t for t in weighted_terms("Netflix said. Studios said no to studios.", "en", 3.0)
    }
    assert terms["netflix"].opener and terms["netflix"].weight == 1.0  # never written small
    assert not terms["studio"].opener  # "studios" is written small too
    german = {
        t.stem: t for t in weighted_terms("Synchronsprecher warnen. Sie streiken.", "de", 3.0)
    }
    assert not german["synchronsprech"].opener  # in German every noun has a capital


def test_german_nouns_after_an_article_or_adjective_are_not_names() -> None:
    sentence = "Wie Katrin Albers am Montag sagte, haben sie sich in München auf einen neuen "
    sentence += "Tarifvertrag geeinigt, der ab sofort gilt."
    weights = weights_of(weighted_terms(sentence, "de", 3.0))
    assert weights["katrin"] == weights["munch"] == 3.0  # a person, a city
    assert weights["tarifvertrag"] == 1.0  # after "einen neuen"
    assert weights_of(weighted_terms(sentence, "en", 3.0))["tarifvertrag"] == 3.0
    sentence = "Laut Polizei ermittelt sie, sagte Müller, der gegen Lufthansa klagt."
    weights = weights_of(weighted_terms(sentence, "de", 3.0))
    assert weights["mull"] == weights["lufthansa"] == 3.0  # after a verb, a preposition


def test_look_alike_events_get_different_stories() -> None:
    results, _ = assign(
        [
            doc("lionsgate", LIONSGATE_DEAL, 22, 9, "TechBeat"),
            doc("disney", DISNEY_DEAL, 22, 12, "Screen Trade Daily"),
            doc("netflix", NETFLIX_TECHBEAT, 22, 15, "TechBeat"),
        ]
    )
    assert len({story for story, _ in results.values()}) == 3


BENCH_DATA = Path(__file__).resolve().parent.parent / "bench" / "data"


def lookalike_stream(
    languages: set[str], name: str = "lookalike_events.jsonl", bursts: bool = True
) -> list[tuple[StoryDoc, str, str]]:
    """The articles in ``languages`` of a look-alike stress set: pairs of different events
    of one kind (two guild votes, two storms). In ``bursts`` each pair's two events break
    within a day of each other, an event's first two reports within 12 hours and its
    follow-up, with new details, a day or two later; otherwise each article comes at a
    random time of 20 days. Gives (doc, event, role) in publication order."""
    rng = random.Random(1)
    path = BENCH_DATA / name
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    items = [i for i in items if i["language"] in languages]
    start = datetime(2026, 3, 1, tzinfo=UTC)
    pair_day = {i["pair"]: timedelta(days=rng.uniform(0, 18)) for i in items}
    breaks = {i["event"]: start + pair_day[i["pair"]] + timedelta(hours=rng.uniform(0, 24))
              for i in items}  # fmt: skip
    after = {"first": (0, 0), "second": (0, 12), "follow-up": (24, 48)}
    stream = []
    for i in items:
        if bursts:
            at = breaks[i["event"]] + timedelta(hours=rng.uniform(*after[i["role"]]))
        else:
            at = start + timedelta(hours=rng.uniform(0, 20 * 24))
        doc = StoryDoc(id=f"{i['event']}/{i['role']}", title=i["title"], text=i["text"],
                       published_at=at, source=i["outlet"], language=i["language"])  # fmt: skip
        stream.append((doc, i["event"], i["role"]))
    return sorted(stream, key=lambda s: s[0].published_at or start)


def story_of_each(stream: list[tuple[StoryDoc, str, str]]) -> dict[str, str]:
    """The story each article of ``stream`` ends in."""
    index = StoryIndex()
    assigned = {d.id: s for d, s, _ in group([d for d, _, _ in stream], DedupIndex(), index)}
    return {d.id: index.final(d.id, assigned[d.id]) for d, _, _ in stream}


def test_look_alike_events_in_three_languages_stay_apart_and_follow_ups_join() -> None:
    stream = lookalike_stream({"en", "fr", "de"})
    story = story_of_each(stream)
    for language in ("en", "fr", "de"):
        events: dict[str, set[str]] = {}
        for d, event, _ in stream:
            if d.language == language:
                events.setdefault(story[d.id], set()).add(event)
        pairs = len({event for d, event, _ in stream if d.language == language}) // 2
        mixed = [events_ for events_ in events.values() if len(events_) > 1]
        # Without the checks on names 13 of the 28 English pairs, 2 of the 4 French and 3
        # of the 4 German ones end in one story; with them, 1 English pair does.
        assert len(mixed) <= 0.15 * pairs, (language, mixed)
    first = {event: story[d.id] for d, event, role in stream if role == "first"}
    follow_ups = [(story[d.id], first[event]) for d, event, role in stream if role == "follow-up"]
    joined = sum(1 for mine, theirs in follow_ups if mine == theirs)
    assert joined >= 0.95 * len(follow_ups), (joined, len(follow_ups))


def test_long_look_alikes_that_name_each_other_stay_apart_in_random_order() -> None:
    """Full-length reports whose look-alikes share a background (the other phone maker
    named as a rival, the same union, the same weather service), in English, German and
    Spanish, each at a random time of 20 days: time tells nothing, the names of the
    headline and lead keep the events apart, and an event's reports weeks apart still
    find each other."""
    stream = lookalike_stream({"en", "de", "es"}, "lookalike_events_long.jsonl", bursts=False)
    story = story_of_each(stream)
    events: dict[str, set[str]] = {}
    for d, event, _ in stream:
        events.setdefault(story[d.id], set()).add(event)
    mixed = [e for e in events.values() if len(e) > 1]
    # Without the check on the leads' names 6 stories mix two events of the 12 pairs; with
    # it 2, among them two festivals whose names end in "Film Festival".
    assert len(mixed) <= 2, mixed
    whole = sum(1 for event in {e for _, e, _ in stream}
                if len({story[d.id] for d, e, _ in stream if e == event}) == 1)  # fmt: skip
    assert whole >= 22, whole  # of 24; with a story closed after a quiet week, 12


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
    story = index.story_of["tb"]
    assert reloaded.stories[story].core == index.stories[story].core != set()  # leads' names
    results, _ = assign([doc("fu", NETFLIX_FOLLOW_UP, 23, 9, "StreamWire")], index=reloaded)
    assert results["fu"][0] == index.story_of["tb"]


def test_a_follow_up_weeks_later_joins_a_story_still_open() -> None:
    first, index = assign([doc("tb", NETFLIX_TECHBEAT, 1, 15, "TechBeat")])
    later = doc("later", NETFLIX_FOLLOW_UP, 16, 9, "StreamWire")  # 15 quiet days later
    results, _ = assign([later], index=index)
    assert results["later"][0] == first["tb"][0]


def test_closed_stories_take_no_new_articles() -> None:
    first, index = assign([doc("tb", NETFLIX_TECHBEAT, 1, 15, "TechBeat")])
    late = doc("late", NETFLIX_FOLLOW_UP, 24, 9, "StreamWire")  # 23 days later
    results, _ = assign([late], index=index)
    assert results["late"][0] != first["tb"][0]


# -- across runs, through the lake ----------------------------------------------------


def _article(
    article_id: str, story: tuple[str, str], day: int, hour: int, source: str
) -> dict[str, Any]:
    return _published(article_id, story, datetime(2026, 11, day, hour, tzinfo=UTC), source)


def _published(
    article_id: str, story: tuple[str, str], when: datetime, source: str
) -> dict[str, Any]:
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

    # The story's current row moved to the last day it gained articles.
    assert netflix_story not in stories_of(lake, "2026-11-22")
    story = stories_of(lake, "2026-11-23")[netflix_story]
    [today] = [r for r in story_days_of(lake, "2026-11-23") if r["story_id"] == netflix_story]
    assert story["article_count"] == 4 and today["articles_today"] == 1
    assert today["article_ids"] == ["fu"] and story["original_count"] == 3
    assert story["first_reported_by"]["article_id"] == "tb"
    assert story["first_reported_by"]["source_name"] == "TechBeat"
    assert story["first_reported_at"] == datetime(2026, 11, 22, 15, tzinfo=UTC)
    assert set(story["outlets"]) == {
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
    schemas = {"stories": STORIES_SCHEMA.append(DT), "story_days": STORY_DAYS_SCHEMA.append(DT)}
    before = {name: read_where(lake, name, schema).sort_by("story_id")
              for name, schema in schemas.items()}  # fmt: skip
    _commit_day(lake, day2, [_article("fu", NETFLIX_FOLLOW_UP, 23, 9, "StreamWire")])
    after_articles = read_day(lake, "articles", "2026-11-23", ARTICLES_SCHEMA)
    assert after_articles.drop_columns(["fetched_at"]).equals(
        before_articles.drop_columns(["fetched_at"])
    )
    for name, rows in before.items():
        assert read_where(lake, name, schemas[name]).sort_by("story_id").equals(rows)


def stories_of(lake: Lake, dt: str) -> dict[str, dict[str, Any]]:
    return {s["story_id"]: s for s in read_day(lake, "stories", dt, STORIES_SCHEMA).to_pylist()}


def story_days_of(lake: Lake, dt: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = read_day(lake, "story_days", dt, STORY_DAYS_SCHEMA).to_pylist()
    return rows


def test_a_story_of_any_length_keeps_its_whole_count_and_first_report(tmp_path: Path) -> None:
    """Reposted every six days for ten weeks, far longer than the stories looked back
    for: each day's build updates the story's one row from that row and the day."""
    lake = LocalLake(tmp_path / "lake")
    first = date(2026, 9, 1)
    days = [first + timedelta(days=6 * n) for n in range(12)]
    for n, day in enumerate(days):
        when = datetime(day.year, day.month, day.day, 9, tzinfo=UTC)
        _commit_day(lake, day, [_published(f"a{n}", NETFLIX_TECHBEAT, when, f"Outlet{n % 3}")])
    current = read_where(lake, "stories", STORIES_SCHEMA.append(DT)).to_pylist()
    [story] = current
    assert story["dt"] == days[-1].isoformat() and story["article_count"] == 12
    assert story["article_ids"] == [f"a{n}" for n in range(12)]
    assert story["first_reported_by"]["article_id"] == "a0" and story["original_count"] == 1
    assert story["outlet_counts"] == [{"name": f"Outlet{n}", "articles": 4} for n in range(3)]
    assert (days[-1] - days[0]).days > STORY_LOOKBACK_DAYS


def test_a_day_that_lost_articles_has_its_stories_built_again(tmp_path: Path) -> None:
    """A day reclassified after its stories were built: its stories are made again from
    all their articles, and a story left with none has no row."""
    lake = LocalLake(tmp_path / "lake")
    day1, day2 = date(2026, 11, 22), date(2026, 11, 23)
    tb = _article("tb", NETFLIX_TECHBEAT, 22, 15, "TechBeat")
    _commit_day(lake, day1, [tb, _article("lionsgate", LIONSGATE_DEAL, 22, 9, "GamesDesk")])
    _commit_day(lake, day2, [_article("st", NETFLIX_SCREENTRADE, 23, 9, "Screen Trade Daily")])
    netflix = stories_of(lake, "2026-11-23")
    [netflix_story] = netflix
    lionsgate_story = next(iter(stories_of(lake, "2026-11-22")))
    assert netflix[netflix_story]["article_count"] == 2
    articles = read_day(lake, "articles", "2026-11-22", ARTICLES_SCHEMA)
    kept = articles.filter(pc.equal(articles.column("article_id"), "tb"))
    replace_day(lake, "articles", "2026-11-22", kept, "reclassified")  # lionsgate is gone
    build_stories(lake, "2026-11-22", "rebuild")
    assert lionsgate_story not in stories_of(lake, "2026-11-22")
    assert [r["story_id"] for r in story_days_of(lake, "2026-11-22")] == [netflix_story]
    assert stories_of(lake, "2026-11-23")[netflix_story]["article_count"] == 2  # unchanged
    empty = read_day(lake, "articles", "2026-11-23", ARTICLES_SCHEMA).slice(0, 0)
    replace_day(lake, "articles", "2026-11-23", empty, "reclassified")  # so is "st"
    report = build_stories(lake, "2026-11-23", "rebuild")
    assert report.rebuilt == 1 and report.stories == 0
    story = read_where(lake, "stories", STORIES_SCHEMA.append(DT)).to_pylist()
    assert [(s["story_id"], s["article_ids"], s["dt"]) for s in story] == [
        (netflix_story, ["tb"], "2026-11-22")
    ]


def test_a_story_row_grown_day_by_day_is_the_row_made_at_once() -> None:
    """``advance_story`` over each day's articles in turn gives the row made from all of
    them at once, whatever the order of the days; copies that came before the first
    original give way to it."""
    when = [datetime(2026, 11, 20 + n, 9, tzinfo=UTC) for n in range(4)]
    articles = [
        {**_published("copy", NETFLIX_TECHBEAT, when[0], "Aggregator"), "duplicate_of": "x",
         "topics": ["jobs"], "entities": [{"name": "Aggregator Inc", "kind": "organisation"}]},
        {**_published("tb", NETFLIX_TECHBEAT, when[1], "TechBeat"), "duplicate_of": None,
         "topics": ["film", "jobs"], "entities": [{"name": "Netflix", "kind": "organisation"}]},
        {**_published("st", NETFLIX_SCREENTRADE, when[2], "Screen"), "duplicate_of": None,
         "topics": ["film"], "entities": [{"name": "Netflix", "kind": "organisation"}]},
        {**_published("fu", NETFLIX_FOLLOW_UP, when[3], "TechBeat"), "duplicate_of": None,
         "topics": ["vfx"], "entities": []},
    ]  # fmt: skip
    at_once = advance_story("st_x", None, articles, "2026-11-23")
    for order in ([0, 1, 2, 3], [3, 2, 1, 0], [1, 3, 0, 2]):
        row = None
        for i in order:
            row = advance_story(
                "st_x", row, [articles[i]], articles[i]["fetched_at"].date().isoformat()
            )
        assert row is not None
        assert {k: v for k, v in row.items() if k not in ("article_ids", "topic_counts")} == {
            k: v for k, v in at_once.items() if k not in ("article_ids", "topic_counts")
        }
        assert sorted(row["article_ids"]) == sorted(at_once["article_ids"])
    assert at_once["first_reported_by"]["article_id"] == "tb" and at_once["original_count"] == 3
    assert at_once["topics"] == ["film"] and at_once["stakeholders"] == ["Netflix"]
    assert at_once["headline"] == NETFLIX_TECHBEAT[0] and at_once["article_count"] == 4
    assert advance_story("st_x", at_once, articles, "2026-11-23") == at_once  # nothing new


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
