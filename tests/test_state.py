"""State whose cost follows the day: the seen index, a file a landing day read only for
the days the items at hand may have landed on; the dedup index, whose exact hashes of
ended months are a file a month."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from pipeline.lake.state import (
    LEGACY_SEEN_KEY,
    SEEN_KEY,
    SEEN_SCHEMA,
    SeenIndex,
    _load_dedup,
    _save_dedup,
    seen_days,
)
from pipeline.lake.store import LocalLake, table_to_parquet
from pipeline.stages.dedup import DedupIndex, signatures

START = date(2025, 1, 1)


class CountingLake(LocalLake):
    """A local lake that records the keys it reads and writes."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.reads: list[str] = []
        self.writes: list[str] = []

    def get(self, key: str) -> bytes | None:
        self.reads.append(key)
        return super().get(key)

    def put(self, key: str, data: bytes) -> None:
        self.writes.append(key)
        super().put(key, data)


def _day(n: int) -> str:
    return (START + timedelta(days=n)).isoformat()


def _at(n: int, hour: int = 12) -> datetime:
    day = START + timedelta(days=n)
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def test_a_dated_item_is_looked_for_from_its_day_to_the_lookback_after_it() -> None:
    days = seen_days(_day(400), [_at(398), _at(399)], lookback_days=3, window_days=30)
    # from two days before the earlier date to two days after the later one's lookback
    # (which ends a day after its last day: an interval's items reach back from its start)
    assert days == {_day(n) for n in range(398 - 2, 399 + 3 + 1 + 2 + 1)}


def test_an_undated_item_is_looked_for_within_the_window() -> None:
    days = seen_days(_day(400), [None], lookback_days=3, window_days=30)
    assert days == {_day(n) for n in range(370, 431)}


def test_a_time_zone_does_not_move_an_item_to_another_day() -> None:
    late = datetime(2025, 1, 1, 23, 30, tzinfo=UTC).astimezone()  # the same moment elsewhere
    assert seen_days("2025-01-02", [late], 0, 30) == seen_days("2025-01-02", [_at(0, 23)], 0, 30)


def _year_of_landings(lake: LocalLake, per_day: int = 50) -> SeenIndex:
    index = SeenIndex.open(lake)
    for n in range(365):
        index.set_day(_day(n), [(f"u{n}-{i}", f"a{n}-{i}") for i in range(per_day)])
    index.tables = {"articles": 7, "offtopic": 3}
    index.save(lake)
    return index


def test_a_lookup_reads_the_days_its_items_need_and_no_others(tmp_path: Path) -> None:
    lake = CountingLake(tmp_path / "lake")
    _year_of_landings(lake)
    lake.reads.clear()
    index = SeenIndex.open(lake)
    index.need(seen_days(_day(364), [_at(362), _at(363)], lookback_days=3, window_days=30))
    assert index.landed_elsewhere(_day(364), url="u362-7")
    assert index.landed_elsewhere(_day(364), article="a361-3")  # within the slack
    assert not index.landed_elsewhere(_day(364), url="u10-1")  # a day not needed: not read
    read = sorted(key for key in lake.reads if key.startswith("_state/seen"))
    assert read == [SEEN_KEY] + [f"_state/seen/dt={_day(n)}.parquet" for n in range(360, 365)]
    assert index.tables == {"articles": 7, "offtopic": 3}


def test_a_commit_writes_back_its_day_alone(tmp_path: Path) -> None:
    lake = CountingLake(tmp_path / "lake")
    _year_of_landings(lake)
    index = SeenIndex.open(lake)
    index.need([_day(364)])
    index.set_day(_day(365), [("u-new", "a-new"), ("u364-0", "a364-0")])  # one landed before
    lake.writes.clear()
    index.save(lake)
    assert lake.writes == [f"_state/seen/dt={_day(365)}.parquet", SEEN_KEY]
    again = SeenIndex.load(lake)
    assert len(again.entries) == 365 * 50 + 1  # the article of day 364 kept its first day
    assert again.landed("a-new") == _day(365) and again.landed("a364-0") == _day(364)


def test_an_index_kept_in_one_file_is_read_whole_once_and_split_into_days(
    tmp_path: Path,
) -> None:
    lake = LocalLake(tmp_path / "lake")
    rows = {"url_key": ["u1", "u2", ""], "article_id": ["a1", "a2", "a3"],
            "dt": [_day(0), _day(1), _day(1)]}  # fmt: skip
    table = pa.table(rows, schema=SEEN_SCHEMA).replace_schema_metadata(
        {**(SEEN_SCHEMA.metadata or {}), b"newsflow.tables": b'{"articles": 2}'}
    )
    lake.put(LEGACY_SEEN_KEY, table_to_parquet(table))
    index = SeenIndex.open(lake)
    assert index.landed("a2") == _day(1) and index.tables == {"articles": 2}
    index.save(lake)
    assert lake.get(LEGACY_SEEN_KEY) is None
    assert lake.list_keys("_state/seen/") == [
        f"_state/seen/dt={_day(0)}.parquet",
        f"_state/seen/dt={_day(1)}.parquet",
    ]
    again = SeenIndex.load(lake)
    assert again.entries == index.entries and again.tables == {"articles": 2}


# -- the dedup index: the exact hashes of every day, gathered a month a file ----------------


def _dedup_over(days: list[str]) -> DedupIndex:
    """Two articles a day, each of a text of its own."""
    index = DedupIndex()
    for day in days:
        index.today = day
        docs: list[tuple[str | None, str | None]] = [
            (f"Story {n} of {day}", " ".join(f"w{day}{n}{k}" for k in range(40))) for n in range(2)
        ]
        for n, sig in enumerate(signatures(docs)):
            index.add(f"{day}-{n}", sig)
    index.today = ""
    return index


def test_the_exact_hashes_of_ended_months_are_one_file_a_month(tmp_path: Path) -> None:
    """A commit reads a file for each earlier month, the days of the newest month and the
    signatures of its window: the files it opens grow by one a month, not a day."""
    lake = CountingLake(tmp_path / "lake")
    days = [(START + timedelta(days=n)).isoformat() for n in range(69)]  # to 10 March
    _save_dedup(lake, _dedup_over(days), {"articles": 1})
    assert lake.list_keys("_state/dedup/month=") == [
        "_state/dedup/month=2025-01.parquet",
        "_state/dedup/month=2025-02.parquet",
    ]
    march = [day for day in days if day >= "2025-03"]
    assert lake.list_keys("_state/dedup/dt=") == [f"_state/dedup/dt={d}.parquet" for d in march]
    lake.reads.clear()
    index = _load_dedup(lake, around="2025-03-10", window_days=3)
    assert len(index) == 2 * len(days) and index.months == {"2025-01", "2025-02"}
    opened = [key for key in lake.reads if key.startswith("_state/dedup")]
    signed = [f"_state/dedup/signatures/dt=2025-03-{d:02d}.parquet" for d in range(7, 11)]
    assert sorted(opened) == sorted(
        ["_state/dedup.json", *lake.list_keys("_state/dedup/month="),
         *lake.list_keys("_state/dedup/dt="), *signed]
    )  # fmt: skip
    # An exact copy of a January article is still caught.
    text = " ".join(f"w2025-01-051{k}" for k in range(40))
    index.today = "2025-03-10"
    assert index.add("copy", signatures([("Story 1 of 2025-01-05", text)])[0]) == "2025-01-05-1"
    # A day of a gathered month that changes (a backfill) rewrites its month's file.
    index = _load_dedup(lake, around="2025-01-20", window_days=3)
    index.today = "2025-01-20"
    index.add("late", signatures([("A late one", "late " * 50)])[0])
    lake.writes.clear()
    _save_dedup(lake, index, {"articles": 2})
    assert lake.writes == [
        "_state/dedup/signatures/dt=2025-01-20.parquet",
        "_state/dedup/month=2025-01.parquet",
        "_state/dedup.json",
    ]
    again = _load_dedup(lake, around="2025-01-20", window_days=1)
    assert "late" in again.ids and len(again) == 2 * len(days) + 1
