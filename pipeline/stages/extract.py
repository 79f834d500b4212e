"""Main text and metadata of an article page: trafilatura, and what the page says itself.

The page is parsed once, and its paywall and newsletter boxes and readers' comments are
pruned. trafilatura extracts the main text (recall-oriented, comments left out) and the
metadata newsflow keeps (htmldate's
extensive search only when the quick one finds nothing). The page's own statements come
from the same tree: ``<link rel=canonical>``, a full publication time in
``article:published_time``, JSON-LD and friends, and the headline (the ``<h1>`` that the
page's title, ``og:title`` or JSON-LD ``headline`` confirm, without the site's name).
When trafilatura returns far less than the page's paragraphs, its JSON-LD
``articleBody``, or readability hold, and what it returned is part of that, the longer
text wins: a
generic extractor sometimes settles on one block of an article split in several; a
JSON-LD ``articleBody`` that holds a paywall teaser is the whole article; a gallery's
captions are its text. The text is then tidied (the headline repeated as its first line,
repeated paragraphs, sharing prompts). Pages that yield no usable text raise
:class:`ExtractionError` with a reason code for the rejects table.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import re
import unicodedata
from collections import Counter
from copy import deepcopy
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import py3langid
import trafilatura
from htmldate import find_date
from lxml import etree
from trafilatura.external import try_readability
from trafilatura.metadata import examine_meta, extract_author, extract_meta_json, extract_title
from trafilatura.settings import Document, set_date_params
from yaml.nodes import SequenceNode

from pipeline.records import (
    MAX_SUMMARY,
    MAX_TEXT,
    MAX_TITLE,
    MAX_URL,
    TEXT_TRUNCATED,
    clip,
    clip_names,
    parse_timestamp,
)
from pipeline.settings import MIN_WORDS
from pipeline.urls import source_domain
from pipeline.yamlfile import YamlFile

EXTRACTOR = f"trafilatura/{trafilatura.__version__}"
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


# How trafilatura is asked for the main text.
TRAFILATURA_OPTIONS: dict[str, Any] = {
    "include_comments": False,
    "include_tables": True,
    "favor_recall": True,
}
# htmldate's extensive search (dateparser over the whole page) costs more than the rest of
# the extraction together; it runs only when the quick search finds no date (_published).
_QUICK_DATE = set_date_params(False)
# The second opinions: trafilatura's own baseline (JSON-LD articleBody, <article>, the
# page's paragraphs), then readability. They are asked when trafilatura's text is short for
# the page, and one's text wins when it is at least SECOND_OPINION_RATIO times longer and
# holds at least SECOND_OPINION_OVERLAP of trafilatura's words.
SECOND_OPINION_RATIO, SECOND_OPINION_OVERLAP = 2.0, 0.7
_SHORT_WORDS, _WORDS_PER_PARAGRAPH = 250, 10
_STATED_OVERLAP = 0.6  # of the extracted words that a JSON-LD articleBody must hold
_SHORT_LINE = 5  # words
_SHARING = frozenset(
    "share sharing compartir comparte partager partagez teilen tweet whatsapp".split()
)
# Boxes that are never the article, whatever their size: paywall prompts, newsletter
# sign-ups, "up next" video rails, by a token of their class. (trafilatura knows most
# boilerplate; these slip through on pages with little text, where it favours recall.)
# They are removed from the parsed page before anything reads it, in one pass over the
# elements that have a class: an XPath per name cost more than trafilatura's own pruning.
_BOXES = frozenset(
    "paywall subscribe subscription newsletter up-next upnext controls more-videos "
    "piano-offer comment-list commentlist comments-area".split()
)
# Readers' comments, by the ids the common publishing systems give their section.
# trafilatura keeps them when a page has so many that it takes it for a forum thread.
_COMMENT_IDS = frozenset(("comments", "disqus_thread", "respond"))
_WHOLE = frozenset(("html", "body", "main", "article"))
# A page whose text is this short but holds this many captions is a gallery: its captions
# are its text.
_GALLERY_WORDS, _GALLERY_CAPTIONS = 60, 3


class ExtractionError(ValueError):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail

    def __reduce__(self) -> tuple[type[ExtractionError], tuple[str, str]]:
        return ExtractionError, (self.reason, self.detail)  # crosses process pools whole


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
    flags: tuple[str, ...] = ()  # TEXT_TRUNCATED

    def __post_init__(self) -> None:
        self.title = clip(self.title, MAX_TITLE)
        self.summary = clip(self.summary, MAX_SUMMARY)
        self.authors = clip_names(self.authors)
        self.image = clip(self.image, MAX_URL)
        self.canonical_url = clip(self.canonical_url, MAX_URL)

    @property
    def content_hash(self) -> str:
        return content_hash(self.text)


def content_hash(text: str) -> str:
    """Hash of the text with case, punctuation and spacing folded away."""
    folded = " ".join(_WORD.findall(unicodedata.normalize("NFKC", text).lower()))
    return hashlib.sha256(folded.encode("utf-8")).hexdigest()[:32]


def _json_ld(tree: Any) -> list[dict[str, Any]]:
    """Every JSON-LD object of the page, nested ones (``@graph``) included."""
    found: list[dict[str, Any]] = []
    for script in tree.xpath('//script[@type="application/ld+json"]/text()'):
        try:
            stack = [json.loads(script)]
        except (json.JSONDecodeError, RecursionError):
            continue
        while stack:
            node = stack.pop()
            if isinstance(node, list):
                stack.extend(node)
            elif isinstance(node, dict):
                found.append(node)
                stack.extend(v for v in node.values() if isinstance(v, list | dict))
    return found


def _json_ld_article(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """The page's JSON-LD article (NewsArticle, BlogPosting, …), or nothing."""
    for node in objects:
        kinds = node.get("@type")
        kinds = kinds if isinstance(kinds, list) else [kinds]
        if any(isinstance(k, str) and (k.endswith("Article") or k == "BlogPosting") for k in kinds):
            return node
    return {}


def _json_ld_authors(article: dict[str, Any]) -> list[str]:
    """Author names the JSON-LD article states."""
    authors = article.get("author")
    listed = authors if isinstance(authors, list) else [authors]
    names = [a.get("name") if isinstance(a, dict) else a for a in listed]
    return [n.strip() for n in names if isinstance(n, str) and n.strip()]


def _words(text: str | None) -> list[str]:
    return _WORD.findall((text or "").lower())


def _headline(tree: Any, titles: list[str | None]) -> str | None:
    """The page's headline: the first ``<h1>`` that one of the page's titles confirms
    (half of its words in it), else the first title, without a " | Site" suffix."""
    confirming = [set(_words(t)) for t in titles if t]
    for h1 in tree.xpath("//h1")[:5]:
        text = " ".join(h1.text_content().split())
        words = set(_words(text))
        if words and any(len(words & other) >= len(words) / 2 for other in confirming):
            return text
    title = next((t.strip() for t in titles if t and t.strip()), None)
    if title:
        parts = re.split(r"\s+[|–—-]\s+", title)
        title = max(parts, key=len) if len(parts) > 1 else title
    return title


def _metadata(tree: Any) -> Document:
    """trafilatura's metadata steps that newsflow keeps (meta tags, JSON-LD, title, author,
    htmldate's quick search), not those it does not (site name, categories, tags,
    licence), which cost as much again."""
    metadata = examine_meta(tree)
    if metadata.author and " " not in metadata.author:
        metadata.author = None  # a single word is a handle, not a name (as trafilatura)
    with contextlib.suppress(Exception):  # trafilatura's JSON-LD reader fails on odd JSON
        metadata = extract_meta_json(tree, metadata)
    metadata.title = metadata.title or extract_title(tree)
    metadata.author = metadata.author or extract_author(tree)
    metadata.date = find_date(tree, **_QUICK_DATE)
    metadata.clean_and_trim()
    return metadata


def _published(tree: Any, stated: datetime | None, day: str | None) -> datetime | None:
    """The publication time: htmldate's day (its slow extensive search only when the quick
    one finds nothing), with the time of day the metadata states when it is the same day."""
    if day is None and stated is None:
        day = find_date(tree, extensive_search=True, original_date=True)
    if stated is not None and (day is None or stated.date().isoformat() == day[:10]):
        return stated
    return parse_timestamp(day)


def _stated_body(article: dict[str, Any], text: str) -> str | None:
    """The JSON-LD ``articleBody`` when it is longer than the extracted text and holds most
    of it: the whole article behind a paywall teaser. A body that is shorter (a teaser) or
    says something else (a subscription pitch) is not the article."""
    body = article.get("articleBody")
    if not isinstance(body, str):
        return None
    ours, theirs = _words(text), _words(body)
    if len(theirs) <= len(ours) or not ours:
        return None
    shared = sum((Counter(ours) & Counter(theirs)).values())
    return body.strip() if shared >= _STATED_OVERLAP * len(ours) else None


def _with_captions(tree: Any, text: str) -> str:
    """A gallery's captions after its short text."""
    if len(_words(text)) >= _GALLERY_WORDS:
        return text
    captions = [" ".join(c.text_content().split()) for c in tree.xpath("//figcaption")]
    captions = [c for c in captions if len(c.split()) > 3 and c not in text]
    if len(captions) < _GALLERY_CAPTIONS:
        return text
    return "\n".join([text, *captions]).strip()


def _second_opinion(tree: Any, page: bytes | str, text: str) -> str:
    """When trafilatura's text is short for the page: trafilatura's baseline (JSON-LD
    ``articleBody``, ``<article>``, the page's paragraphs), then readability, whichever
    first holds trafilatura's text and much more."""
    ours = _words(text)
    raw = page if isinstance(page, bytes) else page.encode("utf-8", "replace")
    paragraphs = sum(raw.count(tag) for tag in (b"<p>", b"<p ", b"<P>", b"<P "))
    if len(ours) >= _SHORT_WORDS and len(ours) >= _WORDS_PER_PARAGRAPH * paragraphs:
        return text  # already as long as the page's paragraphs suggest
    for opinion in (_baseline, _readability):
        other = opinion(tree)
        theirs = _words(other)
        if len(theirs) >= SECOND_OPINION_RATIO * max(1, len(ours)):
            shared = sum((Counter(ours) & Counter(theirs)).values())
            if shared >= SECOND_OPINION_OVERLAP * len(ours):
                return other.strip()
    return text


def _baseline(tree: Any) -> str:
    return str(trafilatura.baseline(tree)[1])


def _readability(tree: Any) -> str:
    return " ".join(try_readability(deepcopy(tree)).itertext())  # it edits the tree it reads


def _tidy(text: str, title: str | None) -> str:
    """Without the headline repeated as the first line, paragraphs repeated word for word,
    short lines repeated three times or more (the "Share this post" of every entry of a live
    blog) and short sharing prompts ("Compartir en redes sociales")."""
    lines = text.split("\n")
    if title and lines and _words(lines[0]) == _words(title):
        lines = lines[1:]
    keys = [" ".join(_words(line)) for line in lines]
    times = Counter(keys)
    seen: set[str] = set()
    kept = []
    for line, key in zip(lines, keys, strict=True):
        short = len(key.split()) <= _SHORT_LINE
        if short and (times[key] >= 3 or _SHARING.intersection(key.split())):
            continue
        if len(key) > 20:
            if key in seen:
                continue
            seen.add(key)
        kept.append(line)
    return "\n".join(kept).strip()


def _stated_time(tree: Any, objects: list[dict[str, Any]]) -> datetime | None:
    """A full publication timestamp the page states in its metadata, if any."""
    candidates: list[str] = []
    for meta in tree.xpath("//meta[@content]"):
        key = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").lower()
        if key in (name.lower() for name in _TIME_META):
            candidates.append(meta.get("content", ""))
    candidates += tree.xpath("//time[@itemprop='datePublished']/@datetime")
    candidates += [o["datePublished"] for o in objects if isinstance(o.get("datePublished"), str)]
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
        code, _ = py3langid.classify(text[:1500])
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


@dataclass(frozen=True)
class Hints:
    """What an outlet's pages need beyond the generic method: XPath expressions of the
    element(s) holding the article text (``content``) and of boxes that are not the article
    (``drop``). From the ``extraction`` of the outlet in the outlets registry, by domain."""

    content: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()


class HintsError(ValueError):
    pass


def load_hints(*paths: Path | str) -> dict[str, Hints]:
    """The extraction hints of the outlets, by domain, from each file of ``paths`` (later
    ones win): the outlets registry (``outlets:`` a list, each outlet's ``extraction:``
    with ``content`` and ``drop``), or a hints file (``outlets:`` a mapping of domains to
    their ``content`` and ``drop``). Each expression is compiled here, so that a mistake
    names its file and line at start-up."""
    hints: dict[str, Hints] = {}
    for path in paths:
        doc = YamlFile(path, HintsError)
        root = doc.mapping(doc.root, "the file", None)
        listed = root.get("outlets")
        if isinstance(listed, SequenceNode):  # the registry
            for item in listed.value:
                entry = doc.mapping(item, "an outlet", None)
                if "extraction" in entry:
                    name = getattr(entry.get("name"), "value", "?")
                    hints[_outlet_domain(doc, entry)] = _hints(doc, entry["extraction"], name)
        else:
            for domain, node in doc.mapping(listed, "outlets").items():
                hints[domain.lower()] = _hints(doc, node, domain)
    return hints


def _outlet_domain(doc: YamlFile, entry: dict[str, Any]) -> str:
    """The domain an outlet of the registry gives, else its first feed's."""
    if "domain" in entry:
        return str(entry["domain"].value).lower()
    feeds = doc.strings(entry.get("feeds"), "feeds")
    if not feeds:
        raise doc.fail(next(iter(entry.values())), "an outlet with hints needs 'feeds' or 'domain'")
    return source_domain(feeds[0])


def _hints(doc: YamlFile, node: Any, name: str) -> Hints:
    entry = doc.mapping(node, f"outlets.{name}", ("content", "drop"))
    for key, listed in entry.items():
        for expression in doc.strings(listed, f"outlets.{name}.{key}"):
            try:
                etree.XPath(expression)
            except etree.XPathSyntaxError as exc:
                raise doc.fail(listed, f"{expression!r} is not an XPath: {exc}") from None
    return Hints(
        content=tuple(doc.strings(entry.get("content"), "content")),
        drop=tuple(doc.strings(entry.get("drop"), "drop")),
    )


@functools.lru_cache(maxsize=256)
def _xpath(expression: str) -> etree.XPath:
    return etree.XPath(expression)


def _prune(tree: Any, drop: tuple[str, ...]) -> None:
    """Remove the boxes that are never the article, and what the outlet's ``drop`` hint
    names, keeping their tails (text that follows them in their parent). A "box" that is
    an ``<article>`` or holds the headline is the article itself (``<article
    class=paywall>`` on a page whose whole text is there)."""
    boxes = [
        e
        for e in tree.iter("*")
        if ((c := e.get("class")) and _BOXES.intersection(c.split())) or e.get("id") in _COMMENT_IDS
    ]
    boxes = [e for e in boxes if e.tag not in _WHOLE and e.find(".//h1") is None]
    doomed = boxes + [e for expression in drop for e in _xpath(expression)(tree)]
    for element in doomed:
        if element.getparent() is not None:
            element.drop_tree()


def _hinted_text(tree: Any, url: str | None, hints: Hints) -> str:
    """The text of the elements the outlet's ``content`` hint names, extracted alone."""
    found = [e for expression in hints.content for e in _xpath(expression)(tree)]
    if not found:
        return ""
    body = etree.Element("body")
    body.extend(deepcopy(element) for element in found if isinstance(element, etree._Element))
    page = etree.Element("html")
    page.append(body)
    document = trafilatura.bare_extraction(
        page, url=url, include_comments=False, include_tables=True, favor_recall=True
    )
    return (document.text or "").strip() if isinstance(document, Document) else ""


def extract(
    page: bytes | str,
    url: str | None = None,
    min_words: int = MIN_WORDS,
    hints: Hints | None = None,
) -> Extracted:
    """Extract one article page, with the outlet's ``hints`` if it has any. Raises
    :class:`ExtractionError` when nothing usable is there."""
    if isinstance(page, bytes):
        if not page.strip():
            raise ExtractionError("empty", "the page body is empty")
        binary = _looks_binary(page)
        if binary:
            raise ExtractionError("not-html", f"the body is {binary}, not HTML")
    tree = trafilatura.load_html(page)
    if tree is None:
        raise ExtractionError("unparseable", "the body could not be parsed as HTML")
    _prune(tree, hints.drop if hints else ())
    declared = tree.get("lang")
    canonical = _canonical(tree, url)
    objects = _json_ld(tree)
    article = _json_ld_article(objects)
    stated = _stated_time(tree, objects)
    document = trafilatura.bare_extraction(tree, url=url, **TRAFILATURA_OPTIONS)
    if document is not None and not isinstance(document, Document):
        raise TypeError("trafilatura.bare_extraction returned a dict; expected a Document")
    hinted = _hinted_text(tree, url, hints) if hints and hints.content else ""
    metadata = _metadata(tree)
    og_title = tree.xpath("//meta[@property='og:title']/@content")
    headline = article.get("headline") if isinstance(article.get("headline"), str) else None
    title = _headline(tree, [headline, metadata.title, og_title[0] if og_title else None])
    main = (document.text or "").strip() if document is not None else ""
    main = hinted or _stated_body(article, main) or _second_opinion(tree, page, main)
    text = _tidy(_with_captions(tree, main), title)
    if not text:
        raise ExtractionError("no-text", "no main text found on the page")
    flags = (TEXT_TRUNCATED,) if len(text) > MAX_TEXT else ()
    text = text[:MAX_TEXT]
    words = len(_WORD.findall(text))
    if words < min_words:
        raise ExtractionError("too-short", f"{words} words of main text, fewer than {min_words}")
    published = _published(tree, stated, metadata.date)
    authors = [a.strip() for a in (metadata.author or "").split(";") if a.strip()]
    return Extracted(
        title=title,
        text=text,
        authors=authors or _json_ld_authors(article),
        published_at=published,
        language=detect_language(text, declared),
        summary=(metadata.description or "").strip() or None,
        image=metadata.image or None,
        canonical_url=canonical,
        word_count=words,
        flags=flags,
    )
