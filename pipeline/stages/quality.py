"""The quality report of one committed day: one row of ``quality/dt=…``.

What a reader of the day's tables wants to know before trusting them: how many articles
landed and from how many outlets, how many were off-topic, duplicates or rejected (by
reason), how many stories and how many of them several outlets told, and how complete the
records are (authors, dates, language, topics, entities). Built from the committed
partitions alone, after the day's stories are written.
"""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipeline import __version__
from pipeline.lake.store import Lake
from pipeline.lake.tables import days, read_day, read_where, replace_day
from pipeline.records import (
    ARTICLES_SCHEMA,
    OFFTOPIC_SCHEMA,
    REJECTS_SCHEMA,
    SCHEMA_VERSION,
    STORIES_SCHEMA,
    STORY_DAYS_SCHEMA,
)
from pipeline.stages.monitor import EXTRACTION_SCHEMA

QUALITY_SCHEMA = pa.schema(
    [
        pa.field("dt", pa.string(), nullable=False),
        pa.field("articles", pa.int64(), nullable=False),
        pa.field("outlets", pa.int64(), nullable=False),
        pa.field("offtopic", pa.int64(), nullable=False),
        pa.field("duplicates", pa.int64(), nullable=False),
        pa.field("rejects", pa.int64(), nullable=False),
        pa.field(
            "rejects_by_reason",
            pa.list_(pa.struct([("reason", pa.string()), ("rows", pa.int64())])),
        ),
        pa.field("stories", pa.int64(), nullable=False),
        pa.field("stories_several_outlets", pa.int64(), nullable=False),
        pa.field("median_words", pa.float64()),
        pa.field("with_authors", pa.float64()),
        pa.field("with_published_at", pa.float64()),
        pa.field("with_language", pa.float64()),
        pa.field("with_topics", pa.float64()),
        pa.field("with_entities", pa.float64()),
        pa.field("extraction_alerts", pa.list_(pa.string())),
        pa.field("built_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("pipeline_version", pa.string(), nullable=False),
    ],
    metadata={"newsflow.table": "quality", "newsflow.schema_version": str(SCHEMA_VERSION)},
)


def _share(rows: list[dict[str, Any]], present: Any) -> float | None:
    return sum(1 for r in rows if present(r)) / len(rows) if rows else None


def quality_row(lake: Lake, dt: str) -> dict[str, Any]:
    """The report of day ``dt`` from its committed tables."""
    if dt not in days(lake, "articles") and dt not in days(lake, "rejects"):
        raise ValueError(f"dt={dt} was never committed")
    articles = read_day(lake, "articles", dt, ARTICLES_SCHEMA).to_pylist()
    offtopic = read_day(lake, "offtopic", dt, OFFTOPIC_SCHEMA).num_rows
    rejects = read_day(lake, "rejects", dt, REJECTS_SCHEMA).column("reason").to_pylist()
    # The stories that gained articles on the day, as they stand now (the current row of
    # a story that gained articles on the day sits in that day's partition or a later one).
    ids = read_day(lake, "story_days", dt, STORY_DAYS_SCHEMA).column("story_id").to_pylist()
    since = [d for d in days(lake, "stories") if d >= dt]
    wanted = pc.field("story_id").isin(ids)
    stories = read_where(lake, "stories", STORIES_SCHEMA, wanted, days=since).to_pylist()
    alerts = [
        f"{row['source_domain']}: {alert}"
        for row in read_day(lake, "extraction", dt, EXTRACTION_SCHEMA).to_pylist()
        for alert in row["alerts"] or []
    ]
    words = [r["word_count"] for r in articles if r["word_count"] is not None]
    return {
        "dt": dt,
        "articles": len(articles),
        "outlets": len({r["source_name"] for r in articles}),
        "offtopic": offtopic,
        "duplicates": sum(1 for r in articles if r["duplicate_of"]),
        "rejects": len(rejects),
        "rejects_by_reason": [
            {"reason": reason, "rows": rows} for reason, rows in sorted(Counter(rejects).items())
        ],
        "stories": len(ids),
        "stories_several_outlets": sum(1 for s in stories if len(s["outlets"] or []) > 1),
        "median_words": float(statistics.median(words)) if words else None,
        "with_authors": _share(articles, lambda r: r["authors"]),
        "with_published_at": _share(
            articles, lambda r: r["published_at"] is not None or r["published_date"] is not None
        ),
        "with_language": _share(articles, lambda r: r["language"]),
        "with_topics": _share(articles, lambda r: r["topics"]),
        "with_entities": _share(articles, lambda r: r["entities"]),
        "extraction_alerts": alerts,
        "built_at": datetime.now(UTC),
        "pipeline_version": __version__,
    }


def write_quality(lake: Lake, dt: str, run_id: str) -> dict[str, Any]:
    """Write ``quality/dt=…`` for a committed day; returns its row."""
    row = quality_row(lake, dt)
    replace_day(lake, "quality", dt, pa.Table.from_pylist([row], QUALITY_SCHEMA), run_id)
    return row
