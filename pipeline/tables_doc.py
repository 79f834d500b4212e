"""``docs/tables.md``: every column of every table, from the schemas the pipeline writes
with, and every reason a feed or page is rejected for.

The types come from the schemas themselves; what each column means, an example and the
schema version it appeared in are kept here, beside them. ``tests/test_tables_doc.py``
fails when a schema gains a column this file does not describe, or when the committed
``docs/tables.md`` differs from what ``python -m pipeline.tables_doc`` writes.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NamedTuple

import pyarrow as pa

from pipeline.records import (
    ARTICLES_SCHEMA,
    REJECTS_SCHEMA,
    SCHEMA_VERSION,
    STORIES_SCHEMA,
    STORY_DAYS_SCHEMA,
)
from pipeline.stages.monitor import EXTRACTION_SCHEMA
from pipeline.stages.quality import QUALITY_SCHEMA

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "tables.md"


class Column(NamedTuple):
    meaning: str
    example: str
    since: int = 1  # the schema version that added it


TABLES: dict[str, tuple[pa.Schema, str]] = {
    "articles": (ARTICLES_SCHEMA, "One row per relevant article, in the partition of the day "
                 "it landed."),
    "offtopic": (ARTICLES_SCHEMA, "The articles below the relevance threshold: the same "
                 "columns as `articles`, kept so that a change of threshold or taxonomy can be "
                 "replayed from the lake."),
    "stories": (STORIES_SCHEMA, "One current row per story, in the partition of the last day "
                "it gained articles (it moves to the newer day when the story goes on)."),
    "story_days": (STORY_DAYS_SCHEMA, "One row per story and day it gained articles."),
    "rejects": (REJECTS_SCHEMA, "Every feed or page of the day that did not become an "
                "article, and why."),
    "extraction": (EXTRACTION_SCHEMA, "Extraction per outlet (source domain) and day: the "
                   "early warning that a site changed its layout."),
    "quality": (QUALITY_SCHEMA, "The day's quality report: one row per committed day."),
}  # fmt: skip

_ARTICLE = {
    "article_id": Column("stable hash of the canonical URL", "`2cef54ab915a0565feaf`"),
    "url": Column("the link as the feed gave it", "`https://techbeat.example/2026/11/netflix-ai`"),
    "canonical_url": Column(
        "tracking parameters and fragments dropped, the page's `rel=canonical` followed "
        "within its site",
        "`https://techbeat.example/2026/11/netflix-ai`",
    ),
    "source_domain": Column("the outlet's domain", "`techbeat.example`"),
    "source_name": Column("the outlet's name, from the feeds file", "`TechBeat`"),
    "feed_url": Column("the feed the article came from", "`https://techbeat.example/feed/`"),
    "title": Column("the headline", "`Netflix goes all in on generative AI …`"),
    "authors": Column("bylines", "`[Dana Reyes]`"),
    "published_at": Column(
        "from the feed, else the page's metadata; null when the source states a day but no time",
        "`2026-11-22 15:04:00+00`",
    ),
    "fetched_at": Column("when the page was fetched", "`2026-11-23 06:12:41+00`"),
    "language": Column("ISO 639-1, detected from the text", "`en`"),
    "text": Column("the main text", "`Netflix said on Friday that …`"),
    "summary": Column("the page's description, else the feed's", "`The streamer says …`"),
    "image": Column("the page's lead image", "`https://techbeat.example/img/lead.jpg`"),
    "word_count": Column("words of the main text", "`329`"),
    "content_hash": Column(
        "hash of the text with case, punctuation and spacing folded (same text at two outlets "
        "= same hash)",
        "`002ee5a202653c188222d51544b7a6a8`",
    ),
    "raw_ref": Column(
        "the WARC record of the page as fetched: `raw/…warc.gz#offset:digest`",
        "`raw/dt=2026-11-23/a90e…f854df395d39927f.warc.gz#10809:8c1fa927338ece9c`",
    ),
    "extractor": Column("what extracted the text", "`trafilatura/2.3.1`"),
    "pipeline_version": Column("the newsflow version that wrote the row", "`0.1.0`"),
    "duplicate_of": Column(
        "for a syndicated, reposted or lightly edited copy: the `article_id` of the first "
        "copy seen; null for originals",
        "`2cef54ab915a0565feaf`",
    ),
    "story_id": Column(
        "the story the article belongs to; stable across days and runs", "`st_69dbd0cf58613265`"
    ),
    "relevance": Column("0..1: how clearly the article is about AI in entertainment", "`0.97`"),
    "topics": Column(
        "taxonomy labels: sector, use of AI, stakeholder, concern",
        "`[sector/film, use/dubbing-voice, concern/consent-likeness]`",
    ),
    "entities": Column(
        "organisations, people, works and AI products named, in order of first mention; "
        "`kind` is `organisation`, `person`, `work` or `product`",
        "`[{name: Netflix, kind: organisation}]`",
    ),
    "rights": Column(
        "what the outlet declares: `ai_crawlers_disallowed` (the AI crawlers its robots.txt "
        "turns away from this URL; null when robots.txt could not be read), `tdm_reserved` "
        "(a W3C TDMRep reservation), `tdm_policy`, `tdm_source` (`tdmrep`, `header` or "
        "`meta`), `noai` (in the robots meta tag or `X-Robots-Tag`)",
        "`{ai_crawlers_disallowed: [GPTBot], tdm_reserved: true, …}`",
        2,
    ),
    "flags": Column(
        "what newsflow changed of what it was sent: `future-date` (a date more than a day "
        "ahead, cleared), `text-truncated` (cut at 500,000 characters)",
        "`[future-date]`",
        3,
    ),
    "published_date": Column(
        'the day of publication in the outlet\'s own calendar: group by it for "articles of a day"',
        "`2026-11-22`",
        5,
    ),
}

_DT = Column("the partition: the day of the run's data interval (UTC), never the wall clock",
             "`2026-11-23`")  # fmt: skip

COLUMNS: dict[str, dict[str, Column]] = {
    "articles": _ARTICLE,
    "offtopic": _ARTICLE,
    "stories": {
        "story_id": Column(
            "`st_` + a hash of the article that opened the story; never changes",
            "`st_69dbd0cf58613265`",
        ),
        "headline": Column(
            "the title of the earliest original article", "`Netflix goes all in on generative AI …`"
        ),
        "first_seen": Column("its first article", "`2026-11-22 15:04:00+00`"),
        "last_seen": Column("its latest article", "`2026-11-23 08:20:00+00`"),
        "article_count": Column("its articles, copies included", "`5`"),
        "outlets": Column(
            "outlets that covered it, most articles first", "`[TechBeat, StreamWire]`"
        ),
        "first_reported_by": Column(
            "the earliest original article (the earliest copy while it has none)",
            "`{article_id: 2cef54ab…, source_name: TechBeat, published_at: …}`",
        ),
        "article_ids": Column("its articles, in the order they joined", "`[2cef54ab…, 7d09be31…]`"),
        "topics": Column(
            "the labels at least half of its original articles have (at most 8)",
            "`[sector/tv-streaming, use/vfx-de-aging]`",
            2,
        ),
        "stakeholders": Column(
            "the organisations and people at least half of its original articles name (at most 6)",
            "`[Netflix, SAG-AFTRA]`",
            2,
        ),
        "first_reported_at": Column(
            "when the first report was published (fetched, if it carries no date)",
            "`2026-11-22 15:04:00+00`",
            4,
        ),
        "original_count": Column("its articles that are not duplicates", "`4`", 4),
        "outlet_counts": Column(
            "articles by outlet, most first", "`[{name: TechBeat, articles: 2}]`", 4
        ),
        "topic_counts": Column(
            "how many of its originals have each label", "`[{name: sector/film, articles: 3}]`", 4
        ),
        "stakeholder_counts": Column(
            "how many of its originals name each organisation or person",
            "`[{name: Netflix, articles: 4}]`",
            4,
        ),
    },
    "story_days": {
        "story_id": Column(
            "the story; join to `stories` for its headline and totals", "`st_69dbd0cf58613265`", 4
        ),
        "articles_today": Column("the articles it gained that day", "`3`", 4),
        "article_ids": Column("those articles, earliest first", "`[2cef54ab…, 7d09be31…]`", 4),
        "outlets": Column("the outlets among them, most articles first", "`[TechBeat]`", 4),
    },
    "rejects": {
        "url": Column("the feed or page", "`https://streamwire.example/tv/removed-story/`"),
        "stage": Column("where it failed: `feed`, `fetch`, `extract` or `batch`", "`fetch`"),
        "reason": Column("a stable code, listed below", "`http-404`"),
        "detail": Column("what happened, in words", "`server answered 404`"),
        "rejected_at": Column(
            "when it happened (`at` before version 6)", "`2026-11-23 06:12:44+00`", 6
        ),
        "feed_url": Column("the feed that listed it", "`https://streamwire.example/feed/`"),
        "source_domain": Column("the outlet's domain", "`streamwire.example`"),
        "status": Column("the HTTP status, if one was answered", "`404`"),
        "pipeline_version": Column("the newsflow version that wrote the row", "`0.1.0`"),
        "extra": Column(
            "more about it, such as the `raw_ref` of a page fetched but yielding no text",
            "`{raw_ref: raw/…}`",
        ),
    },
    "extraction": {
        "source_domain": Column("the outlet", "`techbeat.example`", 2),
        "pages": Column("pages fetched that day", "`12`", 2),
        "articles": Column("articles extracted from them", "`11`", 2),
        "rejected_share": Column("the share of its pages that gave no article", "`0.083`", 2),
        "median_words": Column("median words of the main text", "`540`", 2),
        "title_share": Column("share of its articles whose page gave a title", "`1.0`", 2),
        "authors_share": Column("… authors", "`0.92`", 2),
        "date_share": Column("… a date", "`1.0`", 2),
        "language_share": Column("… a language", "`1.0`", 2),
        "alerts": Column(
            "what falls far below the outlet's own last 14 days: a rejected share up 30 "
            "points to at least half, a median text under half the usual, a metadata share "
            "50 points below the usual",
            "`[median text 120 words (usually 540)]`",
            2,
        ),
        "pipeline_version": Column("the newsflow version that wrote the row", "`0.1.0`", 2),
    },
    "quality": {
        "articles": Column("articles landed that day", "`14`", 2),
        "outlets": Column("outlets among them", "`11`", 2),
        "offtopic": Column("articles below the relevance threshold", "`5`", 2),
        "duplicates": Column("articles that copy another", "`1`", 2),
        "rejects": Column("rows of `rejects` that day", "`5`", 2),
        "rejects_by_reason": Column(
            "those rows by reason, most first", "`[{reason: http-404, rows: 1}]`", 2
        ),
        "stories": Column("stories that gained articles that day", "`10`", 2),
        "stories_several_outlets": Column(
            "of those, the ones more than one outlet has covered", "`1`", 2
        ),
        "median_words": Column("median words of the day's articles", "`329.0`", 2),
        "with_authors": Column("share of the day's articles with authors", "`0.93`", 2),
        "with_published_at": Column(
            "… with a date of publication (with or without a time)", "`1.0`", 2
        ),
        "with_language": Column("… with a language", "`1.0`", 2),
        "with_topics": Column("… with a topic", "`1.0`", 2),
        "with_entities": Column("… naming an organisation, person, work or product", "`0.93`", 2),
        "extraction_alerts": Column(
            "the day's alerts of `extraction`, as `domain: alert`", "`[]`", 2
        ),
        "built_at": Column("when the report was written", "`2026-11-23 06:20:02+00`", 2),
        "pipeline_version": Column("the newsflow version that wrote the row", "`0.1.0`", 2),
    },
}

# Every code of `rejects.reason`, by stage. ``tests/test_tables_doc.py`` checks that the
# code names no other.
REJECT_REASONS: dict[str, str] = {
    "http-NNN": "the server answered with that status (`http-404`, `http-500`, `http-403`, …)",
    "timeout": "the exchange outlived its deadline (DNS, connect, TLS, headers and body together)",
    "dns": "the host name did not resolve",
    "connect": "no connection could be opened",
    "tls": "the TLS handshake or certificate failed",
    "transport": "the connection broke off in another way",
    "blocked-address": "the host resolved to an address newsflow may not reach (loopback, "
    "private or link-local, unless the feeds file names it)",
    "bad-url": "not an http(s) URL newsflow can fetch",
    "bad-redirect": "a redirect without a usable target, or to a scheme or address refused",
    "too-many-redirects": "more redirects than the fetcher follows",
    "too-large": "the body is larger than the fetcher reads",
    "bad-encoding": "the body's content encoding could not be decoded",
    "robots": "the outlet's robots.txt does not let newsflow read the URL",
    "deadline": "the batch ran out of time before the URL's turn",
    "malformed-feed": "the feed's XML or JSON is broken (its readable items were still read)",
    "bad-feed": "the body is not a feed at all",
    "feed-retired": "the feed answered 410 Gone on several polls in a row and is no longer polled",
    "not-html": "the page is not HTML (a PDF, an image, a video)",
    "no-text": "no main text was found on the page",
    "too-short": "the main text is shorter than the settings' `min_words`",
    "empty": "the page's body is empty",
    "unparseable": "the page could not be parsed as HTML",
    "internal-error": "a bug in newsflow: the item was recorded instead of stopping the run",
    "batch-failed": "a batch's task failed, so its feeds were not polled (stage `batch`)",
}


def _type(data_type: pa.DataType) -> str:
    text = str(data_type)
    text = text.replace("timestamp[us, tz=UTC]", "timestamp (UTC)").replace("date32[day]", "date")
    text = text.replace("large_string", "string").replace("element: ", "").replace("item: ", "")
    return text.replace("<", "&lt;").replace(">", "&gt;")


def render() -> str:
    lines = [
        "# The tables",
        "",
        "Every table of the lake is a Delta Lake table partitioned by `dt` (`YYYY-MM-DD`, a "
        "string). Columns are only ever added; files written before a column existed read "
        "it as null. Schema version now: "
        f"{SCHEMA_VERSION} (`newsflow.schema_version` in each commit's metadata). This file "
        "is written by `python -m pipeline.tables_doc` from the schemas the pipeline writes "
        "with; a test keeps it in step.",
        "",
    ]
    for name, (schema, about) in TABLES.items():
        docs = COLUMNS[name]
        lines += [f"## `{name}`", "", about, "", "| column | type | meaning | example | since |",
                  "|---|---|---|---|---|"]  # fmt: skip
        for field in (f for f in schema if f.name != "dt"):  # the partition, last
            column = docs[field.name]
            lines.append(f"| `{field.name}` | {_type(field.type)} | {column.meaning} | "
                         f"{column.example} | {column.since} |")  # fmt: skip
        lines.append(f"| `dt` | string | {_DT.meaning} | {_DT.example} | 1 |")
        lines.append("")
    lines += ["## Reject reasons", "", "The codes of `rejects.reason`:", "",
              "| reason | what happened |", "|---|---|"]  # fmt: skip
    lines += [f"| `{code}` | {meaning} |" for code, meaning in REJECT_REASONS.items()]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DOC)
    args = parser.parse_args()
    args.out.write_text(render(), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
