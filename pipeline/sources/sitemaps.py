"""News sitemaps and sitemap indexes, given or declared in the outlets' robots.txt: the
pages of the days asked for, fetched politely.
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Iterator
from contextlib import closing
from datetime import date, datetime
from functools import partial
from typing import Any
from urllib.parse import urljoin

from lxml import etree

from pipeline.records import parse_timestamp
from pipeline.sources.base import (
    FETCH_GROUP,
    BackfillError,
    FetchingSource,
    Found,
    Input,
    Position,
    found_after_fetch,
    in_memory,
)
from pipeline.sources.feeds import Feed, FeedItem
from pipeline.sources.http import Fetcher, FetchError

log = logging.getLogger(__name__)


_SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


_NEWS = "{http://www.google.com/schemas/sitemap-news/0.9}"


def _sitemap_tree(body: bytes, url: str) -> Any:
    """A sitemap's XML (gzipped or not), parsed without entities or network access."""
    if body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=True)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        raise BackfillError(f"{url}: not a sitemap: {exc}") from None
    if root is None:
        raise BackfillError(f"{url}: not a sitemap: empty or unreadable XML")
    return root


def _entry_date(entry: Any) -> datetime | None:
    for path in (f"{_NEWS}news/{_NEWS}publication_date", f"{_SITEMAP}lastmod"):
        value = entry.findtext(path)
        parsed = parse_timestamp(value.strip()) if value else None
        if parsed is not None:
            return parsed
    return None


class SitemapSource(FetchingSource):
    """News sitemaps and sitemap indexes: given, else those the outlets registry lists
    for an outlet, else those its robots.txt declares.

    An index's child sitemaps whose ``lastmod`` is before the first day are not read. An
    entry's day is its ``news:publication_date``, else its ``lastmod``; entries of other
    days, of sites not in the feeds file, or with no date are left out. The pages are
    fetched (politely, robots.txt obeyed) and go the way of a live run's pages."""

    name = "sitemap"

    def __init__(
        self, sitemaps: list[str], feeds: list[Feed], fetcher: Fetcher, first: date
    ) -> None:
        self.fetcher = fetcher
        if not sitemaps:  # those of the registry, else those robots.txt declares
            sitemaps = sorted(
                {url for feed in feeds for url in feed.sitemaps or self._declared(feed.url)},
            )
            if not sitemaps:
                raise BackfillError(
                    "no sitemap given, and neither the outlets registry nor the outlets' "
                    "robots.txt name one"
                )
        urlsets: list[tuple[str, bytes]] = []
        queue, visited = list(sitemaps), set()
        while queue:
            url = queue.pop(0)
            if url in visited:
                continue
            visited.add(url)
            body = self._get(url)
            root = _sitemap_tree(body, url)
            if root.tag == f"{_SITEMAP}sitemapindex":
                for child in root.iterfind(f"{_SITEMAP}sitemap"):
                    loc, changed = child.findtext(f"{_SITEMAP}loc"), _entry_date(child)
                    if loc and (changed is None or changed.date() >= first):
                        queue.append(urljoin(url, loc.strip()))
            else:
                urlsets.append((url, body))
        inputs = [Input(url, len(body), partial(in_memory, body)) for url, body in urlsets]
        super().__init__(inputs, feeds)

    def _declared(self, url: str) -> list[str]:
        robots = self.fetcher.robots(url)
        return list(robots.sitemaps) if robots is not None else []

    def _get(self, url: str) -> bytes:
        try:
            return self.fetcher.get(url).body
        except FetchError as exc:
            raise BackfillError(
                f"could not read the sitemap {url}: {exc.reason}: {exc.detail}"
            ) from None

    def items(self, position: Position | None) -> Iterator[tuple[Position, Found | None, int]]:
        first, resume_at = position if position else (0, -1)
        done = sum(i.size for i in self.inputs[:first])
        for index in range(first, len(self.inputs)):
            source = self.inputs[index]
            with closing(source.open()) as stream:
                root = _sitemap_tree(stream.read(), source.name)
            entries = list(root.iterfind(f"{_SITEMAP}url"))
            start = resume_at + 1 if index == first else 0
            for group in range(start, len(entries), FETCH_GROUP):
                numbers = range(group, min(group + FETCH_GROUP, len(entries)))
                chosen: dict[int, tuple[FeedItem, Feed]] = {}
                for number in numbers:
                    entry = entries[number]
                    loc = (entry.findtext(f"{_SITEMAP}loc") or "").strip()
                    url = urljoin(source.name, loc) if loc else ""
                    published, feed = _entry_date(entry), self.outlet(url) if url else None
                    if url and published is not None and feed is not None:
                        title = entry.findtext(f"{_NEWS}news/{_NEWS}title")
                        chosen[number] = (
                            FeedItem(feed_url=feed.url, url=url, title=title,
                                     published_at=published),
                            feed,
                        )  # fmt: skip
                urls = list(dict.fromkeys(item.url for item, _ in chosen.values()))
                fetched = dict(self.fetcher.get_many(urls))
                for number in numbers:  # in the sitemap's order, so positions only grow
                    if number not in chosen:
                        yield (index, number), None, done
                        continue
                    item, feed = chosen[number]
                    day, outcome = item.published_at.date(), fetched[item.url]  # type: ignore[union-attr]
                    yield (index, number), found_after_fetch(day, item, feed, outcome), done
            done += source.size
