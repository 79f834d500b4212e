"""A batch's ingestion for one data interval: plan the batches, then poll, fetch, archive,
extract and stage each.

``plan_batches`` splits the feeds into batches (all feeds of one host in the same batch,
so per-host politeness holds across parallel workers). ``ingest_batch`` polls a batch's
feeds, fetches the new items' pages, archives them as WARC, extracts them and stages the
results under ``_staging/``, where the day's commit (``pipeline.runs.commit``) takes them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from html import unescape
from multiprocessing import get_context
from typing import Any, cast
from urllib.parse import urlsplit

from pipeline import __version__
from pipeline.lake.archive import RawSlot, WarcBuffer
from pipeline.lake.state import (
    FeedState,
    SeenIndex,
    feed_state_where,
    load_feed_states,
    seen_days,
    url_key,
)
from pipeline.lake.store import (
    Lake,
    put_json,
    table_to_parquet,
)
from pipeline.records import (
    ARTICLES_SCHEMA,
    FUTURE_DATE,
    REJECTS_SCHEMA,
    Article,
    Reject,
    to_table,
)
from pipeline.settings import Settings
from pipeline.sources.base import RightsOf, fetched_rights
from pipeline.sources.feeds import Feed, FeedItem, PollResult, Validators, poll
from pipeline.sources.http import Fetcher, FetchError, NetworkPolicy, Page, by_host
from pipeline.stages.enrich import Enricher
from pipeline.stages.extract import EXTRACTOR, Extracted, ExtractionError, extract, load_hints
from pipeline.stages.monitor import PAGES_SCHEMA, page_row
from pipeline.urls import article_id, canonicalize, host_key, source_domain

log = logging.getLogger(__name__)
_TAG = re.compile(r"<[^>]+>")
# A date further ahead of the moment its item or page was seen cannot be true (time
# zones, clocks and items scheduled a little early stay well within it).
FUTURE_TOLERANCE = timedelta(days=1)


@dataclass(frozen=True)
class Interval:
    """A run's data interval, [start, end) in UTC; its start day names the partition."""

    start: datetime
    end: datetime

    @classmethod
    def day(cls, day: date) -> Interval:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return cls(start, start + timedelta(days=1))

    @property
    def dt(self) -> str:
        return self.start.date().isoformat()


def batch_id(feeds: Iterable[Feed]) -> str:
    return hashlib.sha256("\n".join(sorted(f.url for f in feeds)).encode()).hexdigest()[:12]


def plan_batches(feeds: list[Feed], batch_size: int) -> list[list[Feed]]:
    """Batches of about ``batch_size`` feeds; every feed of one host lands in one batch."""
    by_host: dict[str, list[Feed]] = {}
    for feed in feeds:
        by_host.setdefault(host_key(feed.url), []).append(feed)
    batches: list[list[Feed]] = []
    current: list[Feed] = []
    for host in sorted(by_host):
        if current and len(current) + len(by_host[host]) > batch_size:
            batches.append(current)
            current = []
        current.extend(by_host[host])
    if current:
        batches.append(current)
    return batches


@dataclass
class BatchReport:
    batch_id: str
    dt: str
    feeds: int = 0
    feeds_ok: int = 0
    feeds_not_modified: int = 0
    feeds_failed: int = 0
    feeds_retired: int = 0  # 410 Gone too many times in a row: no longer polled
    items: int = 0
    items_new: int = 0
    items_already_landed: int = 0
    items_deferred: int = 0
    items_too_old: int = 0
    items_future_dated: int = 0  # dated implausibly far ahead: date cleared, taken today
    pages_fetched: int = 0
    pages_failed: int = 0
    articles: int = 0
    rejects: int = 0
    raw_key: str | None = None
    failed_feeds: list[dict[str, str]] = field(default_factory=list)  # url, reason, detail

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _staging(dt: str, batch: str, what: str) -> str:
    return f"_staging/dt={dt}/{batch}.{what}"


def _plain(text: str | None) -> str | None:
    if not text:
        return None
    return " ".join(unescape(_TAG.sub(" ", text)).split()) or None


def _same_site(a: str, b: str) -> bool:
    """Same server or a subdomain of it: a canonical link we follow. Across sites a
    canonical link marks syndication, which stays an article of its own outlet."""
    if urlsplit(a).port != urlsplit(b).port:
        return False
    host_a, host_b = source_domain(a), source_domain(b)
    return host_a == host_b or host_a.endswith("." + host_b) or host_b.endswith("." + host_a)


@dataclass
class _Selection:
    """Feed items chosen for fetching, and the validators safe to remember."""

    items: list[tuple[FeedItem, Feed]] = field(default_factory=list)
    validators: dict[str, Validators] = field(default_factory=dict)
    rejects: list[Reject] = field(default_factory=list)


def feed_reject(
    feed: Feed,
    reason: str,
    detail: str,
    at: datetime,
    status: int | None = None,
    stage: str = "feed",
) -> Reject:
    return Reject(
        url=feed.url,
        stage=stage,
        reason=reason,
        detail=detail,
        rejected_at=at,
        feed_url=feed.url,
        source_domain=feed.domain,
        status=status,
        pipeline_version=__version__,
    )


def _poll_all(
    feeds: list[Feed],
    fetcher: Fetcher,
    lake: Lake,
    settings: Settings,
    report: BatchReport,
    now: datetime,
    deadline: float,
) -> tuple[list[PollResult], dict[str, FeedState], list[Reject]]:
    """Poll the batch's feeds (several hosts at once), except those retired; the feeds'
    next states, and the rejects that say which feeds are gone or retired. Feeds not
    started by ``deadline`` (monotonic) are not polled, and fail with reason deadline."""
    retire_after = settings.retire_after_gone
    states = load_feed_states(lake, [feed.url for feed in feeds])
    rejects = []
    for feed in feeds:
        state = states[feed.url]
        if state.retired_at:
            report.feeds_retired += 1
            where = feed_state_where(lake, feed.url)
            detail = (f"retired on {state.retired_at[:10]} after answering 410 Gone "
                      f"{state.gone} times in a row; not polled (delete {where} to poll it "
                      "again, or remove it from the feeds file)")  # fmt: skip
            log.warning("feed %s: %s", feed.url, detail)
            rejects.append(feed_reject(feed, "feed-retired", detail, now, 410))
            del states[feed.url]

    def poll_one(feed: Feed) -> PollResult:
        if time.monotonic() >= deadline:
            error = FetchError(feed.url, "deadline", "not polled: the batch ran out of time")
            return PollResult(feed, "failed", error=error)
        return poll(fetcher, feed, states[feed.url].validators)

    polled: dict[str, PollResult] = {}
    to_poll = [f for f in feeds if f.url in states]
    polls_by_host = by_host(
        to_poll, lambda f: f.url, poll_one, settings.workers, fetcher.threads_per_host
    )
    for feed, outcome in polls_by_host:
        if isinstance(outcome, Exception):  # a bug, not the feed's fault: the others go on
            log.error("feed %s: internal error while polling: %s", feed.url, outcome,
                      exc_info=outcome if log.isEnabledFor(logging.INFO) else None)  # fmt: skip
            detail = f"{type(outcome).__name__}: {outcome}"
            outcome = PollResult(
                feed, "failed", error=FetchError(feed.url, "internal-error", detail)
            )
        polled[feed.url] = outcome
    polls = [polled[f.url] for f in to_poll]  # feeds order, whatever order they finished in
    for result in polls:
        state = states[result.feed.url]
        if result.error is not None and result.error.status == 410:
            state.gone += 1
            if state.gone >= retire_after:
                state.retired_at = now.isoformat()
                where = feed_state_where(lake, result.feed.url)
                detail = (f"answered 410 Gone {state.gone} times in a row: retired, no longer "
                          f"polled (delete {where} to poll it again)")  # fmt: skip
                log.warning("feed %s: %s", result.feed.url, detail)
                result.error = FetchError(result.feed.url, "feed-retired", detail, 410)
            else:
                result.error.detail += (f" ({state.gone} of {retire_after} in a row before "
                                        "the feed is retired)")  # fmt: skip
        elif result.status != "failed":
            state.gone = 0
    return polls, states, rejects


def _date_of(item: FeedItem, now: datetime) -> datetime | None:
    """The item's published date, unless it lies further ahead than any true one can."""
    published = item.published_at
    return None if published and published > now + FUTURE_TOLERANCE else published


def _select(
    polls: list[PollResult],
    interval: Interval,
    lookback: timedelta,
    seen: SeenIndex,
    report: BatchReport,
    now: datetime,
    window_days: int,
) -> _Selection:
    selection = _Selection()
    taken: set[str] = set()
    published = [_date_of(item, now) for result in polls for item in result.items]
    oldest = interval.start - lookback
    seen.need(seen_days(interval.dt, [p for p in published if p is None or p >= oldest],
                        lookback.days, window_days))  # fmt: skip
    for result in polls:
        feed = result.feed
        if result.status == "failed":
            assert result.error is not None
            report.feeds_failed += 1
            error = result.error
            report.failed_feeds.append(
                {"url": feed.url, "reason": error.reason, "detail": error.detail}
            )
            log.info("feed %s: failed: %s: %s", feed.url, error.reason, error.detail)
            selection.rejects.append(
                feed_reject(feed, error.reason, error.detail, now, error.status)
            )
            continue
        log.info("feed %s: %s, %d items", feed.url, result.status, len(result.items))
        if result.status in ("not-modified", "unchanged"):
            report.feeds_not_modified += 1
        else:
            report.feeds_ok += 1
        if result.problem:
            selection.rejects.append(feed_reject(feed, "malformed-feed", result.problem, now))
        deferred = False
        for item in result.items:
            report.items += 1
            key = url_key(item.canonical_url)
            if key in taken:
                continue
            taken.add(key)
            if item.published_at != _date_of(item, now):
                # Not a real date: left to wait for its day, it would never be judged.
                report.items_future_dated += 1
                item = replace(item, published_at=None, flags=(*item.flags, FUTURE_DATE))
            if item.published_at and item.published_at < interval.start - lookback:
                report.items_too_old += 1
            elif seen.landed_elsewhere(interval.dt, url=key):
                report.items_already_landed += 1
            elif item.published_at and item.published_at >= interval.end:
                # Belongs to a later interval; forget the validators so it is seen again.
                report.items_deferred += 1
                deferred = True
            else:
                selection.items.append((item, feed))
        if result.validators is not None and not deferred:
            selection.validators[feed.url] = result.validators
    report.items_new = len(selection.items)
    return selection


def _publication_day(published: datetime | None, stated: date | None) -> date | None:
    """The day of publication where the outlet is: the page's, unless it contradicts the
    time of publication (a day apart at most: time zones span no more), else that time's
    day in UTC."""
    if published is None:
        return stated
    if stated is not None and abs((stated - published.date()).days) <= 1:
        return stated
    return published.date()


def _to_article(
    item: FeedItem, feed: Feed, page: Page, raw_ref: str, extracted: Extracted
) -> Article:
    canonical = canonicalize(page.final_url)
    if extracted.canonical_url and _same_site(extracted.canonical_url, page.final_url):
        canonical = canonicalize(extracted.canonical_url)
    published = item.published_at or extracted.published_at
    day = _publication_day(published, extracted.published_date)
    flags = list(dict.fromkeys([*item.flags, *extracted.flags]))
    latest = page.fetched_at + FUTURE_TOLERANCE
    if (published and published > latest) or (day and day > latest.date()):
        published, day = None, None
        flags = list(dict.fromkeys([*flags, FUTURE_DATE]))
    return Article(
        article_id=article_id(canonical),
        url=item.url,
        canonical_url=canonical,
        source_domain=source_domain(canonical),
        source_name=feed.name,
        feed_url=feed.url,
        title=extracted.title or _plain(item.title),
        authors=extracted.authors or list(item.authors),
        published_at=published,
        published_date=day,
        fetched_at=page.fetched_at,
        language=extracted.language,
        text=extracted.text,
        summary=extracted.summary or _plain(item.summary),
        image=extracted.image,
        word_count=extracted.word_count,
        content_hash=extracted.content_hash,
        raw_ref=raw_ref,
        extractor=EXTRACTOR,
        pipeline_version=__version__,
        flags=flags or None,
    )


POOL_MIN_PAGES = 24  # below this, pages are extracted in the task's own process


# How extraction processes start: "forkserver" (clean processes, safe beside the fetching
# threads), or "fork" where new interpreters cannot start, as in an Airflow 3 task
# process: its children made by spawn or forkserver die at once, so the DAG tasks set
# NEWSFLOW_EXTRACT_START_METHOD=fork. Forked processes all start when the pool is made,
# before any fetching thread runs.
START_METHOD_VARIABLE = "NEWSFLOW_EXTRACT_START_METHOD"


def extraction_pool(workers: int, pages: int) -> ProcessPoolExecutor | None:
    """Processes for extraction: ``workers`` (0: one per core), none for a small batch."""
    workers = min(workers or os.cpu_count() or 1, pages)
    if workers < 2 or pages < POOL_MIN_PAGES:
        return None
    method = os.environ.get(START_METHOD_VARIABLE) or "forkserver"
    if method not in ("forkserver", "fork", "spawn"):
        raise ValueError(f"{START_METHOD_VARIABLE}={method!r}: use forkserver, fork or spawn")
    pool = ProcessPoolExecutor(workers, mp_context=get_context(method))
    try:
        pool.submit(int).result()  # start the processes now (with fork: all of them)
    except BrokenProcessPool:
        pool.shutdown()
        log.warning("extraction processes (%s) cannot start here; extracting inline", method)
        return None
    return pool


def _settle(function: Callable[..., Extracted], *args: Any) -> Future[Extracted]:
    """A call made now, held like a pool's future (its exception too)."""
    future: Future[Extracted] = Future()
    try:
        future.set_result(function(*args))
    except Exception as exc:
        future.set_exception(exc)
    return future


def _failure(exc: Exception, url: str) -> tuple[str, str]:
    """The reject reason and detail of a page that could not be made an article."""
    if isinstance(exc, ExtractionError):
        return exc.reason, exc.detail
    log.error("internal error on %s: %s: %s", url, type(exc).__name__, exc,
              exc_info=exc if log.isEnabledFor(logging.INFO) else None)  # fmt: skip
    return "internal-error", f"{type(exc).__name__}: {exc}"


def enricher_for(settings: Settings) -> Enricher:
    return Enricher.load(
        settings.taxonomy_path, settings.entities_path, settings.relevance_threshold
    )


def make_fetcher(settings: Settings, feeds: list[Feed]) -> Fetcher:
    network = NetworkPolicy.for_urls([f.url for f in feeds], settings.allow_private_network)
    return Fetcher(settings.fetch, network)


class Landing:
    """Archives, extracts and stages the pages of one batch of one day: what a live run
    and a backfill do alike with a page once they have it. With an ``enricher`` (a
    backfill's shards, landed at once), the articles are scored here, so that the commit,
    the lake's one writer, has only to read their scores.

    Pages go to the batch's WARC file (unless they already lie in the raw archive, as
    on a re-extraction) and to extraction, by a pool of processes when the batch is big
    enough; ``finish`` collects the results in arrival order and writes the staged
    articles, pages and rejects under ``_staging/dt=…/{batch}``."""

    def __init__(
        self,
        lake: Lake,
        dt: str,
        batch: str,
        settings: Settings,
        seen: SeenIndex,
        rights: RightsOf,
        *,
        expected_pages: int,
        archive: str | None,
        pool: ProcessPoolExecutor | None = None,
        enricher: Enricher | None = None,
    ) -> None:
        self.lake, self.dt, self.batch, self.settings = lake, dt, batch, settings
        self.enricher = enricher  # to score the articles here, not in the commit
        self.seen, self.rights = seen, rights
        self.warc = WarcBuffer(f"raw/dt={dt}/{archive}") if archive else None
        self.hints = load_hints(*settings.hint_files())
        self.rejects: list[Reject] = []
        self.already_landed = 0
        self._stack = ExitStack()
        # A pool of processes when the batch is big enough for one to pay: the caller's
        # (kept open), else one of its own.
        self._pool = pool if expected_pages >= POOL_MIN_PAGES else None
        if pool is None:
            self._pool = extraction_pool(settings.extract_workers, expected_pages)
            if self._pool:
                self._stack.enter_context(self._pool)
        self._jobs: list[
            tuple[FeedItem, Feed, Page, str | RawSlot, str, tuple[Any, ...], Future[Extracted]]
        ]
        self._jobs = []

    def add(self, item: FeedItem, feed: Feed, page: Page, raw_ref: str | None = None) -> None:
        """One page as fetched (or read back from an archive at ``raw_ref``)."""
        ref: str | RawSlot
        if raw_ref is None:
            assert self.warc is not None, "a page not yet archived needs an archive"
            ref = self.warc.add(page, item)  # its raw_ref is known once the file is sealed
        else:
            ref = raw_ref
        domain = source_domain(page.final_url)
        args = (page.body, page.final_url, self.settings.min_words, self.hints.get(domain))
        job = None
        if self._pool:
            try:
                job = self._pool.submit(extract, *args)
            except BrokenProcessPool:
                log.warning("the extraction processes died; extracting in this process")
                self._pool = None
        self._jobs.append((item, feed, page, ref, domain, args, job or _settle(extract, *args)))

    def finish(self) -> tuple[int, int]:
        """Stage what the batch made; returns (articles, rejects)."""
        articles: dict[str, Article] = {}
        pages: list[dict[str, Any]] = []  # what extraction made of each page
        warc = self.warc
        if warc is not None and warc.records:
            warc.seal(self.lake)
        try:
            for item, feed, page, ref, domain, args, job in self._jobs:
                raw_ref = ref if isinstance(ref, str) else cast(WarcBuffer, warc).ref(ref)
                try:
                    try:
                        extracted = job.result()
                    except BrokenProcessPool:  # a worker was killed: no page is lost for it
                        log.warning("extraction process died on %s; extracting it here", item.url)
                        extracted = extract(*args)
                    article = _to_article(item, feed, page, raw_ref, extracted)
                    self.seen.need(seen_days(self.dt, [article.published_at],
                                             self.settings.lookback_days,
                                             self.settings.dedup_window_days))  # fmt: skip
                    if self.seen.landed_elsewhere(self.dt, article=article.article_id):
                        self.already_landed += 1
                        pages.append(page_row(item.url, domain, extracted, None))
                        continue
                    article.rights = self.rights(page, raw_ref)
                except Exception as exc:
                    # One page's failure, expected (ExtractionError) or not (a bug, a
                    # parser's crash), is that page's reject: its neighbours go on.
                    reason, detail = _failure(exc, item.url)
                    pages.append(page_row(item.url, domain, None, reason))
                    self.rejects.append(
                        Reject(
                            url=item.url,
                            stage="extract",
                            reason=reason,
                            detail=detail,
                            rejected_at=page.fetched_at,
                            feed_url=feed.url,
                            source_domain=source_domain(item.url),
                            status=page.status,
                            pipeline_version=__version__,
                            extra={"raw_ref": raw_ref},
                        )
                    )
                    continue
                pages.append(page_row(item.url, domain, extracted, None))
                articles.setdefault(article.article_id, article)
        finally:
            self._stack.close()
        dt, batch, lake = self.dt, self.batch, self.lake
        rows = [a.to_row() for a in articles.values()]
        if self.enricher is not None:
            for row in rows:
                self.enricher.score(row)
        lake.put(
            _staging(dt, batch, "articles.parquet"),
            table_to_parquet(to_table(rows, ARTICLES_SCHEMA)),
        )
        lake.put(
            _staging(dt, batch, "pages.parquet"), table_to_parquet(to_table(pages, PAGES_SCHEMA))
        )
        lake.put(
            _staging(dt, batch, "rejects.parquet"),
            table_to_parquet(to_table([r.to_row() for r in self.rejects], REJECTS_SCHEMA)),
        )
        return len(articles), len(self.rejects)


def ingest_batch(
    feeds: list[Feed],
    interval: Interval,
    lake: Lake,
    settings: Settings,
    *,
    fetcher: Fetcher | None = None,
    on_page: Callable[[], None] | None = None,
    on_pages: Callable[[int], None] | None = None,
) -> BatchReport:
    """Poll, fetch, archive and extract one batch of feeds; stage the results.

    The batch fetches for at most ``settings.batch_deadline`` seconds: what is not
    started by then is recorded as a ``deadline`` reject, and its feed's validators are
    not kept, so the next run asks for it again (as for any page that failed for a
    reason that may pass: a timeout, a 5xx, a dropped connection)."""
    batch = batch_id(feeds)
    dt = interval.dt
    report = BatchReport(batch_id=batch, dt=dt, feeds=len(feeds))
    seen = SeenIndex.open_or_empty(lake)
    own_fetcher = fetcher is None
    fetcher = fetcher or make_fetcher(settings, feeds)
    now = datetime.now(UTC)
    deadline = time.monotonic() + settings.batch_deadline
    try:
        polls, states, retired = _poll_all(feeds, fetcher, lake, settings, report, now, deadline)
        lookback = timedelta(days=settings.lookback_days)
        selection = _select(
            polls, interval, lookback, seen, report, now, settings.dedup_window_days
        )
        selection.rejects.extend(retired)
        urls = [item.url for item, _ in selection.items]
        digest = hashlib.sha256("\n".join(urls).encode()).hexdigest()[:12]
        by_url = {item.url: (item, feed) for item, feed in selection.items}
        # Pages are extracted by a pool of processes while others are still being fetched
        # (inline for a small batch, where starting processes costs more than it saves).
        # Named after what it holds: a rerun after a failed commit (whose feeds may now answer
        # 304) stages beside the failed run's pages instead of over them.
        staged = f"{batch}-{digest}"
        landing = Landing(
            lake, dt, staged, settings, seen, fetched_rights(fetcher),
            expected_pages=len(urls), archive=staged,
        )  # fmt: skip
        landing.rejects.extend(selection.rejects)
        if on_pages:
            on_pages(len(urls))  # the pages this batch will fetch
        ask_again: set[str] = set()  # feeds with pages that may be fetched on a later try
        for url, outcome in fetcher.get_many(urls, settings.workers, deadline):
            item, feed = by_url[url]
            if on_page:
                on_page()
            if isinstance(outcome, FetchError):
                report.pages_failed += 1
                landing.rejects.append(fetch_reject(url, feed, outcome))
                if outcome.transient:
                    ask_again.add(feed.url)
                continue
            report.pages_fetched += 1
            landing.add(item, feed, outcome)
        for url, validators in selection.validators.items():
            if url not in ask_again:
                states[url].validators = validators
        report.articles, report.rejects = landing.finish()
    finally:
        if own_fetcher:
            fetcher.close()
    report.items_already_landed += landing.already_landed
    if landing.warc is not None and landing.warc.records:
        report.raw_key = landing.warc.key
    put_json(
        lake,
        _staging(dt, staged, "feeds.json"),
        {
            "polled_at": now.isoformat(),
            "feeds": {url: asdict(state) for url, state in states.items()},
            "report": report.to_dict(),
        },
    )
    log.info("batch %s for %s: %s", batch, dt, json.dumps(report.to_dict()))
    return report


def fetch_reject(url: str, feed: Feed, error: FetchError) -> Reject:
    return Reject(
        url=url,
        stage="fetch",
        reason=error.reason,
        detail=error.detail,
        rejected_at=datetime.now(UTC),
        feed_url=feed.url,
        source_domain=source_domain(url),
        status=error.status,
        pipeline_version=__version__,
    )
