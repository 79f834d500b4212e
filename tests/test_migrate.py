"""``newsflow migrate``: a lake written by the earlier layout (hive-partitioned Parquet and
manifests; ``tests/golden/lake-before-delta.tar.gz`` was written by that code, two sample
days) turned into Delta tables in place, every row kept."""

from __future__ import annotations

import json
import shutil
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import duckdb_extension_delta
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.lake.migrate import migrate
from pipeline.lake.state import load_day_record
from pipeline.lake.store import LakeError, LocalLake, create_lake, require_lake
from pipeline.lake.tables import days, history, open_table, read_day, read_where, replace_day
from pipeline.records import REJECTS_SCHEMA, STORIES_SCHEMA, STORY_DAYS_SCHEMA
from pipeline.runs.commit import build_stories
from tests.conftest import ROOT
from tests.test_cli import newsflow

FIXTURE = ROOT / "tests" / "golden" / "lake-before-delta.tar.gz"


@pytest.fixture
def old_lake(tmp_path: Path) -> Path:
    with tarfile.open(FIXTURE) as archive:
        archive.extractall(tmp_path, filter="data")
    root = tmp_path / "oldlake"
    # A commit killed before its manifest left a file no manifest lists.
    listed = json.loads((root / "_manifests" / "dt=2026-11-23.json").read_text())
    first = root / listed["tables"]["articles"]["files"][0]
    shutil.copy(first, first.with_name("part-00000-0123456789abcdef.parquet"))
    return root


def listed_rows(root: Path) -> dict[tuple[str, str], pa.Table]:
    """Every committed row of the earlier layout: the files each manifest lists."""
    rows = {}
    for manifest_path in sorted((root / "_manifests").glob("*.json")):
        manifest = json.loads(manifest_path.read_text())
        for name, entry in manifest["tables"].items():
            tables = [pq.read_table(root / key) for key in entry["files"]]
            rows[(name, manifest["dt"])] = pa.concat_tables(tables)
    return rows


def test_migrate_turns_the_earlier_layout_into_delta_tables_keeping_every_row(
    old_lake: Path,
) -> None:
    before = listed_rows(old_lake)
    assert {name for name, _ in before} == {"articles", "offtopic", "stories", "rejects",
                                            "extraction", "quality"}  # fmt: skip
    lake = LocalLake(old_lake)
    with pytest.raises(LakeError, match="newsflow migrate --lake"):
        require_lake(lake)  # no run may write beside the earlier tables

    done = newsflow("migrate", "--lake", str(old_lake))
    assert done.returncode == 0, done.stderr
    assert "days migrated    2" in done.stdout
    for (name, dt), rows in before.items():
        if name == "stories":  # a row per story and day, now story_days and current rows
            continue
        schema, expected = rows.schema, rows.to_pylist()
        if name == "rejects":  # its ``at`` is ``rejected_at`` since schema version 6
            schema = pa.schema([f.with_name("rejected_at") if f.name == "at" else f
                                for f in schema])  # fmt: skip
            expected = [{"rejected_at" if k == "at" else k: v for k, v in r.items()}
                        for r in expected]  # fmt: skip
        after = read_day(lake, name, dt, schema).to_pylist()
        key = rows.schema.names[0]
        assert sorted(after, key=lambda r: str(r[key])) == sorted(
            expected, key=lambda r: str(r[key])
        )
    # The stories tables are built from the migrated articles: each day's stories with the
    # articles they gained that day, and each story's current row as its last day had it.
    latest = {}
    for (name, dt), rows in sorted(before.items()):
        if name != "stories":
            continue
        story_days = read_day(lake, "story_days", dt, STORY_DAYS_SCHEMA).to_pylist()
        assert {(r["story_id"], r["articles_today"]) for r in story_days} == {
            (r["story_id"], r["articles_today"]) for r in rows.to_pylist()
        }
        latest.update({r["story_id"]: r for r in rows.to_pylist()})
    current = read_where(lake, "stories", STORIES_SCHEMA).to_pylist()
    assert {r["story_id"]: (r["article_count"], r["first_reported_by"]) for r in current} == {
        r["story_id"]: (r["article_count"], r["first_reported_by"]) for r in latest.values()
    }
    assert not list(old_lake.glob("stories/dt=*/part-0000*-*[0-9a-f].parquet"))
    assert not (old_lake / "_manifests").exists() or not list((old_lake / "_manifests").iterdir())
    assert load_day_record(lake, "2026-11-23")["batches"]  # what the manifest said of its runs
    assert history(lake, "articles")[0].counts["migrated_from"].startswith("_manifests/")
    require_lake(lake)  # a lake again, for every command

    again = newsflow("migrate", "--lake", str(old_lake))
    assert again.returncode == 0 and "already made of Delta tables" in again.stdout


def test_a_migration_stopped_half_way_is_finished_by_running_it_again(old_lake: Path) -> None:
    manifest = old_lake / "_manifests" / "dt=2026-11-23.json"
    kept = manifest.read_bytes()
    lake = LocalLake(old_lake)
    migrate(lake, "first", lambda dt: build_stories(lake, dt, "first"))
    manifest.parent.mkdir(exist_ok=True)
    manifest.write_bytes(kept)  # as if it had stopped before removing this manifest
    versions = {name: history(lake, name)[0].version for name in ("articles", "rejects")}
    done = migrate(lake, "second", lambda dt: build_stories(lake, dt, "second"))
    assert done.days == ["2026-11-23"] and done.tables == {}  # nothing written twice
    assert {name: history(lake, name)[0].version for name in versions} == versions
    assert days(lake, "articles") == ["2026-11-22", "2026-11-23"]


def test_rejects_written_with_at_read_as_rejected_at_until_migrate_drops_it(
    tmp_path: Path,
) -> None:
    """Lakes written before schema version 6 have ``rejects.at`` (an SQL keyword): their
    rows read with ``rejected_at``, new days write it, and ``newsflow migrate`` rewrites the
    table without ``at``, every row's time kept."""
    lake = LocalLake(tmp_path / "lake")
    create_lake(lake)
    when = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
    earlier = pa.schema([f if f.name != "rejected_at" else pa.field("at", f.type)
                         for f in REJECTS_SCHEMA.remove_metadata()])  # fmt: skip
    row = {"url": "https://a.example/x", "stage": "fetch", "reason": "http-404",
           "detail": "server answered 404", "at": when}  # fmt: skip
    replace_day(lake, "rejects", "2026-11-22", pa.Table.from_pylist([row], earlier), "v5")
    assert read_day(lake, "rejects", "2026-11-22", REJECTS_SCHEMA).to_pylist()[0][
        "rejected_at"] == when  # fmt: skip
    later = {**row, "rejected_at": when + timedelta(days=1)}
    del later["at"]
    replace_day(lake, "rejects", "2026-11-23", pa.Table.from_pylist([later], REJECTS_SCHEMA), "v6")
    both = read_where(lake, "rejects", REJECTS_SCHEMA).column("rejected_at").to_pylist()
    assert sorted(both) == [when, when + timedelta(days=1)]

    done = newsflow("migrate", "--lake", str(lake.root))
    assert done.returncode == 0, done.stderr
    assert "renamed columns dropped: at of rejects" in done.stdout
    table = open_table(lake, "rejects")
    assert table is not None and "at" not in table.schema().to_arrow().names
    con = duckdb.connect()
    for path in Path(duckdb_extension_delta.__file__).parent.glob(
        "extensions/*/*.duckdb_extension"
    ):
        con.load_extension(str(path))
    times = con.sql(f"SELECT rejected_at FROM delta_scan('{lake.root}/rejects') ORDER BY 1")
    assert [t.astimezone(UTC) for (t,) in times.fetchall()] == [when, when + timedelta(days=1)]
    again = newsflow("migrate", "--lake", str(lake.root))
    assert "already made of Delta tables" in again.stdout and "dropped" not in again.stdout
