"""A whole day in one process, without Airflow: the batches of the feeds file ingested one
after another, then the day committed. The same functions the DAG runs as tasks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from pipeline.lake.state import (
    StateError,
)
from pipeline.lake.store import (
    Lake,
    LakeError,
)
from pipeline.runs.commit import CommitReport, commit
from pipeline.runs.ingest import (
    BatchReport,
    Interval,
    batch_id,
    enricher_for,
    ingest_batch,
    plan_batches,
)
from pipeline.settings import Settings
from pipeline.sources.feeds import load_feeds
from pipeline.stages.extract import load_hints

log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    lake: str
    dt: str
    batches: list[BatchReport]
    commit: CommitReport

    def total(self, name: str) -> int:
        return sum(int(getattr(b, name)) for b in self.batches)


def run(
    settings: Settings,
    lake: Lake,
    interval: Interval,
    run_id: str,
    *,
    on_page: Callable[[], None] | None = None,
    on_pages: Callable[[int], None] | None = None,
    on_batch: Callable[[BatchReport], None] | None = None,
) -> RunSummary:
    """A whole run in one process: the same steps the DAG runs as tasks. ``on_pages`` is
    told how many pages each batch will fetch once its feeds are polled, ``on_page`` of
    each page fetched, ``on_batch`` of each batch done."""
    enricher = enricher_for(settings)  # a broken config file stops the run before any fetch
    load_hints(*settings.hint_files())
    feeds = load_feeds(settings.feeds_path)
    reports = []
    planned = plan_batches(feeds, settings.batch_size)
    for feeds_of_batch in planned:
        try:
            report = ingest_batch(
                feeds_of_batch, interval, lake, settings, on_page=on_page, on_pages=on_pages
            )
        except (LakeError, StateError):
            raise  # the lake itself: the next batch and the commit would fail alike
        except Exception as exc:  # as a failed task in Airflow: the day goes on without it
            batch = batch_id(feeds_of_batch)
            log.error("batch %s failed (%s: %s); the day is committed without it", batch,
                      type(exc).__name__, exc, exc_info=log.isEnabledFor(logging.INFO))  # fmt: skip
            continue
        reports.append(report)
        if on_batch:
            on_batch(report)
    summary = commit(
        interval, lake, run_id, enricher, planned, window_days=settings.dedup_window_days
    )
    return RunSummary(lake.uri, interval.dt, reports, summary)
