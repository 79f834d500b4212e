"""What a lake holds, for ``newsflow status``: its committed days and the gaps between
them, each table's version and days, the size of the state, the stories still open, and
the feeds that failed on the last day or were retired."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.lake.state import FEED_STATES_KEY
from pipeline.lake.store import Lake, get_json
from pipeline.lake.tables import days, open_table, read_day, read_where
from pipeline.records import REJECTS_SCHEMA, STORIES_SCHEMA
from pipeline.stages.stories import StoryParams

TABLES = ("articles", "offtopic", "rejects", "extraction", "stories", "story_days", "quality")


@dataclass
class TableStatus:
    name: str
    version: int | None  # None: never written
    days: int


@dataclass
class LakeStatus:
    uri: str
    days: list[str]  # committed days of articles
    gaps: list[str]  # days between the first and the last with no commit
    tables: list[TableStatus]
    state_bytes: int
    state_files: int
    open_stories: int  # that gained articles within the story window before the last day
    failing_feeds: list[dict[str, Any]] = field(default_factory=list)  # on the last day
    retired_feeds: list[dict[str, Any]] = field(default_factory=list)


def gaps(committed: list[str]) -> list[str]:
    """The days between the first and the last of ``committed`` that are not in it."""
    if not committed:
        return []
    have = set(committed)
    first, last = date.fromisoformat(committed[0]), date.fromisoformat(committed[-1])
    missing = []
    day = first
    while day < last:
        if day.isoformat() not in have:
            missing.append(day.isoformat())
        day += timedelta(days=1)
    return missing


def lake_status(lake: Lake) -> LakeStatus:
    committed = days(lake, "articles")
    tables = []
    for name in TABLES:
        table = open_table(lake, name)
        tables.append(TableStatus(name, table.version() if table else None,
                                  len(days(lake, name)) if table else 0))  # fmt: skip
    sizes = lake.sizes("_state/")
    open_stories = 0
    failing: list[dict[str, Any]] = []
    if committed:
        last = committed[-1]
        window = StoryParams().window_days
        since = (date.fromisoformat(last) - timedelta(days=window)).isoformat()
        recent = [d for d in days(lake, "stories") if d >= since]
        ids = read_where(lake, "stories", pa.schema([STORIES_SCHEMA.field("story_id")]),
                         days=recent)  # fmt: skip
        open_stories = ids.num_rows
        rejects = read_day(lake, "rejects", last, REJECTS_SCHEMA)
        feeds = rejects.filter(pc.equal(rejects.column("stage"), "feed"))
        failing = [
            {"url": r["url"], "reason": r["reason"], "detail": r["detail"]}
            for r in feeds.to_pylist()
        ]
    document = get_json(lake, FEED_STATES_KEY) or {}
    entries = document.get("feeds", {}) if isinstance(document, dict) else {}
    retired = [
        {"url": url, "retired_at": entry.get("retired_at")}
        for url, entry in sorted(entries.items())
        if isinstance(entry, dict) and entry.get("retired_at")
    ]
    return LakeStatus(
        uri=lake.uri,
        days=committed,
        gaps=gaps(committed),
        tables=tables,
        state_bytes=sum(sizes.values()),
        state_files=len(sizes),
        open_stories=open_stories,
        failing_feeds=failing,
        retired_feeds=retired,
    )


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}{'s' * (n != 1)}"


def _size(size: float) -> str:
    for unit in ("bytes", "KiB", "MiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def describe(status: LakeStatus, limit: int = 10) -> str:
    """``status`` as ``newsflow status`` prints it."""
    span = f"{status.days[0]} .. {status.days[-1]}" if status.days else "none yet"
    lines = [
        f"newsflow status {status.uri}",
        f"  days committed   {len(status.days)} ({span})",
        f"  gaps             {len(status.gaps)}"
        + (f": {', '.join(status.gaps[:limit])}" if status.gaps else "")
        + (f" … and {len(status.gaps) - limit} more" if len(status.gaps) > limit else ""),
        "  tables",
        *(
            f"    {t.name:<14}version {t.version}, {_count(t.days, 'day')}"
            if t.version is not None
            else f"    {t.name:<14}not written yet"
            for t in status.tables
        ),
        f"  state            {_size(status.state_bytes)} in {_count(status.state_files, 'file')}",
        f"  open stories     {status.open_stories}",
        f"  failing feeds    {len(status.failing_feeds)} on the last day",
    ]
    lines += [f"    {f['url']}  {f['reason']}: {f['detail']}" for f in status.failing_feeds[:limit]]
    lines.append(f"  retired feeds    {len(status.retired_feeds)}")
    lines += [f"    {f['url']}  since {f['retired_at']}" for f in status.retired_feeds[:limit]]
    return "\n".join(lines)
