"""Backfills from sources that are not feeds, through the same path as a live run.

A source (``pipeline.sources``: sitemaps, WARC files, the raw archive, a URL list)
yields pages with the day they belong to, keeping the outlets of the feeds file.

The pages are streamed record by record; a few hundred at a time are archived, extracted
and staged (:class:`pipeline.runs.ingest.Landing`) as batches of their day, and the position
reached is saved in ``_state/backfill/{job}.json``. An interrupted backfill started again
with the same arguments resumes from there: the batches it stages again have the same
names, so nothing is staged twice. When the input is read, the days are committed in date
order (relevance, duplicates, stories; the same ``commit`` as a live run), and each day's
stories, quality report and digest page are written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from pipeline.lake.state import SeenIndex
from pipeline.lake.store import Lake, LakeError, get_json, put_json
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
from pipeline.sources.base import Found, Position, Source
from pipeline.stages.enrich import Enricher

log = logging.getLogger(__name__)

CHUNK = 400  # pages held in memory before they are staged and the position saved


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
    build: Callable[[Lake, str, str], StoriesReport] = build_day,
) -> BackfillReport:
    """Read ``source`` for the days from ``first`` to ``last`` and commit those days, then
    ``build`` what follows from each (its stories, quality report and digest; in Airflow,
    where the DAGs on the articles asset write the report and digest, its stories)."""
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
    seen = SeenIndex.open_or_empty(lake)
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
        day = Interval.day(date.fromisoformat(dt))
        # Pages read back from the raw archive replace their day: extracted again, not new.
        committed = commit(day, lake, run_id, enricher, replace=not source.archives,
                           window_days=settings.dedup_window_days)  # fmt: skip
        stories = build(lake, dt, run_id)
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
