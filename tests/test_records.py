from __future__ import annotations

from datetime import UTC, datetime

from pipeline.records import (
    ARTICLES_SCHEMA,
    MAX_NAMES,
    MAX_TEXT,
    MAX_TITLE,
    TEXT_TRUNCATED,
    Article,
    to_table,
)


def test_an_article_lands_no_field_bigger_than_its_cap_and_says_when_its_text_was_cut() -> None:
    article = Article(
        article_id="a", url="http://x.example/a", canonical_url="http://x.example/a",
        source_domain="x.example", source_name="X", feed_url=None, title="t" * 10_000,
        authors=["someone"] * 100, published_at=None, fetched_at=datetime.now(UTC),
        language="en", text="word " * 200_000, summary=None, image=None, word_count=200_000,
        content_hash="h", raw_ref=None, extractor="e", pipeline_version="v",
    )  # fmt: skip
    assert len(article.title or "") == MAX_TITLE and len(article.authors) == MAX_NAMES
    assert len(article.text) == MAX_TEXT and article.flags == [TEXT_TRUNCATED]
    (row,) = to_table([article.to_row()], ARTICLES_SCHEMA).to_pylist()
    assert row["flags"] == [TEXT_TRUNCATED]
