"""What the pipeline remembers between runs, kept in the lake under ``_state/``.

- ``_state/feeds.json``: each feed's validators (ETag, Last-Modified, body hash), how
  many polls in a row it answered 410 Gone, and when it was retired for that; one file
  for all feeds, written once by each commit.
- ``_state/seen/dt=….parquet``: the articles landed on that day, by feed-link key and
  by ``article_id``, so an item a feed shows for a week is ingested once. A lookup reads
  the days its items may have landed on (``seen_days``), never the whole history;
  ``_state/seen.json`` says which days there are and which table versions they match.
- ``_state/dedup/dt=….parquet`` and ``_state/dedup/signatures/dt=….parquet``: the exact
  hash of every article landed on that day, and the near-copy signatures; the hashes of
  the months before the newest day's are gathered in ``_state/dedup/month=….parquet``.
  A commit reads the signatures of the days within ``ingest.dedup_window_days`` of its
  own and the exact hashes of every day, and writes back its day (or its month).
  ``_state/dedup.json`` says which days and months there are and which table versions
  they match.
- ``_state/stories.json.gz``: the story index (term statistics, open stories).
- ``_state/days/dt=….json``: what the commits of a day recorded beside their tables.

The seen, dedup and story indexes are a cache of the tables: each records the versions
of ``articles`` and ``offtopic`` it matches, and ``load_state`` rebuilds them from the
tables (no fetching, no extraction) when they are missing, unreadable, of another
version, or behind a table (a commit that wrote its tables and died before its state).
Only the commit step writes state, after the tables it describes.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.lake.store import Lake, get_json, put_json, read_parquet, table_to_parquet
from pipeline.records import ARTICLES_SCHEMA
from pipeline.sources.feeds import Validators
from pipeline.stages.dedup import (
    DedupIndex,
    DedupStateError,
    Signature,
    exact_hashes,
    signatures,
)
from pipeline.stages.stories import StoryDoc, StoryIndex, StoryStateError
from pipeline.urls import canonicalize

log = logging.getLogger(__name__)
STATE_VERSION = 1
SEEN_KEY = "_state/seen.json"  # which day files there are, and the table versions they match
SEEN_DAYS = "_state/seen/"  # dt=YYYY-MM-DD.parquet: the articles landed on that day
LEGACY_SEEN_KEY = "_state/seen.parquet"  # the whole index in one file, as it once was
# How far before its published day an item may have landed: a feed that restates the
# date a little later, a time zone. Otherwise an item lands on or after its day.
SEEN_SLACK_DAYS = 2
DEDUP_KEY = "_state/dedup.json"  # what the day files below match (table versions)
DEDUP_DAYS = "_state/dedup/"  # dt=YYYY-MM-DD.parquet: the dedup rows of the articles of a day
LEGACY_DEDUP_KEY = "_state/dedup.parquet"  # the whole index in one file, as it once was
STORIES_KEY = "_state/stories.json.gz"
SEEN_SCHEMA = pa.schema(
    [("url_key", pa.string()), ("article_id", pa.string()), ("dt", pa.string())],
    metadata={"newsflow.state_version": str(STATE_VERSION)},
)


class StateError(RuntimeError):
    """A state file is unreadable or of an unknown version; the message names it."""


def _refuse(lake: Lake, key: str, problem: str) -> StateError:
    return StateError(f"{lake.url(key)}: {problem}")


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


FEED_STATES_KEY = "_state/feeds.json"


def _legacy_feed_state_key(feed_url: str) -> str:
    """Where lakes before ``_state/feeds.json`` kept a feed's state, one file a feed."""
    return f"_state/feeds/{hashlib.sha256(feed_url.encode('utf-8')).hexdigest()[:24]}.json"


@dataclass
class FeedState:
    """What the pipeline remembers of one feed between polls."""

    validators: Validators = field(default_factory=Validators)
    gone: int = 0  # polls in a row that answered 410 Gone
    retired_at: str | None = None  # when ``gone`` reached the limit: no longer polled


def _feed_state(document: Any) -> FeedState | None:
    if not isinstance(document, dict):
        return None
    return FeedState(
        Validators(
            document.get("etag"), document.get("last_modified"), document.get("content_hash")
        ),
        gone=int(document.get("gone") or 0),
        retired_at=document.get("retired_at"),
    )


def _feed_states_document(lake: Lake) -> dict[str, Any]:
    """The feeds' entries of ``_state/feeds.json``; none if there is no such file. One
    that cannot be read is reported and replaced at the next commit: it only saves
    requests."""
    try:
        document = get_json(lake, FEED_STATES_KEY)
    except ValueError as exc:
        document = {"unreadable": str(exc)}
    if document is None:
        return {}
    if (
        not isinstance(document, dict)
        or document.get("version") != STATE_VERSION
        or not isinstance(document.get("feeds"), dict)
    ):
        log.warning(
            "%s is not a feed state file of version %d; polling the feeds afresh",
            lake.url(FEED_STATES_KEY), STATE_VERSION,
        )  # fmt: skip
        return {}
    return dict(document["feeds"])


def load_feed_states(lake: Lake, feed_urls: list[str]) -> dict[str, FeedState]:
    """Each feed's state (a fresh one for a feed never polled), from the one file of all
    feeds' states. A feed it does not know yet is looked for where earlier lakes kept it
    (``_state/feeds/<hash>.json``), read once and superseded by the next commit."""
    entries = _feed_states_document(lake)
    states: dict[str, FeedState] = {}
    for url in feed_urls:
        entry = entries.get(url)
        if entry is None:
            try:
                legacy = get_json(lake, _legacy_feed_state_key(url))
            except ValueError:
                legacy = None
            if isinstance(legacy, dict) and legacy.get("feed_url") == url:
                entry = legacy
        states[url] = _feed_state(entry) or FeedState()
    return states


def save_feed_states(lake: Lake, updates: dict[str, tuple[FeedState, datetime]]) -> None:
    """Record the feeds' new states (each with when it was polled) in one write of
    ``_state/feeds.json``, keeping the entries of the feeds not polled. Called by the
    commit, the one writer of state."""
    if not updates:
        return
    entries = _feed_states_document(lake)
    for url, (state, polled_at) in updates.items():
        entries[url] = {
            **asdict(state.validators),
            "gone": state.gone,
            "retired_at": state.retired_at,
            "polled_at": polled_at.isoformat(),
        }
    put_json(lake, FEED_STATES_KEY, {"version": STATE_VERSION, "feeds": entries})


def feed_state_where(lake: Lake, feed_url: str) -> str:
    """How to tell the pipeline to forget a feed's state (to poll a retired feed again)."""
    return f"the entry {json.dumps(feed_url)} of {lake.url(FEED_STATES_KEY)}"


def seen_days(
    dt: str, published: Iterable[datetime | None], lookback_days: int, window_days: int
) -> set[str]:
    """The landing days to look in for the items or articles at hand, on day ``dt``.

    An item lands on or after its published day, and at most ``lookback_days`` later
    (older ones are left out), so a dated one is looked for in those days (give or take
    ``SEEN_SLACK_DAYS``); an undated one, among the days within ``window_days`` of
    ``dt``. The days to read follow the items, not the history."""
    dates = {when and when.astimezone(UTC).date() for when in published}
    days: set[date] = set()
    for day in dates:
        if day is None:
            continue
        first = day - timedelta(days=SEEN_SLACK_DAYS)
        span = lookback_days + 2 * SEEN_SLACK_DAYS + 1
        days.update(first + timedelta(days=n) for n in range(span + 1))
    if None in dates:
        centre = date.fromisoformat(dt)
        days.update(centre + timedelta(days=n) for n in range(-window_days, window_days + 1))
    return {day.isoformat() for day in days}


def _seen_day_key(day: str) -> str:
    return f"{SEEN_DAYS}dt={day}.parquet"


class SeenIndex:
    """Articles already landed: ``article_id`` → (feed-link key, partition ``dt``).

    One file a landing day; the index reads the days a lookup needs (``need``, with
    ``seen_days``) and holds no more, and a commit writes back the day it landed."""

    def __init__(self, lake: Lake | None = None, days: Iterable[str] = ()) -> None:
        self.days = set(days)  # the days that have a file
        self.loaded: set[str] = set()  # the days read into ``entries``
        self.changed: set[str] = set()  # the days to write back
        self.entries: dict[str, tuple[str, str]] = {}
        self._by_url: dict[str, str] = {}
        self.tables: dict[str, int] = {}  # the table versions it matches
        self.lake = lake
        self.lenient = False  # a day that cannot be read counts as empty (a batch's view)
        self.legacy = False  # read from the one-file index, which the next save removes

    @classmethod
    def open(cls, lake: Lake) -> SeenIndex:
        """The index with no day read yet (a lake whose index is one file, as it once
        was, is read whole, and split into day files at the next save)."""
        try:
            stamp = get_json(lake, SEEN_KEY)
        except ValueError as exc:
            raise _refuse(lake, SEEN_KEY, f"unreadable seen index ({exc})") from None
        if stamp is None:
            return cls._open_legacy(lake)
        if not isinstance(stamp, dict) or stamp.get("version") != STATE_VERSION:
            version = stamp.get("version") if isinstance(stamp, dict) else None
            problem = f"a seen index of version {version}, this version reads {STATE_VERSION}"
            raise _refuse(lake, SEEN_KEY, problem)
        index = cls(lake, stamp.get("days") or [])
        index.tables = dict(stamp.get("tables") or {})
        return index

    @classmethod
    def _open_legacy(cls, lake: Lake) -> SeenIndex:
        table = cls._read(lake, LEGACY_SEEN_KEY)
        index = cls(lake)
        if table is not None:
            columns = (table.column(name).to_pylist() for name in SEEN_SCHEMA.names)
            index.add_rows((a, u, dt) for u, a, dt in zip(*columns, strict=True))
            index.days = index.loaded = index.changed = {dt for _, dt in index.entries.values()}
            index.legacy = True
            metadata = table.schema.metadata or {}
            index.tables = json.loads(metadata.get(b"newsflow.tables", b"{}"))
        return index

    @staticmethod
    def _read(lake: Lake, key: str) -> pa.Table | None:
        try:
            table = read_parquet(lake, key)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise _refuse(lake, key, f"unreadable seen index ({exc})") from None
        if table is None:
            return None
        version = (table.schema.metadata or {}).get(b"newsflow.state_version", b"none")
        if version != str(STATE_VERSION).encode() or table.schema.names != SEEN_SCHEMA.names:
            problem = (
                f"a seen index of version {version.decode()}, this version reads {STATE_VERSION}"
            )
            raise _refuse(lake, key, problem)
        return table

    @classmethod
    def load(cls, lake: Lake) -> SeenIndex:
        """The whole index, every day read."""
        index = cls.open(lake)
        index.need(index.days)
        return index

    @classmethod
    def open_or_empty(cls, lake: Lake) -> SeenIndex:
        """The index, or an empty one if it cannot be read: a batch then fetches a few
        pages again, and the commit, which rebuilds the state, lands each once."""
        try:
            index = cls.open(lake)
        except StateError as exc:
            log.warning("%s; this batch goes on as if nothing had landed", exc)
            return cls()
        index.lenient = True
        return index

    def need(self, days: Iterable[str]) -> None:
        """Read the files of ``days`` not read yet (a day without one has nothing)."""
        for day in sorted(set(days) & self.days - self.loaded):
            assert self.lake is not None
            key = _seen_day_key(day)
            try:
                table = self._read(self.lake, key)
                if table is None:
                    raise _refuse(self.lake, key, "a day file of the seen index went missing")
            except StateError as exc:
                if not self.lenient:
                    raise
                log.warning("%s; this batch goes on as if nothing had landed that day", exc)
                self.loaded.add(day)
                continue
            ids, urls = table.column("article_id").to_pylist(), table.column("url_key").to_pylist()
            self.add_rows((a, u, day) for a, u in zip(ids, urls, strict=True))
            self.loaded.add(day)

    def add_rows(self, rows: Iterable[tuple[str, str, str]]) -> None:
        """(article_id, url_key, dt) rows; an article keeps the first day it landed in."""
        for a, u, dt in rows:
            entry = self.entries.setdefault(a, (u, dt))
            if entry[0]:
                self._by_url.setdefault(entry[0], entry[1])

    def landed_elsewhere(
        self, dt: str, *, url: str | None = None, article: str | None = None
    ) -> bool:
        """True if this feed link or article already landed in a partition other than ``dt``
        (among the days read)."""
        found = self._by_url.get(url) if url else None
        if found is None and article:
            found = self.entries.get(article, ("", None))[1]
        return found is not None and found != dt

    def landed(self, article: str) -> str | None:
        """The day this article landed in, if it did (among the days read)."""
        entry = self.entries.get(article)
        return entry[1] if entry else None

    def set_day(self, dt: str, rows: list[tuple[str, str]]) -> None:
        """Make ``rows`` ((url_key, article_id) pairs) the whole content of day ``dt``."""
        self.need([dt])
        self.entries = {a: v for a, v in self.entries.items() if v[1] != dt}
        self.add_rows((a, u, dt) for u, a in rows)
        self._by_url = {u: d for u, d in self.entries.values() if u}
        self.days.add(dt)
        self.loaded.add(dt)
        self.changed.add(dt)

    def save(self, lake: Lake) -> None:
        """The days that changed, then the stamp that lists them: a commit that dies
        between the two leaves a stamp behind the tables, so the next one rebuilds."""
        by_day: dict[str, list[tuple[str, str]]] = {day: [] for day in self.changed}
        for a, (u, dt) in self.entries.items():
            if dt in by_day:
                by_day[dt].append((u, a))
        metadata = {**(SEEN_SCHEMA.metadata or {}), b"newsflow.tables": json.dumps(self.tables)}
        for day, rows in sorted(by_day.items()):
            urls, ids = zip(*rows, strict=True) if rows else ((), ())
            columns = (urls, ids, [day] * len(rows))  # in SEEN_SCHEMA's order
            table = pa.Table.from_arrays(
                [pa.array(c, pa.string()) for c in columns], schema=SEEN_SCHEMA
            )
            lake.put(_seen_day_key(day), table_to_parquet(table.replace_schema_metadata(metadata)))
        stamp = {"version": STATE_VERSION, "tables": self.tables, "days": sorted(self.days)}
        put_json(lake, SEEN_KEY, stamp)
        if self.legacy:
            lake.delete(LEGACY_SEEN_KEY)
            self.legacy = False
        self.changed = set()


def _dedup_day_key(day: str, part: str = "hashes") -> str:
    folder = "signatures/" if part == "signatures" else ""
    return f"{DEDUP_DAYS}{folder}dt={day}.parquet"


def _dedup_month_key(month: str) -> str:
    return f"{DEDUP_DAYS}month={month}.parquet"


def _load_dedup(lake: Lake, around: str | None, window_days: int) -> DedupIndex:
    """The dedup index: the exact hashes of every day, and the signatures of the days
    within ``window_days`` of ``around`` (the day being committed; the last day held, if
    None). A day's hashes and signatures are files of their own, and the hashes of the
    months before the newest day's are gathered in a file a month, so a commit reads the
    window's signatures, the current month's days and a file for each earlier month, and
    writes back only what it changed."""
    try:
        stamp = get_json(lake, DEDUP_KEY)
    except ValueError as exc:
        raise _refuse(lake, DEDUP_KEY, f"unreadable dedup index ({exc})") from None
    if stamp is None:
        return _load_legacy_dedup(lake)
    if not isinstance(stamp, dict) or stamp.get("version") != STATE_VERSION:
        raise _refuse(lake, DEDUP_KEY, f"not a dedup index of version {STATE_VERSION}")
    days, signed = sorted(stamp.get("days") or []), set(stamp.get("signed") or [])
    months = set(stamp.get("months") or [])
    dated = [date.fromisoformat(day) for day in days if day]  # "": rows of unknown day
    centre = date.fromisoformat(around) if around else max(dated, default=date.today())
    first = (centre - timedelta(days=window_days)).isoformat()
    last = (centre + timedelta(days=window_days)).isoformat()

    def read(key: str) -> bytes:
        data = lake.get(key)
        if data is None:
            raise _refuse(lake, key, "a file of the dedup index went missing")
        return data

    def wanted(of_days: list[str]) -> list[bytes]:
        return [read(_dedup_day_key(day, "signatures")) for day in of_days
                if day in signed and first <= day <= last]  # fmt: skip

    parts = []
    for month in sorted(months):
        key = _dedup_month_key(month)
        parts.append((read(key), wanted([d for d in days if d[:7] == month]), lake.url(key)))
    for day in days:
        if day[:7] not in months:
            key = _dedup_day_key(day)
            parts.append((read(key), wanted([day]), lake.url(key)))
    try:
        index = DedupIndex.from_parts(parts)
    except DedupStateError as exc:
        raise StateError(str(exc)) from None
    index.tables = dict(stamp.get("tables") or {})
    index.signed, index.months = signed, months
    return index


def _load_legacy_dedup(lake: Lake) -> DedupIndex:
    data = lake.get(LEGACY_DEDUP_KEY)
    if data is None:
        return DedupIndex()
    try:
        index = DedupIndex.from_parquet(data, lake.url(LEGACY_DEDUP_KEY))
        metadata = pq.ParquetFile(io.BytesIO(data)).schema_arrow.metadata or {}
    except DedupStateError as exc:
        raise StateError(str(exc)) from None
    index.tables = json.loads(metadata.get(b"newsflow.tables", b"{}"))
    index.changed = set(index.days)  # all of it is written in day files at the next save
    index.legacy = True
    return index


def _save_dedup(lake: Lake, index: DedupIndex, versions: dict[str, int]) -> None:
    """The days the index changed (the month, for a day of a gathered month), the months
    to gather, then what they match: a commit that dies on the way leaves a stamp behind
    the tables, so the next one rebuilds the index. Day files a month file replaced go
    once the stamp names it."""
    days = sorted(set(index.days))
    newest = max((day for day in days if day), default="")
    ended = {day[:7] for day in days if day and day[:7] < newest[:7]} - index.months
    months = {day[:7] for day in index.changed if day[:7] in index.months} | ended
    for day in sorted(index.changed):
        if day[:7] not in months:
            lake.put(_dedup_day_key(day), index.to_parquet(days=[day], part="hashes"))
        if any(index.digests[i] is not None for i in index.rows_of(day)):
            lake.put(
                _dedup_day_key(day, "signatures"), index.to_parquet(days=[day], part="signatures")
            )
            index.signed.add(day)
    for month in sorted(months):
        of_month = [day for day in days if day[:7] == month]
        lake.put(_dedup_month_key(month), index.to_parquet(days=of_month, part="hashes"))
    index.months |= ended
    stamp = {"version": STATE_VERSION, "tables": versions, "days": days,
             "signed": sorted(index.signed), "months": sorted(index.months)}  # fmt: skip
    put_json(lake, DEDUP_KEY, stamp)
    for day in days:
        if day[:7] in ended:
            lake.delete(_dedup_day_key(day))
    if index.legacy:
        lake.delete(LEGACY_DEDUP_KEY)
        index.legacy = False
    index.changed = set()


def _load_stories(lake: Lake) -> StoryIndex:
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


# Table operations that change no row: a state that matched the table before still does.
_ROWS_UNCHANGED = frozenset({"OPTIMIZE", "VACUUM START", "VACUUM END", "SET TBLPROPERTIES"})
STATE_TABLES = ("articles", "offtopic")


def table_versions(lake: Lake) -> dict[str, int]:
    """The current version of each table the state describes (-1: no table yet)."""
    from pipeline.lake.tables import open_table

    versions = {}
    for name in STATE_TABLES:
        table = open_table(lake, name)
        versions[name] = table.version() if table is not None else -1
    return versions


def _behind(lake: Lake, recorded: dict[str, int]) -> str | None:
    """Why a state recorded at ``recorded`` no longer matches the tables, if it does not."""
    from pipeline.lake.tables import open_table

    for name in STATE_TABLES:
        table = open_table(lake, name)
        current, since = (table.version() if table else -1), int(recorded.get(name, -1))
        if current == since:
            continue
        if table is None or current < since:
            return f"{name} is at version {current}, the state was made at {since}"
        changes = [entry for entry in table.history(current - since)
                   if int(entry.get("version", -1)) > since
                   and entry.get("operation") not in _ROWS_UNCHANGED]  # fmt: skip
        if changes:
            return f"{name} gained version {current} after the state was made at {since}"
    return None


@dataclass
class State:
    """The indexes a commit works with, and whether they had to be rebuilt (why)."""

    seen: SeenIndex
    dedup: DedupIndex
    stories: StoryIndex
    rebuilt: str | None = None


def load_state(
    lake: Lake, window_days: int = 30, around: str | None = None, seen_days: Iterable[str] = ()
) -> State:
    """The seen, dedup and story indexes, rebuilt from the tables if they do not match
    them (see the module's account); the near-copy signatures of the days within
    ``window_days`` of ``around`` (the day to commit); the landings of ``seen_days``."""
    try:
        seen, stories = SeenIndex.open(lake), _load_stories(lake)
        seen.need(seen_days)
        dedup = _load_dedup(lake, around, window_days)
    except StateError as exc:
        reason: str | None = str(exc)
    else:
        recorded = [seen.tables, dedup.tables, stories.tables]
        if recorded[0] != recorded[1] or recorded[0] != recorded[2]:
            reason = "the state files were written by different commits"
        else:
            reason = _behind(lake, recorded[0])
        if reason is None:
            return State(seen, dedup, stories)
    log.warning("rebuilding the state of %s from its tables: %s", lake.uri, reason)
    return rebuild_state(lake, window_days, reason)


def save_state(lake: Lake, state: State, versions: dict[str, int]) -> None:
    """Write the indexes, recording the table versions they match."""
    for index in (state.seen, state.dedup, state.stories):
        index.tables = dict(versions)
    state.seen.save(lake)
    _save_dedup(lake, state.dedup, versions)
    lake.put(STORIES_KEY, state.stories.to_bytes())


# What a rebuild reads of the articles: no more than the indexes need.
_REBUILD = pa.schema([ARTICLES_SCHEMA.field(n) for n in (
    "article_id", "url", "title", "text", "duplicate_of", "story_id", "published_at",
    "fetched_at", "source_name", "language")] + [pa.field("dt", pa.string())])  # fmt: skip


def rebuild_state(lake: Lake, window_days: int, reason: str | None = None) -> State:
    """The indexes as the tables make them: every landed article in the seen index; the
    exact hash of every article, and the signatures of the window, in the dedup index;
    the stories of the last two story windows in the story index. Reads the ids of every
    day, and the text of every day once (for the exact hashes)."""
    from pipeline.lake.tables import days, read_day

    versions = table_versions(lake)
    seen, dedup, stories = SeenIndex(lake), DedupIndex(), StoryIndex()
    landed_days = sorted(set(days(lake, "articles")) | set(days(lake, "offtopic")))
    last = date.fromisoformat(landed_days[-1]) if landed_days else date.today()
    window = (last - timedelta(days=window_days)).isoformat()
    horizon = (last - timedelta(days=2 * stories.params.window_days)).isoformat()
    ids = pa.schema([ARTICLES_SCHEMA.field("article_id"), ARTICLES_SCHEMA.field("url")])
    for dt in landed_days:
        offtopic = read_day(lake, "offtopic", dt, ids)
        articles = read_day(lake, "articles", dt, _REBUILD).to_pylist()
        articles.sort(key=lambda r: (r["published_at"] or r["fetched_at"], r["article_id"]))
        pairs = [(r["url"], r["article_id"]) for r in articles] + list(
            zip(offtopic.column("url").to_pylist(), offtopic.column("article_id").to_pylist(),
                strict=True))  # fmt: skip
        seen.add_rows((a, url_key(canonicalize(u)), dt) for u, a in pairs)
        docs = [(r["title"], r["text"]) for r in articles]
        dedup.today = dt
        if dt >= window:
            for row, sig in zip(articles, signatures(docs), strict=True):
                dedup._record(row["article_id"], row["duplicate_of"] or row["article_id"], sig)
        else:
            for row, exact in zip(articles, exact_hashes(docs), strict=True):
                root = row["duplicate_of"] or row["article_id"]
                dedup._record(row["article_id"], root, Signature(exact, None, 0))
        if dt >= horizon:
            for row in articles:
                if row["story_id"]:
                    doc = StoryDoc(row["article_id"], row["title"], row["text"],
                                   row["published_at"] or row["fetched_at"], row["source_name"],
                                   row["language"], row["duplicate_of"])  # fmt: skip
                    stories.restore(doc, row["story_id"])
    dedup.today = ""
    seen.days = set(landed_days)
    seen.loaded, seen.changed = set(seen.days), set(seen.days)
    for index in (seen, dedup, stories):
        index.tables = versions
    return State(seen, dedup, stories, reason or "rebuilt on request")
