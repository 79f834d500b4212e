"""newsflow's own raw archive read back (``{lake}/raw/dt=…``): each page into the
partition it came from, with what its feed said of it and the rights it had; nothing
fetched.
"""

from __future__ import annotations

import logging
from datetime import date
from functools import partial
from typing import Any

from pipeline.lake.archive import RawRecord, body_digest, reference
from pipeline.lake.store import Lake
from pipeline.lake.tables import read_day
from pipeline.records import ARTICLES_SCHEMA
from pipeline.sources.base import Found, Input, Source
from pipeline.sources.feeds import Feed, FeedItem
from pipeline.sources.http import Page
from pipeline.urls import source_domain

log = logging.getLogger(__name__)


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
                rows = read_day(self.lake, table, dt, ARTICLES_SCHEMA).select(["raw_ref", "rights"])
                for row in rows.to_pylist():
                    if row["raw_ref"] and row["rights"]:
                        self._rights[_position(row["raw_ref"])] = row["rights"]
        return self._rights.get(_position(raw_ref)) or super().rights(page, raw_ref)


def _position(ref: str) -> str:
    """A raw_ref without its digest (refs written before there were digests have none)."""
    return ref.partition(":")[0] if "#" in ref else ref


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
