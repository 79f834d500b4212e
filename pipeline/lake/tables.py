"""The lake's tables: partitions, their files, and the manifests that commit them.

A partition is ``{table}/dt=YYYY-MM-DD/part-NNNNN-{digest}.parquet``, named after its
content, so rewriting a day with the same rows writes the same keys and rewriting it with
other rows never touches the files the current manifest lists. ``_manifests/dt=….json``
is written after the files, in one PUT: it is the commit. Only then are the files it no
longer lists deleted. A process killed before the manifest leaves the previous version
whole (its new files are removed by the day's next commit), so readers that go through
the manifest (:func:`read_partition`) never see half a day.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from pipeline import __version__
from pipeline.records import SCHEMA_VERSION
from pipeline.lake.store import Lake, get_json, put_json, read_parquet, table_to_parquet

ROWS_PER_FILE = 100_000


def partition_prefix(table: str, dt: str) -> str:
    return f"{table}/dt={dt}/"


def manifest_key(dt: str) -> str:
    return f"_manifests/dt={dt}.json"


def write_partition(lake: Lake, table_name: str, dt: str, table: pa.Table) -> list[str]:
    """Write ``table`` as the next content of one partition; returns the keys written.
    Nothing changes for readers until :func:`write_manifest` lists them."""
    prefix = partition_prefix(table_name, dt)
    keys = []
    for number, start in enumerate(range(0, max(table.num_rows, 1), ROWS_PER_FILE)):
        data = table_to_parquet(table.slice(start, ROWS_PER_FILE))
        key = f"{prefix}part-{number:05d}-{hashlib.sha256(data).hexdigest()[:16]}.parquet"
        lake.put(key, data)
        keys.append(key)
    return keys


def read_manifest(lake: Lake, dt: str) -> dict[str, Any] | None:
    document = get_json(lake, manifest_key(dt))
    return document if isinstance(document, dict) else None


def write_manifest(
    lake: Lake, dt: str, run_id: str, tables: dict[str, dict[str, Any]], extra: dict[str, Any]
) -> dict[str, Any]:
    """Commit ``tables`` of day ``dt``; entries of other tables already committed stay.
    Then delete the files of these tables' partitions that the manifest does not list
    (the previous version's, or those of a commit that died before its manifest)."""
    previous = read_manifest(lake, dt) or {}
    manifest = {
        **previous,
        "dt": dt,
        "run_id": run_id,
        "committed_at": datetime.now(UTC).isoformat(),
        "pipeline_version": __version__,
        "schema_version": SCHEMA_VERSION,
        "tables": {**previous.get("tables", {}), **tables},
        **extra,
    }
    put_json(lake, manifest_key(dt), manifest)
    for table_name, entry in tables.items():
        listed = set(entry["files"])
        for key in lake.list_keys(partition_prefix(table_name, dt)):
            if key not in listed:
                lake.delete(key)
    return manifest


def read_partition(lake: Lake, table_name: str, dt: str, schema: pa.Schema) -> pa.Table:
    """The committed rows of one partition (empty if the day was never committed)."""
    manifest = read_manifest(lake, dt)
    files = (manifest or {}).get("tables", {}).get(table_name, {}).get("files", [])
    parts = [read_parquet(lake, key, schema) for key in files]
    present = [part for part in parts if part is not None]
    if len(present) != len(files):
        raise FileNotFoundError(f"{lake.url(manifest_key(dt))} lists files that are missing")
    return pa.concat_tables(present) if present else schema.empty_table()
