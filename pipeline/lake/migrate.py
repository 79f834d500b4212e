"""``newsflow migrate``: a lake of the earlier layout turned into Delta tables, in place.

The earlier layout kept each table as hive-partitioned Parquet files (``{table}/dt=…/
part-NNNNN-{digest}.parquet``) and committed a day by writing ``_manifests/dt=….json``,
which listed the files of each table's day. Migration writes each listed day into the
Delta table of the same folder (one commit per table and day, its metadata naming the
manifest it came from), records the day's runs in ``_state/days/``, then removes the
earlier files (the listed ones and any a killed commit left) and the manifest. A day
already in its Delta table is not written again, so a migration that was stopped is
finished by running it again; the raw archive and the state stay as they are.

The earlier ``stories`` table held a row per story and day; its successors (one current
row per story in ``stories``, a row per story and day in ``story_days``) are built from
the migrated articles instead, day after day in date order, before each day's manifest
goes.

Migration also rewrites a table that still has a column renamed since (``rejects.at``,
``rejected_at`` from schema version 6, since ``at`` is an SQL keyword) without it, in one
commit; until then reads give the earlier column's values under the new name.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from pipeline.lake.state import load_day_record, save_day_record
from pipeline.lake.store import MARKER, Lake, get_json, put_json, read_parquet
from pipeline.lake.tables import RENAMED, days, drop_earlier_columns, open_table, replace_day
from pipeline.records import REJECTS_SCHEMA

log = logging.getLogger(__name__)
MANIFESTS = "_manifests/"
# The schema of each table with renamed columns (``RENAMED``), as it is written now.
SCHEMAS: dict[str, pa.Schema] = {"rejects": REJECTS_SCHEMA}
assert set(SCHEMAS) == set(RENAMED)


@dataclass
class Migration:
    days: list[str] = field(default_factory=list)  # days whose manifest was migrated
    tables: dict[str, int] = field(default_factory=dict)  # table -> days written
    files_removed: int = 0


def drop_renamed_columns(lake: Lake, run_id: str) -> list[tuple[str, str]]:
    """Rewrite each table that still has a column renamed since (``rejects.at``, now
    ``rejected_at``) without it; (table, earlier name) of each dropped."""
    dropped = []
    for name, schema in SCHEMAS.items():
        dropped += [(name, old) for old in drop_earlier_columns(lake, name, schema, run_id)]
    return dropped


def needs_migration(lake: Lake) -> bool:
    return bool(lake.list_keys(MANIFESTS)[:1])


def _tracked(lake: Lake, name: str) -> set[str]:
    """The keys of the files the Delta table ``name`` uses."""
    table = open_table(lake, name)
    if table is None:
        return set()
    root = lake.table_uri(name).rstrip("/") + "/"
    return {f"{name}/{uri.removeprefix(root)}" for uri in table.file_uris()}


REBUILT = frozenset({"stories"})  # tables of the earlier layout built anew, not copied


def migrate(lake: Lake, run_id: str, build_stories: Callable[[str], Any]) -> Migration:
    """Migrate every day a manifest commits, calling ``build_stories(dt)`` for each day
    once its articles are in; see the module's account."""
    done = Migration()
    for key in sorted(lake.list_keys(MANIFESTS)):  # dt=YYYY-MM-DD: in date order
        manifest = get_json(lake, key)
        dt = str(manifest["dt"])
        for name, entry in sorted(manifest.get("tables", {}).items()):
            if name in REBUILT or dt in days(lake, name):
                continue  # a migration stopped after this table's day: it is there
            parts = [read_parquet(lake, part) for part in entry.get("files", [])]
            present = [part for part in parts if part is not None]
            if len(present) != len(parts):
                raise FileNotFoundError(f"{lake.url(key)} lists files that are missing")
            if not present:
                continue
            rows = pa.concat_tables(present, promote_options="default")
            replace_day(lake, name, dt, rows, run_id, {"migrated_from": key})
            done.tables[name] = done.tables.get(name, 0) + 1
        build_stories(dt)
        if not load_day_record(lake, dt):
            batches = manifest.get("batches", [])
            save_day_record(
                lake,
                dt,
                {
                    "run_id": manifest.get("run_id"),
                    "relevance_threshold": manifest.get("relevance_threshold"),
                    "interval": manifest.get("interval"),
                    "batch_ids": sorted({str(b.get("batch_id")) for b in batches}),
                    "batches": batches,
                    "migrated_from": key,
                },
            )
        for name in manifest.get("tables", {}):
            tracked = _tracked(lake, name)
            for part in lake.list_keys(f"{name}/dt={dt}/"):
                if part.endswith(".parquet") and part not in tracked:
                    lake.delete(part)
                    done.files_removed += 1
        lake.delete(key)
        done.days.append(dt)
        log.info("migrated dt=%s from %s", dt, lake.url(key))
    if lake.get(MARKER) is None:
        put_json(lake, MARKER, {"created_by": f"newsflow migrate ({run_id})"})
    return done
