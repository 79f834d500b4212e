from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from pipeline.lake.store import LocalLake
from pipeline.lake.tables import read_day, replace_day
from pipeline.records import to_table
from pipeline.stages.monitor import (
    EXTRACTION_SCHEMA,
    PAGES_SCHEMA,
    alerts,
    commit_day,
    save_pages,
    summarise,
)


def page(
    domain: str, n: int, words: int = 600, date: bool = True, failed: bool = False
) -> dict[str, Any]:
    return {
        "url": f"https://{domain}/{n}",
        "source_domain": domain,
        "reason": "too-short" if failed else None,
        "words": None if failed else words,
        "title": None if failed else True,
        "authors": None if failed else True,
        "date": None if failed else date,
        "language": None if failed else True,
    }


def usual_day() -> dict[str, Any]:
    [row] = summarise([page("outlet.example", n, words=500 + 20 * n) for n in range(6)])
    return row


def test_an_outlets_day_far_below_its_history_raises_alerts() -> None:
    history = [usual_day() for _ in range(5)]
    [broken] = summarise(
        [page("outlet.example", n, words=90, date=False, failed=n < 4) for n in range(6)]
    )
    found = alerts(broken, history)
    assert any("of pages gave no article (usually 0%)" in a for a in found)
    assert any(a.startswith("median text 90 words") for a in found)
    assert "date found on 0% of articles (usually 100%)" in found
    assert alerts(usual_day(), history) == []


def test_too_little_to_judge_raises_nothing() -> None:
    [two_pages] = summarise([page("outlet.example", n, failed=True) for n in range(2)])
    assert alerts(two_pages, [usual_day() for _ in range(5)]) == []  # too few pages today
    [broken] = summarise([page("outlet.example", n, failed=True) for n in range(5)])
    assert alerts(broken, [usual_day(), usual_day()]) == []  # too little history


def test_the_day_keeps_one_row_per_page_across_runs_and_alerts_from_the_lake(
    tmp_path: Path,
) -> None:
    lake = LocalLake(tmp_path / "lake")
    for day in ("2026-11-20", "2026-11-21", "2026-11-22"):
        staged = to_table([page("outlet.example", n) for n in range(4)], PAGES_SCHEMA)
        _, outlets = commit_day(lake, day, [staged])
        replace_day(lake, "extraction", day, outlets, "test")
    first = to_table([page("outlet.example", n, failed=True) for n in range(4)], PAGES_SCHEMA)
    pages, _ = commit_day(lake, "2026-11-23", [first])
    save_pages(lake, "2026-11-23", pages)
    retried = to_table([page("outlet.example", 0)], PAGES_SCHEMA)  # a later run of the day
    pages, outlets = commit_day(lake, "2026-11-23", [retried])
    assert pages.num_rows == 4  # one row per page: the retried page replaced its failure
    [row] = outlets.to_pylist()
    assert (row["pages"], row["articles"]) == (4, 1)
    assert row["alerts"] == ["75% of pages gave no article (usually 0%)"]
    assert read_day(lake, "extraction", "2026-11-22", EXTRACTION_SCHEMA).num_rows == 1
    assert isinstance(outlets, pa.Table)
