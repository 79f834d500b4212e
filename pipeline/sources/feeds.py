"""Outlets and their feeds: the feeds file, feed parsing, and polite polling.

Polling fetches the bytes with our own :class:`~pipeline.sources.http.Fetcher` (timeouts, caps,
network guard) and hands them to feedparser (RSS 0.9x/1.0/2.0, Atom) or to the JSON Feed
reader here. Each feed's ETag and Last-Modified are sent back on the next poll; a 304, or
a 200 whose body hashes the same as last time, means nothing new.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
import yaml

from pipeline.records import MAX_SUMMARY, MAX_TITLE, MAX_URL, clip, clip_names, parse_timestamp
from pipeline.sources.http import Fetcher, FetchError
from pipeline.urls import canonicalize, source_domain


class FeedsFileError(ValueError):
    """The feeds file cannot be used; the message says where and why."""


@dataclass(frozen=True)
class Feed:
    """One feed of an outlet, as the outlets registry (the feeds file) lists it: the
    outlet's name, sectors and news sitemaps come with it."""

    url: str
    name: str  # the outlet's
    sectors: tuple[str, ...] = ()
    sitemaps: tuple[str, ...] = ()  # the outlet's news sitemaps, for backfills

    @property
    def domain(self) -> str:
        return source_domain(self.url)

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "name": self.name, "sectors": list(self.sectors),
                "sitemaps": list(self.sitemaps)}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Feed:
        return cls(url=data["url"], name=data["name"], sectors=tuple(data.get("sectors", ())),
                   sitemaps=tuple(data.get("sitemaps", ())))  # fmt: skip


@dataclass(frozen=True)
class Outlet:
    """One outlet of the registry: however many feeds it has, its articles carry its name
    and it counts once."""

    name: str
    domain: str
    feeds: tuple[str, ...]
    sectors: tuple[str, ...] = ()
    sitemaps: tuple[str, ...] = ()
    extraction: dict[str, Any] = field(default_factory=dict)  # hints, see extract.load_hints


def _url_problem(url: str) -> str | None:
    """What is wrong with a feed URL, in words that never repeat a password."""
    parts = urlsplit(url)
    if "@" in parts.netloc:
        return (f"the URL for {parts.netloc.rsplit('@', 1)[1]} carries credentials; newsflow "
                "reads public feeds only, and the URL would reach logs and tables")  # fmt: skip
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{url!r} is not an absolute http(s) URL"
    if any(c.isspace() or ord(c) < 32 for c in url):
        return f"{url!r} contains spaces or control characters"
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number in 0..65535
    except ValueError:
        return f"{url!r} has an invalid port"
    return None


def load_feeds(path: str | Path) -> list[Feed]:
    """The feeds of the outlets registry at ``path``, each with its outlet's name, sectors
    and sitemaps; see ``load_outlets``."""
    return [
        Feed(url=url, name=outlet.name, sectors=outlet.sectors, sitemaps=outlet.sitemaps)
        for outlet in load_outlets(path)
        for url in outlet.feeds
    ]


def load_outlets(path: str | Path) -> list[Outlet]:
    """Read and validate the outlets registry (the feeds file). Outlets are listed under
    ``outlets:``, each with ``name``, ``feeds`` (a list of feed URLs) and optionally
    ``domain`` (default: its first feed's), ``sectors``, ``sitemaps`` (news sitemap URLs)
    and ``extraction`` (hints: ``content`` and ``drop`` XPaths). The shorter ``feeds:``
    form (``[{url, name?, sectors?}, …]``) is read too: feeds that give the same name are
    one outlet; a feed without a name is the outlet of its domain."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FeedsFileError(
            f"{path}: feeds file not found (set --feeds or NEWSFLOW_FEEDS)"
        ) from None
    except yaml.YAMLError as exc:
        raise FeedsFileError(f"{path}: not valid YAML: {exc}") from None
    document = document if isinstance(document, dict) else {}
    listed, feeds = document.get("outlets") or [], document.get("feeds") or []
    if not isinstance(listed, list) or not isinstance(feeds, list) or not (listed or feeds):
        raise FeedsFileError(f"{path}: expected a non-empty list under 'outlets:' or 'feeds:'")
    seen: set[str] = set()

    def checked(given: Any, where: str) -> str:
        if not isinstance(given, str):
            raise FeedsFileError(f"{where}: each feed needs a 'url' string")
        url = given.strip()
        problem = _url_problem(url)
        if problem:
            raise FeedsFileError(f"{where}: {problem}")
        if url in seen:
            raise FeedsFileError(f"{where}: {url} is listed twice")
        seen.add(url)
        return url

    def strings(value: Any, key: str, where: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise FeedsFileError(f"{where}: '{key}' must be a list of strings")
        return tuple(v.strip() for v in value)

    outlets: dict[str, Outlet] = {}
    for number, entry in enumerate(listed, start=1):
        where = f"{path}: outlet #{number}"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise FeedsFileError(f"{where}: each outlet needs a 'name'")
        where = f"{path}: outlet {entry['name']!r}"
        urls = entry.get("feeds")
        if not isinstance(urls, list) or not urls:
            raise FeedsFileError(f"{where}: 'feeds' must be a non-empty list of feed URLs")
        own = tuple(checked(url, where) for url in urls)
        sitemaps = strings(entry.get("sitemaps"), "sitemaps", where)
        for sitemap in sitemaps:
            if problem := _url_problem(sitemap):
                raise FeedsFileError(f"{where}: sitemap {problem}")
        extraction = entry.get("extraction") or {}
        if not isinstance(extraction, dict):
            raise FeedsFileError(f"{where}: 'extraction' must map 'content' and 'drop'")
        if entry["name"] in outlets:
            raise FeedsFileError(f"{where}: the outlet is listed twice")
        outlets[entry["name"]] = Outlet(
            name=entry["name"], domain=str(entry.get("domain") or source_domain(own[0])).lower(),
            feeds=own, sectors=strings(entry.get("sectors"), "sectors", where),
            sitemaps=sitemaps, extraction=extraction,
        )  # fmt: skip
    for number, entry in enumerate(feeds, start=1):
        where = f"{path}: feed #{number}"
        entry = {"url": entry} if isinstance(entry, str) else entry
        if not isinstance(entry, dict):
            raise FeedsFileError(f"{where}: each feed needs a 'url' string")
        url = checked(entry.get("url"), where)
        name = entry.get("name") or source_domain(url)
        if not isinstance(name, str):
            raise FeedsFileError(f"{where}: 'name' must be a string and 'sectors' a list")
        sectors = entry.get("sectors") or []
        if not isinstance(sectors, list):
            raise FeedsFileError(f"{where}: 'name' must be a string and 'sectors' a list")
        known = outlets.get(name)
        if known is None:
            outlets[name] = Outlet(name=name, domain=source_domain(url), feeds=(url,),
                                   sectors=tuple(str(s) for s in sectors))  # fmt: skip
        else:  # another feed of the same outlet
            merged = tuple(dict.fromkeys([*known.sectors, *(str(s) for s in sectors)]))
            outlets[name] = replace(known, feeds=(*known.feeds, url), sectors=merged)
    return list(outlets.values())


@dataclass(frozen=True)
class FeedItem:
    """One entry of a feed: a link to an article and what the feed says about it."""

    feed_url: str
    url: str
    title: str | None
    published_at: datetime | None
    summary: str | None = None
    authors: tuple[str, ...] = ()
    guid: str | None = None
    flags: tuple[str, ...] = ()  # what was changed of what the feed said (FUTURE_DATE)

    def __post_init__(self) -> None:
        # Whatever the feed sent, nothing bigger than the records' limits goes further.
        object.__setattr__(self, "title", clip(self.title, MAX_TITLE))
        object.__setattr__(self, "summary", clip(self.summary, MAX_SUMMARY))
        object.__setattr__(self, "authors", tuple(clip_names(self.authors)))
        object.__setattr__(self, "guid", clip(self.guid, MAX_URL))

    @property
    def canonical_url(self) -> str:
        return canonicalize(self.url)


@dataclass
class ParsedFeed:
    items: list[FeedItem]
    format: str
    title: str | None = None
    problem: str | None = None  # set when the feed was malformed but partly readable
    skipped: int = 0  # entries without a usable link (none, or longer than MAX_URL)


_BENIGN = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)


def _struct_to_datetime(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (OverflowError, ValueError, TypeError):
        return None


def _looks_like_json(body: bytes, content_type: str | None) -> bool:
    if content_type and "json" in content_type.lower():
        return True
    return body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{"


def _parse_json_feed(body: bytes, feed_url: str) -> ParsedFeed:
    try:
        document = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a valid JSON Feed: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("items"), list):
        raise ValueError("not a JSON Feed: no 'items' list")
    items: list[FeedItem] = []
    skipped = 0
    for entry in document["items"]:
        link = entry.get("url") or entry.get("external_url") if isinstance(entry, dict) else None
        if (
            not isinstance(entry, dict)
            or not isinstance(link, str)
            or not link.strip()
            or (len(link) > MAX_URL)
        ):
            skipped += 1
            continue
        authors = entry.get("authors") or ([entry["author"]] if entry.get("author") else [])
        names = tuple(
            a["name"] for a in authors if isinstance(a, dict) and isinstance(a.get("name"), str)
        )
        title = entry.get("title")
        summary = entry.get("summary")
        items.append(
            FeedItem(
                feed_url=feed_url,
                url=urljoin(feed_url, link.strip()),
                title=title if isinstance(title, str) else None,
                published_at=parse_timestamp(entry.get("date_published")),
                summary=summary if isinstance(summary, str) else None,
                authors=names,
                guid=str(entry.get("id")) if entry.get("id") is not None else None,
            )
        )
    title = document.get("title")
    return ParsedFeed(items, "json", title if isinstance(title, str) else None, skipped=skipped)


_DECLARATION = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_DECLARATION_TOKEN = re.compile(rb"""["'\[\]>]|<!--|<\?""")
_WIDE = ((b"\x00\x00\xfe\xff", "utf-32-be"), (b"\xff\xfe\x00\x00", "utf-32-le"),
         (b"\xfe\xff", "utf-16"), (b"\xff\xfe", "utf-16"), (b"\x00<\x00?", "utf-16-be"),
         (b"<\x00?\x00", "utf-16-le"))  # fmt: skip
_XML_ENCODING = re.compile(r"""^(\ufeff?<\?xml[^>]*?)\s+encoding\s*=\s*["'][^"']*["']""")


def _declaration_end(data: bytes, start: int) -> int:
    """Where the markup declaration at ``start`` (``<!DOCTYPE …>`` with its internal
    subset, or ``<!ENTITY …>``) ends: quoted strings, comments, processing instructions
    and brackets are stepped over, so a ``>`` inside them does not end it."""
    depth, at = 0, start + 2
    while match := _DECLARATION_TOKEN.search(data, at):
        token, at = match.group(), match.end()
        closing = {b'"': b'"', b"'": b"'", b"<!--": b"-->", b"<?": b"?>"}.get(token)
        if closing is not None:
            end = data.find(closing, at)
            if end < 0:
                break
            at = end + len(closing)
        elif token == b"[":
            depth += 1
        elif token == b"]":
            depth = max(0, depth - 1)
        elif depth == 0:  # ">"
            return at
    return len(data)


def without_declarations(body: bytes) -> tuple[bytes, bool]:
    """The feed's bytes with every document type declaration and entity declaration cut
    out unread, and whether any declared something (an internal subset or an entity).

    No parser then sees an entity it could expand, nor an external one it could fetch:
    expat stops the billion laughs, but feedparser's lenient fallback expands a large
    entity referenced many times, and its strict parser would read the declarations."""
    for bom, encoding in _WIDE:  # a wide encoding: the same bytes as UTF-8, declared so
        if body.startswith(bom):
            text = body.decode(encoding, errors="replace").lstrip("\ufeff")
            body = _XML_ENCODING.sub(r"\1", text).encode("utf-8")
            break
    if not _DECLARATION.search(body):
        return body, False
    pieces, at, declared = [], 0, False
    while match := _DECLARATION.search(body, at):
        end = _declaration_end(body, match.start())
        pieces.append(body[at : match.start()])
        declaration = body[match.start() : end]
        declared = declared or b"[" in declaration or match.group().upper() == b"<!ENTITY"
        at = end
    pieces.append(body[at:])
    return b"".join(pieces), declared


def parse_feed(body: bytes, feed_url: str, content_type: str | None = None) -> ParsedFeed:
    """Parse RSS, Atom or JSON Feed bytes. Raises ValueError if nothing is readable."""
    if _looks_like_json(body, content_type):
        return _parse_json_feed(body, feed_url)
    headers = {"content-location": feed_url}
    if content_type:
        headers["content-type"] = content_type
    body, declared = without_declarations(body)
    parsed = feedparser.parse(body, response_headers=headers)
    problem = None
    error = parsed.get("bozo_exception")
    # A wrong or missing Content-Type or charset label is the server's slip, not the feed's.
    if parsed.get("bozo") and not isinstance(error, _BENIGN):
        problem = f"malformed feed: {error}"
    if declared:
        problem = (f"{problem}; " if problem else "") + (
            "its document type declaration declared entities, and was removed unread"
        )
    if not parsed.get("version") and not parsed.entries:
        raise ValueError(problem or "not an RSS, Atom or JSON feed")
    items: list[FeedItem] = []
    skipped = 0
    for entry in parsed.entries:
        link = entry.get("link")
        if not link or len(link) > MAX_URL:
            skipped += 1
            continue
        authors = tuple(a["name"] for a in entry.get("authors", []) if a.get("name"))
        items.append(
            FeedItem(
                feed_url=feed_url,
                url=urljoin(feed_url, link.strip()),
                title=entry.get("title"),
                published_at=_struct_to_datetime(
                    entry.get("published_parsed") or entry.get("updated_parsed")
                ),
                summary=entry.get("summary"),
                authors=authors,
                guid=entry.get("id"),
            )
        )
    return ParsedFeed(
        items, parsed.get("version") or "unknown", parsed.feed.get("title"), problem, skipped
    )


@dataclass
class Validators:
    """What we remember of a feed between polls."""

    etag: str | None = None
    last_modified: str | None = None
    content_hash: str | None = None

    def request_headers(self) -> dict[str, str]:
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


@dataclass
class PollResult:
    feed: Feed
    status: str  # "ok", "not-modified", "unchanged" or "failed"
    items: list[FeedItem] = field(default_factory=list)
    validators: Validators | None = None  # what to remember if this poll is committed
    error: FetchError | None = None
    problem: str | None = None


def poll(fetcher: Fetcher, feed: Feed, known: Validators | None) -> PollResult:
    """Poll one feed with conditional GET. Never raises for a bad feed: the result says."""
    known = known or Validators()
    try:
        page = fetcher.get(feed.url, headers=known.request_headers())
    except FetchError as exc:
        return PollResult(feed, "failed", error=exc)
    if page.status == 304:
        return PollResult(feed, "not-modified", validators=known)
    digest = hashlib.sha256(page.body).hexdigest()
    validators = Validators(page.header("etag"), page.header("last-modified"), digest)
    if known.content_hash == digest:
        return PollResult(feed, "unchanged", validators=validators)
    try:
        parsed = parse_feed(page.body, page.final_url, page.header("content-type"))
    except ValueError as exc:
        return PollResult(feed, "failed", error=FetchError(feed.url, "bad-feed", str(exc)))
    problem = parsed.problem
    if parsed.skipped:
        problem = (
            f"{problem + '; ' if problem else ''}{parsed.skipped} entries without a usable link"
        )
    return PollResult(feed, "ok", parsed.items, validators, problem=problem)
