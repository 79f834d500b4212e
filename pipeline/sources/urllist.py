"""A list of article URLs (one a line, ``#`` comments), such as an operator drops in the
inbox: the pages fetched politely, into the day given.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date
from functools import partial

from pipeline.sources.base import (
    FETCH_GROUP,
    FetchingSource,
    Found,
    Input,
    Position,
    found_after_fetch,
    in_memory,
)
from pipeline.sources.feeds import Feed, FeedItem
from pipeline.sources.http import Fetcher
from pipeline.urls import source_domain

log = logging.getLogger(__name__)


def url_list(data: bytes) -> list[str]:
    """The URLs of a text file: one a line; blank lines and ``#`` comments left out."""
    lines = [line.strip() for line in data.decode("utf-8", "replace").splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


class UrlListSource(FetchingSource):
    """A list of article URLs (a text file, one a line, ``#`` comments), fetched for
    ``day``. A URL of an outlet not in the feeds file is kept too, under its domain."""

    name = "urls"

    def __init__(
        self, name: str, data: bytes, feeds: list[Feed], fetcher: Fetcher, day: date
    ) -> None:
        super().__init__([Input(name, len(data), partial(in_memory, data))], feeds)
        self.fetcher, self.day, self.urls = fetcher, day, url_list(data)

    def items(self, position: Position | None) -> Iterator[tuple[Position, Found | None, int]]:
        start = position[1] + 1 if position else 0
        for group in range(start, len(self.urls), FETCH_GROUP):
            urls = self.urls[group : group + FETCH_GROUP]
            fetched = dict(self.fetcher.get_many(list(dict.fromkeys(urls))))
            for number, url in enumerate(urls, start=group):
                feed = self.outlet(url) or Feed(url=self.inputs[0].name, name=source_domain(url))
                item = FeedItem(feed_url=feed.url, url=url, title=None, published_at=None)
                outcome = fetched[url]
                yield (0, number), found_after_fetch(self.day, item, feed, outcome), 0
