"""The raw archive: fetched pages kept as WARC, so text can be re-extracted and stories
re-clustered from storage without fetching the web again.

Each page is one gzip member (a WARC ``response`` record), so a ``raw_ref`` of the form
``raw/dt=…/….warc.gz#<offset>`` is enough to read one record back without reading the
rest. Payloads are stored decoded (Content-Encoding removed), as the extractor saw them.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import IO

from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from pipeline.fetch import Page
from pipeline.store import Lake

# Headers that describe the transfer, not the payload we keep.
_TRANSFER_HEADERS = frozenset({"content-encoding", "transfer-encoding", "content-length"})


class WarcBuffer:
    """Collects response records in memory; ``key`` is where they will be written."""

    def __init__(self, key: str) -> None:
        self.key = key
        self._buffer = io.BytesIO()
        self._writer = WARCWriter(self._buffer, gzip=True)
        self.records = 0

    def add(self, page: Page) -> str:
        """Append one page; returns its ``raw_ref``."""
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
            warc_headers_dict={"WARC-Date": page.fetched_at.strftime("%Y-%m-%dT%H:%M:%SZ")},
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


def iter_records(stream: IO[bytes]) -> Iterator[RawRecord]:
    """The response records of a WARC stream, one at a time."""
    for record in ArchiveIterator(stream):
        if record.rec_type != "response":
            continue
        http = record.http_headers
        yield RawRecord(
            url=record.rec_headers.get_header("WARC-Target-URI"),
            status=int(http.get_statuscode()),
            headers=list(http.headers),
            body=record.content_stream().read(),
            date=record.rec_headers.get_header("WARC-Date"),
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
