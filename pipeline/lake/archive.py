"""The raw archive: fetched pages kept as WARC, so text can be re-extracted and stories
re-clustered from storage without fetching the web again.

Each page is one gzip member (a WARC ``response`` record), so a ``raw_ref`` of the form
``raw/dt=…/….warc.gz#<offset>:<digest>`` is enough to read one record back without
reading the rest; ``digest`` (the first 16 hex digits of the SHA-256 of the page's body)
is checked when it is read. A WARC file is named after its content and written only if
absent, so no key is ever reused and nothing a row points at is overwritten. Payloads are
stored decoded (Content-Encoding removed), as the extractor saw them.
Each record also carries, in a ``Newsflow-Item`` header (JSON), what the feed said of the
item (feed, link, title, date, summary, authors), so that a page can be re-extracted
into the same article from the archive alone.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from typing import IO, Protocol

from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from pipeline.lake.store import Lake
from pipeline.records import parse_timestamp
from pipeline.sources.feeds import FeedItem
from pipeline.sources.http import Page

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


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:16]


def reference(key: str, offset: int, digest: str) -> str:
    """The raw_ref of the record at ``offset`` of ``key`` whose body has ``digest``."""
    return f"{key}#{offset}:{digest}"


@dataclass(frozen=True)
class RawSlot:
    """Where a page will lie in a WARC file not yet written."""

    offset: int
    digest: str


class WarcBuffer:
    """Collects response records in memory; ``seal`` writes them under a key named after
    their content (``{name}-{digest}.warc.gz``), which no other content can take."""

    def __init__(self, name: str) -> None:
        self.name = name  # e.g. raw/dt=2026-11-23/{batch}
        self.key: str | None = None
        self._buffer = io.BytesIO()
        self._writer = WARCWriter(self._buffer, gzip=True)
        self.records = 0

    def add(self, page: Page, item: FeedItem | None = None) -> RawSlot:
        """Append one page (and what its feed said of it); where it will lie."""
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
        return RawSlot(offset, body_digest(page.body))

    def seal(self, lake: Lake) -> str:
        """Write the file (once: a key named after its content is never written over)."""
        data = self._buffer.getvalue()
        self.key = f"{self.name}-{hashlib.sha256(data).hexdigest()[:16]}.warc.gz"
        lake.put_if_absent(self.key, data)  # already there: the same bytes
        return self.key

    def ref(self, slot: RawSlot) -> str:
        assert self.key is not None, "seal the WARC file before asking where its pages lie"
        return reference(self.key, slot.offset, slot.digest)


@dataclass
class RawRecord:
    url: str
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    date: str
    offset: int = 0  # of its gzip member in the file
    item: FeedItem | None = None  # what the feed said of it, when newsflow archived it
    skipped: bool = False  # not wanted by its headers: its body was not read (empty)

    @property
    def fetched_at(self) -> datetime | None:
        return parse_timestamp(self.date)

    def page(self) -> Page:
        fetched = self.fetched_at
        assert fetched is not None, f"the WARC record of {self.url} has no date"
        return Page(self.url, self.url, self.status, self.headers, self.body, fetched)


# Whether a record is wanted, from its URL, HTTP status and headers alone.
Wanted = Callable[[str, int, list[tuple[str, str]]], bool]


def iter_records(stream: IO[bytes] | Readable, wanted: Wanted | None = None) -> Iterator[RawRecord]:
    """The response records of a WARC stream, one at a time, with their offsets. A record
    that ``wanted`` refuses comes ``skipped``, its body not read."""
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
        url, headers = record.rec_headers.get_header("WARC-Target-URI"), list(http.headers)
        skipped = wanted is not None and not wanted(url or "", status, headers)
        yield RawRecord(
            url=url,
            status=status,
            headers=headers,
            body=b"" if skipped else record.content_stream().read(),
            skipped=skipped,
            date=record.rec_headers.get_header("WARC-Date"),
            offset=records.get_record_offset(),
            item=item_from_header(item) if item else None,
        )


def read_raw(lake: Lake, ref: str) -> RawRecord:
    """The record a ``raw_ref`` points at, checked against its digest (a ref written
    before refs carried one is read unchecked)."""
    key, _, position = ref.partition("#")
    offset, _, digest = position.partition(":")
    with closing(lake.open(key, int(offset or 0))) as stream:
        record = next(iter_records(stream), None)
    if record is None:
        raise ValueError(f"no response record at {lake.url(ref)}")
    if digest and body_digest(record.body) != digest:
        raise ValueError(
            f"{lake.url(ref)}: the record there is not the page this row was made from "
            f"(its body's digest is {body_digest(record.body)}, not {digest})"
        )
    return record
