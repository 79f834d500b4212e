"""Backfills from sources that are not feeds, through the same path as a live run.

A source yields pages with the day they belong to: ``warc`` reads WARC files in Common
Crawl's CC-NEWS layout (local or on S3), keeping the outlets of the feeds file, with the
day of each record's ``WARC-Date`` (the day a live run would have fetched it); ``raw``
reads newsflow's own archive (``{lake}/raw/dt=…``) back, each page into the partition it
came from, with what its feed said of it. Neither fetches anything.

The pages are streamed record by record; a few hundred at a time are archived, extracted
and staged (:class:`pipeline.runs.ingest.Landing`) as batches of their day, and the position
reached is saved in ``_state/backfill/{job}.json``. An interrupted backfill started again
with the same arguments resumes from there: the batches it stages again have the same
names, so nothing is staged twice. When the input is read, the days are committed in date
order (relevance, duplicates, stories; the same ``commit`` as a live run) and each day's
stories table is written.
"""

from __future__ import annotations

import fnmatch
import glob
import gzip
import hashlib
import io
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, closing
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from lxml import etree

from pipeline.lake.archive import RawRecord, body_digest, iter_records, reference
from pipeline.lake.state import SeenIndex
from pipeline.lake.store import Lake, LakeError, get_json, open_s3_object, put_json
from pipeline.lake.tables import read_partition
from pipeline.records import ARTICLES_SCHEMA, parse_timestamp
from pipeline.runs.commit import build_stories, commit
from pipeline.runs.ingest import (
    POOL_MIN_PAGES,
    Interval,
    Landing,
    enricher_for,
    extraction_pool,
    fetch_reject,
    fetched_rights,
)
from pipeline.settings import Settings
from pipeline.sources.feeds import Feed, FeedItem
from pipeline.sources.http import Fetcher, FetchError, Page
from pipeline.stages.enrich import Enricher, page_rights
from pipeline.urls import source_domain

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

CHUNK = 400  # pages held in memory before they are staged and the position saved
Position = tuple[int, int]  # (input file, offset of the last record read in it)


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


def _ok_page(record: RawRecord) -> bool:
    content_type = next((v for k, v in record.headers if k.lower() == "content-type"), "")
    return record.status == 200 and ("html" in content_type.lower() or not content_type)


class Source:
    """What every source has: its inputs, read from a position, one record at a time."""

    name = ""
    archives = True  # whether its pages go to the raw archive (not when they come from it)

    def __init__(self, inputs: list[Input], feeds: list[Feed]) -> None:
        if not inputs:
            raise BackfillError(f"the {self.name} backfill has no input files to read")
        self.inputs = inputs
        self._by_site: dict[tuple[str, int | None], Feed] = {}
        for feed in feeds:
            self._by_site.setdefault(_site(feed.url), feed)
        self.by_url = {feed.url: feed for feed in feeds}

    def outlet(self, url: str) -> Feed | None:
        """The feed of the outlet a page belongs to: same domain (and same port, when one
        is written in the URL)."""
        return self._by_site.get(_site(url))

    def job(self, first: date, last: date) -> str:
        """The same arguments make the same job, so that a second start resumes it."""
        names = "\n".join(i.name for i in self.inputs)
        text = f"{self.name}\n{first}\n{last}\n{names}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def records(self, position: Position | None) -> Iterator[tuple[Position, RawRecord, int]]:
        """Records from just after ``position``, each with its position and the bytes of
        the inputs read so far (for the progress bar)."""
        first, resume_at = position if position else (0, -1)
        done = sum(i.size for i in self.inputs[:first])
        for index in range(first, len(self.inputs)):
            source = self.inputs[index]
            start = resume_at if index == first and resume_at >= 0 else 0
            with closing(source.open(start)) as stream:
                for record in iter_records(_Counted(stream)):
                    if index == first and resume_at >= 0 and record.offset == 0:
                        continue  # the record the saved position points at was read
                    record.offset += start  # offsets in the file, not in this read of it
                    yield (index, record.offset), record, done + record.offset
            done += source.size

    def found(self, index: int, record: RawRecord) -> Found | None:
        raise NotImplementedError

    def items(self, position: Position | None) -> Iterator[tuple[Position, Found | None, int]]:
        """What the records from just after ``position`` give (None: a record left out)."""
        for at, record, done in self.records(position):
            yield at, self.found(at[0], record), done

    def rights(self, page: Page, raw_ref: str) -> dict[str, Any]:
        """Rights signals from the page alone: a backfill reads no robots.txt."""
        return page_rights(page.final_url, page.headers, page.body, None, None)


class WarcSource(Source):
    """WARC files (CC-NEWS layout): responses from the feeds' outlets, by WARC-Date."""

    name = "warc"

    def found(self, index: int, record: RawRecord) -> Found | None:
        fetched = record.fetched_at
        feed = self.outlet(record.url) if record.url else None
        if feed is None or fetched is None or not _ok_page(record):
            return None
        item = FeedItem(feed_url=feed.url, url=record.url, title=None, published_at=None)
        return Found(fetched.date(), item, feed, record.page())


class RawSource(Source):
    """newsflow's raw archive: each page back into its partition, with its feed item.

    Rights signals are those the page had when it was first committed (they came from
    robots.txt and TDMRep files that a re-extraction does not fetch again)."""

    name = "raw"
    archives = False

    def __init__(self, inputs: list[Input], feeds: list[Feed], lake: Lake) -> None:
        super().__init__(inputs, feeds)
        self.lake = lake
        self._rights: dict[str, dict[str, Any]] = {}
        self._rights_days: set[str] = set()

    @staticmethod
    def _dt(name: str) -> str:
        return name.split("/")[1].removeprefix("dt=")

    def found(self, index: int, record: RawRecord) -> Found | None:
        key = self.inputs[index].name
        item = record.item
        feed = (self.by_url.get(item.feed_url) if item else None) or self.outlet(record.url)
        if feed is None and item is not None:
            feed = Feed(url=item.feed_url, name=source_domain(item.feed_url))
        if feed is None or record.fetched_at is None:
            return None
        item = item or FeedItem(feed_url=feed.url, url=record.url, title=None, published_at=None)
        day = date.fromisoformat(self._dt(key))
        ref = reference(key, record.offset, body_digest(record.body))
        return Found(day, item, feed, record.page(), raw_ref=ref)

    def rights(self, page: Page, raw_ref: str) -> dict[str, Any]:
        dt = self._dt(raw_ref)
        if dt not in self._rights_days:
            self._rights_days.add(dt)
            for table in ("articles", "offtopic"):
                rows = read_partition(self.lake, table, dt, ARTICLES_SCHEMA).select(
                    ["raw_ref", "rights"]
                )
                for row in rows.to_pylist():
                    if row["raw_ref"] and row["rights"]:
                        self._rights[_position(row["raw_ref"])] = row["rights"]
        return self._rights.get(_position(raw_ref)) or super().rights(page, raw_ref)


def _position(ref: str) -> str:
    """A raw_ref without its digest (refs written before there were digests have none)."""
    return ref.partition(":")[0] if "#" in ref else ref


_SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
_NEWS = "{http://www.google.com/schemas/sitemap-news/0.9}"
_FETCH_GROUP = 32  # pages fetched at once (several hosts, each politely)


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


def _fetched(day: date, item: FeedItem, feed: Feed, outcome: Page | FetchError) -> Found:
    if isinstance(outcome, FetchError):
        return Found(day, item, feed, None, error=outcome)
    return Found(day, item, feed, outcome)


class _FetchingSource(Source):
    """A source whose pages are fetched: rights signals as a live run reads them."""

    fetcher: Fetcher

    def rights(self, page: Page, raw_ref: str) -> dict[str, Any]:
        return fetched_rights(self.fetcher)(page, raw_ref)


class SitemapSource(_FetchingSource):
    """News sitemaps and sitemap indexes, given or found in the outlets' robots.txt.

    An index's child sitemaps whose ``lastmod`` is before the first day are not read. An
    entry's day is its ``news:publication_date``, else its ``lastmod``; entries of other
    days, of sites not in the feeds file, or with no date are left out. The pages are
    fetched (politely, robots.txt obeyed) and go the way of a live run's pages."""

    name = "sitemap"

    def __init__(
        self, sitemaps: list[str], feeds: list[Feed], fetcher: Fetcher, first: date
    ) -> None:
        self.fetcher = fetcher
        if not sitemaps:
            sitemaps = sorted(
                {url for feed in feeds for url in self._declared(feed.url)},
            )
            if not sitemaps:
                raise BackfillError("no sitemap given, and the outlets' robots.txt declare none")
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
        inputs = [Input(url, len(body), partial(_in_memory, body)) for url, body in urlsets]
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
            for group in range(start, len(entries), _FETCH_GROUP):
                numbers = range(group, min(group + _FETCH_GROUP, len(entries)))
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
                    yield (index, number), _fetched(day, item, feed, outcome), done
            done += source.size


def url_list(data: bytes) -> list[str]:
    """The URLs of a text file: one a line; blank lines and ``#`` comments left out."""
    lines = [line.strip() for line in data.decode("utf-8", "replace").splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


class UrlListSource(_FetchingSource):
    """A list of article URLs (a text file, one a line, ``#`` comments), fetched for
    ``day``. A URL of an outlet not in the feeds file is kept too, under its domain."""

    name = "urls"

    def __init__(
        self, name: str, data: bytes, feeds: list[Feed], fetcher: Fetcher, day: date
    ) -> None:
        super().__init__([Input(name, len(data), partial(_in_memory, data))], feeds)
        self.fetcher, self.day, self.urls = fetcher, day, url_list(data)

    def items(self, position: Position | None) -> Iterator[tuple[Position, Found | None, int]]:
        start = position[1] + 1 if position else 0
        for group in range(start, len(self.urls), _FETCH_GROUP):
            urls = self.urls[group : group + _FETCH_GROUP]
            fetched = dict(self.fetcher.get_many(list(dict.fromkeys(urls))))
            for number, url in enumerate(urls, start=group):
                feed = self.outlet(url) or Feed(url=self.inputs[0].name, name=source_domain(url))
                item = FeedItem(feed_url=feed.url, url=url, title=None, published_at=None)
                outcome = fetched[url]
                yield (0, number), _fetched(self.day, item, feed, outcome), 0


def raw_inputs(lake: Lake, first: date, last: date) -> list[Input]:
    """The raw archive files of the days from ``first`` to ``last``."""
    inputs = []
    for key in lake.list_keys("raw/"):
        parts = key.split("/")
        if len(parts) < 3 or not parts[1].startswith("dt=") or not key.endswith(".warc.gz"):
            continue
        try:
            day = date.fromisoformat(parts[1].removeprefix("dt="))
        except ValueError:
            continue
        if first <= day <= last:
            inputs.append(Input(key, 0, partial(lake.open, key)))
    return inputs


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


def _in_memory(data: bytes, start: int) -> IO[bytes]:
    return io.BytesIO(data[start:])


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


@dataclass
class BackfillReport:
    job: str
    source: str
    read: int = 0
    kept: int = 0
    batches: int = 0
    resumed: bool = False
    days: list[str] = field(default_factory=list)
    articles: int = 0
    offtopic: int = 0
    rejects: int = 0
    rejects_by_reason: dict[str, int] = field(default_factory=dict)
    stories: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# (bytes read, total bytes or 0, records read, records kept)
Progress = Callable[[int, int, int, int], None]


def backfill(
    source: Source,
    lake: Lake,
    settings: Settings,
    first: date,
    last: date,
    *,
    enricher: Enricher | None = None,
    progress: Progress | None = None,
) -> BackfillReport:
    """Read ``source`` for the days from ``first`` to ``last`` and commit those days."""
    job = source.job(first, last)
    checkpoint = f"_state/backfill/{job}.json"
    state: dict[str, Any] = get_json(lake, checkpoint) or {
        "source": source.name,
        "from": first.isoformat(),
        "to": last.isoformat(),
        "inputs": [i.name for i in source.inputs],
        "position": None,
        "seq": 0,
        "days": [],
        "read": 0,
        "kept": 0,
    }
    report = BackfillReport(job=job, source=source.name, resumed=state["position"] is not None)
    if report.resumed:
        log.info("resuming backfill %s at input %s, offset %s", job, *state["position"])
    seen = SeenIndex.load(lake)
    total = sum(i.size for i in source.inputs)
    stack = ExitStack()  # one pool of extraction processes for the whole backfill, if any
    pool: ProcessPoolExecutor | None = None
    buffers: dict[date, list[Found]] = {}
    held = 0

    def stage(position: Position) -> None:
        nonlocal pool
        if pool is None and max(map(len, buffers.values()), default=0) >= POOL_MIN_PAGES:
            pool = extraction_pool(settings.extract_workers, CHUNK)
            if pool:
                stack.enter_context(pool)
        for day in sorted(buffers):
            batch = f"backfill-{job}-{state['seq']:06d}"
            found = buffers[day]
            landing = Landing(
                lake, day.isoformat(), batch, settings, seen, source.rights,
                expected_pages=len(found), archive=batch if source.archives else None, pool=pool,
            )  # fmt: skip
            for f in found:
                if f.page is not None:
                    landing.add(f.item, f.feed, f.page, f.raw_ref)
                elif f.error is not None:
                    landing.rejects.append(fetch_reject(f.item.url, f.feed, f.error))
            landing.finish()
            state["seq"] += 1
            if day.isoformat() not in state["days"]:
                state["days"].append(day.isoformat())
        buffers.clear()
        state["position"] = list(position)
        put_json(lake, checkpoint, state)

    position: Position | None = None
    with stack:
        for position, found, done in source.items(state["position"]):
            state["read"] += 1
            if found is not None and first <= found.day <= last:
                state["kept"] += 1
                buffers.setdefault(found.day, []).append(found)
                held += 1
            if held >= CHUNK:
                stage(position)
                held = 0
            if progress:
                progress(done, total, state["read"], state["kept"])
        if position is not None:
            stage(position)

    enricher = enricher or enricher_for(settings)
    run_id = f"backfill__{job}"
    for dt in sorted(state["days"]):
        committed = commit(Interval.day(date.fromisoformat(dt)), lake, run_id, enricher)
        stories = build_stories(lake, dt, run_id)
        report.articles += committed.articles
        report.offtopic += committed.offtopic
        report.rejects += committed.rejects
        for reason, count in committed.rejects_by_reason.items():
            report.rejects_by_reason[reason] = report.rejects_by_reason.get(reason, 0) + count
        report.stories += stories.stories
    report.read, report.kept, report.batches = state["read"], state["kept"], state["seq"]
    report.days = sorted(state["days"])
    state["finished_at"] = datetime.now(UTC).isoformat()
    put_json(lake, f"_state/backfill/done/{job}.json", {**state, "report": report.to_dict()})
    try:
        lake.delete(checkpoint)
    except LakeError as exc:  # the backfill is done; a leftover checkpoint only resumes it
        log.warning("could not remove the checkpoint %s: %s", checkpoint, exc)
    return report
