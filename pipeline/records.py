"""The records the pipeline lands, and the Arrow schemas that are their contract.

The schemas are read by downstream teams (DuckDB, Spark, Athena, Polars). They are
versioned and change only additively: new nullable columns at the end, never a rename,
a removal or a type change. ``SCHEMA_VERSION`` goes up with each addition and is written
into every file's metadata and every manifest.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa

SCHEMA_VERSION = 6  # 2: articles.rights, stories.topics and stories.stakeholders; offtopic
# 3: articles.flags; 4: stories one current row per story (with its counts), story_days;
# 5: articles.published_date; 6: rejects.at renamed rejected_at (``at`` is an SQL keyword)

# The most one field may hold, in characters (and in entries, for lists): nothing a
# hostile feed or page sends lands bigger. Bodies are capped in bytes before parsing and
# feeds reach their parser without entity declarations, so no value can grow far beyond
# its body on the way here.
MAX_TITLE = 1_000
MAX_SUMMARY = 5_000
MAX_TEXT = 500_000  # some 80,000 words: more than any article
MAX_NAME = 200  # a name: an author, an entity
MAX_NAMES = 20  # authors of one article
MAX_URL = 4_096

# Flags an article may carry (``flags``): what the pipeline changed, and why.
FUTURE_DATE = "future-date"  # its date was implausibly far in the future: cleared
TEXT_TRUNCATED = "text-truncated"  # its text was longer than MAX_TEXT: cut there


def clip(value: str | None, limit: int) -> str | None:
    """``value`` cut to ``limit`` characters."""
    return value[:limit] if value is not None and len(value) > limit else value


def clip_names(names: Iterable[str]) -> list[str]:
    """At most ``MAX_NAMES`` names, each at most ``MAX_NAME`` characters."""
    return [name[:MAX_NAME] for name in itertools.islice(names, MAX_NAMES)]


def parse_timestamp(value: object) -> datetime | None:
    """An ISO 8601 date or date-time as an aware UTC datetime (naive means UTC); None for
    anything else."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


_TS = pa.timestamp("us", tz="UTC")
ENTITY = pa.struct([("name", pa.string()), ("kind", pa.string())])
RIGHTS = pa.struct(
    [
        ("ai_crawlers_disallowed", pa.list_(pa.string())),
        ("tdm_reserved", pa.bool_()),
        ("tdm_policy", pa.string()),
        ("tdm_source", pa.string()),
        ("noai", pa.bool_()),
    ]
)


@dataclass
class Article:
    """One kept article: one row of ``articles``."""

    article_id: str
    url: str
    canonical_url: str
    source_domain: str
    source_name: str
    feed_url: str | None
    title: str | None
    authors: list[str]
    published_at: datetime | None
    fetched_at: datetime
    language: str | None
    text: str
    summary: str | None
    image: str | None
    word_count: int
    content_hash: str
    raw_ref: str | None
    extractor: str
    pipeline_version: str
    duplicate_of: str | None = None
    story_id: str | None = None
    relevance: float | None = None
    topics: list[str] | None = None
    entities: list[dict[str, str]] | None = None
    rights: dict[str, Any] | None = None
    flags: list[str] | None = None  # FUTURE_DATE, TEXT_TRUNCATED
    # The day of publication in the outlet's own calendar (a page that states only a day
    # gives that day, and no published_at).
    published_date: date | None = None

    def __post_init__(self) -> None:
        self.title = clip(self.title, MAX_TITLE)
        self.summary = clip(self.summary, MAX_SUMMARY)
        self.authors = clip_names(self.authors)
        self.image = clip(self.image, MAX_URL)
        if len(self.text) > MAX_TEXT:
            self.text = self.text[:MAX_TEXT]
            self.flags = [*(self.flags or []), TEXT_TRUNCATED]

    def to_row(self) -> dict[str, Any]:
        return asdict(self)


ARTICLES_SCHEMA = pa.schema(
    [
        pa.field("article_id", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("canonical_url", pa.string(), nullable=False),
        pa.field("source_domain", pa.string(), nullable=False),
        pa.field("source_name", pa.string(), nullable=False),
        pa.field("feed_url", pa.string()),
        pa.field("title", pa.string()),
        pa.field("authors", pa.list_(pa.string())),
        pa.field("published_at", _TS),
        pa.field("fetched_at", _TS, nullable=False),
        pa.field("language", pa.string()),
        pa.field("text", pa.string(), nullable=False),
        pa.field("summary", pa.string()),
        pa.field("image", pa.string()),
        pa.field("word_count", pa.int32(), nullable=False),
        pa.field("content_hash", pa.string(), nullable=False),
        pa.field("raw_ref", pa.string()),
        pa.field("extractor", pa.string(), nullable=False),
        pa.field("pipeline_version", pa.string(), nullable=False),
        pa.field("duplicate_of", pa.string()),
        pa.field("story_id", pa.string()),
        pa.field("relevance", pa.float32()),
        pa.field("topics", pa.list_(pa.string())),
        pa.field("entities", pa.list_(ENTITY)),
        pa.field("rights", RIGHTS),
        pa.field("flags", pa.list_(pa.string())),
        pa.field("published_date", pa.date32()),
    ],
    metadata={"newsflow.table": "articles", "newsflow.schema_version": str(SCHEMA_VERSION)},
)
# Articles below the relevance threshold: the same columns, kept so that a change of the
# threshold or the taxonomy can be replayed from the lake.
OFFTOPIC_SCHEMA = ARTICLES_SCHEMA.with_metadata(
    {"newsflow.table": "offtopic", "newsflow.schema_version": str(SCHEMA_VERSION)}
)


@dataclass
class Reject:
    """A feed or page that did not become an article, and why: one row of ``rejects``."""

    url: str
    stage: str  # "feed", "fetch", "extract"
    reason: str  # short stable code, e.g. "http-404", "robots", "too-short"
    detail: str
    rejected_at: datetime
    feed_url: str | None = None
    source_domain: str | None = None
    status: int | None = None
    pipeline_version: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["extra"] = list(self.extra.items())
        return row


REJECTS_SCHEMA = pa.schema(
    [
        pa.field("url", pa.string(), nullable=False),
        pa.field("stage", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("detail", pa.string(), nullable=False),
        pa.field("rejected_at", _TS, nullable=False),
        pa.field("feed_url", pa.string()),
        pa.field("source_domain", pa.string()),
        pa.field("status", pa.int32()),
        pa.field("pipeline_version", pa.string()),
        pa.field("extra", pa.map_(pa.string(), pa.string())),
    ],
    metadata={"newsflow.table": "rejects", "newsflow.schema_version": str(SCHEMA_VERSION)},
)


_COUNTS = pa.list_(pa.struct([("name", pa.string()), ("articles", pa.int32())]))

# One current row per story, in the partition of the last day it gained articles (``dt``):
# a story that goes on moves to the newer day. Its counts are kept on the row, so that a
# day's new articles update it without reading the story's earlier days.
STORIES_SCHEMA = pa.schema(
    [
        pa.field("story_id", pa.string(), nullable=False),
        pa.field("headline", pa.string()),
        pa.field("first_seen", _TS, nullable=False),
        pa.field("last_seen", _TS, nullable=False),
        pa.field("article_count", pa.int32(), nullable=False),
        pa.field("outlets", pa.list_(pa.string())),
        pa.field(
            "first_reported_by",
            pa.struct(
                [("article_id", pa.string()), ("source_name", pa.string()), ("published_at", _TS)]
            ),
        ),
        pa.field("article_ids", pa.list_(pa.string())),
        pa.field("topics", pa.list_(pa.string())),
        pa.field("stakeholders", pa.list_(pa.string())),
        # When the first report appeared (its publication time, else when it was fetched).
        pa.field("first_reported_at", _TS),
        pa.field("original_count", pa.int32(), nullable=False),  # articles not duplicates
        pa.field("outlet_counts", _COUNTS),  # articles by outlet, most first
        pa.field("topic_counts", _COUNTS),  # of the originals (of all, if none), by topic
        pa.field("stakeholder_counts", _COUNTS),  # likewise, by organisation or person named
    ],
    metadata={"newsflow.table": "stories", "newsflow.schema_version": str(SCHEMA_VERSION)},
)

# What each story gained on a day: one row per story and day (``dt``).
STORY_DAYS_SCHEMA = pa.schema(
    [
        pa.field("story_id", pa.string(), nullable=False),
        pa.field("articles_today", pa.int32(), nullable=False),
        pa.field("article_ids", pa.list_(pa.string())),  # the day's, earliest first
        pa.field("outlets", pa.list_(pa.string())),  # the day's, most articles first
    ],
    metadata={"newsflow.table": "story_days", "newsflow.schema_version": str(SCHEMA_VERSION)},
)


def to_table(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=schema)
