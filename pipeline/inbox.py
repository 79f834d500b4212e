"""The inbox: files an operator drops in ``{lake}/inbox/`` to be ingested now, without
waiting for the daily run.

- a text file of article URLs (one a line, ``#`` comments): the pages are fetched and
  land in the partition of the day the file was found;
- a WARC file (``.warc`` or ``.warc.gz``, CC-NEWS layout): its responses from the feeds'
  outlets land in the partitions of their ``WARC-Date``, nothing fetched.

A file found is first moved to ``inbox/processing/`` (so that it is taken once), its name
prefixed with the time it was found, then, when its pages are committed, to
``inbox/done/``; if it cannot be ingested, to ``inbox/failed/`` with the reason beside it
(``NAME.reason.txt``). Nothing dropped is
lost. The Airflow watcher (``plugins/newsflow_inbox.py``) finds the files; ``process``
is what the DAG ``news_inbox`` does with each.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from typing import Any

from pipeline.backfill import BackfillReport, Input, UrlListSource, WarcSource, backfill, url_list
from pipeline.feeds import load_feeds
from pipeline.fetch import Fetcher, NetworkPolicy
from pipeline.settings import Settings
from pipeline.store import Lake

log = logging.getLogger(__name__)

INBOX, PROCESSING, DONE, FAILED = "inbox/", "inbox/processing/", "inbox/done/", "inbox/failed/"
_ALL_DAYS = (date(1990, 1, 1), date(2100, 1, 1))  # a WARC's records keep their own days


class InboxError(RuntimeError):
    pass


def claim_next(lake: Lake, now: datetime | None = None) -> dict[str, Any] | None:
    """Take the oldest-named file waiting in the inbox: move it to ``inbox/processing/``
    and return what the DAG needs to ingest it. None when the inbox is empty."""
    waiting = [
        key for key in lake.list_keys(INBOX)
        if "/" not in key.removeprefix(INBOX) and not key.rsplit("/", 1)[-1].startswith(".")
    ]  # fmt: skip
    if not waiting:
        return None
    key = waiting[0]
    found = now or datetime.now(UTC)
    # Named after when it was found too, so that a file dropped again under the same
    # name never overwrites the first one in done/ or failed/.
    name = f"{found.strftime('%Y%m%dT%H%M%S')}-{key.removeprefix(INBOX)}"
    claimed = f"{PROCESSING}{name}"
    lake.move(key, claimed)
    log.info("inbox: took %s", lake.url(key))
    return {"key": claimed, "name": name, "found_at": found.isoformat()}


@dataclass
class InboxResult:
    name: str
    status: str  # "done" or "failed"
    moved_to: str
    report: BackfillReport | None = None
    reason: str | None = None


def process(lake: Lake, settings: Settings, claim: dict[str, Any]) -> InboxResult:
    """Ingest one claimed inbox file, then move it to ``done/`` or ``failed/``."""
    key, name = claim["key"], claim["name"]
    if not lake.list_keys(key):
        for folder in (DONE, FAILED):
            if lake.list_keys(f"{folder}{name}"):  # a retry of a file already handled
                return InboxResult(name, folder.rstrip("/").rsplit("/", 1)[-1], f"{folder}{name}")
        raise InboxError(f"{lake.url(key)} is gone, and is neither done nor failed")
    try:
        report = _ingest(lake, settings, key, name, claim)
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
        lake.put(f"{FAILED}{name}.reason.txt", (reason + "\n\n" + traceback.format_exc()).encode())
        lake.move(key, f"{FAILED}{name}")
        log.error("inbox: %s failed: %s", name, reason)
        return InboxResult(name, "failed", f"{FAILED}{name}", reason=reason)
    lake.move(key, f"{DONE}{name}")
    log.info("inbox: %s done: %s", name, report.to_dict())
    return InboxResult(name, "done", f"{DONE}{name}", report=report)


def _ingest(
    lake: Lake, settings: Settings, key: str, name: str, claim: dict[str, Any]
) -> BackfillReport:
    feeds = load_feeds(settings.feeds_path)
    lowered = name.lower()
    if lowered.endswith((".warc", ".warc.gz")):
        warc = WarcSource([Input(lake.url(key), 0, partial(lake.open, key))], feeds)
        return backfill(warc, lake, settings, *_ALL_DAYS)
    data = lake.get(key) or b""
    if b"\x00" in data[:4096]:
        raise InboxError(f"{name} is neither a WARC file (.warc, .warc.gz) nor a list of URLs")
    found = datetime.fromisoformat(claim["found_at"]).astimezone(UTC).date()
    urls = url_list(data)
    bad = [u for u in urls if not u.lower().startswith(("http://", "https://"))]
    if not urls or bad:
        what = f"{len(bad)} lines are not http(s) URLs, the first {bad[0]!r}" if bad else "no URL"
        raise InboxError(f"{name}: {what}")
    network = NetworkPolicy.for_urls([f.url for f in feeds] + urls, settings.allow_private_network)
    with Fetcher(settings.fetch, network) as fetcher:
        urls_source = UrlListSource(lake.url(key), data, feeds, fetcher, found)
        return backfill(urls_source, lake, settings, found, found)
