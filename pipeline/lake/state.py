"""What the pipeline remembers between runs, kept in the lake under ``_state/``.

- ``_state/feeds/<hash>.json``: each feed's validators (ETag, Last-Modified, body hash),
  how many polls in a row it answered 410 Gone, and when it was retired for that.
- ``_state/seen.parquet``: every article already landed, by feed-link key and by
  ``article_id``, with the partition it landed in, so an item a feed shows for a week
  is ingested once.
- ``_state/dedup.parquet``: duplicate-detection signatures of every article landed.
- ``_state/stories.json.gz``: the story index (term statistics, open stories).

Only the commit step writes state, after the data it describes, so a failed run leaves
the previous state in place and its rerun fetches again.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa

from pipeline.stages.dedup import DedupIndex, DedupStateError
from pipeline.sources.feeds import Validators
from pipeline.lake.store import Lake, get_json, put_json, read_parquet, table_to_parquet
from pipeline.stages.stories import StoryIndex, StoryStateError

log = logging.getLogger(__name__)
STATE_VERSION = 1
SEEN_KEY = "_state/seen.parquet"
DEDUP_KEY = "_state/dedup.parquet"
STORIES_KEY = "_state/stories.json.gz"
SEEN_SCHEMA = pa.schema(
    [("url_key", pa.string()), ("article_id", pa.string()), ("dt", pa.string())],
    metadata={"newsflow.state_version": str(STATE_VERSION)},
)


class StateError(RuntimeError):
    """A state file is unreadable or of an unknown version; the message names it and says
    how to rebuild it."""


def _refuse(lake: Lake, key: str, problem: str) -> StateError:
    """The error for an unusable index: the state is rebuilt from the lake's raw archive,
    in date order, by a raw backfill over every committed day (no fetching)."""
    from pipeline.lake.tables import days as table_days

    days = table_days(lake, "articles")
    span = f"--from {days[0]} --to {days[-1]}" if days else "--from FIRST-DAY --to LAST-DAY"
    return StateError(
        f"{lake.url(key)}: {problem}. To rebuild the state, move "
        f"{lake.url('_state/')} aside and run: newsflow backfill --source raw {span}"
        f" --lake {lake.uri}"
    )


def day_record_key(dt: str) -> str:
    return f"_state/days/dt={dt}.json"


def load_day_record(lake: Lake, dt: str) -> dict[str, Any]:
    """What the last commit of day ``dt`` recorded beside its tables: its run, the batches
    it took (so that a lost one is noticed), the threshold it scored with."""
    document = get_json(lake, day_record_key(dt))
    return document if isinstance(document, dict) else {}


def save_day_record(lake: Lake, dt: str, record: dict[str, Any]) -> None:
    put_json(lake, day_record_key(dt), {"dt": dt, **record})


def url_key(canonical_url: str) -> str:
    return hashlib.sha256(canonical_url.encode("utf-8")).hexdigest()[:20]


def feed_state_key(feed_url: str) -> str:
    return f"_state/feeds/{hashlib.sha256(feed_url.encode('utf-8')).hexdigest()[:24]}.json"


@dataclass
class FeedState:
    """What the pipeline remembers of one feed between polls."""

    validators: Validators = field(default_factory=Validators)
    gone: int = 0  # polls in a row that answered 410 Gone
    retired_at: str | None = None  # when ``gone`` reached the limit: no longer polled


def load_feed_state(lake: Lake, feed_url: str) -> FeedState:
    """The feed's state; a fresh one if there is none. A state file that cannot be read
    is reported and replaced at the next commit: it only saves requests."""
    key = feed_state_key(feed_url)
    try:
        document = get_json(lake, key)
    except ValueError as exc:
        document = {"unreadable": str(exc)}
    if document is None:
        return FeedState()
    if (
        not isinstance(document, dict)
        or document.get("version") != STATE_VERSION
        or document.get("feed_url") != feed_url
    ):
        log.warning(
            "%s is not a feed state file of version %d for %s; polling the feed afresh",
            lake.url(key), STATE_VERSION, feed_url,
        )  # fmt: skip
        return FeedState()
    return FeedState(
        Validators(
            document.get("etag"), document.get("last_modified"), document.get("content_hash")
        ),
        gone=int(document.get("gone") or 0),
        retired_at=document.get("retired_at"),
    )


def save_feed_state(lake: Lake, feed_url: str, state: FeedState, polled_at: datetime) -> None:
    put_json(
        lake,
        feed_state_key(feed_url),
        {
            "version": STATE_VERSION,
            "feed_url": feed_url,
            **asdict(state.validators),
            "gone": state.gone,
            "retired_at": state.retired_at,
            "polled_at": polled_at.isoformat(),
        },
    )


class SeenIndex:
    """Articles already landed: ``article_id`` → (feed-link key, partition ``dt``)."""

    def __init__(self, entries: dict[str, tuple[str, str]] | None = None) -> None:
        self.entries = entries or {}
        self._by_url = {u: dt for u, dt in self.entries.values() if u}

    @classmethod
    def load(cls, lake: Lake) -> SeenIndex:
        try:
            table = read_parquet(lake, SEEN_KEY)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise _refuse(lake, SEEN_KEY, f"unreadable seen index ({exc})") from None
        if table is None:
            return cls()
        version = (table.schema.metadata or {}).get(b"newsflow.state_version", b"none")
        if version != str(STATE_VERSION).encode() or table.schema.names != SEEN_SCHEMA.names:
            problem = (
                f"a seen index of version {version.decode()}, this version reads {STATE_VERSION}"
            )
            raise _refuse(lake, SEEN_KEY, problem)
        columns = (table.column(name).to_pylist() for name in SEEN_SCHEMA.names)
        return cls({a: (u, dt) for u, a, dt in zip(*columns, strict=True)})

    def landed_elsewhere(
        self, dt: str, *, url: str | None = None, article: str | None = None
    ) -> bool:
        """True if this feed link or article already landed in a partition other than ``dt``."""
        found = self._by_url.get(url) if url else None
        if found is None and article:
            found = self.entries.get(article, ("", None))[1]
        return found is not None and found != dt

    def landed(self, article: str) -> str | None:
        """The day this article landed in, if it did."""
        entry = self.entries.get(article)
        return entry[1] if entry else None

    def add(self, dt: str, rows: list[tuple[str, str]]) -> None:
        """Record ``rows`` ((url_key, article_id) pairs) as landed on ``dt`` (an article
        keeps the first day it landed in)."""
        for u, a in rows:
            entry = self.entries.setdefault(a, (u, dt))
            if entry[0]:
                self._by_url.setdefault(entry[0], entry[1])

    def replace_partition(self, dt: str, rows: list[tuple[str, str]]) -> None:
        """Make ``rows`` ((url_key, article_id) pairs) the whole content of partition ``dt``."""
        self.entries = {a: v for a, v in self.entries.items() if v[1] != dt}
        for u, a in rows:
            self.entries.setdefault(a, (u, dt))
        self._by_url = {u: d for u, d in self.entries.values() if u}

    def save(self, lake: Lake) -> None:
        rows = sorted((u, a, dt) for a, (u, dt) in self.entries.items())
        table = pa.Table.from_arrays(
            [pa.array([r[i] for r in rows], pa.string()) for i in range(3)], schema=SEEN_SCHEMA
        )
        lake.put(SEEN_KEY, table_to_parquet(table))


def load_dedup(lake: Lake) -> DedupIndex:
    data = lake.get(DEDUP_KEY)
    if data is None:
        return DedupIndex()
    try:
        return DedupIndex.from_parquet(data, lake.url(DEDUP_KEY))
    except DedupStateError as exc:
        raise _refuse(lake, DEDUP_KEY, str(exc).removeprefix(f"{lake.url(DEDUP_KEY)}: ")) from None
    except (pa.ArrowException, OSError, ValueError, KeyError) as exc:
        raise _refuse(lake, DEDUP_KEY, f"unreadable dedup index ({exc})") from None


def save_dedup(lake: Lake, index: DedupIndex) -> None:
    lake.put(DEDUP_KEY, index.to_parquet())


def load_stories(lake: Lake) -> StoryIndex:
    data = lake.get(STORIES_KEY)
    if data is None:
        return StoryIndex()
    try:
        return StoryIndex.from_bytes(data, lake.url(STORIES_KEY))
    except StoryStateError as exc:
        raise _refuse(
            lake, STORIES_KEY, str(exc).removeprefix(f"{lake.url(STORIES_KEY)}: ")
        ) from None
    except (KeyError, TypeError, ValueError) as exc:
        raise _refuse(lake, STORIES_KEY, f"unreadable story index ({exc!r})") from None


def save_stories(lake: Lake, index: StoryIndex) -> None:
    lake.put(STORIES_KEY, index.to_bytes())
