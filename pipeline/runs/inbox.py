"""The inbox: files an operator drops in ``{lake}/inbox/`` to be ingested now, without
waiting for the daily run.

- a text file of article URLs (one a line, ``#`` comments): the pages are fetched and
  land in the partition of the day the file was found;
- a WARC file (``.warc`` or ``.warc.gz``, CC-NEWS layout): its responses from the feeds'
  outlets land in the partitions of their ``WARC-Date``, nothing fetched.

A file found is first moved to ``inbox/processing/`` (so that it is taken once), its name
prefixed with the time it was found, with a claim beside it (``inbox/claims/NAME.json``:
when it was found, taken, last seen alive, how many times taken). While a file is being
ingested, its claim is touched every minute; a file whose claim has shown no sign of
life for ``STALE_AFTER`` (its worker died) is taken again, up to ``MAX_ATTEMPTS`` times,
then failed with the reason. When its pages are committed it moves to ``inbox/done/``;
if it cannot be ingested, to ``inbox/failed/`` with the reason beside it
(``NAME.reason.txt``). An error that may pass (the object store, the network) is left to
the task's retries before the file is declared failed. Nothing dropped is lost. The
Airflow watcher (``plugins/newsflow_inbox.py``) finds the files, listing only the
inbox's top level and that of ``processing/``; ``process`` is what the DAG
``news_inbox`` does with each.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

from pipeline.lake.store import Lake, LakeError, get_json, put_json
from pipeline.records import parse_timestamp
from pipeline.runs.backfill import BackfillReport, backfill_source
from pipeline.runs.commit import build_stories
from pipeline.settings import Settings
from pipeline.sources.base import Input
from pipeline.sources.feeds import load_feeds
from pipeline.sources.http import Fetcher, NetworkPolicy
from pipeline.sources.urllist import UrlListSource, url_list
from pipeline.sources.warc import WarcSource

log = logging.getLogger(__name__)

INBOX, PROCESSING, DONE, FAILED = "inbox/", "inbox/processing/", "inbox/done/", "inbox/failed/"
_ALL_DAYS = (date(1990, 1, 1), date(2100, 1, 1))  # a WARC's records keep their own days


CLAIMS = "inbox/claims/"
STALE_AFTER = timedelta(minutes=30)  # a claim not touched for this long: its worker died
MAX_ATTEMPTS = 3
HEARTBEAT = 60.0  # seconds between the touches of a claim being worked on
# Errors that may pass: the object store or the network. Anything else is the file's.
TRANSIENT = (LakeError, ConnectionError, TimeoutError)


class InboxError(RuntimeError):
    pass


def _claim_key(name: str) -> str:
    return f"{CLAIMS}{name}.json"


def _touch(lake: Lake, name: str, claim: dict[str, Any], now: datetime | None = None) -> None:
    claim["alive_at"] = (now or datetime.now(UTC)).isoformat()
    put_json(lake, _claim_key(name), claim)


def _fail(lake: Lake, key: str, name: str, reason: str, details: str = "") -> InboxResult:
    lake.put(
        f"{FAILED}{name}.reason.txt", (reason + ("\n\n" + details if details else "")).encode()
    )
    lake.move(key, f"{FAILED}{name}")
    lake.delete(_claim_key(name))
    log.error("inbox: %s failed: %s", name, reason)
    return InboxResult(name, "failed", f"{FAILED}{name}", reason=reason)


def claim_next(
    lake: Lake, now: datetime | None = None, stale_after: timedelta = STALE_AFTER
) -> dict[str, Any] | None:
    """Take the oldest-named file waiting in the inbox (or one stranded in
    ``processing/`` by a worker that died): move it to ``inbox/processing/``, write its
    claim, and return what the DAG needs to ingest it. None when there is nothing."""
    now = now or datetime.now(UTC)
    waiting = lake.list_top(INBOX)
    if waiting:
        key = waiting[0]
        # Named after when it was found too, so that a file dropped again under the same
        # name never overwrites the first one in done/ or failed/.
        name = f"{now.strftime('%Y%m%dT%H%M%S')}-{key.removeprefix(INBOX)}"
        claimed = f"{PROCESSING}{name}"
        fresh: dict[str, Any] = {"found_at": now.isoformat(), "claimed_at": now.isoformat(),
                                 "attempts": 1}  # fmt: skip
        _touch(lake, name, fresh, now)
        lake.move(key, claimed)
        log.info("inbox: took %s", lake.url(key))
        return {"key": claimed, "name": name, "found_at": fresh["found_at"], "attempt": 1}
    for key in lake.list_top(PROCESSING):
        name = key.removeprefix(PROCESSING)
        claim: dict[str, Any] = get_json(lake, _claim_key(name)) or {}
        alive = parse_timestamp(claim.get("alive_at")) or datetime.min.replace(tzinfo=UTC)
        if now - alive < stale_after:
            continue  # being worked on, or waiting for a worker
        attempts = int(claim.get("attempts", 0)) + 1
        if attempts > MAX_ATTEMPTS:
            reason = (f"taken {MAX_ATTEMPTS} times, and each time its worker stopped without a "
                      "word (see news_inbox's task logs); drop it again to retry")  # fmt: skip
            _fail(lake, key, name, reason)
            continue
        claim = {"found_at": now.isoformat(), **claim, "claimed_at": now.isoformat(),
                 "attempts": attempts}  # fmt: skip
        _touch(lake, name, claim, now)
        log.warning("inbox: %s was stranded in processing/ (no sign of life since %s); "
                    "taking it again, attempt %d of %d", name, alive.isoformat(), attempts,
                    MAX_ATTEMPTS)  # fmt: skip
        return {"key": key, "name": name, "found_at": claim["found_at"], "attempt": attempts}
    return None


@dataclass
class InboxResult:
    name: str
    status: str  # "done" or "failed"
    moved_to: str
    report: BackfillReport | None = None
    reason: str | None = None


@contextmanager
def _heartbeat(lake: Lake, name: str, every: float) -> Iterator[None]:
    """Touch the claim of ``name`` every ``every`` seconds while the block runs."""
    stop = threading.Event()
    claim = get_json(lake, _claim_key(name)) or {}

    def beat() -> None:
        while not stop.wait(every):
            try:
                _touch(lake, name, claim)
            except LakeError as exc:  # the next beat may get through
                log.warning("inbox: could not touch the claim of %s: %s", name, exc)

    _touch(lake, name, claim)
    thread = threading.Thread(target=beat, name=f"inbox heartbeat {name}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def process(
    lake: Lake, settings: Settings, claim: dict[str, Any], *, final_attempt: bool = True
) -> InboxResult:
    """Ingest one claimed inbox file, then move it to ``done/`` or ``failed/``. An error
    that may pass (``TRANSIENT``) is raised instead, the file left in ``processing/``,
    unless this is the ``final_attempt``."""
    key, name = claim["key"], claim["name"]
    if not lake.list_keys(key):
        for folder in (DONE, FAILED):
            if lake.list_keys(f"{folder}{name}"):  # a retry of a file already handled
                return InboxResult(name, folder.rstrip("/").rsplit("/", 1)[-1], f"{folder}{name}")
        raise InboxError(f"{lake.url(key)} is gone, and is neither done nor failed")
    try:
        with _heartbeat(lake, name, HEARTBEAT):
            report = _ingest(lake, settings, key, name, claim)
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, TRANSIENT) and not final_attempt:
            log.warning("inbox: %s: %s; left in processing/ for the task's next try", name, reason)
            raise
        return _fail(lake, key, name, reason, traceback.format_exc())
    lake.move(key, f"{DONE}{name}")
    lake.delete(_claim_key(name))
    log.info("inbox: %s done: %s", name, report.to_dict())
    return InboxResult(name, "done", f"{DONE}{name}", report=report)


def _ingest(
    lake: Lake, settings: Settings, key: str, name: str, claim: dict[str, Any]
) -> BackfillReport:
    feeds = load_feeds(settings.feeds_path)
    lowered = name.lower()
    if lowered.endswith((".warc", ".warc.gz")):
        warc = WarcSource([Input(lake.url(key), 0, partial(lake.open, key))], feeds)
        return backfill_source(warc, lake, settings, *_ALL_DAYS, build=build_stories)
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
        return backfill_source(urls_source, lake, settings, found, found,
                               build=build_stories)  # fmt: skip
