"""Backfills from sources that are not feeds, through the same path as a live run.

A backfill is a :class:`Spec` (the source, its inputs, the days, the outlets kept). It is
planned into shards, one per input file (a WARC file, a sitemap of URLs, a raw archive
file); each shard is landed on its own, then the days are committed in date order:

- :func:`land` streams one shard's records; a few hundred pages at a time are archived,
  extracted, scored (relevance, labels, entities) and staged
  (:class:`pipeline.runs.ingest.Landing`) as batches of their day,
  and the position reached is saved in ``_state/backfill/{job}/{shard}.json`` (the shard
  named by its input, the job by its spec). A shard started again resumes from there:
  the batches it stages again have the same names, so nothing is staged twice. Shards
  write nothing but their own raw files, staged batches and checkpoint, so any number
  land at once, on one machine or on many workers.
- :func:`commit_days` commits the days in date order (duplicates, stories; the same
  ``commit`` as a live run, the lake's one writer, which reads the shards' scores) and
  builds what follows from each day.

``newsflow backfill`` does both on one machine (:func:`backfill`, shards landed by
``workers`` processes); the ``news_backfill`` DAG maps ``land`` over Airflow's workers.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime
from functools import partial
from typing import Any

from pipeline.lake.state import SeenIndex
from pipeline.lake.store import Lake, LakeError, get_json, make_s3_client, open_lake, put_json
from pipeline.runs.commit import StoriesReport, build_day, commit
from pipeline.runs.ingest import (
    POOL_MIN_PAGES,
    Interval,
    Landing,
    enricher_for,
    extraction_pool,
    fetch_reject,
)
from pipeline.settings import Settings
from pipeline.sources.base import OUTLETS, BackfillError, Found, Input, Position, Source
from pipeline.stages.enrich import Enricher

log = logging.getLogger(__name__)

CHUNK = 400  # pages held in memory before they are staged and the position saved
SOURCES = ("sitemap", "warc", "raw")


@dataclass(frozen=True)
class Spec:
    """What a backfill reads: a source, its inputs (WARC paths or URIs with wildcards,
    sitemap URLs, keys of the raw archive; none for the whole raw archive of the days, or
    for the sitemaps the outlets declare),
    the days from ``first`` to ``last``, and the outlets kept (``feeds`` or ``any``)."""

    source: str
    inputs: tuple[str, ...]
    first: date
    last: date
    outlets: str = "feeds"

    def check(self) -> Spec:
        """The spec, if it makes sense; else a :class:`BackfillError` says why."""
        if self.source not in SOURCES:
            raise BackfillError(f"source {self.source!r}: use one of {', '.join(SOURCES)}")
        if self.outlets not in OUTLETS:
            raise BackfillError(f"outlets {self.outlets!r}: use one of {', '.join(OUTLETS)}")
        if self.last < self.first:
            raise BackfillError(f"the last day {self.last} is before the first {self.first}")
        if self.source == "warc" and not self.inputs:
            raise BackfillError("a warc backfill needs its input files")
        if self.outlets == "any" and self.source != "warc":
            raise BackfillError("outlets 'any' is for WARC files: a sitemap's or the raw "
                                "archive's pages are the outlets' own")  # fmt: skip
        return self

    @property
    def job(self) -> str:
        """The same spec makes the same job (its inputs as given, wildcards and all), so
        that a second start resumes it; a file that appeared since is a shard of its own."""
        text = "\n".join([self.source, str(self.first), str(self.last), self.outlets,
                          *self.inputs])  # fmt: skip
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "inputs": list(self.inputs), "from": str(self.first),
                "to": str(self.last), "outlets": self.outlets}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Spec:
        return cls(data["source"], tuple(data.get("inputs") or ()),
                   date.fromisoformat(str(data["from"])), date.fromisoformat(str(data["to"])),
                   data.get("outlets") or "feeds")  # fmt: skip


@contextmanager
def open_source(spec: Spec, settings: Settings, lake: Lake) -> Iterator[Source]:
    """The source ``spec`` names, its inputs found (wildcards expanded, sitemap indexes
    read), with what it needs open (a polite fetcher for sitemaps) while it is used."""
    from pipeline.sources.feeds import load_feeds
    from pipeline.sources.http import Fetcher, NetworkPolicy
    from pipeline.sources.raw import RawSource, raw_inputs
    from pipeline.sources.sitemaps import SitemapSource
    from pipeline.sources.warc import WarcSource, file_inputs

    spec.check()
    feeds = load_feeds(settings.feeds_path)
    if spec.source == "warc":
        prefilter = None
        if spec.outlets == "any":
            from pipeline.stages.prefilter import Prefilter
            from pipeline.stages.relevance import Taxonomy

            prefilter = Prefilter.from_taxonomy(Taxonomy.load(settings.taxonomy_path, False))
        crawl = settings.crawl_s3 or settings.s3
        inputs = file_inputs(list(spec.inputs), lambda: make_s3_client(crawl))
        yield WarcSource(inputs, feeds, spec.outlets, prefilter)
    elif spec.source == "raw":
        inputs = [Input(key, 0, partial(lake.open, key)) for key in spec.inputs]
        yield RawSource(inputs or raw_inputs(lake, spec.first, spec.last), feeds, lake)
    else:
        urls = [f.url for f in feeds] + [u for f in feeds for u in f.sitemaps] + list(spec.inputs)
        network = NetworkPolicy.for_urls(urls, settings.allow_private_network)
        with Fetcher(settings.fetch, network) as fetcher:
            yield SitemapSource(list(spec.inputs), feeds, fetcher, spec.first)


@dataclass(frozen=True)
class Plan:
    """A backfill's job id (its spec's) and its shards: the inputs found, one a shard."""

    job: str
    shards: list[str]

    def shard(self, spec: Spec, index: int) -> Spec:
        """The spec that reads shard ``index`` alone."""
        return replace(spec, inputs=(self.shards[index],))


def plan(spec: Spec, settings: Settings, lake: Lake) -> Plan:
    with open_source(spec, settings, lake) as source:
        return Plan(spec.job, [i.name for i in source.inputs])


@dataclass
class ShardReport:
    shard: int
    name: str
    read: int = 0
    kept: int = 0
    batches: int = 0
    resumed: bool = False
    days: list[str] = field(default_factory=list)
    left_out: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# (bytes read, total bytes or 0, records read, records kept)
Progress = Callable[[int, int, int, int], None]


def _shard_key(name: str) -> str:
    """A shard's name in its checkpoint and batches: its input's, whatever its place in
    the listing (a listing that grew between two starts keeps every shard's progress)."""
    return hashlib.sha256(name.encode()).hexdigest()[:12]


def land(
    spec: Spec,
    job: str,
    shard: int,
    lake: Lake,
    settings: Settings,
    *,
    source: Source | None = None,
    progress: Progress | None = None,
    enricher: Enricher | None = None,
) -> ShardReport:
    """Stage the pages of shard ``shard`` of ``job`` (``spec`` reads that shard alone, or
    ``source`` is given), their articles scored (with ``enricher``, else the settings'); a
    shard landed already is not read again. Pages read back from the raw archive are
    scored by the commit, which scores their whole day again."""
    (name,) = spec.inputs or ("",)
    key = _shard_key(name)
    checkpoint = f"_state/backfill/{job}/{key}.json"
    state: dict[str, Any] = get_json(lake, checkpoint) or {
        "spec": spec.to_dict(), "position": None, "seq": 0, "days": [], "read": 0,
        "kept": 0, "left_out": {}, "done": False,
    }  # fmt: skip
    resumed = state["position"] is not None or state["done"]
    if not state["done"]:
        with ExitStack() as stack:
            if source is None:
                source = stack.enter_context(open_source(spec, settings, lake))
            if spec.source == "raw":
                enricher = None
            elif enricher is None:
                enricher = enricher_for(settings)
            _stage_all(source, lake, settings, spec, f"{job}-{key}", state, checkpoint, progress,
                       enricher)  # fmt: skip
    report = ShardReport(shard, name, state["read"], state["kept"], state["seq"], resumed,
                         sorted(state["days"]), dict(state["left_out"]))  # fmt: skip
    log.info("landed shard %s of %s: %s", shard, job, report)
    return report


def _stage_all(
    source: Source,
    lake: Lake,
    settings: Settings,
    spec: Spec,
    shard: str,
    state: dict[str, Any],
    checkpoint: str,
    progress: Progress | None,
    enricher: Enricher | None,
) -> None:
    if state["position"] is not None:
        log.info("resuming shard %s at offset %s", shard, state["position"][1])
    seen = SeenIndex.open_or_empty(lake)
    total = sum(i.size for i in source.inputs)
    stack = ExitStack()  # one pool of extraction processes for the whole shard, if any
    pool: ProcessPoolExecutor | None = None
    buffers: dict[date, list[Found]] = {}
    held = 0

    def stage(position: Position | None, done: bool = False) -> None:
        nonlocal pool
        if pool is None and max(map(len, buffers.values()), default=0) >= POOL_MIN_PAGES:
            pool = extraction_pool(settings.extract_workers, CHUNK)
            if pool:
                stack.enter_context(pool)
        for day in sorted(buffers):
            batch = f"backfill-{shard}-{state['seq']:06d}"
            found = buffers[day]
            landing = Landing(
                lake, day.isoformat(), batch, settings, seen, source.rights,
                expected_pages=len(found), archive=batch if source.archives else None, pool=pool,
                enricher=enricher,
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
        left_out = Counter(state["left_out"])
        left_out.update(source.left_out)
        source.left_out.clear()
        state["left_out"] = dict(left_out)
        if position is not None:
            state["position"] = list(position)
        state["done"] = done
        put_json(lake, checkpoint, state)

    position: Position | None = None
    with stack:
        for position, found, done in source.items(state["position"]):
            state["read"] += 1
            if found is not None and spec.first <= found.day <= spec.last:
                state["kept"] += 1
                buffers.setdefault(found.day, []).append(found)
                held += 1
            elif found is not None:
                source.left_out["another day"] += 1
            if held >= CHUNK:
                stage(position)
                held = 0
            if progress:
                progress(done, total, state["read"], state["kept"])
        stage(position, done=True)


@dataclass
class BackfillReport:
    job: str
    source: str
    read: int = 0
    kept: int = 0
    batches: int = 0
    resumed: bool = False
    shards: int = 0
    days: list[str] = field(default_factory=list)
    left_out: dict[str, int] = field(default_factory=dict)
    articles: int = 0
    offtopic: int = 0
    rejects: int = 0
    rejects_by_reason: dict[str, int] = field(default_factory=dict)
    stories: int = 0
    articles_by_day: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def tally(self, dt: str, day: dict[str, Any]) -> None:
        """Count what the commit of day ``dt`` wrote."""
        self.articles_by_day[dt] = day["articles"]
        self.articles += day["articles"]
        self.offtopic += day["offtopic"]
        self.rejects += day["rejects"]
        self.stories += day["stories"]
        for reason, count in day["rejects_by_reason"].items():
            self.rejects_by_reason[reason] = self.rejects_by_reason.get(reason, 0) + count

    def add(self, shard: ShardReport) -> None:
        self.shards += 1
        self.read, self.kept = self.read + shard.read, self.kept + shard.kept
        self.batches += shard.batches
        self.resumed = self.resumed or shard.resumed
        self.days = sorted(set(self.days) | set(shard.days))
        left_out = Counter(self.left_out)
        left_out.update(shard.left_out)
        self.left_out = dict(left_out)


def commit_days(
    spec: Spec,
    job: str,
    landed: list[ShardReport],
    lake: Lake,
    settings: Settings,
    *,
    enricher: Enricher | None = None,
    build: Callable[[Lake, str, str], StoriesReport] = build_day,
) -> BackfillReport:
    """Commit the days the shards landed, in date order, and ``build`` what follows from
    each (its stories, quality report and digest; in Airflow, where the DAGs on the
    articles asset write the report and digest, its stories); then the job is done.
    Each day committed is noted, so that a commit started again (a retried task) goes on
    from the next day."""
    report = BackfillReport(job=job, source=spec.source)
    for shard in landed:
        report.add(shard)
    enricher = enricher or enricher_for(settings)
    run_id = f"backfill__{job}"
    noted = f"_state/backfill/{job}/committed.json"
    days: dict[str, dict[str, Any]] = (get_json(lake, noted) or {}).get("days", {})
    for dt in report.days:
        if dt not in days:
            day = Interval.day(date.fromisoformat(dt))
            # Pages read back from the raw archive replace their day: extracted again.
            committed = commit(day, lake, run_id, enricher, replace=spec.source == "raw",
                               window_days=settings.dedup_window_days)  # fmt: skip
            stories = build(lake, dt, run_id)
            days[dt] = {"articles": committed.articles, "offtopic": committed.offtopic,
                        "rejects": committed.rejects, "stories": stories.stories,
                        "rejects_by_reason": committed.rejects_by_reason}  # fmt: skip
            put_json(lake, noted, {"days": days})
        report.tally(dt, days[dt])
    done = {"spec": spec.to_dict(), "finished_at": datetime.now(UTC).isoformat(),
            "report": report.to_dict()}  # fmt: skip
    put_json(lake, f"_state/backfill/done/{job}.json", done)
    for key in lake.list_keys(f"_state/backfill/{job}/"):
        try:
            lake.delete(key)
        except LakeError as exc:  # the backfill is done; a leftover checkpoint only resumes it
            log.warning("could not remove the checkpoint %s: %s", key, exc)
    return report


def _land_apart(spec: Spec, job: str, shard: int, lake: str, settings: Settings) -> ShardReport:
    """``land`` in a worker process, with a client of the lake of its own."""
    return land(spec, job, shard, open_lake(lake, settings.s3), settings)


def backfill(
    spec: Spec,
    lake: Lake,
    settings: Settings,
    *,
    workers: int = 1,
    enricher: Enricher | None = None,
    progress: Progress | None = None,
    build: Callable[[Lake, str, str], StoriesReport] = build_day,
) -> BackfillReport:
    """A whole backfill on this machine: every shard landed (by ``workers`` processes at
    once), then the days committed in date order."""
    with open_source(spec, settings, lake) as source:
        return _run(source, spec, lake, settings, workers, enricher, progress, build)


def backfill_source(
    source: Source,
    lake: Lake,
    settings: Settings,
    first: date,
    last: date,
    *,
    enricher: Enricher | None = None,
    progress: Progress | None = None,
    build: Callable[[Lake, str, str], StoriesReport] = build_day,
) -> BackfillReport:
    """:func:`backfill` of a source already made (an inbox file, a list of URLs), in this
    process."""
    spec = Spec(source.name, tuple(i.name for i in source.inputs), first, last, source.outlets)
    return _run(source, spec, lake, settings, 1, enricher, progress, build)


def _run(
    source: Source,
    spec: Spec,
    lake: Lake,
    settings: Settings,
    workers: int,
    enricher: Enricher | None,
    progress: Progress | None,
    build: Callable[[Lake, str, str], StoriesReport],
) -> BackfillReport:
    the_plan = Plan(spec.job, [i.name for i in source.inputs])
    enricher = enricher or enricher_for(settings)
    if workers > 1 and len(the_plan.shards) > 1:
        landed = _land_in_processes(spec, the_plan, source.inputs, lake, settings, workers,
                                    progress)  # fmt: skip
    else:
        landed = []
        total = sum(i.size for i in source.inputs)
        for index in range(len(source.inputs)):
            shifted = _shifted(progress, landed, source.inputs[:index], total)
            part, shard = the_plan.shard(spec, index), source.shard(index)
            landed.append(land(part, the_plan.job, index, lake, settings, source=shard,
                               progress=shifted, enricher=enricher))  # fmt: skip
    return commit_days(spec, the_plan.job, landed, lake, settings, enricher=enricher,
                       build=build)  # fmt: skip


def _shifted(
    progress: Progress | None, landed: list[ShardReport], before: list[Input], total: int
) -> Progress | None:
    """The progress of a whole backfill, told by the shard being read."""
    if progress is None:
        return None
    done_bytes = sum(i.size for i in before)
    read, kept = sum(r.read for r in landed), sum(r.kept for r in landed)

    def shifted(done: int, _total: int, shard_read: int, shard_kept: int) -> None:
        progress(done_bytes + done, total, read + shard_read, kept + shard_kept)

    return shifted


def _land_in_processes(
    spec: Spec,
    the_plan: Plan,
    inputs: list[Input],
    lake: Lake,
    settings: Settings,
    workers: int,
    progress: Progress | None,
) -> list[ShardReport]:
    from concurrent.futures import as_completed
    from multiprocessing import get_context

    landed: list[ShardReport] = []
    count = len(the_plan.shards)
    # Each worker extracts in its own process, not in a pool of its own.
    apart = replace(settings, extract_workers=1)
    with ProcessPoolExecutor(min(workers, count), mp_context=get_context("spawn")) as pool:
        futures = [
            pool.submit(_land_apart, the_plan.shard(spec, i), the_plan.job, i, lake.uri, apart)
            for i in range(count)
        ]
        sizes = {i.name: i.size for i in inputs}
        for future in as_completed(futures):
            landed.append(future.result())
            if progress:  # bytes of the shards landed
                read, kept = sum(r.read for r in landed), sum(r.kept for r in landed)
                progress(sum(sizes[r.name] for r in landed), sum(sizes.values()), read, kept)
    return sorted(landed, key=lambda r: r.shard)
