"""WARC backfill benchmark: ``newsflow backfill --source warc`` over synthetic CC-NEWS-like
WARC files of 10k, 50k and 100k article records, made by this script.

As in CC-NEWS, most records are from sites the feeds file does not list (they are read
and left out); ``--share`` of them (5% by default) are from its outlets and go all the
way: extraction, relevance, duplicates, stories, Parquet. As in a crawl archive, more
input is more days: 10,000 records a day (``--per-day``). For each size the script prints
records/s (wall clock, start-up and commits included) and the peak resident memory of the
whole process tree (the command and its extraction processes, sampled every 0.1 s), which
should stay flat as the input grows.
Usage: ``python bench/backfill_bench.py [--sizes 10000 50000 100000] [--share 0.05]``.
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import measured, page
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

ROOT = Path(__file__).resolve().parent.parent
FIRST_DAY = datetime(2026, 11, 16, tzinfo=UTC)
OUTLETS = 20


def make_warc(path: Path, records: int, share: float, days: int, seed: int = 7) -> None:
    """A gzipped WARC file of ``records`` responses, CC-NEWS style, over ``days`` days."""
    rng = random.Random(seed)
    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "bench"}))
        for number in range(records):
            ours = rng.random() < share
            site = f"outlet{rng.randrange(OUTLETS)}.example" if ours else f"site{number % 997}.test"
            url = f"https://{site}/news/{number}"
            when = FIRST_DAY + timedelta(seconds=int(number / records * days * 86400))
            title = f"Story {number % 1500}: studios and unions talk about new tools"
            body = page(rng, title, on_topic=ours and rng.random() < 0.5)
            headers = [("Content-Type", "text/html; charset=utf-8")]
            http = StatusAndHeaders("200 OK", headers, protocol="HTTP/1.1")
            record = writer.create_warc_record(
                url, "response", payload=io.BytesIO(body), length=len(body), http_headers=http,
                warc_headers_dict={"WARC-Date": when.strftime("%Y-%m-%dT%H:%M:%SZ")},
            )  # fmt: skip
            writer.write_record(record)


def run(warc: Path, feeds: Path, lake: Path, days: int) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (bytes) of the process tree, and the command's summary."""
    last = (FIRST_DAY + timedelta(days=days)).date().isoformat()
    command = [
        str(Path(sys.executable).parent / "newsflow"), "backfill", "--source", "warc",
        "--input", str(warc), "--from", FIRST_DAY.date().isoformat(), "--to", last,
        "--feeds", str(feeds), "--lake", str(lake), "--no-progress", "--create",
    ]  # fmt: skip
    seconds, peak, _, done = measured(command)
    if done.returncode != 0:
        raise SystemExit(f"newsflow backfill failed:\n{done.stderr[-3000:]}")
    return seconds, peak, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 100_000])
    parser.add_argument("--share", type=float, default=0.05, help="records from our outlets")
    parser.add_argument("--per-day", type=int, default=10_000, help="records a day")
    args = parser.parse_args()
    print(f"{'records':>9}{'days':>6}{'kept':>8}{'WARC MB':>9}{'seconds':>9}{'records/s':>11}"
          f"{'peak RSS MiB':>14}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        feeds = Path(tmp) / "feeds.yaml"
        feeds.write_text(
            "feeds:\n"
            + "".join(
                f"  - url: https://outlet{i}.example/feed.xml\n    name: Outlet {i}\n"
                for i in range(OUTLETS)
            )
        )
        for size in args.sizes:
            warc = Path(tmp) / f"CC-NEWS-{size}.warc.gz"
            days = max(1, round(size / args.per_day))
            make_warc(warc, size, args.share, days)
            seconds, peak, out = run(warc, feeds, Path(tmp) / f"lake-{size}", days)
            kept = next(
                (line.split("(")[1].split()[0] for line in out.splitlines() if "read" in line), "?"
            )
            print(f"{size:>9}{days:>6}{kept:>8}{warc.stat().st_size / 1e6:>9.1f}{seconds:>9.1f}"
                  f"{size / seconds:>11.0f}{peak / 2**20:>14.0f}")  # fmt: skip
            warc.unlink()


if __name__ == "__main__":
    main()
