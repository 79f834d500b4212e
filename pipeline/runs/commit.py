"""A day's commit: the staged batches of one data interval landed in its tables.

``commit`` takes only what is new: the staged articles that landed on no day before are
scored and enriched, the relevant ones flagged as duplicates or not and given their
stories, and each table gains them in one Delta commit (a rerun of the same day adds
nothing). Its cost follows the day's new pages, not the day's or the lake's size. With
``replace`` it recomputes the whole day instead (a new threshold or taxonomy, pages
extracted again from the raw archive): every article of the day scored again, those
already in a story keeping it, and the day replaced in one commit per table. The state
and the day's record are written after the tables, holding the lake's lease (one writer
at a time). ``build_stories`` brings the stories tables up to a committed day.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.digest import write_digest
from pipeline.lake.state import (
    FeedState,
    load_day_record,
    load_feed_states,
    load_state,
    save_day_record,
    save_feed_states,
    save_state,
    seen_days,
    table_versions,
    url_key,
)
from pipeline.lake.store import (
    Lake,
    get_json,
    lease,
    read_parquet,
)
from pipeline.lake.tables import (
    days,
    delete_keys,
    insert_new,
    read_day,
    read_where,
    replace_day,
    upsert,
)
from pipeline.records import (
    ARTICLES_SCHEMA,
    REJECTS_SCHEMA,
    STORIES_SCHEMA,
    STORY_DAYS_SCHEMA,
    Reject,
    to_table,
)
from pipeline.runs.ingest import Interval, batch_id, feed_reject
from pipeline.sources.feeds import Feed, Validators
from pipeline.stages.dedup import DedupIndex
from pipeline.stages.enrich import Enricher
from pipeline.stages.monitor import PAGES_SCHEMA, commit_day, save_pages
from pipeline.stages.quality import write_quality
from pipeline.stages.stories import (
    StoryDoc,
    StoryIndex,
    advance_story,
    group,
    story_day_rows,
    story_id_for,
)
from pipeline.urls import canonicalize

log = logging.getLogger(__name__)


@dataclass
class CommitReport:
    dt: str
    articles: int
    new_articles: int
    offtopic: int
    rejects: int
    rejects_by_reason: dict[str, int]  # the day's rejects, most frequent reason first
    versions: dict[str, int]  # the version of each table this commit made
    alerts: list[str]  # outlets whose extraction fell far below their usual figures
    batches: list[dict[str, Any]]
    missing_batches: list[str] = field(default_factory=list)  # planned, never staged
    feeds_failed: int = 0  # feeds of the day that could not be polled

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _keep_last(table: pa.Table, keys: list[Any]) -> pa.Table:
    """One row per key, the last one (later rows are newer)."""
    last = {key: row for row, key in enumerate(keys)}
    return table.take(pa.array(sorted(last.values()), pa.int64()))


def _score(table: pa.Table, enricher: Enricher, again: bool = True) -> tuple[pa.Table, pa.Table]:
    """Relevance, topics and entities of every row (``again``), or of the rows not scored
    where they were landed; the relevant rows, then the others."""
    rows = table.to_pylist()
    relevant = [
        enricher.score(row) if again or row["relevance"] is None else enricher.scored(row)
        for row in rows
    ]
    scored = pa.Table.from_pylist(rows, schema=ARTICLES_SCHEMA)
    mask = pa.array(relevant, pa.bool_())
    return scored.filter(mask), scored.filter(pc.invert(mask))


def _group(articles: pa.Table, dedup: DedupIndex, index: StoryIndex) -> pa.Table:
    """Fill ``duplicate_of`` and ``story_id`` of the articles that have none yet, in
    publication order; articles already assigned keep their assignment."""
    rows = articles.to_pylist()
    order = sorted(
        (i for i, row in enumerate(rows) if row["story_id"] is None),
        key=lambda i: (rows[i]["published_at"] or rows[i]["fetched_at"], rows[i]["article_id"]),
    )
    docs = (
        StoryDoc(
            id=rows[i]["article_id"],
            title=rows[i]["title"],
            text=rows[i]["text"],
            published_at=rows[i]["published_at"] or rows[i]["fetched_at"],
            source=rows[i]["source_name"],
            language=rows[i]["language"],
        )
        for i in order
    )
    for i, (_, story_id, duplicate_of) in zip(order, group(docs, dedup, index), strict=True):
        rows[i]["story_id"], rows[i]["duplicate_of"] = story_id, duplicate_of
    for i in order:  # a story opened in this run may have merged into an older one
        rows[i]["story_id"] = index.final(rows[i]["article_id"], rows[i]["story_id"])
    return pa.Table.from_pylist(rows, schema=ARTICLES_SCHEMA)


def commit(
    interval: Interval,
    lake: Lake,
    run_id: str,
    enricher: Enricher | None = None,
    planned: list[list[Feed]] | None = None,
    *,
    replace: bool = False,
    window_days: int = 30,
) -> CommitReport:
    """Land the staged batches of ``interval`` (see the module's account), holding the
    lake's lease (state has one writer at a time).

    A ``planned`` batch that staged nothing (its task failed) does not stop the day: the
    rest is committed, and each of its feeds gets a ``batch-failed`` reject, removed when
    a later commit of the day brings the batch in."""
    enricher = enricher or Enricher.load()
    with lease(lake, f"commit of {interval.dt} by {run_id}") as held:
        fence = held.check if held else (lambda: None)
        return _commit(interval, lake, run_id, enricher, planned, replace, window_days, fence)


def _missing_batches(
    planned: list[list[Feed]], done: set[str], dt: str, at: datetime
) -> tuple[list[str], list[Reject]]:
    missing, rejects = [], []
    for feeds in planned:
        batch = batch_id(feeds)
        if batch in done:
            continue
        missing.append(batch)
        detail = (f"not polled for {dt}: the ingest task of batch {batch} ({len(feeds)} "
                  "feeds) failed after its retries (see its log); clear that task and commit "
                  "again to fetch it, or let the next day's run take its items within the "
                  "lookback")  # fmt: skip
        rejects += [feed_reject(f, "batch-failed", detail, at, stage="batch") for f in feeds]
    return missing, rejects


# What a commit needs to know of the articles already in a day.
_LANDED = pa.schema([ARTICLES_SCHEMA.field(n) for n in ("article_id", "url", "canonical_url")])


def _carry_over(rows: pa.Table, existing: pa.Table) -> pa.Table:
    """``rows`` with the story and duplicate assignments ``existing`` rows of the same
    article already have: an id written once never changes."""
    kept = {r["article_id"]: r for r in existing.select(["article_id", "story_id",
                                                         "duplicate_of"]).to_pylist()}  # fmt: skip
    out = rows.to_pylist()
    for row in out:
        if row["article_id"] in kept:
            row["story_id"] = kept[row["article_id"]]["story_id"]
            row["duplicate_of"] = kept[row["article_id"]]["duplicate_of"]
    return pa.Table.from_pylist(out, schema=ARTICLES_SCHEMA)


def _order(table: pa.Table) -> pa.Table:
    return table.sort_by([("published_at", "ascending"), ("article_id", "ascending")])


def _commit(
    interval: Interval,
    lake: Lake,
    run_id: str,
    enricher: Enricher,
    planned: list[list[Feed]] | None,
    replace: bool,
    window_days: int,
    fence: Callable[[], None],
) -> CommitReport:
    dt = interval.dt
    staged = lake.list_keys(f"_staging/dt={dt}/")

    def staged_tables(suffix: str, schema: pa.Schema) -> list[pa.Table]:
        tables = [read_parquet(lake, k, schema) for k in staged if k.endswith(suffix)]
        return [t for t in tables if t is not None]

    new_rejects = staged_tables(".rejects.parquet", REJECTS_SCHEMA)
    new_pages = staged_tables(".pages.parquet", PAGES_SCHEMA)
    feed_states = [get_json(lake, k) for k in staged if k.endswith(".feeds.json")]
    feed_states.sort(key=lambda state: str(state["polled_at"]))  # the latest poll wins
    new = pa.concat_tables(staged_tables(".articles.parquet", ARTICLES_SCHEMA) or
                           [ARTICLES_SCHEMA.empty_table()])  # fmt: skip
    new = _keep_last(new, new.column("article_id").to_pylist())

    # An article is looked for among the landings of the window, and of its own days.
    published = [None, *new.column("published_at").to_pylist()]
    state = load_state(lake, window_days, dt, seen_days(dt, published, window_days, window_days))
    seen, dedup, story_index = state.seen, state.dedup, state.stories
    dedup.today = dt
    versions: dict[str, int] = {}
    if replace:
        existing = read_day(lake, "articles", dt, ARTICLES_SCHEMA)
        before = existing.num_rows
        existing = pa.concat_tables([existing, read_day(lake, "offtopic", dt, ARTICLES_SCHEMA)])
        every = pa.concat_tables([existing, new])
        every = _carry_over(_keep_last(every, every.column("article_id").to_pylist()), existing)
        keep = [seen.landed(a) in (None, dt) for a in every.column("article_id").to_pylist()]
        every = every.filter(pa.array(keep, pa.bool_()))
        articles, offtopic = _score(every, enricher)
        articles = _order(_group(articles, dedup, story_index))
        day_articles, day_offtopic = articles.num_rows, offtopic.num_rows
        new_count = day_articles - before
        counts = {"articles": day_articles, "new_articles": new_count, "replaced": True}
        fence()  # still the one writer: nothing below may race another commit
        versions["offtopic"] = replace_day(lake, "offtopic", dt, _order(offtopic), run_id)
        versions["articles"] = replace_day(lake, "articles", dt, articles, run_id, counts)
        landed = every.select(_LANDED.names)
        seen.set_day(dt, _seen_rows(every))
    else:
        in_articles = read_day(lake, "articles", dt, _LANDED)
        in_offtopic = read_day(lake, "offtopic", dt, _LANDED)
        in_day = pa.concat_tables([in_articles, in_offtopic])
        here = set(in_day.column("article_id").to_pylist())
        ids = new.column("article_id").to_pylist()
        fresh = new.filter(
            pa.array([a not in here and seen.landed(a) is None for a in ids], pa.bool_())
        )
        articles, offtopic = _score(fresh, enricher, again=False)
        articles = _order(_group(articles, dedup, story_index))
        day_offtopic = in_offtopic.num_rows + offtopic.num_rows
        day_articles = in_articles.num_rows + articles.num_rows
        new_count = articles.num_rows
        counts = {"articles": day_articles, "new_articles": new_count}
        fence()  # still the one writer: nothing below may race another commit
        inserted = {
            "offtopic": insert_new(lake, "offtopic", dt, _order(offtopic), "article_id", run_id),
            "articles": insert_new(lake, "articles", dt, articles, "article_id", run_id, counts),
        }
        versions.update({name: v for name, v in inserted.items() if v is not None})
        landed = pa.concat_tables([in_day, fresh.select(_LANDED.names)])
        seen.set_day(dt, _seen_rows(landed))  # the day as its tables hold it
    story_index.close_stale(interval.start)
    dedup.prune((interval.start.date() - timedelta(days=window_days)).isoformat())

    previous = load_day_record(lake, dt)
    done = {str(b) for b in previous.get("batch_ids", [])}
    done |= {key.rsplit("/", 1)[-1].split("-", 1)[0] for key in staged if key.endswith(".json")}
    missing, batch_rejects = _missing_batches(planned or [], done, dt, datetime.now(UTC))
    for batch in missing:
        log.error("commit of %s: batch %s staged nothing (its task failed)", dt, batch)

    urls = set(landed.column("url").to_pylist()) | set(landed.column("canonical_url").to_pylist())
    rejects = pa.concat_tables([read_day(lake, "rejects", dt, REJECTS_SCHEMA), *new_rejects])
    rejects = rejects.filter(pc.not_equal(rejects.column("stage"), "batch"))  # as of now:
    rejects = pa.concat_tables([rejects, to_table([r.to_row() for r in batch_rejects],
                                                  REJECTS_SCHEMA)])  # fmt: skip
    reject_urls = rejects.column("url").to_pylist()
    rejects = _keep_last(rejects, list(zip(reject_urls, rejects.column("stage").to_pylist(),
                                           strict=True)))  # fmt: skip
    rejects = rejects.filter(
        pa.array([u not in urls for u in rejects.column("url").to_pylist()], pa.bool_())
    )
    versions["rejects"] = replace_day(lake, "rejects", dt, rejects, run_id)
    pages, outlets = commit_day(lake, dt, new_pages)
    versions["extraction"] = replace_day(lake, "extraction", dt, outlets, run_id)
    save_pages(lake, dt, pages)
    alerts = [
        f"{row['source_domain']}: {alert}" for row in outlets.to_pylist() for alert in row["alerts"]
    ]
    for alert in alerts:
        log.warning("extraction on %s fell: %s", dt, alert)

    fence()
    save_state(lake, state, table_versions(lake))
    polled = [url for batch in feed_states for url in batch.get("feeds", {})]
    early = any(datetime.fromisoformat(b["polled_at"]) < interval.end for b in feed_states)
    earlier = load_feed_states(lake, polled) if early else {}
    updates: dict[str, tuple[FeedState, datetime]] = {}
    for batch in feed_states:
        polled_at = datetime.fromisoformat(batch["polled_at"])
        for feed_url, values in batch.get("feeds", {}).items():
            validators = Validators(**values.pop("validators"))
            if polled_at < interval.end:
                # Polled before its day was over: what the feed says later still belongs
                # to that day, so the next poll must not be told "nothing new".
                validators = earlier[feed_url].validators
            updates[feed_url] = (FeedState(validators, **values), polled_at)
        for feed_url, values in batch.get("validators", {}).items():  # staged before feed states
            updates[feed_url] = (FeedState(Validators(**values)), polled_at)
    save_feed_states(lake, updates)

    batches = [state["report"] for state in feed_states]
    save_day_record(
        lake,
        dt,
        {
            "run_id": run_id,
            "relevance_threshold": enricher.threshold,
            "interval": [interval.start.isoformat(), interval.end.isoformat()],
            "batch_ids": sorted(done),
            "batches": batches or previous.get("batches", []),  # a replay keeps the run's
            "versions": versions,
        },
    )
    for key in staged:
        lake.delete(key)
    by_reason = dict(Counter(rejects.column("reason").to_pylist()).most_common())
    log.info(
        "committed %s: %d articles (%d new), %d off-topic, %d rejects %s",
        dt, day_articles, new_count, day_offtopic, rejects.num_rows, json.dumps(by_reason),
    )  # fmt: skip
    return CommitReport(
        dt=dt,
        articles=day_articles,
        new_articles=new_count,
        offtopic=day_offtopic,
        rejects=rejects.num_rows,
        rejects_by_reason=by_reason,
        versions=versions,
        batches=batches,
        alerts=alerts,
        missing_batches=missing,
        feeds_failed=sum(int(b.get("feeds_failed", 0)) for b in batches) + len(batch_rejects),
    )


def _seen_rows(table: pa.Table) -> list[tuple[str, str]]:
    """(url_key, article_id) pairs of landed articles, as the seen index keeps them."""
    urls, ids = table.column("url").to_pylist(), table.column("article_id").to_pylist()
    return [(url_key(canonicalize(u)), a) for u, a in zip(urls, ids, strict=True)]


@dataclass
class StoriesReport:
    dt: str
    stories: int  # the stories that gained articles on the day
    version: int | None  # of the stories table
    rebuilt: int = 0  # stories built again from all their articles (a day lost some)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_DT = pa.field("dt", pa.string())
# What the stories tables need of an article (the text stays unread).
_STORY_COLUMNS = pa.schema(
    [
        ARTICLES_SCHEMA.field(name)
        for name in ("article_id", "source_name", "title", "published_at", "fetched_at",
                     "duplicate_of", "story_id", "topics", "entities")
    ]
)  # fmt: skip
# How far back a continued story's current row is looked for first: it gained articles
# within the story window (a week) before the day, so it sits in a partition since then.
STORY_LOOKBACK_DAYS = 30


def build_stories(lake: Lake, dt: str, run_id: str) -> StoriesReport:
    """See ``_build_stories``; holding the lake's lease, as a day's commit does: a story's
    row is read, then written back with the day's articles added."""
    with lease(lake, f"stories of {dt} by {run_id}") as held:
        return _build_stories(lake, dt, run_id, held.check if held else (lambda: None))


def build_day(lake: Lake, dt: str, run_id: str) -> StoriesReport:
    """In one process, what the DAGs that follow a committed day make of it: its stories
    (news_stories), then its quality report (news_quality) and digest page (news_digest)."""
    stories = build_stories(lake, dt, run_id)
    write_quality(lake, dt, run_id)
    write_digest(lake, dt)
    return stories


def _build_stories(lake: Lake, dt: str, run_id: str, fence: Callable[[], None]) -> StoriesReport:
    """Bring the stories tables up to the committed articles of ``dt``: each story that
    gained articles on it has its current row in ``stories`` updated from that row and
    the day's articles alone (reading the stories of the last few weeks, not the
    history), and ``story_days`` gets the day's row of each. Building a day again changes
    nothing; a day that lost articles since it was built (reclassified) has the stories
    it held built again from all their articles."""
    day_rows = read_day(lake, "articles", dt, _STORY_COLUMNS).to_pylist()
    members: dict[str, list[dict[str, Any]]] = {}
    for row in day_rows:
        if row["story_id"]:
            members.setdefault(row["story_id"], []).append(row)
    # The day as it was last built: a story that held an article the day no longer has
    # cannot be updated by adding, and is built again.
    kept = {row["article_id"] for row in day_rows}
    built = read_day(lake, "story_days", dt, STORY_DAYS_SCHEMA).to_pylist()
    shrunk = {r["story_id"] for r in built if not set(r["article_ids"] or []) <= kept}
    since = (date.fromisoformat(dt) - timedelta(days=STORY_LOOKBACK_DAYS)).isoformat()
    growing = {story_id: members[story_id] for story_id in members.keys() - shrunk}
    previous = _current_stories(lake, growing, since)
    rows = [advance_story(story_id, previous.get(story_id), articles, dt)
            for story_id, articles in sorted(growing.items())]  # fmt: skip
    rows += _stories_from_all_their_articles(lake, shrunk)
    emptied = sorted(shrunk - {row["story_id"] for row in rows})
    # Written in this order so that a build cut short is finished by building the day
    # again: ``story_days`` last, since it is what tells that a day lost articles.
    fence()
    delete_keys(lake, "stories", "story_id", emptied, run_id)
    oldest = min([since, *(row["dt"] for row in previous.values())])
    current = to_table(rows, STORIES_SCHEMA.append(_DT))
    version = upsert(lake, "stories", current, "story_id", oldest, run_id, {"dt": dt})
    by_story = to_table(story_day_rows(day_rows), STORY_DAYS_SCHEMA)
    replace_day(lake, "story_days", dt, by_story, run_id)
    log.info("stories %s: %d gained articles, %d built again from all their articles",
             dt, len(members), len(shrunk))  # fmt: skip
    return StoriesReport(dt=dt, stories=len(members), version=version, rebuilt=len(shrunk))


def _current_stories(
    lake: Lake, members: dict[str, list[dict[str, Any]]], since: str
) -> dict[str, dict[str, Any]]:
    """The current rows of the stories of ``members`` (story → its articles of the day)
    that have one: looked for in the partitions from ``since`` on, then, for a story the
    day did not open (quiet for longer, or a day built out of order), in the whole
    table."""
    if not members:
        return {}
    schema = STORIES_SCHEMA.append(_DT)
    wanted = pc.field("story_id").isin(sorted(members))
    partitions = [d for d in days(lake, "stories") if d >= since]
    recent = read_where(lake, "stories", schema, wanted, days=partitions)
    rows = {row["story_id"]: row for row in recent.to_pylist()}
    older = sorted(
        story_id
        for story_id, articles in members.items()
        if story_id not in rows
        and story_id not in {story_id_for(a["article_id"]) for a in articles}
    )
    if older:
        log.info("looking through the whole stories table for %d older stories", len(older))
        rest = read_where(lake, "stories", schema, pc.field("story_id").isin(older))
        rows.update({row["story_id"]: row for row in rest.to_pylist()})
    return rows


def _stories_from_all_their_articles(lake: Lake, story_ids: set[str]) -> list[dict[str, Any]]:
    """The current rows of ``story_ids`` made from all their committed articles (those
    left with none have no row)."""
    if not story_ids:
        return []
    wanted = pc.field("story_id").isin(sorted(story_ids))
    articles = read_where(lake, "articles", _STORY_COLUMNS.append(_DT), wanted).to_pylist()
    members: dict[str, list[dict[str, Any]]] = {}
    for article in articles:
        members.setdefault(article["story_id"], []).append(article)
    return [advance_story(story_id, None, group_, max(a["dt"] for a in group_))
            for story_id, group_ in sorted(members.items())]  # fmt: skip
