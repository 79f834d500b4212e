"""The README's recipes, in DuckDB, Polars and pandas, run as written against a lake of
the sample day (in place of the demo's ``demo-lake``)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest

from pipeline.lake.store import LocalLake
from pipeline.lake.tables import read_day
from pipeline.records import ARTICLES_SCHEMA
from tests.conftest import DAY, ROOT

NETFLIX = "Netflix goes all in on generative AI as it looks to speed up production"


def recipe(engine: str) -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(rf"<!-- recipe: {engine} -->\n```python\n(.*?)```", readme, re.S)
    assert block, f"README has no {engine} recipe"
    return block.group(1)


def rows(result: Any) -> list[tuple[Any, ...]]:
    """The rows of what a recipe gives: DuckDB's tuples, a Polars or a pandas frame."""
    if isinstance(result, list):
        return result
    if hasattr(result, "rows"):  # Polars
        return list(result.rows())
    return list(result.itertuples(index=False, name=None))  # pandas


@pytest.mark.parametrize("engine", ["duckdb", "polars", "pandas"])
def test_the_readme_recipes_answer_on_the_sample_day(engine: str, landed_day: LocalLake) -> None:
    code = recipe(engine).replace('"demo-lake"', repr(str(landed_day.root)))
    scope: dict[str, Any] = {}
    exec(compile(code, f"README recipe {engine}", "exec"), scope)
    top = rows(scope["top"])
    headline, outlets_today, outlets, article_count, _ = top[0]
    assert (headline, outlets_today, article_count) == (NETFLIX, 5, 5)
    assert sorted(outlets) == ["Rude Baguette", "Screen Trade Daily", "StreamWire", "TechBeat",
                               "The Reel Post"]  # fmt: skip
    assert len(top) == 10 and all(row[1] == 1 for row in top[1:])
    articles = rows(scope["story_articles"])
    assert len(articles) == 5 and {a[1] for a in articles} == set(outlets)
    story = scope["story"]
    assert story is not None and (isinstance(story, tuple) or len(story) == 1)
    per_topic: Counter[str] = Counter()
    for _, topic, n in rows(scope["per_topic"]):
        per_topic[topic] += n
    landed = read_day(landed_day, "articles", DAY.isoformat(), ARTICLES_SCHEMA)
    assert per_topic == Counter(t for ts in landed.column("topics").to_pylist() for t in ts or [])
    assert per_topic["sector/tv-streaming"] >= 3
    rights = {name: (refuses, reserves, n) for name, refuses, reserves, n in rows(scope["rights"])}
    assert rights["Screen Trade Daily"][:2] == (True, True)  # GPTBot and others; TDM header
    assert rights["Sound Business Weekly"][:2] == (False, True)  # tdmrep.json
    assert sum(n for _, _, n in rights.values()) == 14
