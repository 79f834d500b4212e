"""A lake that carries years: day after day committed into one lake, and what each
commit costs as the history grows.

Each day, ``--per-day`` synthetic articles on the beat (events told by several outlets,
a few reposted copies) are staged as one ingestion batch would stage them, then the day
is committed and its stories built, through the same functions a run calls. The script
prints, at the days of ``--report``, the seconds of the commit and of the stories (the
median of that day and the four before it), the process's peak resident memory so far,
and the size of the state in ``_state/``; then the ratio of the last reported day's
commit to the day-30 commit (the target: within 1.3x, peak memory under 1 GiB).

``--pipeline-root DIR`` runs the same days through another checkout of newsflow (for
instance the code before the lake became Delta tables), so that both are measured on
the same machine with the same days.

Usage: ``python bench/lake_bench.py [--days 180] [--per-day 1000] [--lake DIR]``
(``--days 365 --per-day 2000`` for the long run; ``--s3`` for a shorter run on SeaweedFS).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIRST_DAY = date(2026, 1, 1)
OUTLETS = [f"Outlet {n}" for n in range(40)]
SECTORS = ["film", "television series", "streaming service", "music label", "video game",
           "publishing house", "animation studio", "dubbing studio"]  # fmt: skip
AI = ["generative AI", "artificial intelligence", "AI voice cloning", "machine learning",
      "AI-generated visual effects", "synthetic performers", "AI dubbing"]  # fmt: skip
COMPANIES = ["Netflix", "Disney", "Warner Bros.", "Universal Music Group", "Ubisoft", "Sony",
             "Paramount", "Lionsgate", "Spotify", "Electronic Arts",
             "Amazon MGM Studios"]  # fmt: skip
FILLER = ("the studio said on Tuesday that the new tools would speed up production while "
          "unions asked for consent and pay when a performer's likeness is used again by a "
          "model trained on archives across the industry this season executives analysts "
          "artists writers actors release budget audience rights agreement contract festival "
          "premiere label catalogue licensing deal guild negotiation").split()  # fmt: skip


def _events(day: date, count: int, rng: random.Random) -> list[dict[str, str]]:
    """The day's events: each a company, a sector, an AI use and a city of its own."""
    return [
        {"company": rng.choice(COMPANIES), "sector": rng.choice(SECTORS), "ai": rng.choice(AI),
         "place": f"City{rng.randrange(500)}", "tag": f"{day:%m%d}e{n}"}
        for n in range(count)
    ]  # fmt: skip


def articles(day: date, per_day: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """``per_day`` article rows for ``day``: about six outlets an event, one in twenty a
    reposted copy of another outlet's text."""
    rng = random.Random(f"{seed}-{day}")
    events = _events(day, max(1, per_day // 6), rng)
    texts: list[str] = []
    for n in range(per_day):
        event = rng.choice(events)
        outlet = rng.choice(OUTLETS)
        if texts and rng.random() < 0.05:
            text = rng.choice(texts)  # a repost
        else:
            lead = (f"{event['company']} said its {event['ai']} work for a {event['sector']} "
                    f"in {event['place']} ({event['tag']}) would change how the industry "
                    "works.")  # fmt: skip
            body = " ".join(rng.choice(FILLER) for _ in range(260))
            text = f"{lead} {body.capitalize()}."
            texts.append(text)
        title = (
            f"{event['company']} bets on {event['ai']} for {event['sector']} in {event['place']}"
        )
        url = f"https://{outlet.lower().replace(' ', '')}.example/{day}/{n}"
        published = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(
            seconds=rng.randrange(86_400)
        )
        yield {
            "article_id": hashlib.sha256(url.encode()).hexdigest()[:20], "url": url,
            "canonical_url": url, "source_domain": url.split("/")[2], "source_name": outlet,
            "feed_url": None, "title": title, "authors": ["A. Writer"], "published_at": published,
            "fetched_at": published + timedelta(hours=1), "language": "en", "text": text,
            "summary": None, "image": None, "word_count": len(text.split()),
            "content_hash": hashlib.sha256(text.encode()).hexdigest()[:32], "raw_ref": None,
            "extractor": "bench", "pipeline_version": "bench",
        }  # fmt: skip


def _layout() -> dict[str, Any]:
    """What the bench calls, from this checkout's layout or from the one before pipeline/
    had folders (``--pipeline-root`` of an older checkout)."""
    names = {
        "LocalLake": ("pipeline.lake.store", "pipeline.store"),
        "table_to_parquet": ("pipeline.lake.store", "pipeline.store"),
        "create_lake": ("pipeline.lake.store", None),
        "Enricher": ("pipeline.stages.enrich", "pipeline.enrich"),
        "Interval": ("pipeline.runs.ingest", "pipeline.ingest"),
        "_staging": ("pipeline.runs.ingest", "pipeline.ingest"),
        "commit": ("pipeline.runs.commit", "pipeline.ingest"),
        "build_stories": ("pipeline.runs.commit", "pipeline.ingest"),
    }
    found: dict[str, Any] = {}
    for name, (current, earlier) in names.items():
        try:
            found[name] = getattr(importlib.import_module(current), name)
        except ImportError:
            found[name] = getattr(importlib.import_module(earlier), name) if earlier else None
    found["create_lake"] = found["create_lake"] or (lambda lake: True)
    return found


def _median(seconds: dict[int, float], day: int) -> float:
    """The median of the five days up to ``day``: one day's figure on a shared machine is
    as much the neighbours' as its own."""
    return statistics.median(seconds[n] for n in range(max(1, day - 4), day + 1))


def _state_bytes(lake: Any) -> int:
    return sum(len(lake.get(key) or b"") for key in lake.list_keys("_state/"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--per-day", type=int, default=1000)
    parser.add_argument("--report", default="1,30,90,180,365", help="days to report on")
    parser.add_argument("--lake", help="a local folder (default: a temporary one)")
    parser.add_argument(
        "--s3", action="store_true", help="commit into a lake on a SeaweedFS server started here"
    )
    parser.add_argument("--pipeline-root", help="another newsflow checkout to measure")
    args = parser.parse_args()
    if args.s3 and (args.lake or args.pipeline_root):
        parser.error("--s3 measures this checkout in a lake of its own")
    sys.path.insert(0, args.pipeline_root or str(ROOT))
    from pipeline.records import ARTICLES_SCHEMA, to_table

    code = _layout()

    import pipeline

    report = {int(d) for d in args.report.split(",")}
    enricher = code["Enricher"].load()
    with contextlib.ExitStack() as stack:
        if args.s3:
            from pipeline.lake.store import open_lake
            from sample.s3server import SeaweedS3

            s3 = stack.enter_context(SeaweedS3())
            s3.create_bucket("bench")
            lake = open_lake("s3://bench/lake", s3.settings())
        else:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="newsflow-lake-bench-"))
            lake = code["LocalLake"](Path(args.lake or tmp))
        code["create_lake"](lake)
        print(f"newsflow at {Path(pipeline.__file__).parent}: {args.days} days of "
              f"{args.per_day} articles into {lake.url('')}", flush=True)  # fmt: skip
        print("day   commit s   stories s   peak RSS MiB   state MiB   articles", flush=True)
        seconds: dict[int, float] = {}
        story_seconds: dict[int, float] = {}
        for number in range(1, args.days + 1):
            day = FIRST_DAY + timedelta(days=number - 1)
            rows = list(articles(day, args.per_day))
            staged = to_table(rows, ARTICLES_SCHEMA)
            key = code["_staging"](day.isoformat(), "bench", "articles.parquet")
            lake.put(key, code["table_to_parquet"](staged))
            started = time.perf_counter()
            result = code["commit"](code["Interval"].day(day), lake, f"bench-{day}", enricher)
            committed = time.perf_counter() - started
            started = time.perf_counter()
            code["build_stories"](lake, day.isoformat(), f"bench-{day}")
            stories = time.perf_counter() - started
            seconds[number], story_seconds[number] = committed, stories
            if number in report or number == args.days:
                peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                print(f"{number:>4} {_median(seconds, number):>9.2f} "
                      f"{_median(story_seconds, number):>11.2f} {peak:>14.0f} "
                      f"{_state_bytes(lake) / 2**20:>11.1f} {result.articles:>10}",
                      flush=True)  # fmt: skip
        last = max(n for n in seconds if n in report or n == args.days)
        if 30 in seconds and last > 30:
            ratio = _median(seconds, last) / _median(seconds, 30)
            print(f"day-{last} commit / day-30 commit: {ratio:.2f}x")


if __name__ == "__main__":
    main()
