"""The lake's tables: Delta Lake tables (delta-rs), one folder each, partitioned by ``dt``.

Every table (``articles``, ``offtopic``, ``stories``, ``rejects``, ``extraction``,
``quality``) has a string column ``dt`` (``YYYY-MM-DD``, the day of the
run's data interval) that partitions it. A write is one Delta commit: readers see a day
whole or not at all, whatever is being written, and a table can be read as it was at
any earlier version (time travel). Each commit records, in its commit metadata, the run
that made it, the pipeline's version, the schema version and its row counts, so the
table's history says which run wrote what. Columns are only ever added: a write with new
columns merges them into the table's schema, and files written before read them as null.

Commits are safe with several writers: on a local disk delta-rs renames a commit into
place only if its version is free; on S3 it puts it only if absent (``conditional_put``,
which AWS S3, MinIO and SeaweedFS honour). A writer that loses the race fails with
``CommitFailedError`` (a merge) or retries (an append); nothing is overwritten.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from pipeline import __version__
from pipeline.lake.store import Lake, LakeError
from pipeline.records import SCHEMA_VERSION

log = logging.getLogger(__name__)

PARTITION = "dt"
TABLE_NAMES = (
    "articles", "offtopic", "stories", "story_days", "rejects", "extraction", "quality",
)  # fmt: skip


# Columns renamed since files were written: table → {name: earlier name}. A read gives
# the earlier column's values where the new one is null; ``newsflow migrate`` rewrites a
# table that still has the earlier column without it.
RENAMED: dict[str, dict[str, str]] = {"rejects": {"rejected_at": "at"}}

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@contextmanager
def _lake_errors(action: str, lake: Lake, name: str) -> Iterator[None]:
    """delta-rs's errors as the lake's: one line naming the table and the endpoint."""
    try:
        yield
    except (OSError, DeltaError) as exc:
        if isinstance(exc, TableNotFoundError | CommitFailedError):
            raise
        lines = [line.strip(" ↳") for line in _ANSI.sub("", str(exc)).splitlines()]
        detail = ": ".join(line for line in lines if line)
        endpoint = lake.storage_options().get("AWS_ENDPOINT_URL")
        where = f" (endpoint {endpoint})" if endpoint else ""
        raise LakeError(f"could not {action} {lake.url(name)}{where}: {detail}") from None


def open_table(
    lake: Lake, name: str, version: int | None = None, *, to: str = "read"
) -> DeltaTable | None:
    """The Delta table ``name`` of the lake (as of ``version``), or None if there is none;
    opened ``to`` read or write (as its errors say)."""
    with _lake_errors(to, lake, name):
        try:
            return DeltaTable(
                lake.table_uri(name), version=version, storage_options=lake.storage_options()
            )
        except TableNotFoundError:
            return None


def _with_day(rows: pa.Table, dt: str) -> pa.Table:
    """``rows`` with the partition column ``dt`` set to ``dt``."""
    column = pa.array([dt] * rows.num_rows, pa.string())
    if PARTITION in rows.column_names:
        return rows.set_column(rows.schema.get_field_index(PARTITION), PARTITION, column)
    return rows.append_column(pa.field(PARTITION, pa.string(), nullable=False), column)


def _properties(run_id: str, counts: Mapping[str, Any]) -> CommitProperties:
    metadata = {
        "newsflow.run_id": run_id,
        "newsflow.pipeline_version": __version__,
        "newsflow.schema_version": str(SCHEMA_VERSION),
        "newsflow.counts": json.dumps(dict(counts), sort_keys=True, default=str),
    }
    return CommitProperties(custom_metadata=metadata)


def _fit(rows: pa.Table, schema: pa.Schema) -> pa.Table:
    """``rows`` in the columns and types of ``schema``; a column the rows lack (written
    before it existed) is null."""
    columns = []
    for field in schema:
        if field.name in rows.column_names:
            columns.append(rows.column(field.name).cast(field.type))
        else:
            columns.append(pa.nulls(rows.num_rows, field.type))
    return pa.Table.from_arrays(columns, schema=schema.remove_metadata())


def _arrow_schema(rows: pa.Table) -> pa.Table:
    """Rows as delta-rs writes them: no schema metadata, every field nullable (so that a
    column added later, null in older files, never contradicts a non-null flag)."""
    fields = [field.with_nullable(True) for field in rows.schema]
    return rows.cast(pa.schema(fields))


# Table properties set when a table is made (and by maintenance on older tables): a
# checkpoint every ten commits, so opening a table reads its last checkpoint and at most
# nine commit files after it, however long its history (delta-rs's default is 100).
TABLE_PROPERTIES = {"delta.checkpointInterval": "10"}


def replace_day(
    lake: Lake,
    name: str,
    dt: str,
    rows: pa.Table,
    run_id: str,
    counts: Mapping[str, Any] | None = None,
) -> int:
    """Make day ``dt`` of table ``name`` hold exactly ``rows``, in one commit; the table's
    new version. New columns are added to the table's schema."""
    data = _arrow_schema(_with_day(rows, dt))
    properties = _properties(run_id, {"dt": dt, "rows": rows.num_rows, **(counts or {})})
    with _lake_errors("write", lake, name):
        write_deltalake(
            lake.table_uri(name),
            data,
            mode="overwrite",
            predicate=f"{PARTITION} = '{dt}'",
            partition_by=[PARTITION],
            schema_mode="merge",
            storage_options=lake.storage_options(),
            commit_properties=properties,
            configuration=TABLE_PROPERTIES,  # a new table's; an existing one keeps its own
        )
    table = open_table(lake, name)
    assert table is not None
    log.info("%s: dt=%s replaced by %d rows (version %d)", name, dt, rows.num_rows, table.version())
    return table.version()


def insert_new(
    lake: Lake,
    name: str,
    dt: str,
    rows: pa.Table,
    key: str,
    run_id: str,
    counts: Mapping[str, Any] | None = None,
) -> int | None:
    """Add to day ``dt`` of table ``name`` the ``rows`` whose ``key`` it does not hold yet,
    in one commit (a rerun of the same rows adds nothing); the table's new version, or
    None when there was nothing to write. Only the day's files are read."""
    if rows.num_rows == 0:
        return None
    properties = _properties(run_id, {"dt": dt, "rows": rows.num_rows, **(counts or {})})
    predicate = f"t.{PARTITION} = '{dt}' AND t.{key} = s.{key}"
    version = _merge(lake, name, _with_day(rows, dt), predicate, properties, update=False)
    log.info("%s: dt=%s gained up to %d rows (version %d)", name, dt, rows.num_rows, version)
    return version


def upsert(
    lake: Lake,
    name: str,
    rows: pa.Table,
    key: str,
    oldest: str,
    run_id: str,
    counts: Mapping[str, Any] | None = None,
) -> int | None:
    """Make ``rows`` (each with its ``dt``) the current rows of their ``key``s, in one
    commit: a row replaces the one of its key, which may sit in any partition from
    ``oldest`` on and moves to the row's day, or is added. The table's new version, or
    None when there was nothing to write."""
    if rows.num_rows == 0:
        return None
    properties = _properties(run_id, {"rows": rows.num_rows, **(counts or {})})
    predicate = f"t.{key} = s.{key} AND t.{PARTITION} >= '{oldest}'"
    version = _merge(lake, name, rows, predicate, properties, update=True)
    log.info("%s: %d rows made current (version %d)", name, rows.num_rows, version)
    return version


def _merge(
    lake: Lake,
    name: str,
    rows: pa.Table,
    predicate: str,
    properties: CommitProperties,
    *,
    update: bool,
) -> int:
    """Merge ``rows`` (source ``s``) into table ``name`` (target ``t``) on ``predicate``:
    rows that match nothing are inserted, and with ``update`` those that match replace
    their match. Makes the table if there is none. Its new version."""
    data = _arrow_schema(rows)
    table = open_table(lake, name, to="write")
    with _lake_errors("write", lake, name):
        if table is None:
            write_deltalake(
                lake.table_uri(name), data, partition_by=[PARTITION],
                storage_options=lake.storage_options(), commit_properties=properties,
                configuration=TABLE_PROPERTIES,
            )  # fmt: skip
        else:
            merger = table.merge(
                data, predicate, source_alias="s", target_alias="t", merge_schema=True,
                commit_properties=properties,
            )  # fmt: skip
            if update:
                merger = merger.when_matched_update_all()
            merger.when_not_matched_insert_all().execute()
    table = open_table(lake, name)
    assert table is not None
    return table.version()


def delete_keys(lake: Lake, name: str, key: str, values: Sequence[str], run_id: str) -> None:
    """Remove the rows of these ``key``s, in one commit."""
    table = open_table(lake, name, to="write")
    if table is None or not values:
        return
    quoted = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    with _lake_errors("write", lake, name):
        table.delete(f"{key} IN ({quoted})", commit_properties=_properties(run_id, {}))


def read_where(
    lake: Lake,
    name: str,
    schema: pa.Schema,
    where: pc.Expression | None = None,
    version: int | None = None,
    *,
    days: Sequence[str] | None = None,
) -> pa.Table:
    """The rows of table ``name`` (at ``version``, else its latest) of the ``days`` (all
    of them if None) that ``where`` keeps (all if None), in ``schema``'s columns. Only
    the partitions of the days are read; ``where`` may name only columns of ``schema``."""
    table = open_table(lake, name, version)
    if table is None or (days is not None and not days):
        return schema.remove_metadata().empty_table()
    present = {field.name for field in table.schema().fields}
    columns = [c for c in schema.names if c in present]
    earlier = {new: old for new, old in RENAMED.get(name, {}).items()
               if new in schema.names and old in present}  # fmt: skip
    partitions = None if days is None else pc.field(PARTITION).isin(list(days))
    with _lake_errors("read", lake, name):
        rows = table.to_pyarrow_dataset().to_table(
            columns=columns + list(earlier.values()), filter=partitions
        )
    for new, old in earlier.items():
        values = rows.column(old)
        if new in rows.column_names:
            values = pc.coalesce(rows.column(new), values.cast(rows.schema.field(new).type))
            rows = rows.set_column(rows.schema.get_field_index(new), new, values)
        else:
            rows = rows.append_column(new, values)
    # Filtered here, not in the scan: the scan checks a filter against each file's column
    # statistics, which delta-rs gives as string views that pyarrow cannot compare.
    return _fit(rows.filter(where) if where is not None else rows, schema)


def read_day(
    lake: Lake, name: str, dt: str, schema: pa.Schema, version: int | None = None
) -> pa.Table:
    """The rows of day ``dt`` of table ``name``, in ``schema``'s columns (empty if the day
    or the table was never written)."""
    return read_days(lake, name, [dt], schema, version)


def read_days(
    lake: Lake,
    name: str,
    days: Sequence[str],
    schema: pa.Schema,
    version: int | None = None,
) -> pa.Table:
    """The rows of the ``days`` of table ``name``, in ``schema``'s columns."""
    return read_where(lake, name, schema, version=version, days=days)


def days(lake: Lake, name: str) -> list[str]:
    """The days table ``name`` holds rows for, in order."""
    table = open_table(lake, name)
    if table is None:
        return []
    return sorted({str(part[PARTITION]) for part in table.partitions() if part.get(PARTITION)})


@dataclass
class Commit:
    """One entry of a table's history: what the lineage says of a version."""

    version: int
    timestamp: int
    operation: str
    run_id: str | None
    pipeline_version: str | None
    counts: dict[str, Any]


def history(lake: Lake, name: str, limit: int | None = None) -> list[Commit]:
    """The table's commits, newest first: which run wrote what."""
    table = open_table(lake, name)
    if table is None:
        return []
    commits = []
    for entry in table.history(limit):
        counts = entry.get("newsflow.counts")
        commits.append(
            Commit(
                version=int(entry.get("version", -1)),
                timestamp=int(entry.get("timestamp", 0)),
                operation=str(entry.get("operation", "")),
                run_id=entry.get("newsflow.run_id"),
                pipeline_version=entry.get("newsflow.pipeline_version"),
                counts=json.loads(counts) if isinstance(counts, str) else {},
            )
        )
    return commits


def drop_earlier_columns(lake: Lake, name: str, schema: pa.Schema, run_id: str) -> list[str]:
    """Rewrite table ``name`` in ``schema``'s columns (and ``dt``) if it still has columns
    since renamed (``RENAMED``), in one commit that drops them; the earlier names dropped.
    Earlier versions keep them, for time travel."""
    table = open_table(lake, name, to="write")
    present = set() if table is None else {f.name for f in table.schema().fields}
    earlier = sorted(old for old in RENAMED.get(name, {}).values() if old in present)
    if not earlier:
        return []
    rows = read_where(lake, name, schema.append(pa.field(PARTITION, pa.string())))
    properties = _properties(run_id, {"rows": rows.num_rows, "dropped": earlier})
    with _lake_errors("write", lake, name):
        write_deltalake(
            lake.table_uri(name),
            _arrow_schema(rows),
            mode="overwrite",
            schema_mode="overwrite",
            partition_by=[PARTITION],
            storage_options=lake.storage_options(),
            commit_properties=properties,
        )
    log.info("%s: rewritten without %s", name, ", ".join(earlier))
    return earlier


def maintain(
    lake: Lake, name: str, retention: timedelta, run_id: str, dry_run: bool = False
) -> dict[str, Any]:
    """Compact the table's small files, then vacuum the files no version newer than
    ``retention`` needs (time travel reaches back that far). What was done, in numbers."""
    table = open_table(lake, name)
    if table is None:
        return {"table": name, "skipped": "no table"}
    compacted: dict[str, Any] = {}
    if not dry_run:
        configuration = table.metadata().configuration
        missing = {k: v for k, v in TABLE_PROPERTIES.items() if configuration.get(k) != v}
        if missing:  # a table made before these properties
            table.alter.set_table_properties(missing, commit_properties=_properties(run_id, {}))
        compacted = dict(table.optimize.compact(commit_properties=_properties(run_id, {})))
    hours = max(0, int(retention.total_seconds() // 3600))
    removed = table.vacuum(
        retention_hours=hours, dry_run=dry_run, enforce_retention_duration=False,
        commit_properties=None if dry_run else _properties(run_id, {}),
    )  # fmt: skip
    return {"table": name, "files_added": compacted.get("numFilesAdded", 0),
            "files_removed": compacted.get("numFilesRemoved", 0),
            "vacuumed": len(removed), "version": table.version()}  # fmt: skip


def maintain_lake(
    lake: Lake, retention: timedelta, run_id: str, dry_run: bool = False
) -> list[dict[str, Any]]:
    """``maintain`` every table of the lake."""
    return [maintain(lake, name, retention, run_id, dry_run) for name in TABLE_NAMES]
