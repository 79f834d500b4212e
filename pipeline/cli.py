"""The ``newsflow`` command line. Its commands and output formats are a contract.

Exit status: 0 done; 1 done, but something the output names failed (a bad input line or
file, no feed could be polled, a batch lost); 2 nothing done: a mistake in the command,
the configuration or the lake, said in one line; 70 an internal error (``-v`` shows
where); 130 interrupted (Ctrl-C), with how to resume.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from pipeline import __version__
from pipeline.records import parse_timestamp

if TYPE_CHECKING:
    from pipeline.lake.store import Lake


class UsageError(Exception):
    """Nothing was done: a mistake in the command, its files or the lake (exit 2)."""


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date like 2026-11-23") from None


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number from 1 up")
    return int(value)


def _not_in_the_future(flag: str, day: date) -> None:
    today = datetime.now(UTC).date()
    if day > today:
        raise UsageError(
            f"{flag} {day} is in the future (today is {today}, UTC): a day can be run once it "
            "has begun, and is complete once it is over"
        )


@contextmanager
def _lines_in(path: str) -> Iterator[IO[bytes]]:
    """The input file, or standard input for ``-``, as a seekable binary stream."""
    if path == "-":
        import shutil
        import tempfile

        with tempfile.TemporaryFile() as spool:  # read twice: stdin cannot seek
            shutil.copyfileobj(sys.stdin.buffer, spool)
            spool.seek(0)
            yield spool
        return
    try:
        handle = Path(path).open("rb")  # noqa: SIM115 - closed below, after the error is ours
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None
    with handle:
        yield handle


@contextmanager
def _output(path: str | None) -> Iterator[IO[str]]:
    """The output file, or standard output (no path, or ``-``)."""
    if path is None or path == "-":
        yield sys.stdout
        return
    try:
        handle = Path(path).open("w", encoding="utf-8")  # noqa: SIM115 - as above
    except OSError as exc:
        raise UsageError(f"{path}: cannot write: {exc.strerror or exc}") from None
    with handle:
        yield handle


class _BadLineError(Exception):
    """A line of input that is not a record (already reported)."""


def _record(line: bytes, where: str, command: str) -> dict[str, Any] | None:
    """A JSON object with an ``id``, or None for an empty line or (reported on standard
    error, with ``where`` it was) a line that is not one."""
    if not line.strip():
        return None
    try:
        record = json.loads(line)
        problem = 'needs an object with an "id"'
    except ValueError as exc:
        record, problem = None, f"not JSON ({exc})"
    if not isinstance(record, dict) or "id" not in record:
        print(f"newsflow {command}: {where}: {problem}; skipped", file=sys.stderr)
        raise _BadLineError
    return record


def _private_network(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--allow-private-network",
        action="store_true",
        default=None,
        help="let the hosts named in the feeds file be on loopback or private addresses",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsflow", description="News about AI in entertainment: feeds to Parquet."
    )
    parser.add_argument("--version", action="version", version=f"newsflow {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every step")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="one whole pipeline run, without Airflow")
    run.add_argument("--feeds", help="feeds file (default: $NEWSFLOW_FEEDS or config/feeds.yaml)")
    run.add_argument(
        "--lake", help="s3://bucket/prefix or a folder (default: $NEWSFLOW_LAKE or ./lake)"
    )
    run.add_argument("--date", type=_day, help="the day to ingest, UTC (default: today)")
    _private_network(run)
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--create", action="store_true", help="make the lake if there is none")

    maintain = commands.add_parser(
        "maintain",
        help="compact the tables' small files and vacuum what time travel no longer needs",
    )
    maintain.add_argument("--lake", help="s3://bucket/prefix or a folder (as for run)")
    maintain.add_argument(
        "--retention-days",
        type=int,
        help="versions younger than this stay readable (default: the settings', 30)",
    )
    maintain.add_argument("--dry-run", action="store_true", help="say what vacuum would remove")

    migrate = commands.add_parser(
        "migrate", help="turn a lake of the earlier layout (Parquet and manifests) into Delta"
    )
    migrate.add_argument("--lake", help="s3://bucket/prefix or a folder (as for run)")

    dig = commands.add_parser(
        "digest",
        help="the day's digest: one HTML page of its stories, coverage and health",
        description="Build the digest page of a day from the lake's tables, as the "
        "news_digest DAG does: written to {lake}/digest/dt=DAY/index.html (and "
        "digest/latest/index.html, unless a later day has a page), or with --out only to "
        "that file.",
    )
    dig.add_argument("--lake", help="s3://bucket/prefix or a folder (as for run)")
    dig.add_argument("--date", type=_day, help="the day (default: the last committed day)")
    dig.add_argument("--out", type=Path, help="write the page to this file instead of the lake")

    feeds = commands.add_parser("feeds", help="the feeds file's feeds")
    feeds_commands = feeds.add_subparsers(dest="feeds_command", required=True)
    check = feeds_commands.add_parser(
        "check",
        help="poll each feed once, landing nothing: status, items, newest item, robots.txt",
    )
    check.add_argument("--feeds", help="feeds file (as for run)")
    _private_network(check)

    status = commands.add_parser(
        "status",
        help="what a lake holds: committed days and gaps, table versions, state, open "
        "stories, failing and retired feeds",
    )
    status.add_argument("--lake", help="s3://bucket/prefix or a folder (as for run)")
    for name, does in (
        ("stories", "build a committed day's stories and story_days, as news_stories does"),
        ("quality", "write a committed day's quality report, as news_quality does"),
    ):
        day_command = commands.add_parser(name, help=does)
        day_command.add_argument("--lake", help="s3://bucket/prefix or a folder (as for run)")
        day_command.add_argument("--date", type=_day, required=True, help="the day")

    init = commands.add_parser("init", help="make a new lake (a folder, or a bucket's prefix)")
    init.add_argument(
        "--lake", help="s3://bucket/prefix or a folder (default: $NEWSFLOW_LAKE or ./lake)"
    )

    def lines_in_out(
        name: str, description: str, lines_in: str, lines_out: str
    ) -> argparse.ArgumentParser:
        command = commands.add_parser(name, help=f"{description} of JSON lines, as JSON lines")
        command.add_argument(
            "--in", dest="input", required=True, help=f"lines of {lines_in} (- for stdin)"
        )
        command.add_argument("--out", required=True, help=f"lines of {lines_out} (- for stdout)")
        return command

    lines_in_out(
        "cluster",
        "duplicates and stories",
        '{"id", "title", "text", "published_at"?, "url"?, "source"?}',
        '{"id", "story_id", "duplicate_of"}',
    )
    cla = lines_in_out(
        "classify",
        "relevance and topics",
        '{"id", "title", "text", "language"?}',
        '{"id", "relevance", "is_relevant", "topics"}',
    )
    cla.add_argument("--taxonomy", help="taxonomy file (default: the settings' topics.yaml)")
    cla.add_argument(
        "--threshold", type=float, help="relevance needed (default: the settings', 0.5)"
    )

    rescore = commands.add_parser(
        "reclassify",
        help="score committed days again (a new threshold or taxonomy), without fetching",
    )
    rescore.add_argument("--from", dest="start", type=_day, required=True, help="first day")
    rescore.add_argument("--to", dest="end", type=_day, required=True, help="last day")
    rescore.add_argument("--lake", help="s3://bucket/prefix or a folder (as for run)")
    rescore.add_argument(
        "--threshold", type=float, help="relevance needed (default: the settings file's)"
    )

    back = commands.add_parser(
        "backfill",
        help="past days from sources that are not feeds, through the same path as a run",
        description="Backfill the days from --from to --to (inclusive) from news sitemaps "
        "(given, or declared in the outlets' robots.txt), from WARC files (CC-NEWS layout, "
        "local or s3://) or from the lake's own raw archive (re-extraction, no network). "
        "Only the outlets of the feeds file are kept, unless --outlets any. Each input "
        "file is a shard, landed on its own (--workers at once); the days are then "
        "committed in date order. An interrupted backfill, started again with the same "
        "arguments, resumes where it stopped.",
    )
    back.add_argument("--from", dest="start", type=_day, required=True, help="first day")
    back.add_argument("--to", dest="end", type=_day, required=True, help="last day")
    back.add_argument(
        "--source", choices=("sitemap", "warc", "raw"), default="sitemap", help="default: sitemap"
    )
    back.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="PATH_OR_URI",
        help="--source warc: a WARC file, a path or s3://bucket/key with * wildcards; "
        "--source sitemap: a sitemap or sitemap index URL (default: those the outlets' "
        "robots.txt declare). Repeat for more",
    )
    back.add_argument(
        "--outlets",
        choices=("feeds", "any"),
        default="feeds",
        help="keep the pages of the feeds file's outlets (default), or of any site "
        "(--source warc): a page is then extracted only when its raw bytes name AI or, in "
        "its title, entertainment",
    )
    back.add_argument(
        "--workers",
        type=_positive,
        default=1,
        help="input files landed at once, each by a process of its own (default 1)",
    )
    back.add_argument(
        "--allow-private-network",
        action="store_true",
        default=None,
        help="let the hosts of the feeds file and of the sitemaps be on private addresses",
    )
    back.add_argument("--feeds", help="feeds file: the outlets to keep (as for run)")
    back.add_argument("--lake", help="s3://bucket/prefix or a folder (as for run)")
    back.add_argument("--no-progress", action="store_true", help="no progress bar")
    back.add_argument("--create", action="store_true", help="make the lake if there is none")

    ext = commands.add_parser("extract", help="main text of .html or .html.gz files, as JSON lines")
    ext.add_argument("paths", nargs="+", metavar="PATH")
    ext.add_argument("--out", help="output file (default: standard output)")
    ext.add_argument(
        "--workers", type=int, help="processes extracting at once (default: one per core)"
    )
    return parser


def _read_page(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.name.endswith(".gz") else data


def _page_id(path: Path) -> str:
    name = path.name
    for suffix in (".html.gz", ".htm.gz", ".html", ".htm", ".gz"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _extract_file(name: str) -> tuple[dict[str, Any], str | None, bool]:
    """One input file as its output line, with a message for standard error and whether
    the file could not be read at all (a failure, unlike a page without text)."""
    from pipeline.stages.extract import ExtractionError, extract

    path = Path(name)
    record: dict[str, Any] = {"id": _page_id(path), "title": None, "text": "", "authors": [],
                              "published_at": None, "language": None}  # fmt: skip
    try:
        page = extract(_read_page(path), min_words=1)
    except ExtractionError as exc:
        return record, f"{path}: {exc}", False
    except OSError as exc:
        return record, f"{path}: cannot read: {exc}", True
    except Exception as exc:  # one page's crash is that page's failure, not the run's
        return record, f"{path}: internal error: {type(exc).__name__}: {exc}", True
    when = page.published_at or page.published_date  # a day alone when no time is stated
    record.update(
        title=page.title,
        text=page.text,
        authors=page.authors,
        published_at=when.isoformat() if when else None,
        language=page.language,
    )
    return record, None, False


def cmd_extract(args: argparse.Namespace) -> int:
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from tqdm import tqdm

    names = list(args.paths)
    workers = max(1, min(args.workers or os.cpu_count() or 1, len(names) // 8 or 1))
    failures = 0
    with _output(args.out) as out, ExitStack() as stack:
        if workers > 1:
            pool = stack.enter_context(
                ProcessPoolExecutor(workers, mp_context=get_context("forkserver"))
            )
            results = pool.map(_extract_file, names, chunksize=8)
        else:
            results = map(_extract_file, names)
        bar = tqdm(results, total=len(names), desc="extract", unit="page",
                   disable=len(names) < 2 or None)  # fmt: skip
        for record, message, failed in bar:
            if message:
                print(f"newsflow extract: {message}", file=sys.stderr)
            failures += failed
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return 1 if failures else 0


def cmd_cluster(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from pipeline.stages.dedup import DedupIndex
    from pipeline.stages.stories import StoryDoc, StoryIndex, group

    name = "<stdin>" if args.input == "-" else args.input
    with _lines_in(args.input) as source, _output(args.out) as out:
        # Pass 1: where each line starts and when it was published; nothing else is kept.
        offsets: list[int] = []
        times: list[datetime | None] = []
        bad, offset = 0, 0
        for number, line in enumerate(source, start=1):
            try:
                record = _record(line, f"{name}:{number}", "cluster")
            except _BadLineError:
                bad += 1
                record = None
            if record is not None:
                offsets.append(offset)
                times.append(parse_timestamp(record.get("published_at")))
            offset += len(line)
        # Publication order; a line without a date keeps its place after the line before it.
        floor = datetime.min.replace(tzinfo=UTC)
        carried, keys = floor, []
        for when in times:
            carried = when or carried
            keys.append(carried)
        order = sorted(range(len(offsets)), key=lambda i: keys[i])

        def text(record: dict[str, Any], key: str) -> str | None:
            value = record.get(key)
            return value if isinstance(value, str) else None

        def stream() -> Iterator[StoryDoc]:
            for i in order:
                source.seek(offsets[i])
                record = json.loads(source.readline())
                yield StoryDoc(
                    id=str(record["id"]),
                    title=text(record, "title"),
                    text=text(record, "text"),
                    published_at=times[i],
                    source=text(record, "source"),
                )

        results: dict[int, tuple[str, str, str | None]] = {}
        index = StoryIndex()
        grouped = group(stream(), DedupIndex(), index)
        progress = tqdm(grouped, total=len(order), desc="cluster", unit="doc", disable=None)
        for i, (doc, story_id, duplicate_of) in zip(order, progress, strict=True):
            results[i] = (doc.id, story_id, duplicate_of)
        for i in range(len(offsets)):
            doc_id, story_id, duplicate_of = results[i]
            story_id = index.final(doc_id, story_id)
            row = {"id": doc_id, "story_id": story_id, "duplicate_of": duplicate_of}
            out.write(json.dumps(row) + "\n")
    return 1 if bad else 0


def cmd_classify(args: argparse.Namespace) -> int:
    from pipeline.settings import SettingsError, load_settings
    from pipeline.stages.extract import detect_language
    from pipeline.stages.relevance import Taxonomy, TaxonomyError

    try:
        settings = load_settings()
        taxonomy = Taxonomy.load(args.taxonomy or settings.taxonomy_path)
    except (SettingsError, TaxonomyError) as exc:
        raise UsageError(str(exc)) from None
    threshold = settings.relevance_threshold if args.threshold is None else args.threshold
    name = "<stdin>" if args.input == "-" else args.input
    bad = 0
    with _lines_in(args.input) as source, _output(args.out) as out:
        for number, line in enumerate(source, start=1):
            try:
                record = _record(line, f"{name}:{number}", "classify")
            except _BadLineError:
                bad += 1
                continue
            if record is None:
                continue
            title, text, language = (
                record.get(k) if isinstance(record.get(k), str) else None
                for k in ("title", "text", "language")
            )
            language = language or detect_language(f"{title or ''}\n{(text or '')[:2000]}")
            result = taxonomy.classify(title, text, language, threshold)
            row = {"id": record["id"], "relevance": result.relevance,
                   "is_relevant": result.is_relevant, "topics": result.topics}  # fmt: skip
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return 1 if bad else 0


def _by_reason(total: int, by_reason: dict[str, int]) -> str:
    """``12 (http-404 7, timeout 3, robots 2)``: a count and its reasons, most frequent first."""
    reasons = sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0]))
    return f"{total}" + (f" ({', '.join(f'{r} {n}' for r, n in reasons)})" if reasons else "")


def _config_errors(*more: type[Exception]) -> tuple[type[Exception], ...]:
    """What a mistake in the configuration, its files or the lake raises."""
    from pipeline.lake.state import StateError
    from pipeline.lake.store import LakeError
    from pipeline.settings import SettingsError
    from pipeline.sources.feeds import FeedsFileError
    from pipeline.stages.enrich import EntitiesError
    from pipeline.stages.extract import HintsError
    from pipeline.stages.relevance import TaxonomyError

    return (FeedsFileError, SettingsError, TaxonomyError, EntitiesError, HintsError, LakeError,
            StateError, *more)  # fmt: skip


def cmd_init(args: argparse.Namespace) -> int:
    from pipeline.lake.store import create_lake, open_lake
    from pipeline.settings import load_settings

    try:
        settings = load_settings(lake=args.lake)
        lake = open_lake(settings.lake, settings.s3)
        created = create_lake(lake)
    except _config_errors() as exc:
        raise UsageError(str(exc)) from None
    print(f"newsflow init: {'made a lake' if created else 'a lake is already'} at {lake.uri}")
    return 0


def _existing_lake(uri: str | None) -> Lake:
    """The lake at ``uri`` (else the settings'), which must have been made."""
    from pipeline.lake.store import lake_exists, open_lake
    from pipeline.settings import load_settings

    settings = load_settings(lake=uri)
    lake = open_lake(settings.lake, settings.s3)
    if not lake_exists(lake):
        raise UsageError(f"there is no newsflow lake at {lake.uri}")
    return lake


def _committed_day(lake: Lake, day: date) -> str:
    from pipeline.lake.state import load_day_record

    if not load_day_record(lake, day.isoformat()):
        raise UsageError(f"{day} has not been committed in {lake.uri}; run it first")
    return day.isoformat()


def _run_id(command: str) -> str:
    return f"cli_{command}__{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}"


def cmd_feeds(args: argparse.Namespace) -> int:
    from pipeline.settings import load_settings
    from pipeline.sources.check import check_feeds, describe
    from pipeline.sources.feeds import load_feeds
    from pipeline.sources.http import Fetcher, NetworkPolicy

    try:
        settings = load_settings(feeds=args.feeds, allow_private_network=args.allow_private_network)
        feeds = load_feeds(settings.feeds_path)
    except _config_errors() as exc:
        raise UsageError(str(exc)) from None
    network = NetworkPolicy.for_urls([f.url for f in feeds], settings.allow_private_network)
    with Fetcher(settings.fetch, network) as fetcher:
        checks = check_feeds(fetcher, feeds, settings.workers)
    for check in checks:
        print(describe(check))
    failed = sum(c.status != "ok" for c in checks)
    print(f"newsflow feeds check: {len(checks) - failed} of {len(checks)} feeds answered")
    return 1 if failed else 0


def cmd_status(args: argparse.Namespace) -> int:
    from pipeline.status import describe, lake_status

    try:
        print(describe(lake_status(_existing_lake(args.lake))))
    except _config_errors() as exc:
        raise UsageError(str(exc)) from None
    return 0


def cmd_stories(args: argparse.Namespace) -> int:
    from pipeline.runs.commit import build_stories

    try:
        lake = _existing_lake(args.lake)
        report = build_stories(lake, _committed_day(lake, args.date), _run_id("stories"))
    except _config_errors() as exc:
        raise UsageError(str(exc)) from None
    print(f"newsflow stories {report.dt}\n"
          f"  stories          {report.stories} gained articles"
          f" ({report.rebuilt} built again from all their articles)\n"
          f"  stories table    version {report.version}, at {lake.url('stories')}")  # fmt: skip
    return 0


def cmd_quality(args: argparse.Namespace) -> int:
    from pipeline.stages.quality import write_quality

    try:
        lake = _existing_lake(args.lake)
        row = write_quality(lake, _committed_day(lake, args.date), _run_id("quality"))
    except _config_errors() as exc:
        raise UsageError(str(exc)) from None
    reasons = {r["reason"]: r["rows"] for r in row["rejects_by_reason"] or []}
    print(
        f"newsflow quality {args.date}\n"
        f"  articles         {row['articles']} from {row['outlets']} outlets"
        f" ({row['duplicates']} duplicate{'s' * (row['duplicates'] != 1)},"
        f" {row['offtopic']} off-topic)\n"
        f"  rejects          {_by_reason(row['rejects'], reasons)}\n"
        f"  stories          {row['stories']} ({row['stories_several_outlets']} told by"
        " several outlets)\n"
        + "".join(f"  extraction alert {alert}\n" for alert in row["extraction_alerts"] or [])
        + f"  report at        {lake.url(f'quality/dt={args.date}/')}"
    )
    return 0


def cmd_digest(args: argparse.Namespace) -> int:
    from pipeline.digest import gather, render, write_digest
    from pipeline.lake.tables import days

    try:
        lake = _existing_lake(args.lake)
        committed = days(lake, "articles")
        if args.date is None and not committed:
            raise UsageError(f"{lake.uri} has no committed day yet; run the pipeline first")
        day = args.date.isoformat() if args.date else committed[-1]
        if args.out:
            page = render(gather(lake, day))
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(page, encoding="utf-8")
            where = str(args.out)
        else:
            where = write_digest(lake, day)
    except _config_errors() as exc:
        raise UsageError(str(exc)) from None
    if day not in committed:
        print(f"newsflow digest: {day} has no committed articles; the page says so",
              file=sys.stderr)  # fmt: skip
    print(f"newsflow digest {day}: {where}")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from pipeline.lake.migrate import drop_renamed_columns, migrate, needs_migration
    from pipeline.runs.commit import build_stories

    try:
        lake = _existing_lake(args.lake)
        run_id = f"migrate__{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}"
        layout = needs_migration(lake)
        if layout:
            done = migrate(lake, run_id, lambda dt: build_stories(lake, dt, run_id))
        dropped = drop_renamed_columns(lake, run_id)
    except _config_errors() as exc:
        raise UsageError(str(exc)) from None
    renamed = ", ".join(f"{column} of {table}" for table, column in dropped)
    if not layout:
        print(f"newsflow migrate: {lake.uri} is already made of Delta tables"
              + (f"; renamed columns dropped: {renamed}" if dropped else ""))  # fmt: skip
        return 0
    tables = ", ".join(f"{name} {n}" for name, n in sorted(done.tables.items()))
    print(f"newsflow migrate {lake.uri}\n"
          f"  days migrated    {len(done.days)}\n"
          f"  days per table   {tables or 'none'}\n"
          f"  files removed    {done.files_removed} (Parquet of the earlier layout)\n"
          f"  columns dropped  {renamed or 'none'} (renamed since)")  # fmt: skip
    return 0


def cmd_maintain(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from pipeline.lake.store import open_lake, require_lake
    from pipeline.lake.tables import maintain_lake
    from pipeline.settings import load_settings

    try:
        settings = load_settings(lake=args.lake)
        lake = require_lake(open_lake(settings.lake, settings.s3))
        days = settings.retention_days if args.retention_days is None else args.retention_days
        if days < 0:
            raise UsageError("--retention-days must not be below zero")
        run_id = f"maintain__{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}"
        results = maintain_lake(lake, timedelta(days=days), run_id, dry_run=args.dry_run)
    except _config_errors() as exc:
        raise UsageError(str(exc)) from None
    print(
        f"newsflow maintain {lake.uri}, retention {days} days{' (dry run)' if args.dry_run else ''}"
    )
    for result in results:
        if "skipped" in result:
            print(f"  {result['table']:<11} {result['skipped']}")
            continue
        print(f"  {result['table']:<11} compacted {result['files_removed']} files into "
              f"{result['files_added']}, vacuumed {result['vacuumed']}, "
              f"version {result['version']}")  # fmt: skip
    return 0


def _failed_feeds(summary: Any, limit: int = 20) -> str:
    """The summary's lines naming each feed that could not be polled, and why."""
    failed = [f for batch in summary.batches for f in batch.failed_feeds]
    lines = [f"    {f['url']}  {f['reason']}: {f['detail']}\n" for f in failed[:limit]]
    if len(failed) > limit:
        lines.append(f"    … and {len(failed) - limit} more, in rejects/ (stage feed)\n")
    lines += [f"    batch {b} lost: its task failed, its feeds were not polled\n"
              for b in summary.commit.missing_batches]  # fmt: skip
    return "".join(lines)


def cmd_run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from pipeline.digest import page_key
    from pipeline.lake.store import open_lake, require_lake
    from pipeline.runs.commit import build_day
    from pipeline.runs.daily import run
    from pipeline.runs.ingest import Interval, enricher_for, plan_batches
    from pipeline.settings import load_settings
    from pipeline.sources.feeds import load_feeds
    from pipeline.stages.extract import load_hints

    day = args.date or datetime.now(UTC).date()
    _not_in_the_future("--date", day)
    try:
        settings = load_settings(
            feeds=args.feeds, lake=args.lake, allow_private_network=args.allow_private_network
        )
        enricher_for(settings)  # every configuration file is read before the lake is touched
        load_hints(*settings.hint_files())
        load_feeds(settings.feeds_path)
        lake = require_lake(open_lake(settings.lake, settings.s3), create=args.create)
    except _config_errors() as exc:
        raise UsageError(str(exc)) from None
    run_id = f"cli__{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}"
    batches = len(plan_batches(load_feeds(settings.feeds_path), settings.batch_size))
    try:
        with tqdm(
            desc=f"newsflow run {day}, polling batch 1/{batches}",
            total=0,
            unit="page",
            disable=args.no_progress or None,
            file=sys.stderr,
        ) as bar:
            # The total grows as each batch's feeds are polled and its pages are known.
            polled = 0

            def pages(count: int) -> None:
                nonlocal polled
                polled += 1
                bar.total += count
                bar.set_description(f"newsflow run {day}, batch {polled}/{batches}")

            summary = run(
                settings, lake, Interval.day(day), run_id, on_page=bar.update, on_pages=pages
            )
    except _config_errors() as exc:
        raise UsageError(str(exc)) from None
    except KeyboardInterrupt:
        raise KeyboardInterrupt(
            f"nothing of {day} was committed; run the same command again to resume (the "
            "batches already fetched are staged in the lake and kept)"
        ) from None
    commit = summary.commit
    stories = build_day(lake, commit.dt, run_id)
    future = summary.total("items_future_dated")
    polled = summary.total("feeds_ok") + summary.total("feeds_not_modified")
    failed = summary.total("feeds_failed")
    print(
        f"newsflow run {summary.dt}\n"
        f"  feeds polled     {summary.total('feeds')}"
        f" (new content {summary.total('feeds_ok')},"
        f" not modified {summary.total('feeds_not_modified')},"
        f" failed {failed})\n"
        + _failed_feeds(summary)
        + f"  items            {summary.total('items')} in feeds,"
        f" {summary.total('items_new')} new,"
        f" {summary.total('items_already_landed')} already landed,"
        f" {summary.total('items_deferred')} for a later day,"
        f" {summary.total('items_too_old')} too old"
        + (f", {future} dated in the future (date cleared)" if future else "")
        + "\n"
        f"  pages fetched    {summary.total('pages_fetched')}"
        f" (failed {summary.total('pages_failed')})\n"
        f"  articles written {commit.articles} in dt={commit.dt} ({commit.new_articles} new)\n"
        f"  off-topic        {commit.offtopic} (below relevance {settings.relevance_threshold:g},"
        f" kept in offtopic/)\n"
        f"  rejects          {_by_reason(commit.rejects, commit.rejects_by_reason)}\n"
        + "".join(f"  extraction alert {alert}\n" for alert in commit.alerts)
        + f"  stories          {stories.stories} gained articles\n"
        f"  extraction stats {lake.url(f'extraction/dt={commit.dt}/')}\n"
        f"  articles at      {lake.url(f'articles/dt={commit.dt}/')}\n"
        f"  digest           {lake.url(page_key(commit.dt))}\n"
        f"  table versions   "
        + ", ".join(f"{name} {version}" for name, version in sorted(commit.versions.items()))
    )
    if commit.missing_batches:
        return 1
    if not polled and summary.total("feeds") > summary.total("feeds_retired"):
        print("newsflow run: no feed could be polled; see the reasons above", file=sys.stderr)
        return 1
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from pipeline.lake.store import open_lake, require_lake
    from pipeline.runs.backfill import Spec, backfill
    from pipeline.runs.ingest import enricher_for
    from pipeline.settings import load_settings
    from pipeline.sources.base import BackfillError

    if args.end < args.start:
        raise UsageError("--to is before --from")
    _not_in_the_future("--to", args.end)
    if args.source == "raw" and args.input:
        raise UsageError("--source raw takes no --input: it reads the lake's own archive")
    try:
        spec = Spec(args.source, tuple(args.input), args.start, args.end, args.outlets).check()
        settings = load_settings(
            feeds=args.feeds, lake=args.lake, allow_private_network=args.allow_private_network
        )
        enricher = enricher_for(settings)
        create = args.create and args.source != "raw"  # a lake's own archive: it must exist
        lake = require_lake(open_lake(settings.lake, settings.s3), create=create)
        with tqdm(
            desc=f"newsflow backfill {args.source}",
            unit="B",
            unit_scale=True,
            disable=args.no_progress or None,
            file=sys.stderr,
        ) as bar:
            started = datetime.now(UTC)

            def progress(done: int, total: int, read: int, kept: int) -> None:
                seconds = max((datetime.now(UTC) - started).total_seconds(), 1e-6)
                bar.total = total or None
                bar.n = done
                bar.set_postfix_str(
                    f"{read} read, {kept} kept, {read / seconds:.0f} records/s", refresh=False
                )
                if read % 200 == 0 or args.workers > 1:  # workers: as each shard lands
                    bar.refresh()

            report = backfill(spec, lake, settings, workers=args.workers, enricher=enricher,
                              progress=progress)  # fmt: skip
    except _config_errors(BackfillError) as exc:
        raise UsageError(str(exc)) from None
    except KeyboardInterrupt:
        raise KeyboardInterrupt("the same command resumes it") from None
    print(
        f"newsflow backfill {args.source} {args.start}..{args.end}"
        f"{' (resumed)' if report.resumed else ''}\n"
        f"  records read     {report.read} ({report.kept} kept, {report.batches} batches, "
        f"{report.shards} shards)\n"
        f"  left out         {_by_reason(sum(report.left_out.values()), report.left_out)}\n"
        f"  days committed   {len(report.days)}"
        f"{': ' + ', '.join(report.days) if len(report.days) <= 7 else ''}\n"
        f"  articles         {report.articles} ({report.offtopic} off-topic)\n"
        f"  rejects          {_by_reason(report.rejects, report.rejects_by_reason)}\n"
        f"  stories          {report.stories}\n"
        f"  lake             {lake.url('')}"
    )
    return 0


def cmd_reclassify(args: argparse.Namespace) -> int:
    from dataclasses import replace
    from datetime import timedelta

    import pyarrow as pa

    from pipeline.lake.state import load_day_record
    from pipeline.lake.store import open_lake, require_lake
    from pipeline.lake.tables import days, read_day
    from pipeline.records import ARTICLES_SCHEMA
    from pipeline.runs.commit import build_stories, commit
    from pipeline.runs.ingest import Interval, enricher_for
    from pipeline.settings import load_settings

    if args.end < args.start:
        raise UsageError("--to is before --from")
    try:
        settings = load_settings(lake=args.lake)
        if args.threshold is not None:
            settings = replace(settings, relevance_threshold=args.threshold)
        enricher = enricher_for(settings)
        lake = require_lake(open_lake(settings.lake, settings.s3))
    except _config_errors() as exc:
        raise UsageError(str(exc)) from None
    run_id = f"reclassify__{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}"
    print(f"newsflow reclassify, threshold {enricher.threshold:g}")
    committed = set(days(lake, "articles")) | set(days(lake, "offtopic"))
    day = args.start
    while day <= args.end:
        dt = day.isoformat()
        if dt not in committed and not load_day_record(lake, dt):
            print(f"  {dt}  nothing committed")
        else:
            ids = pa.schema([ARTICLES_SCHEMA.field("article_id")])
            before = read_day(lake, "articles", dt, ids).num_rows
            try:
                result = commit(Interval.day(day), lake, run_id, enricher, replace=True,
                                window_days=settings.dedup_window_days)  # fmt: skip
                stories = build_stories(lake, dt, run_id)
            except _config_errors() as exc:
                raise UsageError(str(exc)) from None
            print(
                f"  {dt}  articles {before} -> {result.articles}, off-topic {result.offtopic},"
                f" stories {stories.stories}"
            )
        day += timedelta(days=1)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    handlers = {"run": cmd_run, "init": cmd_init, "maintain": cmd_maintain,
                "migrate": cmd_migrate, "digest": cmd_digest, "backfill": cmd_backfill,
                "feeds": cmd_feeds, "status": cmd_status, "stories": cmd_stories,
                "quality": cmd_quality,
                "extract": cmd_extract, "cluster": cmd_cluster, "classify": cmd_classify,
                "reclassify": cmd_reclassify}  # fmt: skip
    name = f"newsflow {args.command}"
    try:
        return handlers[args.command](args)
    except UsageError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print(f"\n{name}: interrupted" + (f"; {exc}" if str(exc) else ""), file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        # Now: fetching threads would hold the exit until their exchanges' deadlines.
        os._exit(130)
    except BrokenPipeError:  # the reader of our output went away (| head): not an error
        os._exit(0)
    except Exception as exc:
        if args.verbose:
            raise
        print(f"{name}: internal error: {type(exc).__name__}: {exc} (run it again with -v to "
              "see where)", file=sys.stderr)  # fmt: skip
        return 70


def console() -> None:
    """The ``newsflow`` command: ``main``, then an exit that skips the interpreter's
    finalisation. Native threads (pyarrow's, delta-rs') may still be winding down when it
    runs, and now and then one aborts the process (``terminate called without an active
    exception``) after the command's work was done and said."""
    try:
        code = main()
    except SystemExit as exc:  # argparse's usage errors, --help and --version
        code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    console()
