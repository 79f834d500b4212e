"""WARC files in Common Crawl's CC-NEWS layout, local or on S3 (with ``*`` wildcards),
streamed record by record with ranged reads: the responses from the feeds' outlets (or
from any site), each on the day of its ``WARC-Date`` (the day a live run would have
fetched it).

A record is judged by its headers first: one that is not an HTML page with status 200,
or not of an outlet kept, is skipped without its body being read. With a ``prefilter``
(a backfill of every site), a page is kept only when its raw bytes might be relevant
(:mod:`pipeline.stages.prefilter`); the rest is counted and never parsed.
"""

from __future__ import annotations

import fnmatch
import glob
import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import IO, TYPE_CHECKING

from pipeline.lake.archive import RawRecord
from pipeline.lake.store import open_s3_object
from pipeline.sources.feeds import Feed, FeedItem

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

from pipeline.sources.base import BackfillError, Found, Input, Source, is_html

log = logging.getLogger(__name__)


class WarcSource(Source):
    """WARC files (CC-NEWS layout): responses from the outlets kept, by WARC-Date."""

    name = "warc"

    def __init__(
        self,
        inputs: list[Input],
        feeds: list[Feed],
        outlets: str = "feeds",
        prefilter: Callable[[bytes], bool] | None = None,
    ) -> None:
        super().__init__(inputs, feeds, outlets)
        self.prefilter = prefilter

    def wanted(self, url: str, status: int, headers: list[tuple[str, str]]) -> bool:
        if not is_html(status, headers):
            self.left_out["not an HTML page"] += 1
            return False
        if not url or self.outlet(url) is None:
            self.left_out["not an outlet kept"] += 1
            return False
        return True

    def found(self, index: int, record: RawRecord) -> Found | None:
        fetched = record.fetched_at
        if record.skipped:
            return None
        feed = self.outlet(record.url)
        if feed is None or fetched is None:
            self.left_out["no date"] += 1
            return None
        if self.prefilter is not None and not self.prefilter(record.body):
            self.left_out["prefilter: AI not named"] += 1
            return None
        item = FeedItem(feed_url=feed.url, url=record.url, title=None, published_at=None)
        return Found(fetched.date(), item, feed, record.page())


def file_inputs(patterns: list[str], s3: Callable[[], S3Client]) -> list[Input]:
    """Local paths and ``s3://bucket/key`` URIs, either with ``*`` and ``?`` wildcards."""
    inputs: list[Input] = []
    for pattern in patterns:
        if pattern.startswith("s3://"):
            inputs.extend(_s3_inputs(pattern, s3()))
            continue
        paths = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]  # noqa: PTH207
        if not paths or not all(Path(p).is_file() for p in paths):
            raise BackfillError(f"{pattern}: no such file")
        for path in paths:
            inputs.append(Input(path, Path(path).stat().st_size, partial(_open_file, path)))
    return inputs


def _open_file(path: str, start: int) -> IO[bytes]:
    handle = Path(path).open("rb")  # noqa: SIM115  # closed by the reader
    handle.seek(start)
    return handle


def _s3_inputs(uri: str, client: S3Client) -> list[Input]:
    bucket, _, pattern = uri.removeprefix("s3://").partition("/")
    prefix = pattern.split("*", 1)[0].split("?", 1)[0]
    inputs = []
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                key = obj["Key"]
                if fnmatch.fnmatchcase(key, pattern):
                    opener = partial(open_s3_object, client, bucket, key)
                    inputs.append(Input(f"s3://{bucket}/{key}", obj["Size"], opener))
    except Exception as exc:  # botocore's errors, named in the message
        raise BackfillError(f"could not list {uri}: {exc}") from exc
    if not inputs:
        raise BackfillError(f"{uri}: no such object")
    return sorted(inputs, key=lambda i: i.name)
