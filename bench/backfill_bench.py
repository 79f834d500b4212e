"""Backfill benchmarks: ``newsflow backfill --source warc`` over CC-NEWS-like WARC files.

**Relevance first** (the default, ``--records``): a WARC file of real article pages (those
of ``../shared/data/extraction``, each re-hosted under a synthetic domain), ``--share`` of
them on our beat: the pages there that the full relevance decision (extraction, then the
relevance filter) accepts. It prints, on the same file:

- records/s of a bare loop, warcio and ``trafilatura.extract`` on every HTML record, in
  one process, and in two (one a file);
- records/s of ``newsflow backfill --outlets any`` with 1 worker (one process, extraction
  in it) and with 2 (two shards landed at once), start-up and commits included, and the
  peak resident memory of the command's process tree;
- the ratio of each to the bare loop on as many processes;
- the prefilter's recall against the full decision on every page of the set: of the pages
  it accepts, and of all whose extracted text names AI (the pages it could accept), and the
  share of pages the prefilter lets through, with its cost a page.

**Scale** (``--sizes``): synthetic pages, 5% from the feeds' outlets, 10,000 records a
day; records/s and peak memory should stay flat as the input grows.

Usage: ``python bench/backfill_bench.py [--records 3000] [--share 0.03] [--sizes 10000 …]``.
"""

from __future__ import annotations

import argparse
import gzip
import io
import multiprocessing
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import measured, page
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "extraction"
FIRST_DAY = datetime(2026, 11, 16, tzinfo=UTC)
OUTLETS = 20
NEWSFLOW = Path(sys.executable).parent / "newsflow"


def write_records(path: Path, records: Iterator[tuple[str, bytes, datetime]]) -> None:
    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "bench"}))
        for url, body, when in records:
            headers = [("Content-Type", "text/html; charset=utf-8")]
            http = StatusAndHeaders("200 OK", headers, protocol="HTTP/1.1")
            record = writer.create_warc_record(
                url, "response", payload=io.BytesIO(body), length=len(body), http_headers=http,
                warc_headers_dict={"WARC-Date": when.strftime("%Y-%m-%dT%H:%M:%SZ")},
            )  # fmt: skip
            writer.write_record(record)


def decisions(pages: list[Path]) -> dict[Path, tuple[bool, bool]]:
    """The full relevance decision on each page (extracted, then the relevance filter), and
    whether its extracted text names AI: the pages the decision could accept."""
    from pipeline.stages.extract import ExtractionError, extract
    from pipeline.stages.relevance import Taxonomy

    taxonomy = Taxonomy.load()
    decided = {}
    for path in pages:
        try:
            extracted = extract(gzip.decompress(path.read_bytes()), None)
        except ExtractionError:
            decided[path] = (False, False)
            continue
        result = taxonomy.classify(extracted.title, extracted.text, extracted.language)
        decided[path] = (result.is_relevant, result.named_ai)
    return decided


def bare_loop(paths: list[Path]) -> tuple[float, int]:
    """Seconds and records of warcio + trafilatura.extract on every HTML record."""
    import trafilatura

    started, records = time.perf_counter(), 0
    for path in paths:
        with path.open("rb") as stream:
            for record in ArchiveIterator(stream):
                if record.rec_type != "response" or record.http_headers is None:
                    continue
                records += 1
                if "html" in (record.http_headers.get_header("Content-Type") or ""):
                    trafilatura.extract(record.content_stream().read())
    return time.perf_counter() - started, records


def bare_loops(paths: list[Path]) -> tuple[float, int]:
    """The bare loop in one process a file, all at once: seconds and records."""
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(len(paths), mp_context=context) as pool:
        records = sum(n for _, n in pool.map(bare_loop, [[p] for p in paths]))
    return time.perf_counter() - started, records


def backfill(paths: list[Path], tmp: Path, workers: int, tag: str) -> tuple[float, int, str]:
    settings = tmp / "settings.yaml"
    settings.write_text("ingest:\n  extract_workers: 1\n")  # one core a worker
    (tmp / "feeds.yaml").write_text("feeds:\n  - url: https://outlet.example/feed.xml\n")
    command = [
        str(NEWSFLOW), "backfill", "--source", "warc", "--outlets", "any",
        "--input", str(paths[0].parent / "CC-NEWS-*.warc.gz"),
        "--from", FIRST_DAY.date().isoformat(), "--to", FIRST_DAY.date().isoformat(),
        "--feeds", str(tmp / "feeds.yaml"), "--lake", str(tmp / f"lake-{tag}"),
        "--no-progress", "--create", "--workers", str(workers),
    ]  # fmt: skip
    env = {"NEWSFLOW_SETTINGS": str(settings), "PATH": str(NEWSFLOW.parent)}
    seconds, peak, _, done = measured(command, env)
    if done.returncode != 0:
        raise SystemExit(f"newsflow backfill failed:\n{done.stderr[-3000:]}")
    return seconds, peak, done.stdout


def relevance_first(records: int, share: float, seed: int = 11) -> None:
    from pipeline.stages.prefilter import Prefilter
    from pipeline.stages.relevance import Taxonomy

    pages = sorted(DATA.glob("*/html/*.gz"))
    if not pages:
        raise SystemExit(f"no pages under {DATA}: this bench needs ../shared/data")
    print(f"the full decision on {len(pages)} pages of {DATA} ...", flush=True)
    decided = decisions(pages)
    beat = [p for p in pages if decided[p][0]]
    other = [p for p in pages if not decided[p][0]]
    prefilter = Prefilter.from_taxonomy(Taxonomy.load(with_model=False))
    started = time.perf_counter()
    passes = {p: prefilter(gzip.decompress(p.read_bytes())) for p in pages}
    cost = (time.perf_counter() - started) / len(pages)
    named = [p for p in pages if decided[p][1]]
    print(f"prefilter recall against the full decision: {sum(passes[p] for p in beat)}/"
          f"{len(beat)} pages accepted; {sum(passes[p] for p in named)}/{len(named)} pages "
          f"whose extracted text names AI (all the decision could accept); it lets through "
          f"{sum(passes.values())}/{len(pages)} = {sum(passes.values()) / len(pages):.3f} of "
          f"the pages, at {cost * 1000:.1f} ms a page (reading its file included)")  # fmt: skip
    for folder in sorted({p.parent.parent for p in pages}):
        ours = [p for p in pages if p.parent.parent == folder]
        print(f"  {folder.name}: lets through {sum(passes[p] for p in ours) / len(ours):.3f}"
              f" of {len(ours)} pages; {sum(decided[p][1] for p in ours) / len(ours):.3f}"
              " name AI in their extracted text")  # fmt: skip
    rng = random.Random(seed)
    chosen = [rng.choice(beat) if rng.random() < share else rng.choice(other)
              for _ in range(records)]  # fmt: skip
    print(f"pages let through in the file: {sum(passes[p] for p in chosen) / records:.3f}")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        (tmp / "in").mkdir()
        halves = [chosen[: records // 2], chosen[records // 2 :]]
        paths = []
        for number, half in enumerate(halves):
            path = tmp / "in" / f"CC-NEWS-{number}.warc.gz"
            write_records(path, (
                (f"https://site{rng.randrange(5000)}.test/news/{number}-{i}",
                 gzip.decompress(p.read_bytes()), FIRST_DAY + timedelta(seconds=30 * i))
                for i, p in enumerate(half)))  # fmt: skip
            paths.append(path)
        size = sum(p.stat().st_size for p in paths) / 1e6
        print(f"{records} records ({share:.0%} on our beat), two WARC files, {size:.0f} MB\n")
        print(f"{'':<38}{'seconds':>9}{'records/s':>11}{'ratio':>7}{'peak RSS MiB':>14}")
        bare = {}
        for processes, run in ((1, bare_loop), (2, bare_loops)):
            seconds, read = run(paths)
            bare[processes] = read / seconds
            label = f"bare warcio + trafilatura, {processes} proc."
            print(f"{label:<38}{seconds:>9.1f}{bare[processes]:>11.1f}{1:>7.1f}", flush=True)
        for workers in (1, 2):
            seconds, peak, out = backfill(paths, tmp, workers, f"w{workers}")
            rate = records / seconds
            label = f"newsflow --outlets any, {workers} worker{'s' if workers > 1 else ''}"
            print(f"{label:<38}{seconds:>9.1f}{rate:>11.1f}{rate / bare[workers]:>7.1f}"
                  f"{peak / 2**20:>14.0f}", flush=True)  # fmt: skip
            if workers == 1:
                summary = "\n".join("    " + line for line in out.splitlines()[1:5])
        print(f"\n(ratio: against the bare loop on as many processes; 2 workers against one "
              f"bare process: {rate / bare[1]:.1f})")  # fmt: skip
        print("\nthe 1-worker run said:\n" + summary)


def make_warc(path: Path, records: int, share: float, days: int, seed: int = 7) -> None:
    """A gzipped WARC file of ``records`` synthetic responses over ``days`` days."""
    rng = random.Random(seed)

    def responses() -> Iterator[tuple[str, bytes, datetime]]:
        for number in range(records):
            ours = rng.random() < share
            site = f"outlet{rng.randrange(OUTLETS)}.example" if ours else f"site{number % 997}.test"
            when = FIRST_DAY + timedelta(seconds=int(number / records * days * 86400))
            title = f"Story {number % 1500}: studios and unions talk about new tools"
            body = page(rng, title, on_topic=ours and rng.random() < 0.5)
            yield f"https://{site}/news/{number}", body, when

    write_records(path, responses())


def scale(sizes: list[int], share: float, per_day: int) -> None:
    print(f"{'records':>9}{'days':>6}{'kept':>8}{'WARC MB':>9}{'seconds':>9}{'records/s':>11}"
          f"{'peak RSS MiB':>14}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        feeds = Path(tmp) / "feeds.yaml"
        feeds.write_text("feeds:\n" + "".join(
            f"  - url: https://outlet{i}.example/feed.xml\n    name: Outlet {i}\n"
            for i in range(OUTLETS)))  # fmt: skip
        for size in sizes:
            warc = Path(tmp) / f"CC-NEWS-{size}.warc.gz"
            days = max(1, round(size / per_day))
            make_warc(warc, size, share, days)
            last = (FIRST_DAY + timedelta(days=days)).date().isoformat()
            command = [
                str(NEWSFLOW), "backfill", "--source", "warc", "--input", str(warc),
                "--from", FIRST_DAY.date().isoformat(), "--to", last, "--feeds", str(feeds),
                "--lake", str(Path(tmp) / f"lake-{size}"), "--no-progress", "--create",
            ]  # fmt: skip
            seconds, peak, _, done = measured(command)
            if done.returncode != 0:
                raise SystemExit(f"newsflow backfill failed:\n{done.stderr[-3000:]}")
            kept = next((line.split("(")[1].split()[0] for line in done.stdout.splitlines()
                         if "read" in line), "?")  # fmt: skip
            print(f"{size:>9}{days:>6}{kept:>8}{warc.stat().st_size / 1e6:>9.1f}{seconds:>9.1f}"
                  f"{size / seconds:>11.0f}{peak / 2**20:>14.0f}")  # fmt: skip
            warc.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=3000, help="relevance first: records")
    parser.add_argument("--share", type=float, default=0.03, help="on our beat")
    parser.add_argument("--sizes", type=int, nargs="*", default=[], help="scale: records")
    parser.add_argument("--scale-share", type=float, default=0.05, help="from the feeds' outlets")
    parser.add_argument("--per-day", type=int, default=10_000, help="scale: records a day")
    args = parser.parse_args()
    if args.records:
        relevance_first(args.records, args.share)
    if args.sizes:
        scale(args.sizes, args.scale_share, args.per_day)


if __name__ == "__main__":
    main()
