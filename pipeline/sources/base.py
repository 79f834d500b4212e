"""What every source of pages that are not a live feed poll has: its inputs (files or
URLs), read from a position one record at a time, each record a :class:`Found` page with
the day whose partition it belongs to, and the rights signals that go with it.

A source keeps the outlets of the feeds file (``outlets="feeds"``) or every site
(``outlets="any"``: a page of a site the file does not list comes as the site's own
outlet, named by its domain). What it leaves out it counts in ``left_out``, by reason.
"""

from __future__ import annotations

import copy
import io
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import date
from typing import IO, Any
from urllib.parse import urlsplit

from pipeline.lake.archive import RawRecord, iter_records
from pipeline.sources.feeds import Feed, FeedItem
from pipeline.sources.http import Fetcher, FetchError, Page
from pipeline.stages.enrich import TDMREP_PATH, page_rights
from pipeline.urls import source_domain

log = logging.getLogger(__name__)


Position = tuple[int, int]  # (input file, offset of the last record read in it)
OUTLETS = ("feeds", "any")  # which sites a source keeps: the feeds file's, or every one


class BackfillError(RuntimeError):
    pass


@dataclass(frozen=True)
class Input:
    """One file a backfill reads: a local path, an s3:// object or a key of the lake."""

    name: str
    size: int
    opener: Callable[[int], IO[bytes]]

    def open(self, start: int = 0) -> IO[bytes]:
        return self.opener(start)


@dataclass
class Found:
    """One page a source yields, with the day whose partition it belongs to."""

    day: date
    item: FeedItem
    feed: Feed
    page: Page | None  # None when it could not be fetched (``error``)
    raw_ref: str | None = None  # where it already lies in the raw archive, if it does
    error: FetchError | None = None


class _Counted:
    """A stream that counts what was read of it, so that record offsets are relative to
    where the read started, whether the stream can seek (a file) or not (an S3 body)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream, self._read = stream, 0

    def tell(self) -> int:
        return self._read

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self._read += len(data)
        return data


def _site(url: str) -> tuple[str, int | None]:
    try:
        port = urlsplit(url).port
    except ValueError:
        port = None
    return source_domain(url), port


def is_html(status: int, headers: list[tuple[str, str]]) -> bool:
    """Whether a response is a page to extract: status 200, HTML (or of no stated type)."""
    content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
    return status == 200 and ("html" in content_type.lower() or not content_type)


class Source:
    """What every source has: its inputs, read from a position, one record at a time."""

    name = ""
    archives = True  # whether its pages go to the raw archive (not when they come from it)

    def __init__(self, inputs: list[Input], feeds: list[Feed], outlets: str = "feeds") -> None:
        if not inputs:
            raise BackfillError(f"the {self.name} backfill has no input files to read")
        if outlets not in OUTLETS:
            raise BackfillError(f"outlets {outlets!r}: use one of {', '.join(OUTLETS)}")
        self.inputs = inputs
        self.outlets = outlets
        self._by_site: dict[tuple[str, int | None], Feed] = {}
        for feed in feeds:
            self._by_site.setdefault(_site(feed.url), feed)
        self.by_url = {feed.url: feed for feed in feeds}
        self.left_out: Counter[str] = Counter()  # records left out, by reason

    def outlet(self, url: str) -> Feed | None:
        """The feed of the outlet a page belongs to: same domain (and same port, when one
        is written in the URL); with ``outlets="any"``, a site the feeds file does not
        list is an outlet of its own, named by its domain."""
        site = _site(url)
        feed = self._by_site.get(site)
        if feed is None and self.outlets == "any" and site[0]:
            port = f":{site[1]}" if site[1] else ""  # the site, however the URL wrote it
            feed = Feed(url=f"https://{site[0]}{port}/", name=site[0])
            self._by_site[site] = feed
        return feed

    def shard(self, index: int) -> Source:
        """The same source reading its input ``index`` alone (a shard of a backfill spread
        over workers)."""
        if not 0 <= index < len(self.inputs):
            raise BackfillError(f"no input {index}: the {self.name} backfill has "
                                f"{len(self.inputs)}")  # fmt: skip
        part = copy.copy(self)
        part.inputs = [self.inputs[index]]
        part.left_out = Counter()
        return part

    def records(self, position: Position | None) -> Iterator[tuple[Position, RawRecord, int]]:
        """Records from just after ``position``, each with its position and the bytes of
        the inputs read so far (for the progress bar)."""
        first, resume_at = position if position else (0, -1)
        done = sum(i.size for i in self.inputs[:first])
        for index in range(first, len(self.inputs)):
            source = self.inputs[index]
            start = resume_at if index == first and resume_at >= 0 else 0
            with closing(source.open(start)) as stream:
                for record in iter_records(_Counted(stream), self.wanted):
                    if index == first and resume_at >= 0 and record.offset == 0:
                        continue  # the record the saved position points at was read
                    record.offset += start  # offsets in the file, not in this read of it
                    yield (index, record.offset), record, done + record.offset
            done += source.size

    def wanted(self, url: str, status: int, headers: list[tuple[str, str]]) -> bool:
        """Whether a record is read, from its URL, status and headers (its body is not
        read when not): every record, unless a source says otherwise."""
        return True

    def found(self, index: int, record: RawRecord) -> Found | None:
        raise NotImplementedError

    def items(self, position: Position | None) -> Iterator[tuple[Position, Found | None, int]]:
        """What the records from just after ``position`` give (None: a record left out)."""
        for at, record, done in self.records(position):
            yield at, self.found(at[0], record), done

    def rights(self, page: Page, raw_ref: str) -> dict[str, Any]:
        """Rights signals from the page alone: a backfill reads no robots.txt."""
        return page_rights(page.final_url, page.headers, page.body, None, None)


FETCH_GROUP = 32  # pages fetched at once (several hosts, each politely)


def found_after_fetch(day: date, item: FeedItem, feed: Feed, outcome: Page | FetchError) -> Found:
    if isinstance(outcome, FetchError):
        return Found(day, item, feed, None, error=outcome)
    return Found(day, item, feed, outcome)


class FetchingSource(Source):
    """A source whose pages are fetched: rights signals as a live run reads them."""

    fetcher: Fetcher

    def rights(self, page: Page, raw_ref: str) -> dict[str, Any]:
        return fetched_rights(self.fetcher)(page, raw_ref)


RightsOf = Callable[[Page, str], dict[str, Any]]  # a page and its raw_ref


def fetched_rights(fetcher: Fetcher) -> RightsOf:
    """The rights signals of a fetched page: its headers and HTML, and its site's
    robots.txt and TDMRep file (read once per site)."""

    def rights(page: Page, raw_ref: str) -> dict[str, Any]:
        url = page.final_url
        return page_rights(
            url, page.headers, page.body, fetcher.robots(url), fetcher.site_file(url, TDMREP_PATH)
        )

    return rights


def in_memory(data: bytes, start: int) -> IO[bytes]:
    return io.BytesIO(data[start:])
