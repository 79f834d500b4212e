"""Main text and metadata of an article page, with trafilatura.

The page is parsed once; trafilatura extracts text, title, authors, description, image
and date (it asks htmldate when the metadata has no date). The page's own statements
(``<link rel=canonical>``, ``article:published_time`` and friends) are read from the same
tree. Pages that yield no usable text raise :class:`ExtractionError` with a reason code
for the rejects table.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urljoin

import py3langid
import trafilatura
from trafilatura.settings import Document

from pipeline.records import parse_timestamp

EXTRACTOR = f"trafilatura/{trafilatura.__version__}"
MIN_WORDS = 80
_WORD = re.compile(r"\w+", re.UNICODE)
_TIME_META = (
    "article:published_time",
    "og:article:published_time",
    "datePublished",
    "date",
    "dc.date",
    "dc.date.issued",
    "pubdate",
    "parsely-pub-date",
    "sailthru.date",
)


class ExtractionError(ValueError):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass
class Extracted:
    title: str | None
    text: str
    authors: list[str]
    published_at: datetime | None
    language: str | None
    summary: str | None
    image: str | None
    canonical_url: str | None
    word_count: int

    @property
    def content_hash(self) -> str:
        return content_hash(self.text)


def content_hash(text: str) -> str:
    """Hash of the text with case, punctuation and spacing folded away."""
    folded = " ".join(_WORD.findall(unicodedata.normalize("NFKC", text).lower()))
    return hashlib.sha256(folded.encode("utf-8")).hexdigest()[:32]


def _json_ld_dates(tree: Any) -> list[str]:
    dates: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            value = node.get("datePublished")
            if isinstance(value, str):
                dates.append(value)
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    for script in tree.xpath('//script[@type="application/ld+json"]/text()'):
        try:
            walk(json.loads(script))
        except (json.JSONDecodeError, RecursionError):
            continue
    return dates


def _stated_time(tree: Any) -> datetime | None:
    """A full publication timestamp the page states in its metadata, if any."""
    candidates: list[str] = []
    for meta in tree.xpath("//meta[@content]"):
        key = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").lower()
        if key in (name.lower() for name in _TIME_META):
            candidates.append(meta.get("content", ""))
    candidates += tree.xpath("//time[@itemprop='datePublished']/@datetime")
    candidates += _json_ld_dates(tree)
    for value in candidates:
        parsed = parse_timestamp(value)
        if parsed is not None and "T" in value:
            return parsed
    return None


def _canonical(tree: Any, url: str | None) -> str | None:
    for href in tree.xpath("//link[@rel='canonical']/@href | //meta[@property='og:url']/@content"):
        href = str(href).strip()
        if href:
            return urljoin(url or "", href)
    return None


def detect_language(text: str, declared: str | None = None) -> str | None:
    """ISO 639-1 code of the text; the page's declared language only for very short text."""
    if len(text) >= 80:
        code, _ = py3langid.classify(text[:3000])
        return str(code)
    if declared:
        code = declared.strip().lower().replace("_", "-").split("-")[0]
        if re.fullmatch(r"[a-z]{2}", code):
            return str(code)
    return None


def _looks_binary(data: bytes) -> str | None:
    head = data[:1024]
    if head.startswith(b"%PDF"):
        return "a PDF document"
    if head[:4] in (b"\x89PNG", b"GIF8", b"PK\x03\x04") or head[:3] == b"\xff\xd8\xff":
        return "an image or archive"
    if head.count(b"\x00") > 8:
        return "binary data"
    return None


def extract(page: bytes | str, url: str | None = None, min_words: int = MIN_WORDS) -> Extracted:
    """Extract one article page. Raises :class:`ExtractionError` when nothing usable is there."""
    if isinstance(page, bytes):
        if not page.strip():
            raise ExtractionError("empty", "the page body is empty")
        binary = _looks_binary(page)
        if binary:
            raise ExtractionError("not-html", f"the body is {binary}, not HTML")
    tree = trafilatura.load_html(page)
    if tree is None:
        raise ExtractionError("unparseable", "the body could not be parsed as HTML")
    declared = tree.get("lang")
    canonical = _canonical(tree, url)
    stated = _stated_time(tree)
    document = trafilatura.bare_extraction(
        tree, url=url, with_metadata=True, include_comments=False, include_tables=True
    )
    if document is not None and not isinstance(document, Document):
        raise TypeError("trafilatura.bare_extraction returned a dict; expected a Document")
    text = (document.text or "").strip() if document is not None else ""
    if not text:
        raise ExtractionError("no-text", "no main text found on the page")
    words = len(_WORD.findall(text))
    if words < min_words:
        raise ExtractionError("too-short", f"{words} words of main text, fewer than {min_words}")
    assert document is not None
    published = stated
    if published is None and document.date:
        published = parse_timestamp(document.date)
    authors = [a.strip() for a in (document.author or "").split(";") if a.strip()]
    return Extracted(
        title=(document.title or "").strip() or None,
        text=text,
        authors=authors,
        published_at=published,
        language=detect_language(text, declared),
        summary=(document.description or "").strip() or None,
        image=document.image or None,
        canonical_url=canonical,
        word_count=words,
    )
