"""The raw archive: fetched pages kept as WARC, so text can be re-extracted and stories
re-clustered from storage without fetching the web again.

Each page is one gzip member (a WARC ``response`` record), so a ``raw_ref`` of the form
``raw/dt=…/….warc.gz#<offset>`` is enough to read one record back without reading the
rest. Payloads are stored decoded (Content-Encoding removed), as the extractor saw them.
Each record also carries, in a ``Newsflow-Item`` header (JSON), what the feed said of the
item (feed, link, title, date, summary, authors), so that a page can be re-extracted
into the same article from the archive alone.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from typing import IO, Protocol

from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from pipeline.feeds import FeedItem
from pipeline.fetch import Page
from pipeline.records import parse_timestamp
from pipeline.store import Lake

# Headers that describe the transfer, not the payload we keep.
_TRANSFER_HEADERS = frozenset({"content-encoding", "transfer-encoding", "content-length"})
ITEM_HEADER = "Newsflow-Item"


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def item_header(item: FeedItem) -> str:
    published = item.published_at.isoformat() if item.published_at else None
    return json.dumps(
        {"feed_url": item.feed_url, "url": item.url, "title": item.title,
         "published_at": published, "summary": item.summary, "authors": list(item.authors),
         "guid": item.guid, "flags": list(item.flags)},
        separators=(",", ":"),
    )  # fmt: skip


def item_from_header(value: str) -> FeedItem:
    fields = json.loads(value)
    return FeedItem(
        feed_url=fields["feed_url"],
        url=fields["url"],
        title=fields.get("title"),
        published_at=parse_timestamp(fields.get("published_at")),
        summary=fields.get("summary"),
        authors=tuple(fields.get("authors") or ()),
        guid=fields.get("guid"),
        flags=tuple(fields.get("flags") or ()),
    )


class WarcBuffer:
    """Collects response records in memory; ``key`` is where they will be written."""

    def __init__(self, key: str) -> None:
        self.key = key
        self._buffer = io.BytesIO()
        self._writer = WARCWriter(self._buffer, gzip=True)
        self.records = 0

    def add(self, page: Page, item: FeedItem | None = None) -> str:
        """Append one page (and what its feed said of it); returns its ``raw_ref``."""
        try:
            phrase = HTTPStatus(page.status).phrase
        except ValueError:
            phrase = "Unknown"
        headers = [(k, v) for k, v in page.headers if k.lower() not in _TRANSFER_HEADERS]
        headers.append(("Content-Length", str(len(page.body))))
        http_headers = StatusAndHeaders(f"{page.status} {phrase}", headers, protocol="HTTP/1.1")
        record = self._writer.create_warc_record(
            page.final_url,
            "response",
            payload=io.BytesIO(page.body),
            length=len(page.body),
            http_headers=http_headers,
            warc_headers_dict={
                "WARC-Date": page.fetched_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                **({ITEM_HEADER: item_header(item)} if item else {}),
            },
        )
        offset = self._buffer.tell()
        self._writer.write_record(record)
        self.records += 1
        return f"{self.key}#{offset}"

    def getvalue(self) -> bytes:
        return self._buffer.getvalue()


@dataclass
class RawRecord:
    url: str
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    date: str
    offset: int = 0  # of its gzip member in the file
    item: FeedItem | None = None  # what the feed said of it, when newsflow archived it

    @property
    def fetched_at(self) -> datetime | None:
        return parse_timestamp(self.date)

    def page(self) -> Page:
        fetched = self.fetched_at
        assert fetched is not None, f"the WARC record of {self.url} has no date"
        return Page(self.url, self.url, self.status, self.headers, self.body, fetched)


def iter_records(stream: IO[bytes] | Readable) -> Iterator[RawRecord]:
    """The response records of a WARC stream, one at a time, with their offsets."""
    records = ArchiveIterator(stream)
    for record in records:
        if record.rec_type != "response" or record.http_headers is None:
            continue
        http = record.http_headers
        item = record.rec_headers.get_header(ITEM_HEADER)
        try:
            status = int(http.get_statuscode())
        except (TypeError, ValueError):
            status = 0
        yield RawRecord(
            url=record.rec_headers.get_header("WARC-Target-URI"),
            status=status,
            headers=list(http.headers),
            body=record.content_stream().read(),
            date=record.rec_headers.get_header("WARC-Date"),
            offset=records.get_record_offset(),
            item=item_from_header(item) if item else None,
        )


def read_raw(lake: Lake, raw_ref: str) -> RawRecord:
    """The record a ``raw_ref`` points at."""
    key, _, offset = raw_ref.partition("#")
    data = lake.get(key)
    if data is None:
        raise FileNotFoundError(f"{lake.url(key)} is missing (raw_ref {raw_ref})")
    stream = io.BytesIO(data)
    stream.seek(int(offset or 0))
    record = next(iter_records(stream), None)
    if record is None:
        raise ValueError(f"no response record at {raw_ref}")
    return record
