"""The lake's tables: partitions, their files, and the manifests that commit them.

A partition is ``{table}/dt=YYYY-MM-DD/part-NNNNN.parquet``. Writing one replaces its
files under the same deterministic keys, deletes parts that are no longer needed, and
only then writes ``_manifests/dt=YYYY-MM-DD.json``: the manifest is the commit. Readers
that go through :func:`read_partition` see the files a manifest lists and nothing else.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from pipeline import __version__
from pipeline.records import SCHEMA_VERSION
from pipeline.store import Lake, get_json, put_json, read_parquet, table_to_parquet

ROWS_PER_FILE = 100_000


def partition_prefix(table: str, dt: str) -> str:
    return f"{table}/dt={dt}/"


def manifest_key(dt: str) -> str:
    return f"_manifests/dt={dt}.json"


def write_partition(lake: Lake, table_name: str, dt: str, table: pa.Table) -> list[str]:
    """Write ``table`` as the whole content of one partition; returns the keys written."""
    prefix = partition_prefix(table_name, dt)
    keys = []
    for number, start in enumerate(range(0, max(table.num_rows, 1), ROWS_PER_FILE)):
        key = f"{prefix}part-{number:05d}.parquet"
        lake.put(key, table_to_parquet(table.slice(start, ROWS_PER_FILE)))
        keys.append(key)
    for stale in set(lake.list_keys(prefix)) - set(keys):
        lake.delete(stale)
    return keys


def read_manifest(lake: Lake, dt: str) -> dict[str, Any] | None:
    document = get_json(lake, manifest_key(dt))
    return document if isinstance(document, dict) else None


def write_manifest(
    lake: Lake, dt: str, run_id: str, tables: dict[str, dict[str, Any]], extra: dict[str, Any]
) -> dict[str, Any]:
    """Commit ``tables`` of day ``dt``; entries of other tables already committed stay."""
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
