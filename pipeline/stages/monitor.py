"""Extraction quality per outlet, day by day: the early warning that a site changed.

Every fetched page leaves a row (staged with its batch, kept per day under ``_state/``):
whether it gave an article or why not, its words, and which metadata the page itself gave.
At commit the day's rows become ``extraction/dt=…``, one row per outlet (source domain):
pages, articles, the share rejected, the median text length and how often a title,
authors, a date and a language were found. An outlet whose day falls far below its own
history (the days before, up to ``HISTORY_DAYS``) gets alerts in that row, which the run
summary and the DAG's log repeat: a layout change shows up as pages that suddenly yield
no text, much shorter text or no more dates.
"""

from __future__ import annotations

import statistics
from datetime import date, timedelta
from typing import Any

import pyarrow as pa

from pipeline import __version__
from pipeline.lake.store import Lake, read_parquet, table_to_parquet
from pipeline.lake.tables import read_day
from pipeline.records import SCHEMA_VERSION, to_table
from pipeline.stages.extract import Extracted

HISTORY_DAYS = 14
MIN_PAGES = 3  # an outlet's day needs this many pages to be judged, and so do past days
MIN_HISTORY = 3  # past days needed before the history can say what is usual
REJECTED_JUMP, REJECTED_FLOOR = 0.3, 0.5
WORDS_FALL = 0.5  # median text below this share of the usual median
METADATA_FALL = 0.5  # a metadata share this much below its usual value

PAGES_SCHEMA = pa.schema(
    [
        pa.field("url", pa.string(), nullable=False),
        pa.field("source_domain", pa.string(), nullable=False),
        pa.field("reason", pa.string()),  # null when the page gave an article
        pa.field("words", pa.int32()),
        pa.field("title", pa.bool_()),
        pa.field("authors", pa.bool_()),
        pa.field("date", pa.bool_()),
        pa.field("language", pa.bool_()),
    ]
)

EXTRACTION_SCHEMA = pa.schema(
    [
        pa.field("source_domain", pa.string(), nullable=False),
        pa.field("pages", pa.int32(), nullable=False),
        pa.field("articles", pa.int32(), nullable=False),
        pa.field("rejected_share", pa.float32(), nullable=False),
        pa.field("median_words", pa.int32()),
        pa.field("title_share", pa.float32()),
        pa.field("authors_share", pa.float32()),
        pa.field("date_share", pa.float32()),
        pa.field("language_share", pa.float32()),
        pa.field("alerts", pa.list_(pa.string())),
        pa.field("pipeline_version", pa.string()),
    ],
    metadata={"newsflow.table": "extraction", "newsflow.schema_version": str(SCHEMA_VERSION)},
)
_METADATA = ("title", "authors", "date", "language")


def page_row(url: str, domain: str, page: Extracted | None, reason: str | None) -> dict[str, Any]:
    """The row of one fetched page: what extraction made of it (``page`` or ``reason``)."""
    if page is None:
        return {"url": url, "source_domain": domain, "reason": reason or "failed", "words": None,
                "title": None, "authors": None, "date": None, "language": None}  # fmt: skip
    return {
        "url": url,
        "source_domain": domain,
        "reason": None,
        "words": page.word_count,
        "title": bool(page.title),
        "authors": bool(page.authors),
        "date": page.published_at is not None,
        "language": bool(page.language),
    }


def _share(values: list[bool | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def summarise(pages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per outlet of the day's page rows (alerts still empty)."""
    by_domain: dict[str, list[dict[str, Any]]] = {}
    for page in pages:
        by_domain.setdefault(page["source_domain"], []).append(page)
    rows: list[dict[str, Any]] = []
    for domain in sorted(by_domain):
        group = by_domain[domain]
        articles = [p for p in group if p["reason"] is None]
        words = [p["words"] for p in articles if p["words"] is not None]
        rows.append(
            {
                "source_domain": domain,
                "pages": len(group),
                "articles": len(articles),
                "rejected_share": 1 - len(articles) / len(group),
                "median_words": int(statistics.median(words)) if words else None,
                **{f"{k}_share": _share([p[k] for p in articles]) for k in _METADATA},
                "alerts": [],
                "pipeline_version": __version__,
            }
        )
    return rows


def alerts(today: dict[str, Any], history: list[dict[str, Any]]) -> list[str]:
    """What in an outlet's day falls far below its own usual figures."""
    past = [h for h in history if h["pages"] >= MIN_PAGES]
    if today["pages"] < MIN_PAGES or len(past) < MIN_HISTORY:
        return []
    found = []
    usual_rejected = statistics.median(h["rejected_share"] for h in past)
    if today["rejected_share"] >= max(REJECTED_FLOOR, usual_rejected + REJECTED_JUMP):
        found.append(
            f"{today['rejected_share']:.0%} of pages gave no article (usually {usual_rejected:.0%})"
        )
    usual_words = [h["median_words"] for h in past if h["median_words"]]
    if usual_words and today["median_words"] is not None:
        usual = statistics.median(usual_words)
        if today["median_words"] < WORDS_FALL * usual:
            found.append(f"median text {today['median_words']} words (usually {usual:.0f})")
    for key in _METADATA:
        shares = [h[f"{key}_share"] for h in past if h[f"{key}_share"] is not None]
        value = today[f"{key}_share"]
        if shares and value is not None:
            usual = statistics.median(shares)
            if value <= usual - METADATA_FALL:
                found.append(f"{key} found on {value:.0%} of articles (usually {usual:.0%})")
    return found


def _state_key(dt: str) -> str:
    return f"_state/extraction/dt={dt}.parquet"


def commit_day(lake: Lake, dt: str, staged: list[pa.Table]) -> tuple[pa.Table, pa.Table]:
    """The day's page rows (earlier runs of the day and the staged ones, the latest row
    per URL) and the outlet table with its alerts. Both are to be written by the caller."""
    previous = read_parquet(lake, _state_key(dt), PAGES_SCHEMA)
    pages = pa.concat_tables([t for t in (previous, *staged) if t is not None] or [
        PAGES_SCHEMA.empty_table()
    ])  # fmt: skip
    latest = {url: row for row, url in enumerate(pages.column("url").to_pylist())}
    pages = pages.take(pa.array(sorted(latest.values()), pa.int64()))
    rows = summarise(pages.to_pylist())
    day = date.fromisoformat(dt)
    history: dict[str, list[dict[str, Any]]] = {}
    for back in range(HISTORY_DAYS, 0, -1):
        earlier = (day - timedelta(days=back)).isoformat()
        for row in read_day(lake, "extraction", earlier, EXTRACTION_SCHEMA).to_pylist():
            history.setdefault(row["source_domain"], []).append(row)
    for row in rows:
        row["alerts"] = alerts(row, history.get(row["source_domain"], []))
    return pages, to_table(rows, EXTRACTION_SCHEMA)


def save_pages(lake: Lake, dt: str, pages: pa.Table) -> None:
    lake.put(_state_key(dt), table_to_parquet(pages))
